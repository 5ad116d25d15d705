#!/usr/bin/env bash
# Data mover vs dd on real block devices: boots the VM harness with two sparse
# 1 GiB images under /var/tmp attached as virtio-blk disks (cache=none: the
# guest's I/O reaches the host's disk, not its page cache) and runs
# bench_data_mover on them. Prints numbers, asserts nothing.
#
# Usage: bench/vm_data_mover.sh [BENCH ARGS...]
#   default BENCH ARGS: --source /dev/vda --destination /dev/vdb
#   e.g.  bench/vm_data_mover.sh --device /dev/vda --runs 3
# Environment: OLOCAL_BENCH_BINARY (default build/bench/bench_data_mover),
# OLOCAL_BENCH_SIZE (image size for truncate, default 1G).
set -euo pipefail

root=$(cd -- "$(dirname -- "${BASH_SOURCE[0]}")/.." && pwd -P)
bench=${OLOCAL_BENCH_BINARY:-$root/build/bench/bench_data_mover}
if [[ ! -x $bench ]]; then
  echo "vm_data_mover: no $bench (cmake --build build --target bench_data_mover)" >&2
  exit 2
fi
bench=$(realpath -- "$bench")

dir=$(mktemp -d /var/tmp/olocal-mover-vm.XXXXXX)
trap 'rm -rf -- "$dir"' EXIT
truncate -s "${OLOCAL_BENCH_SIZE:-1G}" -- "$dir/a.img" "$dir/b.img"

args=("$@")
((${#args[@]})) || args=(--source /dev/vda --destination /dev/vdb)
echo "vm_data_mover: host $(nproc) cores, load $(cut -d' ' -f1-3 /proc/loadavg); images in $dir" >&2
"$root/tests/vm/run-in-vm.sh" --timeout 3600 --disk "$dir/a.img" --disk "$dir/b.img" \
  -- "$bench" "${args[@]}"
