#!/usr/bin/env bash
# VM smoke test: proves that the guest of the VM harness has what the product
# needs from the real kernel: loop devices, LVM linear volumes, CoW snapshots,
# thin pools, online `lvextend -r`, and cgroup v2 io.max on an LV.
#
# Run it through the harness:  tests/vm/run-in-vm.sh -- tests/vm/smoke.sh
# One PASS/FAIL line per step; stops at the first failure (exit 1) after
# printing that step's output; everything is torn down by the EXIT trap.
# Exit 77 outside the VM (no device-mapper in /proc/misc).
set -eEuo pipefail

if ! grep -qs ' device-mapper$' /proc/misc; then
  echo "SKIP: not inside the VM harness (no device-mapper in /proc/misc);" \
    "run: tests/vm/run-in-vm.sh -- tests/vm/smoke.sh" >&2
  exit 77
fi
if [[ $(id -u) -ne 0 ]]; then
  echo "SKIP: needs root" >&2
  exit 77
fi

readonly vg=olocal_smoke
# fds 3/4 hold the real stdout/stderr during a step; lvm would warn about them.
export LVM_SUPPRESS_FD_WARNINGS=1
readonly MiB=$((1024 * 1024))
work=
loopdev=
cgroup=
mounts=()
step_name=
step_start=
expected=
steps_passed=0

# --- reporting ---------------------------------------------------------------
# A step's output goes to $work/step.log; shown only when the step fails.
now_us() { echo "${EPOCHREALTIME/[.,]/}"; }
seconds() { printf '%d.%d' $(($1 / 1000000)) $(($1 % 1000000 / 100000)); }

begin() {
  step_name=$1
  step_start=$(now_us)
  expected=
  exec 3>&1 4>&2 >"$work/step.log" 2>&1
}

pass() {
  exec 1>&3 2>&4 3>&- 4>&-
  echo "PASS: $step_name${1:+ - $1} ($(seconds $(($(now_us) - step_start))) s)"
  steps_passed=$((steps_passed + 1))
  step_name=
}

# ERR trap: the failing command ends the step and the script.
on_err() {
  local rc=$? line=$1 cmd=$2
  # Inside $(...) or ( ): let the parent report the failure once.
  ((BASH_SUBSHELL == 0)) || exit "$rc"
  trap - ERR
  if [[ -n $step_name ]]; then
    exec 1>&3 2>&4 3>&- 4>&-
    if [[ -n $expected ]]; then
      echo "FAIL: $step_name - expected: $expected (line $line)"
    else
      echo "FAIL: $step_name - line $line: $cmd (status $rc)"
    fi
    step_name=
    echo "    output of the step:"
    sed 's/^/    | /' "$work/step.log"
  else
    echo "FAIL: line $line: $cmd (status $rc)"
  fi
  exit 1
}
trap 'on_err "$LINENO" "$BASH_COMMAND"' ERR

# expect DESCRIPTION CMD...: fails the step when CMD fails.
expect() {
  local what=$1
  shift
  if ! "$@"; then
    expected=$what
    echo "expected: $what"
    return 1
  fi
}

# --- helpers -----------------------------------------------------------------
# lvm_report TOOL TARGET FIELD...: reads one row of an LVM report
# (--reportformat json --units b, numbers without the B suffix) into the
# associative array R, keyed by field name; fails when a field is missing.
declare -A R
lvm_report() {
  local tool=$1 target=$2 field json pair
  shift 2
  json=$("$tool" --reportformat json --units b --nosuffix -o "$(IFS=,; echo "$*")" "$target")
  R=()
  while IFS= read -r pair; do
    pair=${pair#\"}
    pair=${pair%\"}
    R[${pair%%\":\"*}]=${pair#*\":\"}
  done < <(grep -o '"[a-z_]*":"[^"]*"' <<<"$json")
  for field in "$@"; do
    if [[ -z ${R[$field]+set} ]]; then
      echo "no $field for $target in: $json" >&2
      return 1
    fi
  done
}

mount_fs() {
  mkdir -p -- "$2"
  mount -- "$1" "$2"
  mounts+=("$2")
}

umount_fs() {
  umount -- "$1"
  local i
  for i in "${!mounts[@]}"; do
    [[ ${mounts[i]} != "$1" ]] || unset 'mounts[i]'
  done
}

fs_size() { df -B1 --output=size -- "$1" | tail -n 1 | tr -d ' '; }
# Reads with O_DIRECT: the checksum comes from the device, not the page cache.
checksum() { dd if="$1" iflag=direct bs=1M status=none | sha256sum | cut -d' ' -f1; }

# shellcheck disable=SC2317  # invoked by the EXIT trap
cleanup() {
  local rc=$? i
  trap - ERR
  set +e
  if [[ -n $step_name ]]; then exec 1>&3 2>&4; fi
  for ((i = ${#mounts[@]} - 1; i >= 0; i--)); do
    [[ -z ${mounts[i]:-} ]] || umount -l -- "${mounts[i]}" 2>/dev/null
  done
  if vgs "$vg" >/dev/null 2>&1; then
    vgchange -an "$vg" >/dev/null 2>&1
    vgremove -ff -y "$vg" >/dev/null 2>&1
  fi
  if [[ -n $loopdev ]]; then
    pvremove -ff -y "$loopdev" >/dev/null 2>&1
    losetup -d "$loopdev" 2>/dev/null
  fi
  [[ -z $cgroup || ! -d $cgroup ]] || rmdir -- "$cgroup" 2>/dev/null
  [[ -z $work ]] || rm -rf -- "$work"
  exit "$rc"
}
trap cleanup EXIT

work=$(mktemp -d /run/olocal-smoke.XXXXXX)
echo "smoke: kernel $(uname -r), $(lvm version | sed -n 's/^ *LVM version: *//p')"

# --- 1. loop device on a sparse file on tmpfs --------------------------------
begin "loop device on a sparse 1 GiB file on tmpfs"
expect "work dir on tmpfs" test "$(stat -f -c %T -- "$work")" = tmpfs
truncate -s 1G -- "$work/pv.img"
expect "sparse backing file" test "$(du -k -- "$work/pv.img" | cut -f1)" -lt 1024
loopdev=$(losetup -f --show -- "$work/pv.img")
expect "a /dev/loopN device" test -b "$loopdev"
pass "$loopdev"

# --- 2. PV and VG --------------------------------------------------------------
begin "pvcreate + vgcreate"
pvcreate -y "$loopdev"
vgcreate -y "$vg" "$loopdev"
lvm_report vgs "$vg" vg_size
vg_size=${R[vg_size]}
expect "VG of about 1 GiB, got $vg_size" test "$vg_size" -gt $((1000 * MiB))
pass "$vg on $loopdev, vg_size $vg_size B"

# --- 3. linear LV with ext4 ----------------------------------------------------
begin "linear LV, mkfs.ext4, mount, write, read back"
lvcreate -y -L 64m -n lin "$vg"
lvm_report lvs "$vg/lin" lv_path lv_size
lin=${R[lv_path]} lin_size=${R[lv_size]}
expect "lv_size 64 MiB, got $lin_size" test "$lin_size" -eq $((64 * MiB))
expect "$lin is a block device" test -b "$lin"
mkfs.ext4 -q -F "$lin"
mount_fs "$lin" "$work/lin"
head -c $((4 * MiB)) /dev/urandom >"$work/data.orig"
cp -- "$work/data.orig" "$work/lin/data"
sync
data_sum=$(sha256sum -- "$work/data.orig" | cut -d' ' -f1)
expect "file read back from ext4 intact" test "$(checksum "$work/lin/data")" = "$data_sum"
pass "$lin, lv_size $lin_size B"

# --- 4. CoW snapshot ---------------------------------------------------------------
begin "CoW snapshot (lvcreate -s) equals the origin and keeps it after origin writes"
lvcreate -y -s -L 32m -n snap "$vg/lin"
lvm_report lvs "$vg/snap" lv_path origin
snap=${R[lv_path]} origin=${R[origin]}
expect "snapshot origin is lin, got $origin" test "$origin" = lin
mount_fs "$snap" "$work/snap"
expect "snapshot content equals origin" test "$(checksum "$work/snap/data")" = "$(checksum "$work/lin/data")"
umount_fs "$work/snap"
head -c $((4 * MiB)) /dev/urandom >"$work/lin/data"
sync
expect "origin changed" test "$(checksum "$work/lin/data")" != "$data_sum"
mount_fs "$snap" "$work/snap"
expect "snapshot still holds the old content" test "$(checksum "$work/snap/data")" = "$data_sum"
lvm_report lvs "$vg/snap" snap_percent
snap_pct=${R[snap_percent]}
umount_fs "$work/snap"
lvremove -y "$vg/snap"
pass "$snap, snap_percent $snap_pct after 4 MiB of origin writes"

# --- 5. thin pool + thin LV with xfs -------------------------------------------------
begin "thin pool + thin LV, mkfs.xfs, mount, write"
lvcreate -y --type thin-pool -L 256m -n pool "$vg"
lvcreate -y -V 512m --thin -n thin "$vg/pool"
lvm_report lvs "$vg/thin" lv_path lv_size pool_lv
thin=${R[lv_path]} thin_size=${R[lv_size]} pool_lv=${R[pool_lv]}
expect "thin lv_size 512 MiB, got $thin_size" test "$thin_size" -eq $((512 * MiB))
expect "thin LV in pool, got $pool_lv" test "$pool_lv" = pool
mkfs.xfs -q -f "$thin"
mount_fs "$thin" "$work/thin"
cp -- "$work/data.orig" "$work/thin/data"
sync
expect "file read back from xfs intact" test "$(checksum "$work/thin/data")" = "$data_sum"
expect "xfs mounted" test "$(findmnt -n -o FSTYPE --target "$work/thin")" = xfs
lvm_report lvs "$vg/pool" data_percent
pool_pct=${R[data_percent]}
pass "$thin, lv_size $thin_size B in a 256 MiB pool, pool data_percent $pool_pct"

# --- 6. lvextend -r grows ext4 online ---------------------------------------------------
begin "lvextend -r grows the mounted ext4 online"
fs_before=$(fs_size "$work/lin")
lvextend -r -L +64m "$vg/lin"
lvm_report lvs "$vg/lin" lv_size
lin_size2=${R[lv_size]}
fs_after=$(fs_size "$work/lin")
expect "lv_size 128 MiB, got $lin_size2" test "$lin_size2" -eq $((128 * MiB))
expect "fs size grew ($fs_before -> $fs_after)" test "$fs_after" -gt $((fs_before + 48 * MiB))
expect "still mounted" mountpoint -q "$work/lin"
pass "lv_size $lin_size -> $lin_size2 B, fs size $fs_before -> $fs_after B"

# --- 7. cgroup v2 io.max on the LV --------------------------------------------------------
begin "cgroup v2 io.max accepts a 1 MiB/s write limit on the LV and applies it"
expect "io controller available to children" grep -qw io /sys/fs/cgroup/cgroup.subtree_control
lvm_report lvs "$vg/lin" lv_kernel_major lv_kernel_minor
major=${R[lv_kernel_major]} minor=${R[lv_kernel_minor]}
expect "lv_kernel_major:minor $major:$minor matches the device node" \
  test "$(stat -L -c '%t:%T' -- "$lin")" = "$(printf '%x:%x' "$major" "$minor")"
cgroup=/sys/fs/cgroup/olocal-smoke.$$
mkdir -- "$cgroup"
echo "$major:$minor wbps=1048576" >"$cgroup/io.max"
io_max=$(grep "^$major:$minor " "$cgroup/io.max")
expect "io.max reads back the limit, got '$io_max'" \
  test "$io_max" = "$major:$minor rbps=max wbps=1048576 riops=max wiops=max"
# 3 MiB of O_DIRECT writes at 1 MiB/s cannot take less than ~2 s.
t0=$(now_us)
(
  echo "$BASHPID" >"$cgroup/cgroup.procs"
  exec dd if=/dev/zero of="$work/lin/throttled" bs=256k count=12 oflag=direct conv=fsync status=none
)
took_us=$(($(now_us) - t0))
took=$(seconds "$took_us")
expect "3 MiB took >= 2 s under the limit, took $took s" test "$took_us" -ge 2000000
pass "$io_max; 3 MiB O_DIRECT write took $took s"

# --- 8. teardown -------------------------------------------------------------------------
begin "teardown: umount, vgremove, pvremove, losetup -d"
rmdir -- "$cgroup"
cgroup=
for mnt in "$work/thin" "$work/lin"; do umount_fs "$mnt"; done
vgremove -y -ff "$vg"
pvremove -y "$loopdev"
losetup -d "$loopdev"
loopdev=
expect "no $vg dm devices left" test -z "$(dmsetup ls | grep "^$vg-" || true)"
pass

echo "smoke: all $steps_passed steps passed"
