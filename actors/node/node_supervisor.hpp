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
  std::function<claim_runner_actor(caf::actor_system&)> make_claim_runner;

  // -- Device and MountPoint volumes (claims) --------------------------------------

  /// Devices whose kernel name ("vdc") or path ("/dev/vdc") one of these
  /// expressions matches in whole, and none of device_exclude does, may
  /// become Device volumes while they are free (no signature, holders,
  /// partitions or mounts, writable). Empty: no device ever is.
  std::vector<std::string> device_include;
  std::vector<std::string> device_exclude;
  /// Every direct subdirectory of this directory that is a mount point of a
  /// writable, empty ext3, ext4 or xfs filesystem may become a MountPoint
  /// volume (open-local's --path.mount). "" = none.
  std::string mount_path;
  /// Where the claims file lives (<state_dir>/claims.json): read at start to
  /// rebuild the Device and MountPoint volumes, rewritten at every claim and
  /// release. "" = no Device or MountPoint volumes on this node.
  std::string state_dir;
  /// sysfs, for the device and mount-point rescans of claims.
  std::string sysfs_root = "/sys";
  /// How long releasing a claim may take (a whole-device wipe, clearing a
  /// directory).
  std::chrono::milliseconds release_timeout{3'600'000};
};

/// True for LVs that get a volume actor: ours, visible, not a pool and not a
/// snapshot kept as a snapshot (restores and clones are volumes).
bool is_volume_lv(const lvm::lv_info& lv, const vg_options& opts);

/// Spawns the node supervisor: one disk actor per device, one VG actor per
/// managed group, one volume actor per volume LV found in the groups' views
/// and one per claim of the claims file (so a restarted node rebuilds
/// everything from LVM's reports and tags and its claims file, and each
/// volume its mounts from the kernel's mount table). Children that crash are
/// restarted; all of them exit with the supervisor.
///
/// Claims (claim_req) run one at a time: fresh facts from the claim runner,
/// the smallest eligible candidate, the claims file rewritten, then the
/// volume actor. Deleting a claimed volume retires its actor (refused while
/// staged or published), then wipes the device through its disk actor or
/// clears the directory through the claim runner, then drops the claim from
/// the file. An unreadable claims file is reported at start and refuses
/// claims and their deletion until it is repaired; it is never overwritten.
node_supervisor_actor spawn_node_supervisor(caf::actor_system& sys, node_setup setup);

} // namespace olocal
