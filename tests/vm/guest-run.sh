#!/bin/bash
# Runs inside the guest, chrooted into the overlay of the host root, started by
# the initramfs /init (guest-init.sh). Reads the run files written by
# run-in-vm.sh (NUL-separated argv and NAME=VALUE list, the working directory),
# builds a clean environment and executes the argv. Its exit status is the
# command's (126/127 when it cannot be executed).
set -u
dir=/run/olocal-vm
mapfile -d '' -t argv <"$dir/argv"
mapfile -d '' -t envs <"$dir/env"
IFS= read -r -d '' cwd <"$dir/cwd" || true
IFS= read -r out <"$dir/out" || true
IFS= read -r kver <"$dir/kernel" || true

while IFS= read -r name; do
  unset "$name" 2>/dev/null || true
done < <(compgen -e)

export PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
export HOME=/root TERM=dumb LANG=C.UTF-8
export DM_DISABLE_UDEV=1
export OLOCAL_VM=1 OLOCAL_VM_KERNEL=$kver
[[ -z $out ]] || export OLOCAL_VM_OUT=$out
for kv in "${envs[@]}"; do
  # kv is NAME=VALUE, NAME checked by run-in-vm.sh.
  # shellcheck disable=SC2163
  export -- "$kv"
done

cd -- "$cwd" 2>/dev/null || cd /
exec -- "${argv[@]}" </dev/null
