#pragma once

#include "actors/core/interfaces.hpp"

#include <caf/fwd.hpp>

#include <chrono>
#include <string>
#include <vector>

namespace olocal {

/// Tags on every LV we create, "olocal/<key>=<value>".
namespace lv_tags {
inline constexpr std::string_view owner = "olocal/owner=";
inline constexpr std::string_view id = "olocal/id=";
inline constexpr std::string_view kind = "olocal/kind=";
inline constexpr std::string_view created = "olocal/created=";
inline constexpr std::string_view source = "olocal/source=";

/// The value of the tag with `key` (one of the prefixes above), "" if absent.
std::string value(const lvm::lv_info& lv, std::string_view key);
} // namespace lv_tags

struct vg_options {
  std::string owner = "standalone"; ///< value of the owner tag (cluster id in a cluster)
  /// LVs without our owner tag still count as ours when their name starts
  /// with one of these (open-local's --lvname prefix and "csi-"), so volumes
  /// created by open-local stay manageable after switching.
  std::vector<std::string> legacy_prefixes = {"local", "csi-"};
  std::chrono::milliseconds rescan_interval{60'000};
  std::chrono::milliseconds command_timeout{60'000};
};

/// True if `lv` is managed by us under `opts` (owner tag or legacy name).
bool owned_by_us(const lvm::lv_info& lv, const vg_options& opts);

/// Spawns the actor of volume group `vg_name`. It scans the VG at start and
/// every rescan_interval, runs every change through `runner` one at a time,
/// and rescans after each change so that its view is never older than its
/// own last operation.
vg_actor spawn_vg_actor(caf::actor_system& sys, std::string vg_name, lvm_runner_actor runner,
                        vg_options opts = {});

} // namespace olocal
