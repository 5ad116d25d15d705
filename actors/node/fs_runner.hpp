#pragma once

#include "actors/core/interfaces.hpp"

#include <caf/fwd.hpp>

#include <cstdint>
#include <functional>
#include <string>
#include <string_view>
#include <vector>

namespace olocal {

/// Spawns a detached runner (its own thread) that does the blocking
/// filesystem work of a node's volumes with fs_ops: mkfs (never over
/// existing content), mount(2) and bind mounts, unmounts (removing the
/// target on request), growing, statvfs and health checks, and reading the
/// mount table.
fs_runner_actor spawn_fs_runner(caf::actor_system& sys);

/// The mounts of block device major:minor among `all` (a parsed mount
/// table): its filesystem mounts (same major:minor) and the bind mounts of
/// its device node (fstype devtmpfs, root "/<kernel_name>", or any other
/// devtmpfs bind for which `same_node` says yes: the caller stats it), in
/// the table's order, which is the order they
/// were mounted in (mount ids are reused, so they do not give it). Pure.
std::vector<fs_ops::mount_entry>
mounts_of(const std::vector<fs_ops::mount_entry>& all, uint32_t major, uint32_t minor,
          std::string_view kernel_name,
          const std::function<bool(const fs_ops::mount_entry&)>& same_node = {});

/// The kernel name of block device major:minor ("dm-3", "sda1"): DEVNAME of
/// <sysfs_root>/dev/block/MAJ:MIN/uevent, else the basename of that
/// symlink's target; "" when neither can be read.
std::string kernel_name_of(uint32_t major, uint32_t minor, const std::string& sysfs_root = "/sys");

} // namespace olocal
