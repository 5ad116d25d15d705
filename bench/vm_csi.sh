#!/usr/bin/env bash
# CSI latencies of `open-local standalone` on a file-backed pool inside the
# VM harness (real LVM, real mkfs and mounts). Prints numbers only.
# Usage: bench/vm_csi.sh [volumes=50]
# Environment: OLOCAL_BUILD (build tree, default build), OLOCAL_VM_MEM (guest
# MiB, default 3072: the pool file lives in the guest's memory, so many
# written volumes need more), OLOCAL_BENCH_STAGE=0 (skip the mkfs+mount part).
set -euo pipefail
root=$(cd -- "$(dirname -- "${BASH_SOURCE[0]}")/.." && pwd -P)
volumes=${1:-50}
if [[ ${OLOCAL_IN_VM_BENCH:-} != 1 ]]; then
  exec "$root/tests/vm/run-in-vm.sh" --mem "${OLOCAL_VM_MEM:-3072}" --timeout 1800 \
    --env OLOCAL_IN_VM_BENCH=1 --env "OLOCAL_BUILD=${OLOCAL_BUILD:-build}" \
    --env "OLOCAL_BENCH_STAGE=${OLOCAL_BENCH_STAGE:-1}" \
    -- bash "$root/bench/vm_csi.sh" "$volumes"
fi
# The pool file is in the guest's /run (tmpfs, half the guest's memory by
# default): let it use most of it.
mount -o remount,size=90% /run
work=/run/olocal-bench
mkdir -p "$work/staging"
build=$root/${OLOCAL_BUILD:-build}
bin=$build/gateways/cmd/open-local
"$bin" standalone --pool-file "$work/pool.img" --pool-size 4294967296 --pool-vg olocal-bench \
  --csi-endpoint "unix://$work/csi.sock" --csi-allowed-path "$work" --state-dir "$work/state" \
  --http-port 0 --log-level warn 2>"$work/log" &
pid=$!
for _ in $(seq 1 1500); do [[ -S $work/csi.sock ]] && break; sleep 0.02; done
staging=$work/staging
[[ ${OLOCAL_BENCH_STAGE:-1} != 0 ]] || staging=""
"$build/bench/bench_csi" "unix://$work/csi.sock" "$volumes" "$staging" "$pid"
kill -TERM "$pid"
wait "$pid"
