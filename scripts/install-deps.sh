#!/usr/bin/env bash
# Installs everything open-local needs to build, run and test on Debian 12.
# Idempotent and non-interactive: packages already present are skipped, so a
# second run costs a few seconds and never touches the network.
set -euo pipefail

packages=(
  # build
  build-essential cmake ninja-build ccache pkg-config git clang-format
  libcaf-dev libgrpc++-dev protobuf-compiler protobuf-compiler-grpc libprotobuf-dev
  libboost1.81-dev libboost-json1.81-dev libboost-system1.81-dev
  liburing-dev libdevmapper-dev prometheus-cpp-dev libcurl4-openssl-dev libssl-dev
  libgtest-dev libgmock-dev libbenchmark-dev
  # runtime tools of the product and its tests
  lvm2 thin-provisioning-tools e2fsprogs xfsprogs util-linux fdisk fio curl
  # the real-kernel test harness (tests/vm)
  qemu-system-x86 linux-image-amd64 busybox-static cpio gzip kmod xz-utils
)

missing=()
for p in "${packages[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q '^install ok installed$'; then
    missing+=("$p")
  fi
done

if ((${#missing[@]})); then
  echo "install-deps: installing ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  sudo_cmd=()
  [[ $(id -u) -eq 0 ]] || sudo_cmd=(sudo)
  "${sudo_cmd[@]}" apt-get update -q
  "${sudo_cmd[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -q \
    --no-install-recommends "${missing[@]}"
else
  echo "install-deps: all ${#packages[@]} packages present"
fi
