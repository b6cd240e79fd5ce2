#!/usr/bin/env bash
# Load the musl builds with musl's own dynamic loader (no musl node exists on this machine):
# a small C program, built with musl-gcc / aarch64-linux-musl-gcc, dlopen()s the .node file with
# RTLD_NOW (every relocation resolved, Rust's initialisers run) and looks up
# napi_register_module_v1. The napi_* functions node would provide are stubs in the loader.
# arm64 runs under qemu-aarch64-static. Run from the repository root after
# scripts/build-all.sh x64-musl arm64-musl; needs the Debian packages that script installs.
#
#   scripts/musl-load-check.sh [x64-musl] [arm64-musl]
#
# Caveat: the binaries NEED libgcc_s.so.1; Alpine has a musl build of it, this machine has only
# glibc's, which loads under musl only with two stubs (_dl_find_object, __cpu_indicator_init)
# added to the loader. That is a quirk of this test rig, not of the binaries.
set -euo pipefail
die() { echo "musl-load-check: ERROR: $*" >&2; exit 1; }

ROOT=$(pwd)
BINARY_NAME=$(node -p 'try { require("./package.json").napi.binaryName } catch (e) { "linux-clone" }')
CROSS_DIR=${CROSS_DIR:-$ROOT/.cross}
W=$CROSS_DIR/musl-load-check
mkdir -p "$W"
platforms=("$@")
((${#platforms[@]})) || platforms=(x64-musl arm64-musl)

cat >"$W/loader.c" <<'EOF'
#include <dlfcn.h>
#include <stdio.h>
int _dl_find_object(void *pc, void *result) { (void)pc; (void)result; return -1; }
void __cpu_indicator_init(void) {}
struct { unsigned vendor, type, subtype, features[1]; } __cpu_model;
int main(int argc, char **argv) {
  if (argc < 2) return 2;
  void *h = dlopen(argv[1], RTLD_NOW | RTLD_LOCAL);
  if (!h) { printf("dlopen failed: %s\n", dlerror()); return 1; }
  void *f = dlsym(h, "napi_register_module_v1");
  if (!f) { printf("dlsym failed: %s\n", dlerror()); return 1; }
  printf("musl dlopen ok, napi_register_module_v1 found\n");
  return 0;
}
EOF

rc=0
for plat in "${platforms[@]}"; do
  f=$ROOT/$BINARY_NAME.linux-$plat.node
  [[ -f $f ]] || die "$f not found"
  case $plat in
    x64-musl) cc=x86_64-linux-musl-gcc libgcc=/lib/x86_64-linux-gnu/libgcc_s.so.1 run=() ;;
    arm64-musl)
      cc=aarch64-linux-musl-gcc libgcc=/usr/aarch64-linux-gnu/lib/libgcc_s.so.1
      command -v qemu-aarch64-static >/dev/null || die "qemu-aarch64-static missing (apt-get install qemu-user-static)"
      [[ -e /lib/ld-musl-aarch64.so.1 ]] || die "/lib/ld-musl-aarch64.so.1 missing (musl:arm64)"
      run=(qemu-aarch64-static -L /) ;;
    *) die "unknown platform $plat" ;;
  esac
  command -v "$cc" >/dev/null || die "$cc missing"
  # stubs for every napi_* function the binary imports from node
  readelf --dyn-syms -W "$f" | awk '$7 == "UND" && $8 ~ /^napi_/ { sub(/@.*/, "", $8); print $8 }' | sort -u \
    | awk '{ printf "int %s(void) { return 9; }\n", $1 }' >"$W/stubs-$plat.c"
  "$cc" -O1 -rdynamic -o "$W/loader-$plat" "$W/loader.c" "$W/stubs-$plat.c"
  mkdir -p "$W/lib-$plat"
  ln -sfn "$libgcc" "$W/lib-$plat/libgcc_s.so.1"
  echo -n "$plat: "
  if ! env LD_LIBRARY_PATH="$W/lib-$plat" QEMU_SET_ENV="LD_LIBRARY_PATH=$W/lib-$plat" \
      "${run[@]}" "$W/loader-$plat" "$f"; then
    echo "musl-load-check: $plat FAILED" >&2; rc=1
  fi
done
exit $rc
