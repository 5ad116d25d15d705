#!/bin/sh
# shellcheck shell=sh
# /init of the VM harness initramfs; runs under busybox sh as PID 1.
# Mounts the host root (9p, read-only) with a tmpfs-backed overlay on top,
# prepares the guest (modules, /proc /sys /dev /run /tmp, cgroup2, LVM
# without udev), runs /run/olocal-vm-run.sh (guest-run.sh) chrooted and ends
# with the marker line "OLOCAL_VM_EXIT <nonce> <status>" that run-in-vm.sh
# parses, then powers off.
PATH=/bin
export PATH
umask 022

# No /dev/console node in the image: stdio comes from devtmpfs.
mount -t devtmpfs devtmpfs /dev
exec </dev/console >/dev/console 2>&1

msg() { echo "olocal-vm init: $*"; }

# Waits until everything written to the console has left the UART
# (busybox stty applies settings with TCSADRAIN).
drain() { stty onlcr 2>/dev/null; }

die() {
  msg "FATAL: $*"
  drain
  poweroff -f
  sleep 60
}

mount -t proc proc /proc || die "mount /proc"
mount -t sysfs sysfs /sys || die "mount /sys"

# Module names as in /lib/modules/VER/modules.dep; built-in ones are fine too.
kver=$(uname -r)
is_builtin() {
  grep -q "/$(echo "$1" | sed 's/[-_]/[-_]/g')\.ko\$" "/lib/modules/$kver/modules.builtin" 2>/dev/null
}
load() {
  for m in "$@"; do
    modprobe "$m" 2>/dev/null || is_builtin "$m" || { msg "modprobe $m failed"; return 1; }
  done
}
load virtio_pci 9pnet_virtio 9p overlay || die "cannot load the 9p/overlay modules"
# The storage modules load in the background while the root is set up (their
# signature checks cost seconds under TCG); waited for before the command.
load crc32c_generic libcrc32c loop dm_mod dm_bufio dm_persistent_data \
  dm_snapshot dm_thin_pool ext4 xfs &
modules_pid=$!

p9opts=trans=virtio,version=9p2000.L,msize=262144
# The host root is read-only and assumed not to change while the VM runs:
# cache=loose keeps binaries in the guest page cache (faster exec and stat).
mount -t 9p -o "$p9opts,ro,cache=loose" host0 /host || die "mount of the host root (9p host0) failed"
mount -t 9p -o "$p9opts,ro" olrun /rundir || die "mount of the run directory (9p olrun) failed"
IFS= read -r nonce </rundir/nonce || die "no nonce in the run directory"

# Disks attached with run-in-vm.sh --disk: virtio-blk, loaded only when there
# are some (no udev here to load it on demand). Probing is synchronous: the
# /dev/vdX nodes exist once modprobe returns.
ndisks=0
[ ! -r /rundir/disks ] || IFS= read -r ndisks </rundir/disks
if [ "${ndisks:-0}" -gt 0 ]; then
  load virtio_blk || die "cannot load virtio_blk for the --disk disks"
  found=0
  for d in /sys/block/vd*; do [ ! -e "$d" ] || found=$((found + 1)); done
  [ "$found" -ge "$ndisks" ] || die "expected $ndisks virtio disks, the kernel shows $found"
fi

mount -t tmpfs -o mode=0755 tmpfs /ovl || die "mount tmpfs /ovl"
mkdir -p /ovl/upper /ovl/work
mount -t overlay -o lowerdir=/host,upperdir=/ovl/upper,workdir=/ovl/work overlay /newroot ||
  die "overlay mount failed"

r=/newroot
mount --move /proc $r/proc || die "move /proc"
mount --move /sys $r/sys || die "move /sys"
mount --move /dev $r/dev || die "move /dev"
mount -t tmpfs -o mode=0755,nosuid,nodev tmpfs $r/run || die "mount /run"
mkdir -p $r/run/lock $r/run/olocal-vm
chmod 1777 $r/run/lock
# /tmp stays the overlay of the host's /tmp: a checkout or build tree there
# (CI clones into temporary folders) must be visible in the guest.
mkdir -p $r/dev/pts $r/dev/shm
mount -t devpts -o gid=5,mode=0620,ptmxmode=0666 devpts $r/dev/pts || die "mount /dev/pts"
mount -t tmpfs -o mode=1777,nosuid,nodev tmpfs $r/dev/shm || die "mount /dev/shm"
ln -sfn /proc/self/fd $r/dev/fd
ln -sfn /proc/self/fd/0 $r/dev/stdin
ln -sfn /proc/self/fd/1 $r/dev/stdout
ln -sfn /proc/self/fd/2 $r/dev/stderr

# cgroup v2 with the io controller enabled for child groups.
mount -t cgroup2 -o nsdelegate cgroup2 $r/sys/fs/cgroup || die "mount cgroup2"
echo +io >$r/sys/fs/cgroup/cgroup.subtree_control || die "cannot enable +io in cgroup2"
for c in memory pids cpu; do
  echo "+$c" >$r/sys/fs/cgroup/cgroup.subtree_control 2>/dev/null || msg "note: cgroup2 +$c not enabled"
done

# LVM without udev: create /dev nodes itself, never wait for udev, no daemons.
# lvmlocal.conf is read after lvm.conf and overrides it; it lives in the
# overlay, so lvm finds it whatever environment the tests pass to it.
mkdir -p $r/etc/lvm
cat >$r/etc/lvm/lvmlocal.conf <<'LVMCONF'
# Written by the olocal VM harness (guest only).
activation {
	udev_sync = 0
	udev_rules = 0
	verify_udev_operations = 0
	monitoring = 0
}
devices {
	obtain_device_list_from_udev = 0
	external_device_info_source = "none"
	use_devicesfile = 0
}
global {
	use_lvmpolld = 0
}
LVMCONF

hostname olocal-vm
ip link set lo up 2>/dev/null || msg "note: cannot bring up lo"

# Files of the run for guest-run.sh; the nonce stays out of the guest root.
for f in argv env cwd out; do
  cp /rundir/$f $r/run/olocal-vm/$f || die "missing $f in the run directory"
done
echo "$kver" >$r/run/olocal-vm/kernel
IFS= read -r out </rundir/out
if [ -n "$out" ]; then
  mkdir -p "$r$out" || die "cannot create --out mount point $out"
  # No caching: what the guest writes reaches the host at once.
  mount -t 9p -o "$p9opts,cache=none" olout "$r$out" || die "mount of --out $out (9p olout) failed"
fi
umount /rundir
cp /guest-run.sh $r/run/olocal-vm-run.sh

wait $modules_pid || die "cannot load the storage modules"
echo "OLOCAL_VM_BEGIN $nonce"
chroot $r /bin/bash /run/olocal-vm-run.sh
rc=$?
echo "OLOCAL_VM_EXIT $nonce $rc"
drain
sync
poweroff -f
sleep 60
