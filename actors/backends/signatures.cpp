#include "actors/backends/signatures.hpp"

#include "actors/core/errc.hpp"

#include <cerrno>
#include <cstring>
#include <fcntl.h>
#include <string_view>
#include <unistd.h>

namespace olocal {

namespace {

bool has(std::span<const unsigned char> head, size_t offset, std::string_view magic) {
  if (offset + magic.size() > head.size())
    return false;
  return std::memcmp(head.data() + offset, magic.data(), magic.size()) == 0;
}

uint32_t le32(std::span<const unsigned char> head, size_t offset) {
  if (offset + 4 > head.size())
    return 0;
  return static_cast<uint32_t>(head[offset]) | static_cast<uint32_t>(head[offset + 1]) << 8 |
         static_cast<uint32_t>(head[offset + 2]) << 16 |
         static_cast<uint32_t>(head[offset + 3]) << 24;
}

// LVM2 writes "LABELONE" in one of the first four 512-byte sectors, with the
// label type "LVM2 001" 24 bytes further on.
bool lvm2_member(std::span<const unsigned char> head) {
  for (size_t sector = 0; sector < 4; ++sector)
    if (has(head, sector * 512, "LABELONE") && has(head, sector * 512 + 24, "LVM2 001"))
      return true;
  return false;
}

// ext2/3/4: superblock at 1024, magic 0xEF53 at +56; ext4 uses the extents or
// 64bit incompat features (or flex_bg), ext3 has a journal.
std::string ext_kind(std::span<const unsigned char> head) {
  constexpr size_t sb = 1024;
  if (sb + 0x68 > head.size() || head[sb + 56] != 0x53 || head[sb + 57] != 0xEF)
    return {};
  auto compat = le32(head, sb + 0x5C);
  auto incompat = le32(head, sb + 0x60);
  constexpr uint32_t incompat_extents = 0x40, incompat_64bit = 0x80, incompat_flex_bg = 0x200;
  constexpr uint32_t compat_has_journal = 0x4;
  if (incompat & (incompat_extents | incompat_64bit | incompat_flex_bg))
    return "ext4";
  if (compat & compat_has_journal)
    return "ext3";
  return "ext2";
}

bool swap_space(std::span<const unsigned char> head) {
  for (size_t page : {4096u, 8192u, 16384u, 65536u})
    if (has(head, page - 10, "SWAPSPACE2") || has(head, page - 10, "SWAP-SPACE"))
      return true;
  return false;
}

bool vfat(std::span<const unsigned char> head) {
  if (!has(head, 510, "\x55\xAA"))
    return false;
  return has(head, 54, "FAT12   ") || has(head, 54, "FAT16   ") || has(head, 82, "FAT32   ") ||
         has(head, 3, "MSDOS5.0") || has(head, 3, "mkfs.fat");
}

bool gpt(std::span<const unsigned char> head) {
  return has(head, 512, "EFI PART") || has(head, 4096, "EFI PART");
}

// An MBR with at least one used partition entry (type byte at +4 of each
// 16-byte entry starting at 446) and the 0x55AA boot signature.
bool dos_table(std::span<const unsigned char> head) {
  if (!has(head, 510, "\x55\xAA"))
    return false;
  for (size_t entry = 0; entry < 4; ++entry) {
    auto type = head[446 + entry * 16 + 4];
    auto boot = head[446 + entry * 16];
    if (type != 0 && (boot == 0x00 || boot == 0x80))
      return true;
  }
  return false;
}

bool md_member(std::span<const unsigned char> head) {
  // md superblock 1.1 at 0, 1.2 at 4 KiB (0.90 and 1.0 live at the end of the
  // device and show up as holders once assembled).
  constexpr uint32_t md_magic = 0xa92b4efc;
  return le32(head, 0) == md_magic || le32(head, 4096) == md_magic;
}

} // namespace

std::vector<std::string> detect_signatures(std::span<const unsigned char> head) {
  std::vector<std::string> found;
  if (lvm2_member(head))
    found.emplace_back("LVM2_member");
  if (auto ext = ext_kind(head); !ext.empty())
    found.push_back(ext);
  if (has(head, 0, "XFSB"))
    found.emplace_back("xfs");
  if (has(head, 65536 + 64, "_BHRfS_M"))
    found.emplace_back("btrfs");
  if (swap_space(head))
    found.emplace_back("swap");
  bool is_vfat = vfat(head);
  if (is_vfat)
    found.emplace_back("vfat");
  if (has(head, 0, "LUKS\xba\xbe"))
    found.emplace_back("crypto_LUKS");
  if (md_member(head))
    found.emplace_back("linux_raid_member");
  if (has(head, 32769, "CD001"))
    found.emplace_back("iso9660");
  bool is_gpt = gpt(head);
  if (is_gpt)
    found.emplace_back("gpt");
  // A GPT disk carries a protective MBR and a FAT boot sector looks like an
  // MBR: only a plain MBR counts as a "dos" partition table.
  if (!is_gpt && !is_vfat && dos_table(head))
    found.emplace_back("dos");
  return found;
}

caf::expected<std::vector<std::string>> probe_signatures(const std::string& path) {
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0)
    return make_error(errno == ENOENT ? errc::not_found : errc::io_error,
                      "cannot open " + path + ": " + std::strerror(errno));
  std::vector<unsigned char> head(signature_probe_bytes);
  size_t got = 0;
  while (got < head.size()) {
    auto n = ::pread(fd, head.data() + got, head.size() - got, static_cast<off_t>(got));
    if (n < 0 && errno == EINTR)
      continue;
    if (n < 0) {
      auto err = errno;
      ::close(fd);
      return make_error(errc::io_error, "cannot read " + path + ": " + std::strerror(err));
    }
    if (n == 0)
      break;
    got += static_cast<size_t>(n);
  }
  ::close(fd);
  head.resize(got);
  return detect_signatures(head);
}

} // namespace olocal
