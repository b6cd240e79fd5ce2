#!/usr/bin/env bash
# The limit tests (scripts/limits-guest.mjs) and the limits bench (bench/limits.mjs) where cgroup
# v2 has its controllers: Debian 12's x86-64 kernel booted in qemu-system-x86_64 (KVM where it
# works, else TCG), with an initramfs holding this machine's node and its
# libraries, busybox, and the package as built here (package.json, index.js, dist/, the x64
# .node file). The guest's init mounts cgroup2 at /sys/fs/cgroup and enables every controller in
# the root cgroup; hosts whose controllers are bound to cgroup v1 cannot run these tests. For an
# x86-64 Debian 12 machine, as root, from the repository root, after `npm run build`.
#
#   scripts/qemu-limits.sh
#
# Environment:
#   CROSS_DIR      cache root (default <repo>/.cross); the kernel is cached in
#                  $CROSS_DIR/qemu-limits/kernel (delete it to fetch a newer one)
#   KERNEL_PKG     Debian amd64 kernel package (default: what linux-image-amd64 depends on)
#   QEMU_SMP (2), QEMU_MEM (1024), QEMU_TIMEOUT (300 seconds, whole boot)
#   QEMU_ACCEL     auto (default: KVM where /dev/kvm can run this kernel, falling back to TCG
#                  when the tests have not begun after QEMU_KVM_BOOT seconds, 60), tcg, kvm, or
#                  kvm:tcg (qemu's own fallback, for a KVM that fails to start, not one that hangs)
#   BENCH_ROUNDS   rounds of bench/limits.mjs, 5 spawns of each case a round (default 40; 0 skips it)
# Prints the guest's test output on stdout (boot messages on stderr, the serial log is kept in
# $CROSS_DIR/qemu-limits/serial.log) and exits non-zero unless every check passed.
set -euo pipefail
shopt -s lastpipe

die() { echo "qemu-limits: ERROR: $*" >&2; exit 1; }
log() { echo "qemu-limits: $*" >&2; }
t_start=$(date +%s.%N)
elapsed() { awk -v a="$1" -v b="${2:-$(date +%s.%N)}" 'BEGIN { printf "%.1f", b - a }'; }

ROOT=$(pwd)
BIN=$ROOT/linux-clone.linux-x64-gnu.node
[[ -f $BIN && -f $ROOT/dist/index.js ]] || die "$BIN or dist/ missing: run npm run build first"
[[ $(uname -m) == x86_64 ]] || die "runs on an x86-64 host (it boots this machine's node in the guest)"
CROSS_DIR=${CROSS_DIR:-$ROOT/.cross}
SDIR=$CROSS_DIR/qemu-limits
QEMU_SMP=${QEMU_SMP:-2}
QEMU_MEM=${QEMU_MEM:-1024}
QEMU_TIMEOUT=${QEMU_TIMEOUT:-300}
QEMU_ACCEL=${QEMU_ACCEL:-auto}
QEMU_KVM_BOOT=${QEMU_KVM_BOOT:-60}
BENCH_ROUNDS=${BENCH_ROUNDS:-40}
mkdir -p "$SDIR"

# --- host packages --------------------------------------------------------------------------
need=()
command -v qemu-system-x86_64 >/dev/null || need+=(qemu-system-x86)
command -v cpio >/dev/null || need+=(cpio)
[[ -x /bin/busybox ]] && file -b /bin/busybox 2>/dev/null | grep -q 'statically linked' || need+=(busybox-static)
if ((${#need[@]})); then
  [[ $(id -u) == 0 ]] || die "need root for apt-get"
  export DEBIAN_FRONTEND=noninteractive
  log "apt-get install ${need[*]}"
  apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null 2>&1 \
    || { apt-get update -qq && apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null; }
fi

# --- x86-64 kernel -----------------------------------------------------------------------------
t0=$(date +%s.%N)
KDIR=$SDIR/kernel
if [[ ! -f $KDIR/vmlinuz || ! -f $KDIR/config || -n ${KERNEL_PKG:-} && $(cat "$KDIR/package" 2>/dev/null) != "$KERNEL_PKG" ]]; then
  if [[ -z ${KERNEL_PKG:-} ]]; then
    KERNEL_PKG=$(apt-cache depends linux-image-amd64 2>/dev/null | awk '/Depends: linux-image-/ { print $2; exit }')
    [[ -n $KERNEL_PKG ]] || { apt-get update -qq; KERNEL_PKG=$(apt-cache depends linux-image-amd64 | awk '/Depends: linux-image-/ { print $2; exit }'); }
    [[ -n $KERNEL_PKG ]] || die "cannot resolve linux-image-amd64; set KERNEL_PKG"
  fi
  log "downloading $KERNEL_PKG"
  rm -rf "$KDIR"; mkdir -p "$KDIR/deb"
  dl=(apt-get download -qq -o APT::Sandbox::User=root "$KERNEL_PKG")
  (cd "$KDIR/deb" && "${dl[@]}") || { apt-get update -qq && (cd "$KDIR/deb" && "${dl[@]}"); } || die "apt-get download $KERNEL_PKG failed"
  dpkg-deb --fsys-tarfile "$KDIR"/deb/*.deb | tar -x -C "$KDIR/deb" --wildcards './boot/vmlinuz-*' './boot/config-*'
  mv "$KDIR"/deb/boot/vmlinuz-* "$KDIR/vmlinuz"
  mv "$KDIR"/deb/boot/config-* "$KDIR/config"
  echo "$KERNEL_PKG" >"$KDIR/package"
  rm -rf "$KDIR/deb"
fi
# everything used must be built in: the initramfs has no modules
missing=()
for opt in BLK_DEV_INITRD RD_GZIP DEVTMPFS TMPFS PROC_FS SYSFS BINFMT_ELF BINFMT_SCRIPT SERIAL_8250_CONSOLE \
  CGROUPS MEMCG CGROUP_PIDS CGROUP_SCHED FAIR_GROUP_SCHED CFS_BANDWIDTH; do
  grep -qx "CONFIG_$opt=y" "$KDIR/config" || missing+=("CONFIG_$opt")
done
((${#missing[@]} == 0)) || die "kernel $(cat "$KDIR/package") lacks built-in ${missing[*]}"
log "kernel: $(cat "$KDIR/package"), $(elapsed "$t0")s"

# --- initramfs ---------------------------------------------------------------------------------
t0=$(date +%s.%N)
RUN=$SDIR/run; rm -rf "$RUN"; STAGE=$RUN/stage
mkdir -p "$STAGE"/{bin,sbin,usr/bin,proc,sys,dev,tmp,etc,root,pkg/node_modules/linux-clone/dist}
chmod 1777 "$STAGE/tmp"
cp /bin/busybox "$STAGE/bin/busybox"
ln -s busybox "$STAGE/bin/sh"
NODE=$(command -v node)
cp -L "$NODE" "$STAGE/usr/bin/node"
# node's and the addon's libraries and loader, at the paths ldd resolves them to (the
# cross-built addon links librt, libdl and libpthread, which a glibc 2.17 floor needs)
{ ldd "$NODE"; ldd "$BIN"; } | awk '/=> \// { print $3 } /^\t\// { print $1 }' | sort -u | while read -r lib; do
  mkdir -p "$STAGE$(dirname "$lib")"
  cp -L "$lib" "$STAGE$lib"
done
PKG=$STAGE/pkg/node_modules/linux-clone
cp package.json index.js "$BIN" "$PKG/"
cp dist/*.js "$PKG/dist/"
mkdir -p "$STAGE/pkg/bench"
cp scripts/limits-guest.mjs "$STAGE/pkg/"
cp bench/limits.mjs "$STAGE/pkg/bench/"
printf 'root:x:0:0:root:/root:/bin/sh\n' >"$STAGE/etc/passwd"
printf 'root:x:0:\n' >"$STAGE/etc/group"
cat >"$STAGE/init" <<EOF
#!/bin/sh
# PID 1 in the guest: a minimal system with cgroup v2 and every controller, the tests, power off.
export PATH=/bin:/sbin:/usr/bin:/usr/sbin HOME=/root TERM=dumb
export NAPI_RS_NATIVE_LIBRARY_PATH=/pkg/node_modules/linux-clone/$(basename "$BIN")
/bin/busybox --install -s /bin
mount -t devtmpfs devtmpfs /dev 2>/dev/null
exec </dev/console >/dev/console 2>&1
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t tmpfs tmpfs /tmp
mount -t cgroup2 cgroup2 /sys/fs/cgroup
for c in \$(cat /sys/fs/cgroup/cgroup.controllers); do echo "+\$c" >/sys/fs/cgroup/cgroup.subtree_control; done
echo "LIMITS-BEGIN kernel=\$(uname -r) controllers=\$(cat /sys/fs/cgroup/cgroup.subtree_control | tr ' ' ,)"
cd /pkg
node limits-guest.mjs
rc=\$?
[ "$BENCH_ROUNDS" = 0 ] || node bench/limits.mjs $BENCH_ROUNDS || rc=1
echo "LIMITS-EXIT=\$rc"
sync
poweroff -f
sleep 60
EOF
chmod 755 "$STAGE/init"
(cd "$STAGE" && find . -mindepth 1 | LC_ALL=C sort | cpio -o -H newc --quiet -R 0:0) | gzip -1 >"$RUN/initrd.gz"
log "initramfs: $(du -h "$RUN/initrd.gz" | cut -f1), $(elapsed "$t0")s"

# --- boot --------------------------------------------------------------------------------------
SERIAL_LOG=$SDIR/serial.log
# One boot with the accelerator(s) $1 ("kvm", "tcg", "kvm:tcg": qemu takes the first that
# starts). With $2 > 0, qemu is stopped if the tests have not begun after $2 seconds: a KVM that
# hangs before the kernel prints anything (see below) then costs that long, not QEMU_TIMEOUT.
boot() {
  local accel=$1 watchdog=$2 a dog='' within=''
  local accel_args=()
  IFS=: read -ra accels <<<"$accel"
  for a in "${accels[@]}"; do accel_args+=(-accel "$a"); done
  QEMU=(qemu-system-x86_64 "${accel_args[@]}" -cpu max -smp "$QEMU_SMP" -m "$QEMU_MEM"
    -nodefaults -no-user-config -display none -serial stdio -no-reboot -pidfile "$RUN/qemu.pid"
    -kernel "$KDIR/vmlinuz" -initrd "$RUN/initrd.gz"
    -append "console=ttyS0 panic=-1 quiet loglevel=3")
  ((watchdog == 0)) || within=", the tests begun within ${watchdog}s"
  log "booting: ${QEMU[*]} (timeout ${QEMU_TIMEOUT}s$within)"
  t_boot=$(date +%s.%N)
  t_begin='' t_end='' rc='' inside=0
  : >"$SERIAL_LOG"
  rm -f "$RUN/qemu.pid"
  if ((watchdog > 0)); then
    (
      for ((i = 0; i < watchdog; i++)); do
        sleep 1
        ! grep -q LIMITS-BEGIN "$SERIAL_LOG" || exit 0
      done
      [[ -s $RUN/qemu.pid ]] && kill "$(cat "$RUN/qemu.pid")" 2>/dev/null
    ) &
    dog=$!
  fi
  set +e
  timeout -k 10 "$QEMU_TIMEOUT" "${QEMU[@]}" </dev/null 2>&1 | while IFS= read -r line || [[ -n $line ]]; do
    line=${line%$'\r'}
    printf '%s\n' "$line" >>"$SERIAL_LOG"
    case $line in
      *LIMITS-BEGIN*) t_begin=$(date +%s.%N); inside=1; log "guest: ${line#*LIMITS-BEGIN }" ;;
      *LIMITS-EXIT=*) t_end=$(date +%s.%N); inside=0; rc=${line#*LIMITS-EXIT=}; rc=${rc%% *} ;;
      *) if ((inside)); then printf '%s\n' "$line"; else printf '  | %s\n' "$line" >&2; fi ;;
    esac
  done
  st=("${PIPESTATUS[@]}")
  set -e
  if [[ -n $dog ]]; then kill "$dog" 2>/dev/null || true; wait "$dog" 2>/dev/null || true; fi
  ((st[0] != 124 && st[0] != 137)) || log "qemu killed after the ${QEMU_TIMEOUT}s timeout"
}
# auto: KVM where it can run this kernel, TCG otherwise. /dev/kvm served by kvm_pvm (a
# pagetable-based hypervisor for hosts without VMX/SVM, as in some cloud sandboxes) runs only
# kernels built as PVM guests: Debian's hangs there after the real-mode setup, so it is not tried.
# Any other KVM gets QEMU_KVM_BOOT seconds to begin the tests, then TCG boots instead.
accel=$QEMU_ACCEL t_begin=''
if [[ $accel == auto ]]; then
  if [[ ! -w /dev/kvm ]]; then
    log "/dev/kvm is not usable: TCG"; accel=tcg
  elif [[ -d /sys/module/kvm_pvm ]]; then
    log "/dev/kvm is kvm_pvm, which boots only PVM guest kernels: TCG"; accel=tcg
  else
    boot kvm "$QEMU_KVM_BOOT"
    if [[ -n $t_begin ]]; then accel=kvm; else log "KVM did not begin the tests within ${QEMU_KVM_BOOT}s: TCG"; accel=tcg; fi
  fi
elif [[ $accel != tcg && ! -w /dev/kvm ]]; then
  log "/dev/kvm is not usable: TCG"; accel=tcg
fi
[[ -n $t_begin ]] || boot "$accel" 0
[[ -n $t_begin ]] || die "the guest never started the tests (qemu exit ${st[0]}); serial log: $SERIAL_LOG"
[[ -n $t_end ]] || die "no LIMITS-EXIT marker (qemu exit ${st[0]}); serial log: $SERIAL_LOG"
log "boot $(elapsed "$t_boot" "$t_begin")s, tests $(elapsed "$t_begin" "$t_end")s, total $(elapsed "$t_start")s (accel $accel)"
[[ $rc == 0 ]] || die "limit tests failed (exit $rc)"
log OK
