#!/usr/bin/env bash
# Builds the initramfs of the VM harness: a static busybox with its applet
# links, the module trees the guest /init needs, and /init itself
# (guest-init.sh) plus the in-chroot runner (guest-run.sh).
#
# Usage: build-initramfs.sh [--kver VERSION] OUTFILE
#   --kver  kernel version whose modules go in (default: newest installed
#           kernel that has /boot/vmlinuz-VER and /lib/modules/VER)
# Exit status: 0 built, 2 usage error, 77 a prerequisite is missing.
set -euo pipefail

here=$(cd -- "$(dirname -- "${BASH_SOURCE[0]}")" && pwd -P)
# shellcheck source-path=SCRIPTDIR source=lib.sh
source "$here/lib.sh"

# Module trees under /lib/modules/VER/kernel copied into the image; busybox
# modprobe resolves dependencies through modules.dep.
readonly module_trees=(
  fs net/9p drivers/md drivers/block drivers/virtio lib crypto arch/x86/crypto
)

usage() {
  echo "usage: ${0##*/} [--kver VERSION] OUTFILE" >&2
  exit 2
}

skip() {
  echo "build-initramfs: $*" >&2
  exit 77
}

kver=
out=
while (($#)); do
  case $1 in
    --kver) (($# >= 2)) || usage; kver=$2; shift 2 ;;
    --kver=*) kver=${1#--kver=}; shift ;;
    -h | --help) usage ;;
    -*) usage ;;
    *) [[ -z $out ]] || usage; out=$1; shift ;;
  esac
done
[[ -n $out ]] || usage

if [[ -z $kver ]]; then
  kver=$(olvm_kernel_version) ||
    skip "no kernel with /boot/vmlinuz-VER and /lib/modules/VER (install linux-image-amd64)"
fi
moddir=/lib/modules/$kver
[[ -f $moddir/modules.dep ]] || skip "no $moddir/modules.dep (install linux-image-amd64)"
busybox=$(olvm_busybox) || skip "no statically linked busybox (install busybox-static)"
command -v cpio >/dev/null || skip "cpio not found (install cpio)"

stage=$(mktemp -d "${TMPDIR:-/tmp}/olocal-initramfs.XXXXXX")
tmp_out=
cleanup() {
  rm -rf -- "$stage"
  [[ -z $tmp_out ]] || rm -f -- "$tmp_out"
}
trap cleanup EXIT

mkdir -p "$stage"/{bin,dev,proc,sys,host,newroot,ovl,rundir,etc} "$stage$moddir/kernel"
ln -s bin "$stage/sbin"
cp -- "$busybox" "$stage/bin/busybox"
while IFS= read -r applet; do
  applet=${applet##*/}
  [[ -n $applet && $applet != busybox ]] || continue
  ln -sf busybox "$stage/bin/$applet"
done < <("$stage/bin/busybox" --list)

cp -p -- "$moddir"/modules.* "$stage$moddir/"
for tree in "${module_trees[@]}"; do
  if [[ -d $moddir/kernel/$tree ]]; then
    mkdir -p -- "$stage$moddir/kernel/$(dirname -- "$tree")"
    cp -a -- "$moddir/kernel/$tree" "$stage$moddir/kernel/$tree"
  else
    echo "build-initramfs: note: $moddir/kernel/$tree missing, skipped" >&2
  fi
done

install -m 0755 -- "$here/guest-init.sh" "$stage/init"
install -m 0644 -- "$here/guest-run.sh" "$stage/guest-run.sh"
printf '%s\n' "$kver" >"$stage/etc/olocal-vm-kernel"

# Write next to OUTFILE, then rename: concurrent readers never see a partial file.
out_dir=$(dirname -- "$out")
mkdir -p -- "$out_dir"
tmp_out=$(mktemp "$out_dir/.initramfs.XXXXXX")
(
  cd -- "$stage"
  find . -mindepth 1 -print0 | LC_ALL=C sort -z |
    cpio --null --create --format=newc --owner=+0:+0 --quiet
) >"$tmp_out"
chmod 0644 -- "$tmp_out"
mv -f -- "$tmp_out" "$out"
tmp_out=
