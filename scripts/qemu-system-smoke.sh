#!/usr/bin/env bash
# Run scripts/smoke.js against linux-clone.linux-arm64-gnu.node on a real arm64 Linux kernel:
# Debian 12's arm64 kernel booted in full-system qemu-system-aarch64 (TCG, machine `virt`), with
# an initramfs holding Debian's arm64 node 18, busybox, smoke.js and the .node file. Unlike
# qemu-user (scripts/qemu-smoke.sh), this runs clone(CLONE_VM|CLONE_VFORK|CLONE_FILES) and the
# CLONE_NEW* flags on the real kernel. For an x86-64 Debian 12 machine, as root, from the
# repository root.
#
#   scripts/qemu-system-smoke.sh [path/to/linux-clone.linux-arm64-gnu.node]
#
# Environment:
#   CROSS_DIR      cache root (default <repo>/.cross); this script uses $CROSS_DIR/qemu-system and
#                  the arm64 node root of scripts/qemu-smoke.sh, $CROSS_DIR/qemu/debian-node/root
#                  (prepared by running scripts/qemu-smoke.sh when it is missing)
#   SMOKE_JS       script to run instead of scripts/smoke.js (it is /smoke.js in the guest, the
#                  binary is /linux-clone.linux-arm64-gnu.node, argv[2] as for smoke.js)
#   KERNEL_PKG     Debian arm64 kernel package (default: what linux-image-arm64:arm64 depends on,
#                  unsigned flavour); the kernel is cached, delete $CROSS_DIR/qemu-system/kernel
#                  to fetch a newer one
#   QEMU_CPU (cortex-a57), QEMU_SMP (2), QEMU_MEM (2048), QEMU_TIMEOUT (600 seconds, whole boot)
#   QEMU_APPEND    extra kernel command line arguments
# Prints the guest's smoke output on stdout (kernel and boot messages on stderr, the whole serial
# log is kept in $CROSS_DIR/qemu-system/serial.log) and exits non-zero unless smoke.js exited 0.
set -euo pipefail
shopt -s lastpipe

die() { echo "qemu-system-smoke: ERROR: $*" >&2; exit 1; }
log() { echo "qemu-system-smoke: $*" >&2; }
t_start=$(date +%s.%N)
elapsed() { awk -v a="$1" -v b="${2:-$(date +%s.%N)}" 'BEGIN { printf "%.1f", b - a }'; }

ROOT=$(pwd)
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
BIN=${1:-$ROOT/linux-clone.linux-arm64-gnu.node}
[[ -f $BIN ]] || die "$BIN not found: build it first (scripts/build-all.sh arm64-gnu)"
BIN=$(cd "$(dirname "$BIN")" && pwd)/$(basename "$BIN")
SMOKE=${SMOKE_JS:-$ROOT/scripts/smoke.js}
[[ -f $SMOKE ]] || [[ -n ${SMOKE_JS:-} ]] || SMOKE=$HERE/smoke.js
[[ -f $SMOKE ]] || die "$SMOKE not found"
CROSS_DIR=${CROSS_DIR:-$ROOT/.cross}
SDIR=$CROSS_DIR/qemu-system
NODE_ROOT=$CROSS_DIR/qemu/debian-node/root
QEMU_CPU=${QEMU_CPU:-cortex-a57}
QEMU_SMP=${QEMU_SMP:-2}
QEMU_MEM=${QEMU_MEM:-2048}
QEMU_TIMEOUT=${QEMU_TIMEOUT:-600}
mkdir -p "$SDIR"

# --- host packages --------------------------------------------------------------------------
t0=$(date +%s.%N)
need=()
command -v qemu-system-aarch64 >/dev/null || need+=(qemu-system-arm)
command -v cpio >/dev/null || need+=(cpio)
command -v readelf >/dev/null || need+=(binutils)
if ! dpkg --print-foreign-architectures | grep -qx arm64; then
  log "dpkg --add-architecture arm64"
  dpkg --add-architecture arm64
  NEED_UPDATE=1
fi
if ((${#need[@]})) || [[ ${NEED_UPDATE:-0} == 1 ]]; then
  [[ $(id -u) == 0 ]] || die "need root for apt-get"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  if ((${#need[@]})); then
    log "apt-get install ${need[*]}"
    apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
  fi
fi
log "apt: $(elapsed "$t0")s ($(qemu-system-aarch64 --version | head -1))"

# apt_download DIR PKG...: apt-get download into DIR (the sandbox user _apt cannot write there)
apt_download() {
  local dir=$1; shift
  mkdir -p "$dir"
  local dl=(apt-get download -qq -o APT::Sandbox::User=root "$@")
  (cd "$dir" && "${dl[@]}") || { apt-get update -qq && (cd "$dir" && "${dl[@]}"); } \
    || die "apt-get download $* failed"
}

# --- arm64 kernel ------------------------------------------------------------------------------
t0=$(date +%s.%N)
KDIR=$SDIR/kernel
if [[ ! -f $KDIR/vmlinuz || ! -f $KDIR/config || -n ${KERNEL_PKG:-} && $(cat "$KDIR/package" 2>/dev/null) != "$KERNEL_PKG" ]]; then
  if [[ -z ${KERNEL_PKG:-} ]]; then
    dep=$(apt-cache depends linux-image-arm64:arm64 2>/dev/null | awk '/Depends: linux-image-/ { print $2; exit }')
    [[ -n $dep ]] || { apt-get update -qq; dep=$(apt-cache depends linux-image-arm64:arm64 | awk '/Depends: linux-image-/ { print $2; exit }'); }
    [[ -n $dep ]] || die "cannot resolve linux-image-arm64:arm64; set KERNEL_PKG"
    KERNEL_PKG=${dep%:arm64}-unsigned:arm64
  fi
  log "downloading $KERNEL_PKG"
  rm -rf "$KDIR"; mkdir -p "$KDIR/deb"
  apt_download "$KDIR/deb" "$KERNEL_PKG"
  # only the kernel image and its config are needed (everything used is built in, see below)
  dpkg-deb --fsys-tarfile "$KDIR"/deb/*.deb | tar -x -C "$KDIR/deb" --wildcards './boot/vmlinuz-*' './boot/config-*'
  mv "$KDIR"/deb/boot/vmlinuz-* "$KDIR/vmlinuz"
  cfg=$(ls "$KDIR"/deb/boot/config-*)
  basename "$cfg" | sed 's/^config-//' >"$KDIR/release"
  mv "$cfg" "$KDIR/config"
  dpkg-deb -f "$KDIR"/deb/*.deb Version >"$KDIR/version"
  echo "$KERNEL_PKG" >"$KDIR/package"
  rm -rf "$KDIR/deb"
fi
KREL="$(cat "$KDIR/release") ($(cat "$KDIR/package") $(cat "$KDIR/version"))"
# what the smoke needs must be built in (=y): there are no modules in the initramfs
missing=()
for opt in NAMESPACES USER_NS NET_NS UTS_NS PID_NS IPC_NS BLK_DEV_INITRD RD_GZIP DEVTMPFS TMPFS \
  PROC_FS SYSFS BINFMT_ELF BINFMT_SCRIPT SERIAL_AMBA_PL011 SERIAL_AMBA_PL011_CONSOLE; do
  grep -qx "CONFIG_$opt=y" "$KDIR/config" || missing+=("CONFIG_$opt")
done
((${#missing[@]} == 0)) || die "kernel $KREL lacks built-in ${missing[*]}"
log "kernel: $KREL, $(elapsed "$t0")s"

# --- arm64 node root (shared with scripts/qemu-smoke.sh) --------------------------------------
t0=$(date +%s.%N)
if [[ ! -x $NODE_ROOT/usr/bin/node ]]; then
  log "no arm64 node root in $NODE_ROOT: running scripts/qemu-smoke.sh to prepare it"
  CROSS_DIR=$CROSS_DIR QEMU_NODE=debian QEMU_PREPARE_ONLY=1 bash "$HERE/qemu-smoke.sh" "$BIN" >&2
  [[ -x $NODE_ROOT/usr/bin/node ]] || die "scripts/qemu-smoke.sh did not prepare $NODE_ROOT"
fi
log "node root: $(elapsed "$t0")s"

# --- busybox -----------------------------------------------------------------------------------
BB=$SDIR/busybox/busybox
if [[ ! -x $BB ]]; then
  log "downloading busybox-static:arm64"
  rm -rf "$SDIR/busybox"; mkdir -p "$SDIR/busybox/deb"
  apt_download "$SDIR/busybox/deb" busybox-static:arm64
  dpkg-deb --fsys-tarfile "$SDIR"/busybox/deb/*.deb | tar -x -C "$SDIR/busybox/deb" ./bin/busybox
  mv "$SDIR/busybox/deb/bin/busybox" "$BB"
  basename "$SDIR"/busybox/deb/*.deb >"$SDIR/busybox/deb-name"
  rm -rf "$SDIR/busybox/deb"
fi

# --- initramfs ---------------------------------------------------------------------------------
# Two gzip'd newc archives, concatenated (the kernel unpacks them in turn): base.cpio.gz (node,
# its libraries and loader, busybox; cached) and a small one made on every run (/init, smoke.js,
# the .node file).
t0=$(date +%s.%N)
readelf -h "$BIN" | grep -q 'Machine:.*AArch64' || die "$BIN is not an aarch64 binary: $(file -b "$BIN" 2>/dev/null)"
BASE=$SDIR/base.cpio.gz
base_key="v1 $(cat "$NODE_ROOT/../.stamp" 2>/dev/null) $(cat "$SDIR/busybox/deb-name") $(stat -c %Y "$NODE_ROOT/usr/bin/node")"
if [[ ! -f $BASE || $(cat "$SDIR/base.key" 2>/dev/null) != "$base_key" ]]; then
  log "building $BASE"
  STAGE=$SDIR/base; rm -rf "$STAGE"
  mkdir -p "$STAGE"/{bin,sbin,usr/bin,usr/sbin,lib,proc,sys,dev,tmp,etc,root}
  chmod 1777 "$STAGE/tmp"
  cp "$BB" "$STAGE/bin/busybox"
  ln -s busybox "$STAGE/bin/sh"
  mknod -m 600 "$STAGE/dev/console" c 5 1
  mknod -m 666 "$STAGE/dev/null" c 1 3
  cp "$NODE_ROOT/usr/bin/node" "$STAGE/usr/bin/node"
  # copy one ELF object's NEEDED libraries (recursively) from the node root, as real files
  # named by their soname in the same directories as in the root
  libdirs=(lib/aarch64-linux-gnu usr/lib/aarch64-linux-gnu)
  declare -A done_libs=()
  add_needed() {
    local so d
    for so in $(readelf -d "$1" | sed -n 's/.*(NEEDED).*\[\(.*\)\]/\1/p'); do
      [[ -z ${done_libs[$so]:-} ]] || continue
      done_libs[$so]=1
      for d in "${libdirs[@]}"; do
        if [[ -e $NODE_ROOT/$d/$so ]]; then
          mkdir -p "$STAGE/$d"
          cp -L "$NODE_ROOT/$d/$so" "$STAGE/$d/$so"
          add_needed "$STAGE/$d/$so"
          continue 2
        fi
      done
      die "library $so (needed by ${1#"$STAGE"/}) not found in $NODE_ROOT"
    done
  }
  add_needed "$STAGE/usr/bin/node"
  add_needed "$BIN"
  interp=$(readelf -l "$STAGE/usr/bin/node" | sed -n 's/.*interpreter: \(.*\)\]/\1/p')
  [[ -n $interp ]] || die "no program interpreter in node"
  mkdir -p "$STAGE$(dirname "$interp")"
  cp -L "$NODE_ROOT$interp" "$STAGE$interp"
  # JS files that Debian's node loads from /usr/share/nodejs (cjs-module-lexer, acorn, undici)
  mkdir -p "$STAGE/usr/share"
  cp -a "$NODE_ROOT/usr/share/nodejs" "$STAGE/usr/share/nodejs"
  printf 'root:x:0:0:root:/root:/bin/sh\n' >"$STAGE/etc/passwd"
  printf 'root:x:0:\n' >"$STAGE/etc/group"
  (cd "$STAGE" && find . -mindepth 1 | LC_ALL=C sort | cpio -o -H newc --quiet -R 0:0) | gzip -6 >"$BASE.tmp"
  mv "$BASE.tmp" "$BASE"
  log "base initramfs: $(du -sh "$STAGE" | cut -f1) -> $(du -h "$BASE" | cut -f1) gzip, $(elapsed "$t0")s"
  echo "$base_key" >"$SDIR/base.key"
  rm -rf "$STAGE"
fi

RUN=$SDIR/run; rm -rf "$RUN"; mkdir -p "$RUN/stage"
cp "$SMOKE" "$RUN/stage/smoke.js"
cp "$BIN" "$RUN/stage/linux-clone.linux-arm64-gnu.node"
cat >"$RUN/stage/init" <<'EOF'
#!/bin/sh
# PID 1 in the guest: set up a minimal system, run the smoke test, report, power off.
export PATH=/bin:/sbin:/usr/bin:/usr/sbin HOME=/root TERM=dumb
/bin/busybox --install -s /bin
mount -t devtmpfs devtmpfs /dev 2>/dev/null
exec </dev/console >/dev/console 2>&1
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t tmpfs tmpfs /tmp
hostname lc-qemu-arm64
up() { cut -d' ' -f1 /proc/uptime; }
echo "SMOKE-BEGIN uptime=$(up) kernel=$(uname -r) machine=$(uname -m) cpus=$(nproc)"
t0=$(up)
node /smoke.js /linux-clone.linux-arm64-gnu.node
rc=$?
echo "SMOKE-EXIT=$rc node-seconds=$(awk -v a="$t0" -v b="$(up)" 'BEGIN { printf "%.1f", b - a }')"
sync
poweroff -f
sleep 60
EOF
chmod 755 "$RUN/stage/init"
(cd "$RUN/stage" && find . -mindepth 1 | LC_ALL=C sort | cpio -o -H newc --quiet -R 0:0) | gzip -1 >"$RUN/run.cpio.gz"
cat "$BASE" "$RUN/run.cpio.gz" >"$RUN/initrd.gz"
log "initramfs: $(du -h "$RUN/initrd.gz" | cut -f1), $(elapsed "$t0")s"

# --- boot --------------------------------------------------------------------------------------
SERIAL_LOG=$SDIR/serial.log
QEMU=(qemu-system-aarch64 -M virt -cpu "$QEMU_CPU" -smp "$QEMU_SMP" -m "$QEMU_MEM"
  -nodefaults -no-user-config -display none -serial stdio -no-reboot
  -kernel "$KDIR/vmlinuz" -initrd "$RUN/initrd.gz"
  -append "console=ttyAMA0 panic=-1 quiet ${QEMU_APPEND:-}")
log "booting: ${QEMU[*]} (timeout ${QEMU_TIMEOUT}s)"
t_boot=$(date +%s.%N)
t_begin='' t_end='' rc='' in_smoke=0
: >"$SERIAL_LOG"
set +e
# serial lines between the SMOKE-BEGIN and SMOKE-EXIT markers go to stdout, the rest to stderr
timeout -k 10 "$QEMU_TIMEOUT" "${QEMU[@]}" </dev/null 2>&1 | while IFS= read -r line || [[ -n $line ]]; do
  line=${line%$'\r'}
  printf '%s\n' "$line" >>"$SERIAL_LOG"
  case $line in
    *SMOKE-BEGIN*)
      t_begin=$(date +%s.%N); in_smoke=1
      log "guest: ${line#*SMOKE-BEGIN }" ;;
    *SMOKE-EXIT=*)
      t_end=$(date +%s.%N); in_smoke=0
      rc=${line#*SMOKE-EXIT=}; rc=${rc%% *}
      log "guest: ${line#*SMOKE-}" ;;
    *)
      if ((in_smoke)); then printf '%s\n' "$line"; else printf '  | %s\n' "$line" >&2; fi ;;
  esac
done
st=("${PIPESTATUS[@]}")
set -e
t_off=$(date +%s.%N)
((st[0] != 124 && st[0] != 137)) || log "qemu killed after the ${QEMU_TIMEOUT}s timeout"
[[ -n $t_begin ]] || die "the guest never started the smoke test (qemu exit ${st[0]}); serial log: $SERIAL_LOG"
log "boot (qemu start to /init): $(elapsed "$t_boot" "$t_begin")s"
[[ -n $t_end ]] || die "no SMOKE-EXIT marker (qemu exit ${st[0]}); serial log: $SERIAL_LOG"
log "smoke run (node in the guest): $(elapsed "$t_begin" "$t_end")s; power off $(elapsed "$t_end" "$t_off")s; total $(elapsed "$t_start")s"
[[ $rc == 0 ]] || die "smoke test failed on arm64 kernel $(cat "$KDIR/release") (exit $rc)"
log "OK (arm64 kernel $(cat "$KDIR/release"), qemu-system-aarch64 -cpu $QEMU_CPU)"
