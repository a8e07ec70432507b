#!/usr/bin/env bash
# Install skip-explorer into the current Python, with everything it needs:
#   - Fashion-MNIST, the default data set (Debian package dataset-fashion-mnist), when apt-get exists;
#   - PyTorch 2.13.0 (CPU wheel) unless a torch is already installed;
#   - this project, editable, so that the reference checkpoints in models/ are found.
#   - with --test: the test and lint tools, Debian's chromium + chromium-driver for the
#     dashboard's real-browser test, and Debian's postgresql server for the multi-worker tests
#     (the tests start a throwaway cluster on a loopback port; nothing is started here);
#     and the emulated ARM boards (scripts/install-board-kit.sh: qemu-user, arm64/armhf sysroots and
#     IREE's aarch64 runtime tools, unpacked into ~/.cache/skip-explorer/boards, nothing system-wide).
# Usage: scripts/install.sh [--test]
set -euo pipefail
cd "$(dirname "$0")/.."
extras=""
if [ "${1:-}" = "--test" ]; then extras="[test]"; fi

if [ ! -d /usr/share/datasets/fashion-mnist ] && command -v apt-get >/dev/null 2>&1; then
  sudo=""
  if [ "$(id -u)" -ne 0 ]; then sudo="sudo"; fi
  export DEBIAN_FRONTEND=noninteractive
  $sudo apt-get install -y -q dataset-fashion-mnist >/dev/null 2>&1 \
    || { $sudo apt-get update -q >/dev/null && $sudo apt-get install -y -q dataset-fashion-mnist >/dev/null; } \
    || echo "warning: could not install dataset-fashion-mnist; explorer will download Fashion-MNIST instead" >&2
fi

if [ -n "$extras" ] && ! command -v chromedriver >/dev/null 2>&1 && command -v apt-get >/dev/null 2>&1; then
  sudo=""
  if [ "$(id -u)" -ne 0 ]; then sudo="sudo"; fi
  export DEBIAN_FRONTEND=noninteractive
  $sudo apt-get install -y -q chromium chromium-driver >/dev/null 2>&1 \
    || { $sudo apt-get update -q >/dev/null && $sudo apt-get install -y -q chromium chromium-driver >/dev/null; } \
    || echo "warning: could not install chromium; the real-browser dashboard test will be skipped" >&2
fi

if [ -n "$extras" ] && ! ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 && command -v apt-get >/dev/null 2>&1; then
  sudo=""
  if [ "$(id -u)" -ne 0 ]; then sudo="sudo"; fi
  export DEBIAN_FRONTEND=noninteractive
  $sudo apt-get install -y -q postgresql >/dev/null 2>&1 \
    || { $sudo apt-get update -q >/dev/null && $sudo apt-get install -y -q postgresql >/dev/null; } \
    || echo "warning: could not install postgresql; the PostgreSQL worker tests will be skipped" >&2
fi

python3 -m pip --version >/dev/null
if ! python3 -c "import torch" >/dev/null 2>&1; then
  python3 -m pip install -q torch==2.13.0
fi
python3 -m pip install -q -e ".${extras}"
command -v pyenv >/dev/null 2>&1 && pyenv rehash || true
if [ -n "$extras" ] && command -v apt-get >/dev/null 2>&1; then
  scripts/install-board-kit.sh \
    || echo "warning: could not install the board kit; the emulated aarch64 tests will be skipped" >&2
fi
echo "skip-explorer installed: run 'explorer --help'"
