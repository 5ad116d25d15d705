#pragma once

// Every actor interface of the system, in one place (STYLE.md rule 1).

#include "actors/core/messages.hpp"

#include <caf/replies_to.hpp>
#include <caf/typed_actor.hpp>

namespace olocal {

/// Every long-lived actor answers this (the admin endpoint asks it).
using inspectable = caf::typed_actor<caf::replies_to<inspect_atom>::with<actor_report>>;

/// Tracks long-lived actors for the admin endpoint and for shutdown.
using registry_actor =
  caf::typed_actor<caf::replies_to<register_actor_req>::with<uint64_t>,        // -> actor id
                   caf::replies_to<list_atom>::with<std::vector<actor_entry>>, // all, by id
                   caf::replies_to<ping_atom>::with<ping_atom>,                // liveness
                   caf::replies_to<stop_all_atom>::with<uint64_t>, // exit all, -> how many
                   caf::replies_to<inspect_atom>::with<actor_report>>;

} // namespace olocal

namespace olocal {

/// One block device of this node (disk actor).
using disk_actor =
  caf::typed_actor<caf::replies_to<get_atom>::with<block_device>,          // current facts
                   caf::reacts_to<block_device>,                           // from a rescan
                   caf::replies_to<release_device_req>::with<std::string>, // -> wipe method
                   caf::replies_to<inspect_atom>::with<actor_report>>;

} // namespace olocal

namespace olocal {

/// Runs the blocking work of one volume group, one job at a time, off the
/// scheduler threads (a detached actor in production, a fake in unit tests):
/// LVM commands (answers stdout; failures are errors classified from lvm2's
/// exit code and stderr), secure wipes (answers the method used) and copies
/// (answers the engine and rate).
using lvm_runner_actor =
  caf::typed_actor<caf::replies_to<lvm_command>::with<std::string>,
                   caf::replies_to<wipe_command>::with<std::string>,
                   caf::replies_to<copy_command>::with<std::string>,
                   caf::replies_to<fill_query>::with<std::vector<fill_entry>>>;

/// One volume group: the only place that changes it. Changes run one at a
/// time in arrival order; reads answer from the cached view.
using vg_actor = caf::typed_actor<
  caf::replies_to<create_lv_req>::with<lvm::lv_info>, caf::replies_to<delete_lv_req>::with<bool>,
  caf::replies_to<extend_lv_req>::with<lvm::lv_info>,
  caf::replies_to<tag_lv_req>::with<lvm::lv_info>, caf::replies_to<get_atom>::with<vg_view>,
  caf::replies_to<rescan_atom>::with<uint64_t>, // -> generation after the scan
  caf::reacts_to<tick_atom>,                    // the periodic rescan timer
  caf::reacts_to<watch_atom>,                   // the fill watch timer (no lvm process)
  caf::replies_to<inspect_atom>::with<actor_report>>;

} // namespace olocal

namespace olocal {

/// Runs the blocking filesystem work of a node's volumes (mkfs, mount(2),
/// resize2fs, statvfs, reading the mount table) off the scheduler threads:
/// a detached actor in production, a fake in unit tests.
using fs_runner_actor = caf::typed_actor<
  caf::replies_to<ensure_fs_command>::with<std::string>, caf::replies_to<mount_command>::with<bool>,
  caf::replies_to<unmount_command>::with<bool>, caf::replies_to<grow_command>::with<std::string>,
  caf::replies_to<probe_command>::with<volume_usage>,
  caf::replies_to<mounts_query>::with<std::vector<fs_ops::mount_entry>>>;

/// One volume (an LV of a volume group): its life after creation, one
/// operation at a time (stage, publish, expand, delete), state rebuilt from
/// the kernel's mount table when it starts.
using volume_actor = caf::typed_actor<
  caf::replies_to<stage_req>::with<volume_state>, caf::replies_to<unstage_req>::with<volume_state>,
  caf::replies_to<publish_req>::with<volume_state>,
  caf::replies_to<unpublish_req>::with<volume_state>,
  caf::replies_to<expand_req>::with<volume_state>,
  caf::replies_to<delete_volume_req>::with<bool>, // then the actor exits
  caf::replies_to<get_atom>::with<volume_state>,
  caf::replies_to<stats_atom>::with<volume_stats>, // costs a statvfs, no lvm process
  caf::reacts_to<lv_update>,                       // from the volume group's view
  caf::replies_to<inspect_atom>::with<actor_report>>;

/// Runs the blocking work of Device and MountPoint volumes off the scheduler
/// threads (a detached actor in production, a fake in unit tests): device
/// and mount-point scans, clearing a released mount point, and reading and
/// writing the claims file.
using claim_runner_actor =
  caf::typed_actor<caf::replies_to<device_scan_req>::with<std::vector<block_device>>,
                   caf::replies_to<mount_scan_req>::with<std::vector<mount_point_facts>>,
                   caf::replies_to<clear_dir_command>::with<uint64_t>, // entries removed
                   caf::replies_to<load_claims_req>::with<std::vector<claim_record>>,
                   caf::replies_to<save_claims_req>::with<uint64_t>>; // bytes written

/// The node's IO throttling (cgroup v1 blkio throttle files or v2 io.max):
/// applies a volume's limits to its pod's cgroup at publish, removes them at
/// unpublish, and re-applies them on a timer (recreated cgroups, new
/// containers). Runs detached: it reads and writes cgroup files itself.
using io_limit_actor =
  caf::typed_actor<caf::replies_to<set_io_limit>::with<std::vector<std::string>>, // cgroups
                   caf::replies_to<clear_io_limit>::with<bool>,
                   caf::reacts_to<tick_atom>, // the reconcile timer
                   caf::replies_to<inspect_atom>::with<actor_report>>;

/// Everything the node has, as its supervisor last saw it.
struct node_view {
  std::vector<block_device> devices;
  std::vector<vg_view> vgs;
  std::vector<volume_state> volumes;
  /// Devices and mount points eligible for Device and MountPoint volumes
  /// (free or not, with the reason) and the claimed ones.
  std::vector<claim_candidate> claimables;
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, node_view& x) {
  return f(caf::meta::type_name("node_view"), x.devices, x.vgs, x.volumes, x.claimables);
}

/// The node supervisor: spawns and monitors the disk, volume-group and
/// volume actors, rebuilds them from LVM's reports and tags (and Device and
/// MountPoint volumes from its claims file) after a restart, and routes
/// volume creation, claims and deletion.
using node_supervisor_actor =
  caf::typed_actor<caf::replies_to<create_volume_req>::with<volume_state>,
                   caf::replies_to<claim_req>::with<volume_state>, // Device, MountPoint
                   caf::replies_to<delete_volume_req>::with<bool>,
                   caf::replies_to<volume_lookup>::with<volume_actor>,
                   caf::replies_to<tag_lv_req>::with<lvm::lv_info>, // an owned LV's tags
                   caf::replies_to<manage_vgs_req>::with<uint64_t>, // -> groups managed
                   caf::replies_to<get_atom>::with<node_view>,
                   caf::replies_to<rescan_atom>::with<uint64_t>, // -> volumes after reconcile
                   caf::reacts_to<tick_atom>,                    // the reconcile timer
                   caf::replies_to<inspect_atom>::with<actor_report>>;

} // namespace olocal

namespace olocal {

/// The volume manager (CSI Controller): placement of new volumes on a node
/// and a volume group, snapshots, expansion and listings, with idempotency
/// and per-name serialization (requests for one name run one at a time; a
/// repeated request answers what the first one made).
using volume_manager_actor = caf::typed_actor<
  caf::replies_to<provision_req>::with<volume_record>, caf::replies_to<unprovision_req>::with<bool>,
  caf::replies_to<resize_req>::with<volume_record>,
  caf::replies_to<snapshot_req>::with<snapshot_record>,
  caf::replies_to<delete_snapshot_req>::with<bool>,
  caf::replies_to<list_snapshots_req>::with<snapshot_page>,
  caf::replies_to<list_volumes_req>::with<volume_page>,
  caf::replies_to<capacity_req>::with<uint64_t>, caf::replies_to<volume_query>::with<volume_record>,
  caf::replies_to<inspect_atom>::with<actor_report>>;

} // namespace olocal

namespace olocal {

/// Asks the scheduler's placement where a PVC goes on its selected node (a
/// reservation there), so that the controller creates the volume in the
/// group the scheduler charged.
using placement_advisor_actor =
  caf::typed_actor<caf::replies_to<placement_query>::with<placement_answer>>;

} // namespace olocal
