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

/// The device as a JSON object (for reports and the admin endpoint).
std::string to_json(const block_device& dev);

} // namespace olocal
