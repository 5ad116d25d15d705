# shellcheck shell=bash
# Helpers shared by run-in-vm.sh and build-initramfs.sh (sourced, not executed).

# Prints the newest kernel version that has both /boot/vmlinuz-VER (readable)
# and /lib/modules/VER/modules.dep. OLOCAL_VM_KERNEL=VER overrides the choice.
# Returns 1 when there is none.
olvm_kernel_version() {
  local f ver
  local -a found=()
  if [[ -n ${OLOCAL_VM_KERNEL:-} ]]; then
    ver=$OLOCAL_VM_KERNEL
    [[ -r /boot/vmlinuz-$ver && -f /lib/modules/$ver/modules.dep ]] || return 1
    printf '%s\n' "$ver"
    return 0
  fi
  for f in /boot/vmlinuz-*; do
    [[ -r $f ]] || continue
    ver=${f#/boot/vmlinuz-}
    [[ -f /lib/modules/$ver/modules.dep ]] || continue
    found+=("$ver")
  done
  ((${#found[@]})) || return 1
  printf '%s\n' "${found[@]}" | sort -V | tail -n 1
}

# Prints the path of a statically linked busybox (busybox-static package).
# OLOCAL_VM_BUSYBOX=PATH overrides. Returns 1 when there is none.
olvm_busybox() {
  local candidate out
  local -a candidates=(/bin/busybox /usr/bin/busybox /usr/lib/initramfs-tools/bin/busybox)
  [[ -n ${OLOCAL_VM_BUSYBOX:-} ]] && candidates=("$OLOCAL_VM_BUSYBOX")
  for candidate in "${candidates[@]}"; do
    [[ -x $candidate ]] || continue
    # ldd fails ("not a dynamic executable") or says "statically linked".
    if out=$(LC_ALL=C ldd "$candidate" 2>&1) && [[ $out != *"statically linked"* ]]; then
      continue
    fi
    printf '%s\n' "$candidate"
    return 0
  done
  return 1
}

# Extracts the uncompressed ELF vmlinux from the bzImage VMLINUZ into OUT, so
# qemu can boot it through its PVH entry point and skip the in-guest
# decompression (about 3 s under TCG for Debian's xz kernel). Returns 1 when
# the payload cannot be found, decompressed or looks truncated.
olvm_extract_vmlinux() {
  local vmlinuz=$1 out=$2 magic tool off tmp
  local -a formats=(
    $'\xfd7zXZ' "xz -dc"
    $'\x28\xb5\x2f\xfd' "zstd -dcq"
    $'\x1f\x8b\x08' "gzip -dc"
  )
  tmp=$out.tmp.$$
  local i
  for ((i = 0; i < ${#formats[@]}; i += 2)); do
    magic=${formats[i]}
    read -r -a tool <<<"${formats[i + 1]}"
    command -v "${tool[0]}" >/dev/null || continue
    while IFS=: read -r off _; do
      # Trailing data after the stream makes the tools complain: judge the output.
      tail -c "+$((off + 1))" -- "$vmlinuz" | "${tool[@]}" >"$tmp" 2>/dev/null || true
      if olvm_elf_complete "$tmp"; then
        mv -f -- "$tmp" "$out"
        return 0
      fi
    done < <(LC_ALL=C grep -abo -- "$magic" "$vmlinuz" 2>/dev/null | head -n 4)
  done
  rm -f -- "$tmp"
  return 1
}

# True when FILE is a 64-bit little-endian ELF whose section header table (the
# last part of a linked vmlinux) lies inside the file.
olvm_elf_complete() {
  local file=$1 size shoff shentsize shnum
  [[ -s $file && $(head -c 5 -- "$file" | od -An -tx1 | tr -d ' \n') == 7f454c4602 ]] || return 1
  size=$(stat -c %s -- "$file")
  read -r shoff < <(od -An -t u8 -j 40 -N 8 -- "$file")
  read -r shentsize shnum < <(od -An -t u2 -j 58 -N 4 -- "$file")
  ((shoff > 0 && shoff + shentsize * shnum <= size))
}
