#!/usr/bin/env bash
# Cross-build IREE's runtime tools (iree-run-module, iree-benchmark-module) for a board that has no
# published runtime. Today: armv7 (armhf, Cortex-A15 class: ARMv7-A, NEON + VFPv4, hard float), the
# target of `explorer export --target armv7`. The result goes into a kit with
#   explorer export ... --target armv7 --kit --runtime OUT
# Needs: an IREE source tree (its third_party/flatcc and third_party/benchmark submodules checked out;
# the release of the installed compiler or a close one), Debian's gcc-arm-linux-gnueabihf and
# g++-arm-linux-gnueabihf, CMake >= 3.26 (Debian 12 has 3.25: `pip install cmake`), Ninja, and the
# installed iree-base-runtime (its host tools generate code during the build).
# What the settings avoid: no compiler; libbacktrace is downloaded at configure time (off); gcc's
# 32-bit shift warnings break -Werror (off); the local-task driver does not build on 32-bit ARM, so
# local-sync only (what bundles use) with the embedded-ELF loader (what modules contain); CMake 4
# refuses submodules that ask for an old CMake unless CMAKE_POLICY_VERSION_MINIMUM is set.
# Usage: scripts/build-board-runtime.sh --target armv7 --iree-src DIR [--out DIR] [--jobs N]
set -euo pipefail
die() { echo "build-board-runtime: $*" >&2; exit 1; }
target="" src="" out="" jobs=$(nproc 2>/dev/null || echo 2)
while [ $# -gt 0 ]; do
  case $1 in
    --target) target=${2:-}; shift 2 ;;
    --iree-src) src=${2:-}; shift 2 ;;
    --out) out=${2:-}; shift 2 ;;
    --jobs) jobs=${2:-}; shift 2 ;;
    -h | --help) sed -n '2,14p' "$0"; exit 0 ;;
    *) die "unknown argument $1 (usage: --target armv7 --iree-src DIR [--out DIR] [--jobs N])" ;;
  esac
done
[ "$target" = armv7 ] || die "--target armv7 is the one board without a published runtime (aarch64: pip download the manylinux aarch64 iree-base-runtime wheel; explorer export --kit does)"
[ -n "$src" ] && [ -f "$src/CMakeLists.txt" ] && [ -d "$src/runtime" ] || die "--iree-src DIR must be an IREE source tree (git clone https://github.com/iree-org/iree)"
src=$(cd "$src" && pwd)
for sub in flatcc benchmark; do
  [ -n "$(ls -A "$src/third_party/$sub" 2>/dev/null)" ] || die "$src/third_party/$sub is empty: git -C $src submodule update --init third_party/$sub"
done
triple=arm-linux-gnueabihf
command -v $triple-gcc >/dev/null && command -v $triple-g++ >/dev/null \
  || die "no $triple cross compiler: apt-get install gcc-$triple g++-$triple"
command -v ninja >/dev/null || die "no ninja: apt-get install ninja-build (or pip install ninja)"
cmake_version=$(cmake --version 2>/dev/null | sed -n 's/^cmake version //p')
printf '%s\n3.26\n' "${cmake_version:-0}" | sort -V -C -r || die "CMake ${cmake_version:-missing} is older than 3.26: pip install cmake"
host_bin=$(python3 -c "import iree.runtime, pathlib; print(pathlib.Path(iree.runtime.__file__).parent.parent / '_runtime_libs')")
[ -x "$host_bin/iree-flatcc-cli" ] && [ -x "$host_bin/iree-c-embed-data" ] || die "no host IREE tools in $host_bin: pip install iree-base-runtime"
out=${out:-$PWD/iree-runtime-$target}
build=$out/build
mkdir -p "$build"
cat >"$build/toolchain.cmake" <<EOF
set(CMAKE_SYSTEM_NAME Linux)
set(CMAKE_SYSTEM_PROCESSOR armv7-a)
set(CMAKE_C_COMPILER $triple-gcc)
set(CMAKE_CXX_COMPILER $triple-g++)
set(CMAKE_C_FLAGS_INIT "-march=armv7-a -mfpu=neon-vfpv4 -mfloat-abi=hard")
set(CMAKE_CXX_FLAGS_INIT "-march=armv7-a -mfpu=neon-vfpv4 -mfloat-abi=hard")
set(CMAKE_FIND_ROOT_PATH /usr/$triple)
set(CMAKE_FIND_ROOT_PATH_MODE_PROGRAM NEVER)
set(CMAKE_FIND_ROOT_PATH_MODE_LIBRARY ONLY)
set(CMAKE_FIND_ROOT_PATH_MODE_INCLUDE ONLY)
EOF
start=$(date +%s)
cmake -G Ninja -S "$src" -B "$build" -DCMAKE_TOOLCHAIN_FILE="$build/toolchain.cmake" -DCMAKE_BUILD_TYPE=Release \
  -DIREE_BUILD_COMPILER=OFF -DIREE_BUILD_TESTS=OFF -DIREE_BUILD_SAMPLES=OFF -DIREE_BUILD_PYTHON_BINDINGS=OFF \
  -DIREE_BUILD_BINDINGS_TFLITE=OFF -DIREE_BUILD_BINDINGS_TFLITE_JAVA=OFF -DIREE_BUILD_BENCHMARKS=ON \
  -DIREE_ERROR_ON_MISSING_SUBMODULES=OFF -DIREE_ENABLE_LIBBACKTRACE=OFF -DIREE_ENABLE_WERROR_FLAG=OFF \
  -DIREE_HOST_BIN_DIR="$host_bin" -DIREE_HAL_DRIVER_DEFAULTS=OFF -DIREE_HAL_DRIVER_LOCAL_SYNC=ON \
  -DIREE_HAL_DRIVER_LOCAL_TASK=OFF -DIREE_HAL_EXECUTABLE_LOADER_DEFAULTS=OFF \
  -DIREE_HAL_EXECUTABLE_LOADER_EMBEDDED_ELF=ON -DIREE_HAL_EXECUTABLE_PLUGIN_DEFAULTS=OFF \
  -DCMAKE_POLICY_VERSION_MINIMUM=3.5 >"$build/configure.log" 2>&1 \
  || { tail -n 30 "$build/configure.log" >&2; die "CMake configure failed (log: $build/configure.log)"; }
cmake --build "$build" --target iree-run-module iree-benchmark-module -j "$jobs" >"$build/build.log" 2>&1 \
  || { tail -n 30 "$build/build.log" >&2; die "build failed (log: $build/build.log)"; }
for tool in iree-run-module iree-benchmark-module; do
  found=$(find "$build" -type f -name "$tool" -perm -u+x | head -n 1)
  [ -n "$found" ] || die "$tool was not built"
  cp "$found" "$out/$tool"
  $triple-strip "$out/$tool" 2>/dev/null || true
done
revision=$(git -C "$src" rev-parse HEAD 2>/dev/null \
  || sed -n 's/.*"package-version": *"\([^"]*\)".*/version \1 (not a git checkout)/p' "$src/runtime/version.json" 2>/dev/null)
echo "IREE $revision, armv7-a neon-vfpv4 hard float, local-sync + embedded ELF, built $(date -u +%FT%TZ) in $(($(date +%s) - start)) s" >"$out/BUILD-INFO"
echo "armv7 runtime: $out/iree-run-module $out/iree-benchmark-module ($(cat "$out/BUILD-INFO"))"
