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
inline constexpr std::string_view expand_bytes = "olocal/expand-bytes=";
inline constexpr std::string_view expand_at = "olocal/expand-at=";
/// Present while a copy into the LV is unfinished (a crash leaves it; the
/// next identical create redoes the copy).
inline constexpr std::string_view copying = "olocal/state=copying";
/// "olocal/wipe=false": the StorageClass turned secure release off.
inline constexpr std::string_view wipe = "olocal/wipe=";
/// The CSI name when it differs from the LV name (see lv_name_for).
inline constexpr std::string_view name = "olocal/name=";

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
  /// How often thin pools and CoW snapshots are checked for fill through
  /// device-mapper (no lvm process); 0 = only at scans.
  std::chrono::milliseconds watch_interval{10'000};
  std::chrono::milliseconds command_timeout{60'000};

  /// Thin pools: the virtual size of a pool's thin volumes may reach this
  /// multiple of the pool's size; a new thin volume beyond it is refused.
  double thin_overprovision_ratio = 2.0;
  /// A pool whose data fill reaches this percentage refuses new volumes
  /// unless it can be extended first.
  double thin_refuse_at_percent = 95;
  /// A pool whose data (or metadata) fill reaches this percentage is grown
  /// from the VG's free space by thin_extend_by_percent of its size.
  double thin_extend_at_percent = 80;
  double thin_extend_by_percent = 20;
  /// CoW snapshots without their own settings in tags: grow by
  /// snapshot_extend_bytes when their fill reaches snapshot_extend_at_percent
  /// (open-local's VolumeSnapshotClass defaults: 1Gi at 50%).
  uint64_t snapshot_extend_bytes = 1ull << 30;
  double snapshot_extend_at_percent = 50;
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
