#!/bin/sh
# Runs node with the given arguments on Node >= 22.18 (TypeScript type stripping on by default,
# zstd in node:zlib). Machines that ship an older Node get Node 24 LTS from the npm registry,
# installed once into $HOME/.node24, so `npm start` and `npm test` work on a fresh machine.
set -eu
PREFIX="${PIDRIVE_NODE_PREFIX:-$HOME/.node24}"
recent() {
  "$1" -e 'const [a,b]=process.versions.node.split(".").map(Number); process.exit(a>22||(a===22&&b>=18)?0:1)' 2>/dev/null
}
if command -v node >/dev/null 2>&1 && recent node; then
  NODE=node
else
  if ! recent "$PREFIX/bin/node"; then
    echo "pidrive: installing Node 24 LTS into $PREFIX (this machine's Node is too old)" >&2
    npm install -g --prefix "$PREFIX" --no-audit --no-fund node@24 >&2
  fi
  NODE="$PREFIX/bin/node"
fi
exec "$NODE" "$@"
