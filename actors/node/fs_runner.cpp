#include "actors/node/fs_runner.hpp"

#include "actors/backends/filesystem.hpp"
#include "actors/backends/signatures.hpp"
#include "actors/core/errc.hpp"

#include <caf/all.hpp>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

namespace olocal {

namespace {

/// The code for a failed system call on a mount target.
errc errc_of_errno(int err) {
  if (err == ENOTEMPTY || err == EEXIST)
    return errc::failed_precondition;
  return file_errc(err);
}

caf::error sys_error(const std::string& op, int err) {
  return errno_error(errc_of_errno(err), op, err);
}

caf::error with_context(const std::string& op, const caf::error& err) {
  return make_error(code_of(err), op + ": " + message_of(err));
}

/// Formats `cmd.device` unless it already holds `cmd.fstype`; anything else
/// on it (another filesystem, an LVM label, a partition table) is refused.
caf::expected<std::string> ensure_fs(const ensure_fs_command& cmd) {
  auto refuse = [&](const std::string& content) {
    return make_error(errc::failed_precondition, cmd.device + " holds " + content + ", not " +
                                                   cmd.fstype + "; a volume is never reformatted");
  };
  auto found = fs_ops::detect_filesystem(cmd.device);
  if (!found)
    return found.error();
  if (*found == cmd.fstype)
    return std::string{};
  if (!found->empty())
    return refuse(*found);
  // No filesystem; other content is refused with the same code (format()
  // would call it device_busy).
  auto signatures = probe_signatures(cmd.device);
  if (!signatures)
    return with_context("ensure " + cmd.fstype + " on " + cmd.device, signatures.error());
  if (!signatures->empty()) {
    std::string content;
    for (auto& name : *signatures)
      content += (content.empty() ? "" : ", ") + name;
    return refuse(content);
  }
  fs_ops::format_options opts;
  opts.timeout_ms = cmd.timeout_ms;
  // A signature written meanwhile makes format() refuse: its error is passed on.
  return fs_ops::format(cmd.device, cmd.fstype, opts);
}

caf::expected<bool> mount(const mount_command& cmd) {
  if (cmd.fstype.empty())
    return fs_ops::bind_mount(cmd.source, cmd.target, cmd.read_only);
  auto options = cmd.options;
  if (cmd.read_only)
    options.emplace_back("ro");
  return fs_ops::mount(cmd.source, cmd.target, cmd.fstype, options);
}

/// Removes an unmounted mount target: rmdir for a directory (refused with
/// failed_precondition when it is not empty: what is in it was written
/// while nothing was mounted and is not ours to delete), unlink for a
/// regular file. A missing path is fine; a path where something is still
/// mounted (a stacked mount) is left alone.
caf::expected<void> remove_target(const std::string& path) {
  std::string op = "remove mount target " + path;
  struct stat st {};
  if (::lstat(path.c_str(), &st) != 0) {
    if (errno == ENOENT)
      return {};
    return sys_error(op, errno);
  }
  auto mounted = fs_ops::find_mount(path);
  if (!mounted)
    return with_context(op, mounted.error());
  if (*mounted)
    return {};
  if (S_ISDIR(st.st_mode)) {
    if (::rmdir(path.c_str()) != 0 && errno != ENOENT)
      return sys_error(op, errno);
    return {};
  }
  if (S_ISREG(st.st_mode)) {
    if (::unlink(path.c_str()) != 0 && errno != ENOENT)
      return sys_error(op, errno);
    return {};
  }
  return make_error(errc::failed_precondition,
                    op + ": neither a directory nor a regular file; left in place");
}

caf::expected<bool> unmount(const unmount_command& cmd) {
  auto unmounted = fs_ops::unmount(cmd.target);
  if (!unmounted)
    return unmounted.error();
  if (cmd.remove_target) {
    auto removed = remove_target(cmd.target);
    if (!removed)
      return removed.error();
  }
  return *unmounted;
}

/// A raw block volume: its size, abnormal when the node is missing or not a
/// block device.
volume_usage probe_block(const std::string& device) {
  volume_usage usage;
  auto abnormal = [&](std::string message) {
    usage.condition = fs_ops::volume_condition{true, std::move(message)};
    return usage;
  };
  if (device.empty())
    return abnormal("no device given");
  struct stat st {};
  if (::stat(device.c_str(), &st) != 0) {
    int err = errno;
    return abnormal("device " + device + " is missing: " + std::strerror(err));
  }
  if (!S_ISBLK(st.st_mode))
    return abnormal("device " + device + " is not a block device");
  auto size = fs_ops::block_device_size(device);
  if (!size)
    return abnormal("cannot read the size of " + device + ": " + render(size.error()));
  usage.stats.total_bytes = *size;
  return usage;
}

/// A filesystem volume: statvfs of its mountpoint (when something is
/// mounted there; otherwise the numbers would describe the filesystem
/// underneath) and its health. Never fails: a volume whose mount is gone
/// is abnormal, not an error.
volume_usage probe(const probe_command& cmd) {
  if (cmd.mountpoint.empty())
    return probe_block(cmd.device);
  volume_usage usage;
  usage.condition = fs_ops::check(cmd.device, cmd.mountpoint, cmd.expect_writable);
  if (!fs_ops::is_mountpoint(cmd.mountpoint))
    return usage;
  auto stats = fs_ops::stats(cmd.mountpoint);
  if (stats)
    usage.stats = *stats;
  else if (!usage.condition.abnormal)
    usage.condition = fs_ops::volume_condition{true, render(stats.error())};
  return usage;
}

caf::expected<std::vector<fs_ops::mount_entry>> mounts(const mounts_query& q) {
  auto all = fs_ops::read_mounts();
  if (!all)
    return all.error();
  // Without udev, /dev/<vg>/<lv> leads to a node in /dev/mapper rather than
  // to /dev/dm-N: a devtmpfs bind whose target is this device's node counts
  // whatever its name.
  auto wanted = makedev(q.major, q.minor);
  auto same_node = [wanted](const fs_ops::mount_entry& e) {
    struct stat st {};
    return ::stat(e.mount_point.c_str(), &st) == 0 && S_ISBLK(st.st_mode) && st.st_rdev == wanted;
  };
  return mounts_of(*all, q.major, q.minor, kernel_name_of(q.major, q.minor), same_node);
}

/// Answers an expected as a result (value or error).
template <class T>
caf::result<T> answer(caf::expected<T>&& x) {
  if (!x)
    return std::move(x.error());
  return std::move(*x);
}

} // namespace

std::vector<fs_ops::mount_entry>
mounts_of(const std::vector<fs_ops::mount_entry>& all, uint32_t major, uint32_t minor,
          std::string_view kernel_name,
          const std::function<bool(const fs_ops::mount_entry&)>& same_node) {
  std::string node_root = kernel_name.empty() ? std::string{} : "/" + std::string{kernel_name};
  std::vector<fs_ops::mount_entry> found;
  for (auto& entry : all) {
    bool filesystem = entry.major == major && entry.minor == minor;
    bool node_bind =
      entry.fstype == "devtmpfs" && entry.root != "/" &&
      ((!node_root.empty() && entry.root == node_root) || (same_node && same_node(entry)));
    if (filesystem || node_bind)
      found.push_back(entry);
  }
  return found; // table order = the order of mounting (ids are reused, so not by id)
}

std::string kernel_name_of(uint32_t major, uint32_t minor, const std::string& sysfs_root) {
  auto dir = std::filesystem::path{sysfs_root} / "dev" / "block" /
             (std::to_string(major) + ":" + std::to_string(minor));
  std::ifstream uevent{dir / "uevent"};
  std::string line;
  while (std::getline(uevent, line))
    if (line.rfind("DEVNAME=", 0) == 0 && line.size() > 8)
      return line.substr(8);
  std::error_code ec;
  auto target = std::filesystem::read_symlink(dir, ec);
  if (ec)
    return {};
  return target.filename().string();
}

fs_runner_actor spawn_fs_runner(caf::actor_system& sys) {
  return sys.spawn<caf::detached>([]() -> fs_runner_actor::behavior_type {
    return {
      [](ensure_fs_command& cmd) { return answer(ensure_fs(cmd)); },
      [](mount_command& cmd) { return answer(mount(cmd)); },
      [](unmount_command& cmd) { return answer(unmount(cmd)); },
      [](grow_command& cmd) {
        return answer(fs_ops::grow(cmd.device, cmd.mountpoint, cmd.fstype));
      },
      [](probe_command& cmd) { return probe(cmd); },
      [](mounts_query& q) { return answer(mounts(q)); },
    };
  });
}

} // namespace olocal
