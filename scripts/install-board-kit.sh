#!/usr/bin/env bash
# The emulated boards of the test suite, from the package registries only, unpacked into one folder
# (default ~/.cache/skip-explorer/boards, or $EXPLORER_BOARDS, or the first argument):
#   qemu/       Debian's qemu-user-static (qemu-aarch64-static, qemu-arm-static), unpacked
#   arm64/      an arm64 sysroot: Debian's libc6, libstdc++6, libgcc-s1 for arm64 (qemu's -L)
#   armhf/      an armhf sysroot: the same three packages for armhf (for armv7 runtimes, preflight)
#   iree-aarch64/  IREE's runtime tools for aarch64 (iree-run-module, iree-benchmark-module) from the
#               manylinux aarch64 iree-base-runtime wheel of the installed iree-base-runtime version
# Nothing is installed system-wide: no dpkg architecture is added, no binfmt handler registered;
# the sysroots come from a private APT configuration (own lists, cache and empty dpkg status).
# Run again: does nothing when the folder is complete for this IREE version (file READY).
# Usage: scripts/install-board-kit.sh [DIR]
set -euo pipefail
dir=${1:-${EXPLORER_BOARDS:-$HOME/.cache/skip-explorer/boards}}
version=$(python3 -c "from importlib.metadata import version; print(version('iree-base-runtime'))")
stamp="board kit 2: qemu-user-static, arm64 + armhf sysroots, iree-base-runtime $version aarch64"
if [ "$(cat "$dir/READY" 2>/dev/null)" = "$stamp" ]; then
  echo "board kit ready: $dir"
  exit 0
fi
command -v apt-get >/dev/null && command -v dpkg >/dev/null || { echo "install-board-kit: needs apt-get and dpkg (Debian)" >&2; exit 1; }
mkdir -p "$dir"
dir=$(cd "$dir" && pwd)
rm -rf "$dir/qemu" "$dir/arm64" "$dir/armhf" "$dir/iree-aarch64" "$dir/READY"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

# fetch ARCH PACKAGE...: download Debian packages for ARCH through a private APT configuration
fetch() {
  local arch=$1 apt="$work/apt-$1"
  shift
  mkdir -p "$apt/lists/partial" "$apt/cache/archives/partial" "$apt/debs"
  : >"$apt/status"
  cat >"$apt/apt.conf" <<EOF
APT::Architecture "$arch";
APT::Architectures { "$arch"; };
Dir::State::Lists "$apt/lists";
Dir::Cache "$apt/cache";
Dir::State::status "$apt/status";
APT::Sandbox::User "root";
EOF
  APT_CONFIG="$apt/apt.conf" apt-get update -qq >/dev/null 2>&1 \
    || echo "install-board-kit: apt-get update for $arch reported errors; using the indexes it got" >&2
  (cd "$apt/debs" && APT_CONFIG="$apt/apt.conf" apt-get download -qq "$@" >/dev/null 2>&1) \
    || { echo "install-board-kit: cannot download $* for $arch" >&2; exit 1; }
}

# unpack ARCH DEST PACKAGE...
unpack() {
  local arch=$1 dest=$2
  shift 2
  fetch "$arch" "$@"
  mkdir -p "$dest"
  for deb in "$work/apt-$arch"/debs/*.deb; do dpkg -x "$deb" "$dest"; done
  rm -rf "$work/apt-$arch"
}

host_arch=$(dpkg --print-architecture)
unpack "$host_arch" "$work/qemu" qemu-user-static
mkdir -p "$dir/qemu"
cp "$work/qemu/usr/bin/qemu-aarch64-static" "$work/qemu/usr/bin/qemu-arm-static" "$dir/qemu/"
unpack arm64 "$dir/arm64" libc6 libstdc++6 libgcc-s1
unpack armhf "$dir/armhf" libc6 libstdc++6 libgcc-s1

py=$(python3 -c "import sys; print(f'{sys.version_info.major}.{sys.version_info.minor}')")
python3 -m pip download -q --no-deps --only-binary=:all: --platform manylinux_2_28_aarch64 \
  --python-version "$py" --dest "$work/wheel" "iree-base-runtime==$version"
mkdir -p "$dir/iree-aarch64"
python3 -m zipfile -e "$work"/wheel/iree_base_runtime-*.whl "$work/wheel/x"
for tool in iree-run-module iree-benchmark-module; do
  cp "$work/wheel/x/iree/_runtime_libs/$tool" "$dir/iree-aarch64/$tool"
  chmod 755 "$dir/iree-aarch64/$tool"
done

echo "iree-base-runtime==$version" >"$dir/iree-aarch64/VERSION"
"$dir/qemu/qemu-aarch64-static" -L "$dir/arm64" "$dir/iree-aarch64/iree-run-module" --help >/dev/null \
  || { echo "install-board-kit: the aarch64 iree-run-module does not run under qemu" >&2; exit 1; }
echo "$stamp" >"$dir/READY"
echo "board kit ready: $dir"
