"""How long finding and redacting secrets takes (codegen_lsp/privacy.py), on real code.

Texts are the standard library's own Python sources: a 2,000-line file, and 10 MB of them
joined, each as it is (no secret: the common case) and with secrets planted every few
hundred lines. Per keystroke the server redacts only the prompt window (prefix and suffix
around the cursor, `redact_window`) and checks the cursor's line (`secret_at`); `redact` of a
whole file is what the code actions, docs and training do. Best of `--repeat` runs.

    .venv/bin/python benchmarks/redaction.py [--repeat 5]
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))  # run as a plain script from any directory

from codegen_lsp.privacy import find_secret, redact, redact_window, secret_at  # noqa: E402

BIG_CHARS = 10_000_000
WINDOW_PREFIX, WINDOW_SUFFIX = 6_000, 2_000  # about the default 1,536-token prompt of code
PLANTED = ['AWS_KEY = "AKIA' + "Q3EXAMPLE7MARKER" + '"', 'db_password = "k8Vq2mZp-4410"',
           'TOKEN = "ghp_' + "a1B2c3D4e5F6g7H8i9J0k1L2m3N4o5P6q7R8" + '"']


def stdlib_code(chars: int) -> str:
    parts, size = [], 0
    for path in sorted(Path(os.__file__).parent.rglob("*.py")):
        try:
            text = path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError):
            continue
        parts.append(text)
        size += len(text)
        if size >= chars:
            break
    return "".join(parts)[:chars]


def with_secrets(text: str, every: int = 300) -> str:
    lines = text.split("\n")
    for i in range(every // 2, len(lines), every):
        lines[i] = PLANTED[(i // every) % len(PLANTED)]
    return "\n".join(lines)


def best_ms(function, *args, repeat: int) -> float:
    best = float("inf")
    for _ in range(repeat):
        started = time.perf_counter()
        function(*args)
        best = min(best, time.perf_counter() - started)
    return best * 1000


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    big = stdlib_code(BIG_CHARS)
    small = "\n".join(big.split("\n")[:2000])
    print(f"{'text':<28} {'chars':>10} {'redact ms':>10} {'found':>6} {'find_secret ms':>15} "
          f"{'window ms':>10} {'secret_at ms':>13}")
    for name, text in (("2,000 lines", small), ("2,000 lines + secrets", with_secrets(small)),
                       ("10 MB", big), ("10 MB + secrets", with_secrets(big))):
        cursor = len(text) // 2
        prefix, suffix = text[:cursor], text[cursor:]
        found = redact(text)[1]
        print(f"{name:<28} {len(text):>10,} {best_ms(redact, text, repeat=args.repeat):>10.2f} {found:>6} "
              f"{best_ms(find_secret, text, repeat=args.repeat):>15.2f} "
              f"{best_ms(redact_window, prefix, suffix, WINDOW_PREFIX, WINDOW_SUFFIX, repeat=args.repeat):>10.3f} "
              f"{best_ms(secret_at, text, cursor, repeat=args.repeat):>13.4f}")


if __name__ == "__main__":
    main()
