#!/usr/bin/env bash
# Runs one command inside a qemu VM that boots the newest installed Debian
# kernel (with device-mapper, dm-snapshot, dm-thin, cgroup v2 io) on top of
# the host root file system, shared read-only over 9p with a tmpfs overlay.
# See tests/vm/README.md.
#
# Usage: run-in-vm.sh [options] -- CMD [ARGS...]
set -euo pipefail

here=$(cd -- "$(dirname -- "${BASH_SOURCE[0]}")" && pwd -P)
# shellcheck source-path=SCRIPTDIR source=lib.sh
source "$here/lib.sh"

readonly EXIT_SKIP=77 EXIT_TIMEOUT=124 EXIT_VM_FAILED=125 EXIT_USAGE=2
# Every file that ends up in (or decides) the initramfs: part of the cache key.
readonly harness_files=(run-in-vm.sh build-initramfs.sh guest-init.sh guest-run.sh lib.sh)

usage() {
  cat <<'USAGE'
usage: run-in-vm.sh [options] -- CMD [ARGS...]

Runs CMD (an argv) inside a qemu VM chrooted into an overlay of the host root,
in the current directory when it exists in the guest, and exits with CMD's
exit status. CMD's stdout and stderr arrive on stdout.

options:
  --mem MiB          guest memory (default 2048)
  --smp N            guest CPUs (default 2)
  --timeout SECONDS  kill the VM after SECONDS and exit 124 (default 900)
  --out DIR          host directory shared writable into the guest at the
                     same path (created if missing); $OLOCAL_VM_OUT in the guest
  --env NAME=VALUE   export NAME=VALUE in the guest (repeatable)
  --disk FILE        attach FILE (a raw image or a block device, read-write)
                     as a virtio-blk disk: /dev/vda, /dev/vdb, ... in the
                     order given (repeatable); $OLOCAL_VM_DISKS in the guest
                     lists them. Host page cache bypassed (cache=none) when
                     FILE allows O_DIRECT, else cache=writeback
  -v, --verbose      show the whole console (kernel and init messages)
  -h, --help         this text

exit status: CMD's status; 77 prerequisite missing (qemu, kernel,
busybox-static); 124 timeout; 125 the VM failed (no exit marker: crash,
panic, harness error); 2 usage error.
environment: OLOCAL_VM_CACHE (initramfs cache, default /var/tmp/open-local-vm),
OLOCAL_VM_KERNEL (kernel version to boot), OLOCAL_VM_QEMU (qemu binary),
OLOCAL_VM_ACCEL (qemu accelerators to try, colon-separated, default "tcg").
USAGE
}

say() { echo "run-in-vm: $*" >&2; }
debug() { ((verbose == 0)) || say "$@"; }
usage_error() {
  say "$*"
  say "try: run-in-vm.sh --help"
  exit "$EXIT_USAGE"
}
skip() {
  say "SKIP: $*"
  exit "$EXIT_SKIP"
}

positive_int() { [[ $1 =~ ^[1-9][0-9]*$ ]]; }

mem=2048
smp=2
timeout=900
out=
verbose=0
envs=()
disks=()
while (($#)); do
  opt=$1
  case $opt in
    --) shift; break ;;
    -h | --help) usage; exit 0 ;;
    -v | --verbose) verbose=1; shift; continue ;;
    --*=*) val=${opt#*=}; opt=${opt%%=*}; shift ;;
    --mem | --smp | --timeout | --out | --env | --disk)
      (($# >= 2)) || usage_error "$opt needs a value"
      val=$2
      shift 2
      ;;
    -*) usage_error "unknown option: $opt" ;;
    *) break ;;
  esac
  case $opt in
    --mem) positive_int "$val" || usage_error "--mem: not a positive integer: $val"; mem=$val ;;
    --smp) positive_int "$val" || usage_error "--smp: not a positive integer: $val"; smp=$val ;;
    --timeout) positive_int "$val" || usage_error "--timeout: not a positive integer: $val"; timeout=$val ;;
    --out) [[ -n $val ]] || usage_error "--out: empty directory"; out=$val ;;
    --env)
      [[ $val =~ ^[A-Za-z_][A-Za-z0-9_]*= ]] || usage_error "--env: expected NAME=VALUE, got: $val"
      envs+=("$val")
      ;;
    --disk) [[ -n $val ]] || usage_error "--disk: empty path"; disks+=("$val") ;;
    *) usage_error "unknown option: $opt" ;;
  esac
done
(($#)) || usage_error "no command given"

# --- prerequisites ---------------------------------------------------------
qemu=${OLOCAL_VM_QEMU:-qemu-system-x86_64}
command -v "$qemu" >/dev/null || skip "$qemu not found (install qemu-system-x86)"
kver=$(olvm_kernel_version) ||
  skip "no kernel with /boot/vmlinuz-VER and /lib/modules/VER (install linux-image-amd64)"
kernel=/boot/vmlinuz-$kver
olvm_busybox >/dev/null || skip "no statically linked busybox (install busybox-static)"

if [[ -n $out ]]; then
  [[ $out != *$'\n'* ]] || usage_error "--out: newline in path"
  mkdir -p -- "$out"
  out=$(cd -- "$out" && pwd -P)
fi

# --disk: raw images or block devices, each a virtio-blk disk of the guest.
((${#disks[@]} <= 26)) || usage_error "--disk: at most 26 disks"
letters=abcdefghijklmnopqrstuvwxyz
drive_args=()
guest_disks=()
for i in "${!disks[@]}"; do
  f=${disks[$i]}
  [[ $f != *$'\n'* ]] || usage_error "--disk: newline in path"
  [[ -f $f || -b $f ]] || usage_error "--disk: not a regular file or block device: $f"
  [[ -r $f && -w $f ]] || usage_error "--disk: not readable and writable: $f"
  f=$(realpath -- "$f")
  # cache=none opens FILE with O_DIRECT (the guest's I/O reaches the host's
  # disk, not the host's page cache); file systems without O_DIRECT (tmpfs)
  # get the host page cache instead.
  cache_mode=none
  if ! dd if="$f" of=/dev/null bs=4096 count=1 iflag=direct status=none 2>/dev/null; then
    cache_mode=writeback
    say "note: $f refuses O_DIRECT; attached with cache=writeback (host page cache)"
  fi
  # -drive separates options with commas; a comma in the path is doubled.
  drive_args+=(-drive "file=${f//,/,,},format=raw,if=virtio,cache=$cache_mode")
  guest_disks+=("/dev/vd${letters:i:1}")
  debug "disk $f -> ${guest_disks[-1]} (cache=$cache_mode)"
done
((${#guest_disks[@]} == 0)) || envs=("OLOCAL_VM_DISKS=${guest_disks[*]}" "${envs[@]}")

# --- initramfs, cached by kernel version + hash of the harness ------------
cache=${OLOCAL_VM_CACHE:-/var/tmp/open-local-vm}
mkdir -p -- "$cache"
key=$(
  cd -- "$here"
  cat -- "${harness_files[@]}"
  stat -L -c '%n %s %Y' -- "$(olvm_busybox)" "/lib/modules/$kver/modules.dep"
)
key=$(printf '%s' "$key" | sha256sum)
initrd=$cache/initramfs-$kver-${key:0:16}.cpio
exec {lock_fd}>>"$cache/.lock"
flock -w 600 "$lock_fd" || { say "cannot lock $cache/.lock"; exit "$EXIT_VM_FAILED"; }
if [[ ! -s $initrd ]]; then
  debug "building $initrd"
  build_start=$SECONDS
  rc=0
  "$here/build-initramfs.sh" --kver "$kver" "$initrd" || rc=$?
  if ((rc == EXIT_SKIP)); then
    exit "$EXIT_SKIP"
  elif ((rc != 0)); then
    say "initramfs build failed (status $rc)"
    exit "$EXIT_VM_FAILED"
  fi
  debug "initramfs built in $((SECONDS - build_start)) s"
fi
# The kernel as an uncompressed ELF, booted through its PVH entry point: saves
# the in-guest decompression of the xz bzImage (~3 s under TCG).
boot_image=$kernel
if [[ ${OLOCAL_VM_PVH:-1} == 1 ]] && grep -qx 'CONFIG_PVH=y' "/boot/config-$kver" 2>/dev/null; then
  vmlinux=$cache/vmlinux-$kver-$(stat -L -c '%s-%Y' -- "$kernel")
  if [[ ! -s $vmlinux ]] && ! olvm_extract_vmlinux "$kernel" "$vmlinux"; then
    say "note: cannot extract vmlinux from $kernel, booting the compressed kernel"
  fi
  [[ ! -s $vmlinux ]] || boot_image=$vmlinux
fi
touch -- "$initrd" "$boot_image" 2>/dev/null || true
# Drop cached files nobody used for a week (other kernels, older harnesses),
# and all but the 4 most recently used initramfs images.
find "$cache" -maxdepth 1 \( -name 'initramfs-*' -o -name 'vmlinux-*' \) -mtime +7 -delete 2>/dev/null || true
while IFS= read -r -d '' stale; do
  rm -f -- "$stale"
done < <(find "$cache" -maxdepth 1 -name 'initramfs-*.cpio' -printf '%T@ %p\0' | sort -z -rn | tail -z -n +5 | cut -z -d' ' -f2-)
exec {lock_fd}>&-

# --- run directory: the command for the guest ------------------------------
rundir=$(mktemp -d "${TMPDIR:-/tmp}/olocal-vm.XXXXXX")
vm_job=
filter_job=
# shellcheck disable=SC2317  # invoked by the EXIT trap
cleanup() {
  local pid
  [[ -z $vm_job ]] || kill "$vm_job" 2>/dev/null || true
  if [[ -s $rundir/qemu.pid ]] && read -r pid <"$rundir/qemu.pid" && kill -0 "$pid" 2>/dev/null; then
    kill "$pid" 2>/dev/null || true
  fi
  [[ -z $filter_job ]] || wait "$filter_job" 2>/dev/null || true
  rm -rf -- "$rundir"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM
share=$rundir/share
mkdir -- "$share"
nonce=$(od -An -N12 -tx1 /dev/urandom | tr -d ' \n')
printf '%s\n' "$nonce" >"$share/nonce"
printf '%s\0' "$@" >"$share/argv"
if ((${#envs[@]})); then printf '%s\0' "${envs[@]}" >"$share/env"; else : >"$share/env"; fi
printf '%s\0' "$(pwd -P 2>/dev/null || echo /)" >"$share/cwd"
printf '%s\n' "$out" >"$share/out"
printf '%s\n' "${#disks[@]}" >"$share/disks"

# --- qemu ------------------------------------------------------------------
# Software emulation by default: /dev/kvm exists on the CI machines but qemu
# aborts on it (nested MSR setup fails), so KVM is opt-in (OLOCAL_VM_ACCEL=kvm).
accel=${OLOCAL_VM_ACCEL:-tcg}
accel_args=()
IFS=: read -r -a accels <<<"$accel"
for a in "${accels[@]}"; do accel_args+=(-accel "$a"); done

security_model=passthrough
[[ $(id -u) -eq 0 ]] || security_model=none
qemu_args=(
  -nodefaults -no-user-config -display none -no-reboot
  "${accel_args[@]}" -cpu max -m "$mem" -smp "$smp"
  -serial stdio -monitor none
  -pidfile "$rundir/qemu.pid"
  -kernel "$boot_image" -initrd "$initrd"
  -append "console=ttyS0,115200 panic=-1 oops=panic quiet loglevel=3 printk.time=0 mitigations=off cryptomgr.notests no_timer_check"
  -virtfs "local,path=/,mount_tag=host0,security_model=passthrough,readonly=on,multidevs=remap"
  -virtfs "local,path=$share,mount_tag=olrun,security_model=passthrough,readonly=on"
  "${drive_args[@]}"
)
if [[ -n $out ]]; then
  qemu_args+=(-virtfs "local,path=$out,mount_tag=olout,security_model=$security_model,multidevs=remap")
fi

# The console goes to $rundir/console.log (whole) and, filtered, to stdout:
# only what lies between the BEGIN and EXIT markers (everything with -v),
# without the markers and the serial line's \r.
begin_re="^OLOCAL_VM_BEGIN $nonce\$"
exit_re="OLOCAL_VM_EXIT $nonce [0-9]\{1,3\}\$"
if ((verbose)); then
  filter="s/\r\$//; /$begin_re/d; /$exit_re/{ s///; /^\$/d; }; p"
else
  filter="s/\r\$//; /$begin_re/,/$exit_re/{ /$begin_re/d; /$exit_re/{ s///; /^\$/d; }; p; }"
fi
# qemu and the filter run as background jobs joined by a FIFO, so that `wait`
# returns at once when this script gets SIGINT/SIGTERM (the trap then kills
# qemu); --foreground keeps qemu in our process group for ctest's group kill.
log=$rundir/console.log
mkfifo -- "$rundir/console.fifo"
boot() {
  tee -- "$log" <"$rundir/console.fifo" | sed -u -n -e "$filter" &
  filter_job=$!
  start=$SECONDS
  timeout --foreground --kill-after=10 "$timeout" "$qemu" "${qemu_args[@]}" \
    </dev/null >"$rundir/console.fifo" 2>"$rundir/qemu.err" &
  vm_job=$!
  qemu_rc=0
  wait "$vm_job" || qemu_rc=$?
  vm_job=
  wait "$filter_job" || true
  filter_job=
  elapsed=$((SECONDS - start))
  debug "VM ran for ${elapsed} s (qemu status $qemu_rc)"
}
boot
# A kernel that panicked while booting (software emulation on a loaded host
# can fail the early timer checks) never started the command: boot once more.
# Once the command has begun (its BEGIN marker), nothing is retried.
if ! sed 's/\r$//' -- "$log" | grep -aq "$begin_re" && grep -aq "Kernel panic" -- "$log" &&
  ((qemu_rc != 124 && qemu_rc != 137)); then
  say "the guest kernel panicked before the command started; booting once more"
  sed 's/\r$//' -- "$log" | grep -a "Kernel panic" | head -n 1 | sed 's/^/  | /' >&2
  boot
fi

marker=$(sed 's/\r$//' -- "$log" | grep -ao "OLOCAL_VM_EXIT $nonce [0-9]\{1,3\}\$" | tail -n 1 || true)
if [[ -n $marker ]]; then
  ((qemu_rc == 0)) || say "warning: qemu exited with status $qemu_rc after the command finished"
  exit "${marker##* }"
fi

show_tail() {
  if [[ -s $log ]]; then
    say "last console lines:"
    sed 's/\r$//' -- "$log" | tail -n 40 | sed 's/^/  | /' >&2
  else
    say "the console stayed empty (the guest did not reach the command)"
  fi
  if [[ -s $rundir/qemu.err ]]; then
    say "qemu stderr:"
    tail -n 20 -- "$rundir/qemu.err" | sed 's/^/  | /' >&2
  fi
}
if ((qemu_rc == 124 || qemu_rc == 137)); then
  say "TIMEOUT: the VM did not finish within ${timeout} s; qemu killed"
  show_tail
  exit "$EXIT_TIMEOUT"
fi
say "VM FAILED: no exit marker on the console (guest crash, panic or harness error); qemu status $qemu_rc after ${elapsed} s"
show_tail
exit "$EXIT_VM_FAILED"
