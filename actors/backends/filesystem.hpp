#pragma once

// Filesystem operations on one node: format, mount, bind-mount, unmount,
// grow, measure and check volumes (what CSI NodeStage, NodePublish,
// NodeExpand and NodeGetVolumeStats need).
//
// Every function here may block (mkfs, resize2fs, mount(2), reading
// /proc/self/mountinfo): call them from a detached backend actor, never from
// a scheduler thread. Nothing throws; every error is an olocal::errc with a
// message naming the operation and the path. External programs run through
// olocal::run_command (argv, no shell, a timeout); mounts use the
// mount(2)/umount2(2) system calls, never the mount binary.
//
// Idempotency: format refuses a device that already holds data (so a retry
// never destroys a filesystem), mount and bind_mount answer false when the
// same thing is already mounted at the target, unmount answers false when
// nothing is mounted there.

#include "actors/core/storage_types.hpp"

#include <caf/expected.hpp>
#include <caf/meta/type_name.hpp>

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace olocal::fs_ops {

// -- formatting ----------------------------------------------------------------

/// The filesystems format() can make.
inline constexpr std::string_view supported_filesystems[] = {"ext4", "ext3", "xfs"};

struct format_options {
  /// Format even when the device holds a signature (a filesystem, an LVM
  /// label, a partition table, ...). A mounted or otherwise claimed device is
  /// refused all the same.
  bool force = false;
  /// Filesystem label, "" for none (ext*: up to 16 bytes, xfs: up to 12).
  std::string label;
  /// How long mkfs may run.
  int64_t timeout_ms = 300'000;
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, format_options& x) {
  return f(caf::meta::type_name("format_options"), x.force, x.label, x.timeout_ms);
}

/// The argv format() runs (validated, nothing runs):
///  ext4: mkfs.ext4 -F -q -E lazy_itable_init=1,lazy_journal_init=1 [-L l] <dev>
///  ext3: mkfs.ext3 -F -q -E lazy_journal_init=1 [-L l] <dev>
///  xfs:  mkfs.xfs -f -q -K [-L l] <dev>   (-K: no discard, the space is wiped elsewhere)
/// invalid_argument for another fstype, a relative device path or a bad label.
caf::expected<std::vector<std::string>>
mkfs_argv(const std::string& device, std::string_view fstype, const format_options& opts);

/// Makes a filesystem on a block device; answers the command that ran (as
/// render_argv shows it). Refused with device_busy when the device is mounted
/// or claimed (always) and when it holds any signature (unless opts.force).
/// Errors: invalid_argument (fstype, label, not a block device), not_found
/// (no such device), device_busy, timeout, command_failed (mkfs's stderr).
caf::expected<std::string> format(const std::string& device, std::string_view fstype,
                                  const format_options& opts = {});

/// The filesystem on a device ("ext4", "ext3", "ext2", "xfs", "btrfs", "vfat",
/// "iso9660"), or "" when it holds none. Other content (an LVM label, a
/// partition table, swap, LUKS) is not a filesystem and also answers "";
/// format() refuses such a device without force.
caf::expected<std::string> detect_filesystem(const std::string& device);

// -- mount options -----------------------------------------------------------------

/// Mount options as mount(2) takes them: MS_* flags and the data string.
struct mount_options {
  uint64_t flags = 0; ///< MS_RDONLY, MS_NOATIME, ...
  std::string data;   ///< filesystem options joined with ',' ("nouuid,prjquota")

  bool read_only() const;
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, mount_options& x) {
  return f(caf::meta::type_name("mount_options"), x.flags, x.data);
}

/// Parses the usual option list ({"ro", "noatime", "data=ordered"}). Flags:
/// ro, rw, nodev, dev, nosuid, suid, noexec, exec, sync, async, dirsync,
/// noatime, atime, relatime, norelatime, strictatime, nostrictatime,
/// nodiratime, diratime, defaults; a later flag overrides an earlier one
/// ("ro","rw" is read-write; noatime, relatime and strictatime exclude each
/// other). Everything else (discard, nouuid, prjquota, data=ordered, ...) is
/// passed to the filesystem as data, in the given order. Pure.
/// invalid_argument for an empty entry or one containing ',' or a NUL.
caf::expected<mount_options> parse_mount_options(const std::vector<std::string>& options);

// -- the mount table ---------------------------------------------------------------

/// Parses the text of a mountinfo file (proc(5): id, parent, major:minor,
/// root, mount point, options, optional fields up to "-", fstype, source,
/// super options). Pure. parse_error naming the line for a malformed line.
caf::expected<std::vector<mount_entry>> parse_mountinfo(std::string_view text);

/// Reads /proc/self/mountinfo. io_error when it cannot be read.
caf::expected<std::vector<mount_entry>> read_mounts();

/// What is mounted at `target` (the topmost mount when several are stacked),
/// nullopt when nothing is (including when the path does not exist). The
/// target is resolved (symlinks, "..", relative paths) before the lookup.
caf::expected<std::optional<mount_entry>> find_mount(const std::string& target);

/// True when something is mounted at `path`; false when not or unknown.
bool is_mountpoint(const std::string& path);

// -- mounting ------------------------------------------------------------------

/// Mounts `source` (a block device, or a name such as "tmpfs") at `target`
/// with mount(2); the target directory is created (mkdir -p) when missing.
/// Answers true when it mounted, false when the same source (same device
/// major:minor) was already mounted there with the same fstype and ro-ness.
/// Errors: invalid_argument (empty argument, bad option, wrong fstype),
/// not_found (no source), already_exists (something else, or the same
/// source with another fstype or ro-ness, is mounted there; names both),
/// device_busy, permission_denied, io_error.
caf::expected<bool> mount(const std::string& source, const std::string& target,
                          std::string_view fstype, const std::vector<std::string>& options = {});

/// Bind-mounts `source` at `target` (read-only: bind, then
/// MS_REMOUNT|MS_BIND|MS_RDONLY keeping the other per-mount flags, as the
/// kernel requires; a failed remount undoes the bind). A missing target is
/// created as a directory when the source is a directory, as an empty file
/// otherwise (raw block volumes). Answers true when it mounted, false when
/// `source` was already bound there with the same ro-ness (same inode);
/// already_exists when something else is mounted there.
caf::expected<bool> bind_mount(const std::string& source, const std::string& target,
                               bool read_only);

/// Unmounts the topmost mount at `target` (umount2, no lazy detach). Answers
/// true when it unmounted, false when nothing was mounted there (or the path
/// does not exist). device_busy while files are open on it.
caf::expected<bool> unmount(const std::string& target);

/// Creates an empty regular file at `path` (and its parent directories) if
/// nothing is there; an existing file is left alone. invalid_argument when
/// the path is a directory.
caf::expected<void> ensure_file(const std::string& path);

/// mkdir -p. invalid_argument when the path (or a parent) is not a directory.
caf::expected<void> ensure_directory(const std::string& path);

// -- growing ---------------------------------------------------------------------

inline constexpr std::chrono::milliseconds default_grow_timeout{600'000};

/// Grows the filesystem on `device` to the size of the device; answers the
/// command(s) that ran. ext2/3/4: `resize2fs <device>`, online when the
/// device is mounted anywhere; offline it is preceded by `e2fsck -f -p
/// <device>` (resize2fs demands a fresh check), answered as
/// "e2fsck -f -p <dev> && resize2fs <dev>". xfs: `xfs_growfs -d <mountpoint>`,
/// which needs the device mounted at `mountpoint` (failed_precondition
/// otherwise). A filesystem that already fills the device is left as it is.
/// Errors: invalid_argument (fstype), not_found (device), failed_precondition
/// (the device holds another filesystem; mountpoint served by another
/// device), timeout, command_failed.
caf::expected<std::string> grow(const std::string& device, const std::string& mountpoint,
                                std::string_view fstype,
                                std::chrono::milliseconds timeout = default_grow_timeout);

// -- measuring -------------------------------------------------------------------

/// statvfs(path). not_found, permission_denied or io_error naming the path.
caf::expected<fs_stats> stats(const std::string& path);

/// Size of a block device in bytes (ioctl BLKGETSIZE64). invalid_argument
/// when the path is not a block device.
caf::expected<uint64_t> block_device_size(const std::string& path);

// -- health ----------------------------------------------------------------------

/// Checks a mounted volume: abnormal when the device node is missing (or not
/// a block device), when nothing is mounted at `mountpoint` or it cannot be
/// read, when it is served by another device, or when it is read-only although
/// `expect_writable`. Never fails: a check that cannot be made is abnormal.
volume_condition check(const std::string& device, const std::string& mountpoint,
                       bool expect_writable = true);

} // namespace olocal::fs_ops
