#pragma once

#include <caf/expected.hpp>

#include <cstdint>
#include <span>
#include <string>
#include <vector>

namespace olocal {

/// How many bytes from the start of a device detect_signatures looks at.
inline constexpr size_t signature_probe_bytes = 128 * 1024;

/// Names the content found at the start of a device, in blkid's vocabulary
/// where one exists: "LVM2_member", "ext4", "ext3", "ext2", "xfs", "btrfs",
/// "swap", "vfat", "crypto_LUKS", "linux_raid_member", "iso9660", "gpt",
/// "dos" (an MBR partition table). Pure: looks only at `head`, which holds the
/// first bytes of the device (up to signature_probe_bytes; shorter devices
/// give shorter heads). The order of the result is fixed (the order above).
std::vector<std::string> detect_signatures(std::span<const unsigned char> head);

/// Reads the head of `path` and detects its signatures. Errors: not_found
/// when the path does not exist, io_error when it cannot be read.
caf::expected<std::vector<std::string>> probe_signatures(const std::string& path);

} // namespace olocal
