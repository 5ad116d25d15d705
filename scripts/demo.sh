#!/usr/bin/env bash
# The main job on the embedded default: builds open-local, shows what the node
# actors see on this host, then runs the standalone tour (scripts/tour.sh):
# `open-local standalone` on a loop-backed pool, driven through its CSI socket
# by the open-local client. Each step prints what it verified; any failed
# check stops the tour with a non-zero exit.
set -euo pipefail
source "$(dirname "$0")/lib.sh"
cd "$root"

step "dependencies"
bash scripts/install-deps.sh

step "build"
build_tree build -DCMAKE_BUILD_TYPE=Debug >/dev/null
bin=$root/build/gateways/cmd/open-local
"$bin" version

step "what this host offers (open-local discover)"
"$bin" discover

# The tour needs root and device-mapper (LVM). Without them (as on the CI
# machines, whose kernel has no device-mapper) it runs inside the VM harness:
# Debian's kernel under qemu, this file system shared in.
if [[ $EUID -eq 0 ]] && grep -qw device-mapper /proc/misc; then
  step "tour on this host (device-mapper present)"
  bash scripts/tour.sh "$bin"
else
  step "tour inside the VM harness (this kernel has no device-mapper)"
  tests/vm/run-in-vm.sh --mem 3072 --timeout 900 -- bash scripts/tour.sh "$bin"
fi
