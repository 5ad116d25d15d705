#pragma once

#include "actors/core/messages.hpp"

#include <filesystem>
#include <string>
#include <vector>

namespace olocal {

/// Reads every block device under `<sysfs_root>/block` with its partitions,
/// sorted by name. Unreadable attributes leave defaults; a missing directory
/// yields an empty list. Pure file reading: tests point it at a fake tree.
std::vector<block_device> discover_block_devices(const std::filesystem::path& sysfs_root);

/// Fills in what needs more than sysfs: mount points (from a mountinfo file,
/// matched by major:minor) and signatures (read from `<dev_root>/<name>`).
/// Blocking reads: call from a backend, not from an actor handler.
void annotate_usage(std::vector<block_device>& devices,
                    const std::filesystem::path& mountinfo = "/proc/self/mountinfo",
                    const std::filesystem::path& dev_root = "/dev");

/// The device as a JSON object (for reports and the admin endpoint).
std::string to_json(const block_device& dev);

} // namespace olocal
