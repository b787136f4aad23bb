#!/usr/bin/env bash
# Create .venv and install codegen-lsp with its pinned dependencies; quick when nothing changed.
#   TORCH_VERSION=2.13.0 (default) picks the torch build; PYTHON picks the interpreter.
set -euo pipefail
cd "$(dirname "$0")/.."

PYTHON=${PYTHON:-python3}
TORCH_VERSION=${TORCH_VERSION:-2.13.0}
stamp=.venv/.codegen-lsp-installed
want="torch=$TORCH_VERSION $(cat requirements.txt pyproject.toml | sha256sum | cut -c1-16)"

if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ]; then
  exit 0
fi

"$PYTHON" -c 'import sys; sys.exit(sys.version_info < (3, 10))' \
  || { echo "codegen-lsp needs Python 3.10 or newer; set PYTHON=/path/to/python3" >&2; exit 1; }
[ -x .venv/bin/python ] || "$PYTHON" -m venv .venv
echo "codegen-lsp: installing into .venv (torch $TORCH_VERSION first, then the pinned requirements)" >&2
.venv/bin/python -m pip install --quiet --upgrade pip
# torch first and pinned: otherwise peft/accelerate pull a multi-GB CUDA build.
.venv/bin/python -m pip install --quiet "torch==$TORCH_VERSION"
.venv/bin/python -m pip install --quiet -r requirements.txt
# setuptools is chatty about editable installs; show its output only when it fails.
.venv/bin/python -m pip install --quiet --no-deps -e . > .venv/install.log 2>&1 || { cat .venv/install.log >&2; exit 1; }
echo "$want" > "$stamp"
