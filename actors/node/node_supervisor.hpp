#pragma once

#include "actors/core/interfaces.hpp"
#include "actors/node/vg_actor.hpp"
#include "actors/node/volume_actor.hpp"

#include <caf/fwd.hpp>

#include <chrono>
#include <functional>
#include <string>
#include <vector>

namespace olocal {

struct node_setup {
  /// Block devices found at start (discovery blocks: the caller runs it).
  std::vector<block_device> devices;
  /// Volume groups this node manages: one VG actor (and runner) each.
  std::vector<std::string> volume_groups;
  vg_options vg;
  volume_options volume;
  /// How often the VG actors' cached views are compared with the volume
  /// actors (no lvm process; 0 = only on rescan_atom and own changes).
  std::chrono::milliseconds reconcile_interval{10'000};
  /// Filesystem runners shared by the volumes (each a thread; a long mkfs
  /// holds one of them).
  size_t fs_runners = 4;
  /// A child that crashes is restarted at most this many times.
  uint32_t max_restarts = 5;
  /// Where children are registered for the admin endpoint and shutdown
  /// (none when invalid).
  registry_actor registry;
  /// Backends (tests inject fakes); empty = the real ones.
  std::function<lvm_runner_actor(caf::actor_system&)> make_lvm_runner;
  std::function<fs_runner_actor(caf::actor_system&)> make_fs_runner;
};

/// True for LVs that get a volume actor: ours, visible, not a pool and not a
/// snapshot kept as a snapshot (restores and clones are volumes).
bool is_volume_lv(const lvm::lv_info& lv, const vg_options& opts);

/// Spawns the node supervisor: one disk actor per device, one VG actor per
/// managed group, one volume actor per volume LV found in the groups' views
/// (so a restarted node rebuilds everything from LVM's reports and tags, and
/// each volume its mounts from the kernel's mount table). Children that
/// crash are restarted; all of them exit with the supervisor.
node_supervisor_actor spawn_node_supervisor(caf::actor_system& sys, node_setup setup);

} // namespace olocal
