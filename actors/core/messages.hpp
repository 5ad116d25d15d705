#pragma once

// Message types and atoms shared by all actors. Messages are plain copyable
// structs with an inspect() overload (CAF 0.17 style); protocol types
// (protobuf, JSON) never cross into actors.

#include "actors/core/storage_types.hpp"

#include <caf/actor.hpp>
#include <caf/atom.hpp>
#include <caf/meta/type_name.hpp>

#include <cstdint>
#include <map>
#include <string>
#include <vector>

namespace olocal {

// -- atoms (tiny control messages only; at most 10 characters) ---------------

using inspect_atom = caf::atom_constant<caf::atom("oinspect")>;
using list_atom = caf::atom_constant<caf::atom("olist")>;
using stop_all_atom = caf::atom_constant<caf::atom("ostopall")>;
using ping_atom = caf::atom_constant<caf::atom("oping")>;
using tick_atom = caf::atom_constant<caf::atom("otick")>;
using get_atom = caf::atom_constant<caf::atom("oget")>;
using rescan_atom = caf::atom_constant<caf::atom("orescan")>;
using watch_atom = caf::atom_constant<caf::atom("owatch")>;
using stats_atom = caf::atom_constant<caf::atom("ostats")>;

// -- inspection ----------------------------------------------------------------

/// What a long-lived actor says about itself when asked (admin endpoint).
struct actor_report {
  std::string summary;    ///< one line, for the list view
  std::string last_error; ///< rendered, "" if none since start
  uint64_t mailbox_depth = 0;
  std::string state_json; ///< the full state as a JSON document
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, actor_report& x) {
  return f(caf::meta::type_name("actor_report"), x.summary, x.last_error, x.mailbox_depth,
           x.state_json);
}

/// Asks the registry to track a long-lived actor.
struct register_actor_req {
  std::string name;  ///< unique, human readable ("disk/sda", "vg/pool0")
  std::string kind;  ///< "disk", "vg", "volume", "registry", ...
  caf::actor handle; ///< must answer inspect_atom with actor_report
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, register_actor_req& x) {
  return f(caf::meta::type_name("register_actor_req"), x.name, x.kind, x.handle);
}

/// One registered actor as the registry lists it.
struct actor_entry {
  uint64_t id = 0;
  std::string name;
  std::string kind;
  caf::actor handle;
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, actor_entry& x) {
  return f(caf::meta::type_name("actor_entry"), x.id, x.name, x.kind, x.handle);
}

// -- node facts ----------------------------------------------------------------

/// What sysfs says about one block device or partition.
struct block_device {
  std::string name;   ///< kernel name: "sda", "sda1", "nvme0n1", "dm-0"
  std::string path;   ///< "/dev/<name>"
  std::string parent; ///< whole-disk name for a partition, "" otherwise
  std::string kind;   ///< disk, partition, nvme, loop, dm, md, virtual
  uint32_t major = 0;
  uint32_t minor = 0;
  uint64_t size_bytes = 0; ///< sectors * 512
  bool rotational = false; ///< media "hdd" when true, else "ssd"
  bool read_only = false;
  bool removable = false;
  std::string dm_name;                  ///< device-mapper name (e.g. "vg0-lv0"), dm devices only
  std::vector<std::string> holders;     ///< devices stacked on this one (dm, md)
  std::vector<std::string> partitions;  ///< partition names of a whole disk
  std::vector<std::string> signatures;  ///< content found on it ("ext4", "LVM2_member", "gpt", ...)
  std::vector<std::string> mountpoints; ///< where it is mounted
  std::string probe_error;              ///< why signatures could not be read ("" if they were)
  /// Who the device is across reboots (kernel names are not): "wwid:..",
  /// "serial:.." or "loop:<backing file>", "" when it has none or it was
  /// not read (filled by the claim runner's scans).
  std::string stable_id;

  std::string media_type() const { return rotational ? "hdd" : "ssd"; }

  /// Why the device may not be handed out or turned into a PV; "" when it is
  /// free. A device whose content could not be read is never free.
  std::string in_use_reason() const {
    if (read_only)
      return "read-only";
    if (!mountpoints.empty())
      return "mounted at " + mountpoints.front();
    if (!holders.empty())
      return "held by " + holders.front();
    if (!partitions.empty())
      return "has partitions";
    if (!signatures.empty())
      return "holds " + signatures.front();
    if (!probe_error.empty())
      return "content unknown: " + probe_error;
    return {};
  }
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, block_device& x) {
  return f(caf::meta::type_name("block_device"), x.name, x.path, x.parent, x.kind, x.major, x.minor,
           x.size_bytes, x.rotational, x.read_only, x.removable, x.dm_name, x.holders, x.partitions,
           x.signatures, x.mountpoints, x.probe_error, x.stable_id);
}

// -- volume groups -------------------------------------------------------------

/// One LVM command for the runner of a volume group: an argv (no shell) and
/// how long it may take.
struct lvm_command {
  std::vector<std::string> argv;
  int64_t timeout_ms = 60'000;
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, lvm_command& x) {
  return f(caf::meta::type_name("lvm_command"), x.argv, x.timeout_ms);
}

/// Create a logical volume (idempotent: the same name and size answer the
/// existing volume; a different size or kind is already_exists).
struct create_lv_req {
  std::string name;        ///< LV name = volume id ("local-<uuid>")
  uint64_t size_bytes = 0; ///< rounded up to the VG's extent size
  /// linear | striped | thin | thin-pool | snapshot | thin-snapshot | copy
  /// (copy: a new linear LV holding the data of `origin`, e.g. a restored
  /// CoW snapshot or a clone; at least as large as the origin's data)
  std::string layout = "linear";
  uint32_t stripes = 0;        ///< striped: number of PVs (0 = every PV of the VG)
  std::string pool;            ///< thin: the thin pool
  std::string origin;          ///< snapshot, thin-snapshot: the source LV
  std::string kind = "volume"; ///< tag: volume | snapshot | clone | ephemeral | pool
  /// CoW snapshots: grow by this many bytes when their fill reaches
  /// expand_at_percent (open-local's snapshot-expansion-size and -threshold;
  /// 0 = the VG actor's defaults). Kept in tags, so they survive restarts.
  uint64_t expand_bytes = 0;
  uint32_t expand_at_percent = 0;
  /// More tags for the new LV ("olocal/wipe=false"), kept like the others.
  std::vector<std::string> tags;
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, create_lv_req& x) {
  return f(caf::meta::type_name("create_lv_req"), x.name, x.size_bytes, x.layout, x.stripes, x.pool,
           x.origin, x.kind, x.expand_bytes, x.expand_at_percent, x.tags);
}

/// Remove a logical volume; answers true when removed, false when it was
/// already gone. Refused while it has snapshots or thin volumes. With `wipe`
/// (the default) a thick volume's blocks are zeroed before they return to the
/// VG, so the next volume never reads a previous tenant's data.
struct delete_lv_req {
  std::string name;
  bool wipe = true;
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, delete_lv_req& x) {
  return f(caf::meta::type_name("delete_lv_req"), x.name, x.wipe);
}

/// Copy the first `bytes` of one block device onto another (restore a
/// snapshot or clone a volume into an independent thick LV). Answers a short
/// description of the engine and rate.
struct copy_command {
  std::string source;
  std::string destination;
  uint64_t bytes = 0;
  int64_t timeout_ms = 3'600'000;
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, copy_command& x) {
  return f(caf::meta::type_name("copy_command"), x.source, x.destination, x.bytes, x.timeout_ms);
}

/// Live fill levels of thin pools and CoW snapshots, read with device-mapper
/// ioctls: watching them costs no lvm process.
struct fill_query {
  std::string vg;
  std::vector<std::string> pools;
  std::vector<std::string> snapshots;
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, fill_query& x) {
  return f(caf::meta::type_name("fill_query"), x.vg, x.pools, x.snapshots);
}

struct fill_entry {
  std::string lv;
  double data_percent = -1;     ///< pools: data; snapshots: COW area
  double metadata_percent = -1; ///< pools only
  bool invalid = false;         ///< snapshots dropped by the kernel
  std::string error;            ///< why it could not be read ("" if it was)
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, fill_entry& x) {
  return f(caf::meta::type_name("fill_entry"), x.lv, x.data_percent, x.metadata_percent, x.invalid,
           x.error);
}

/// Zero a block device before its space is released (secure wipe): BLKZEROOUT
/// or a zeroing discard where the device guarantees zeroes, else zero-fill.
struct wipe_command {
  std::string device; ///< "/dev/vg/lv"
  uint64_t bytes = 0;
  std::string sysfs_dir; ///< "/sys/block/dm-N": what the device offers
  int64_t timeout_ms = 3'600'000;
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, wipe_command& x) {
  return f(caf::meta::type_name("wipe_command"), x.device, x.bytes, x.sysfs_dir, x.timeout_ms);
}

/// Grow a logical volume to `size_bytes` (never shrinks; same size answers
/// the volume unchanged). With resize_fs the mounted filesystem grows too.
struct extend_lv_req {
  std::string name;
  uint64_t size_bytes = 0;
  bool resize_fs = false;
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, extend_lv_req& x) {
  return f(caf::meta::type_name("extend_lv_req"), x.name, x.size_bytes, x.resize_fs);
}

/// Add and remove tags of a logical volume.
struct tag_lv_req {
  std::string name;
  std::vector<std::string> add;
  std::vector<std::string> remove;
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, tag_lv_req& x) {
  return f(caf::meta::type_name("tag_lv_req"), x.name, x.add, x.remove);
}

/// A volume group as its actor last saw it (reads never start an lvm process).
struct vg_view {
  lvm::vg_info vg;
  std::vector<lvm::pv_info> pvs;
  std::vector<lvm::lv_info> lvs; ///< visible LVs, by name
  uint64_t generation = 0;       ///< bumped by every successful scan
  int64_t scanned_at_ms = 0;     ///< Unix time of the last scan, milliseconds

  const lvm::lv_info* find(std::string_view name) const {
    for (auto& lv : lvs)
      if (lv.name == name)
        return &lv;
    return nullptr;
  }
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, vg_view& x) {
  return f(caf::meta::type_name("vg_view"), x.vg, x.pvs, x.lvs, x.generation, x.scanned_at_ms);
}

// -- filesystem work (the node's fs runners) -------------------------------------

/// Make sure `device` holds an `fstype` filesystem: answers "" when it already
/// does, the mkfs command that ran when the device was empty. A device that
/// holds anything else (another filesystem, an LVM label, a partition table)
/// is refused with failed_precondition: a volume is never reformatted.
struct ensure_fs_command {
  std::string device;
  std::string fstype = "ext4";
  int64_t timeout_ms = 300'000;
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, ensure_fs_command& x) {
  return f(caf::meta::type_name("ensure_fs_command"), x.device, x.fstype, x.timeout_ms);
}

/// Mount `source` at `target`: a filesystem (fstype set) or a bind mount
/// (fstype empty; source a directory or a device node). Answers true when it
/// mounted, false when the same thing was already mounted there.
struct mount_command {
  std::string source;
  std::string target;
  std::string fstype; ///< "" = bind mount
  std::vector<std::string> options;
  bool read_only = false;
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, mount_command& x) {
  return f(caf::meta::type_name("mount_command"), x.source, x.target, x.fstype, x.options,
           x.read_only);
}

/// Unmount whatever is mounted at `target`; with remove_target the now empty
/// directory or file is removed too. Answers true when something was unmounted.
struct unmount_command {
  std::string target;
  bool remove_target = false;
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, unmount_command& x) {
  return f(caf::meta::type_name("unmount_command"), x.target, x.remove_target);
}

/// Grow the filesystem on `device` (mounted at `mountpoint`) to the device's
/// size. Answers the command(s) that ran.
struct grow_command {
  std::string device;
  std::string mountpoint;
  std::string fstype;
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, grow_command& x) {
  return f(caf::meta::type_name("grow_command"), x.device, x.mountpoint, x.fstype);
}

/// Capacity and health of a volume: statvfs of `mountpoint` (or the size of
/// `device` for a raw block volume, when mountpoint is empty) and the
/// volume's condition.
struct probe_command {
  std::string device;
  std::string mountpoint; ///< "" for raw block volumes
  bool expect_writable = true;
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, probe_command& x) {
  return f(caf::meta::type_name("probe_command"), x.device, x.mountpoint, x.expect_writable);
}

/// What probe_command found.
struct volume_usage {
  fs_ops::fs_stats stats; ///< block volumes: total_bytes only
  fs_ops::volume_condition condition;
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, volume_usage& x) {
  return f(caf::meta::type_name("volume_usage"), x.stats, x.condition);
}

/// Every mount of the block device major:minor, and every bind mount of its
/// device node (raw block volumes), in mount order.
struct mounts_query {
  uint32_t major = 0;
  uint32_t minor = 0;
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, mounts_query& x) {
  return f(caf::meta::type_name("mounts_query"), x.major, x.minor);
}

// -- volumes -------------------------------------------------------------------

/// Stage a volume (CSI NodeStageVolume): a filesystem volume is formatted
/// when empty and mounted at staging_path; a block volume only records it.
struct stage_req {
  std::string staging_path;
  bool block = false;          ///< raw block access
  std::string fstype = "ext4"; ///< ext4 | ext3 | xfs
  std::vector<std::string> mount_options;
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, stage_req& x) {
  return f(caf::meta::type_name("stage_req"), x.staging_path, x.block, x.fstype, x.mount_options);
}

struct unstage_req {
  std::string staging_path;
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, unstage_req& x) {
  return f(caf::meta::type_name("unstage_req"), x.staging_path);
}

/// Publish a staged volume at target_path (CSI NodePublishVolume): a bind
/// mount of the staging mount, or of the device node for a block volume.
struct publish_req {
  std::string target_path;
  bool read_only = false;
  std::vector<std::string> mount_options;
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, publish_req& x) {
  return f(caf::meta::type_name("publish_req"), x.target_path, x.read_only, x.mount_options);
}

struct unpublish_req {
  std::string target_path;
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, unpublish_req& x) {
  return f(caf::meta::type_name("unpublish_req"), x.target_path);
}

/// Grow a volume to size_bytes: the LV, then (when staged) its filesystem,
/// online. Never shrinks.
struct expand_req {
  uint64_t size_bytes = 0;
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, expand_req& x) {
  return f(caf::meta::type_name("expand_req"), x.size_bytes);
}

/// New facts about a volume's LV from its volume group (present = false: the
/// LV disappeared from the group without being deleted through us).
struct lv_update {
  lvm::lv_info lv;
  bool present = true;
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, lv_update& x) {
  return f(caf::meta::type_name("lv_update"), x.lv, x.present);
}

/// One bind of a published volume.
struct publish_target {
  std::string path;
  bool read_only = false;
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, publish_target& x) {
  return f(caf::meta::type_name("publish_target"), x.path, x.read_only);
}

/// What a volume actor knows about its volume.
struct volume_state {
  std::string id; ///< the LV name (= CSI volume id)
  std::string vg;
  std::string device; ///< "/dev/<vg>/<lv>"
  uint64_t size_bytes = 0;
  std::string kind;  ///< tag: volume | clone | ephemeral | snapshot
  std::string phase; ///< ready | staged | published | expanding | deleting | lost
  bool block = false;
  std::string fstype; ///< filesystem volumes once staged
  std::string staging_path;
  std::vector<publish_target> targets;
  bool lv_present = true;
  bool snapshot_invalid = false;
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, volume_state& x) {
  return f(caf::meta::type_name("volume_state"), x.id, x.vg, x.device, x.size_bytes, x.kind,
           x.phase, x.block, x.fstype, x.staging_path, x.targets, x.lv_present, x.snapshot_invalid);
}

/// A volume's capacity and condition (CSI NodeGetVolumeStats).
struct volume_stats {
  volume_state state;
  volume_usage usage;
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, volume_stats& x) {
  return f(caf::meta::type_name("volume_stats"), x.state, x.usage);
}

// -- IO limits (the node's io-limit actor) ---------------------------------------

/// Bytes and operations per second a volume's device may do for one pod
/// (0 = unlimited).
struct io_limit {
  uint64_t read_bps = 0;
  uint64_t write_bps = 0;
  uint64_t read_iops = 0;
  uint64_t write_iops = 0;

  bool empty() const {
    return read_bps == 0 && write_bps == 0 && read_iops == 0 && write_iops == 0;
  }
  friend bool operator==(const io_limit&, const io_limit&) = default;
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, io_limit& x) {
  return f(caf::meta::type_name("io_limit"), x.read_bps, x.write_bps, x.read_iops, x.write_iops);
}

/// Throttle `device` for the pod that has the volume published at
/// target_path (or for an explicit cgroup), and keep it throttled until
/// clear_io_limit. Answers the cgroups written.
struct set_io_limit {
  std::string volume_id;
  std::string target_path;
  std::string device;  ///< the volume's block device ("/dev/vg/lv")
  std::string pod_uid; ///< "" = none (standalone)
  /// Standalone: a cgroup as /proc/<pid>/cgroup names it (relative to the
  /// hierarchy root); "" = the pod's, else the configured parent.
  std::string cgroup;
  io_limit limit;
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, set_io_limit& x) {
  return f(caf::meta::type_name("set_io_limit"), x.volume_id, x.target_path, x.device, x.pod_uid,
           x.cgroup, x.limit);
}

/// Remove the limit set for volume_id at target_path (unpublish). Answers
/// true when one was in force.
struct clear_io_limit {
  std::string volume_id;
  std::string target_path;
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, clear_io_limit& x) {
  return f(caf::meta::type_name("clear_io_limit"), x.volume_id, x.target_path);
}

// -- the node ------------------------------------------------------------------

/// Create a volume in volume group `vg` and start its actor (idempotent like
/// create_lv_req).
struct create_volume_req {
  std::string vg;
  create_lv_req lv;
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, create_volume_req& x) {
  return f(caf::meta::type_name("create_volume_req"), x.vg, x.lv);
}

/// Delete a volume (idempotent: a missing volume answers false). Refused
/// with failed_precondition while it is staged or published.
struct delete_volume_req {
  std::string id;
  bool wipe = true;
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, delete_volume_req& x) {
  return f(caf::meta::type_name("delete_volume_req"), x.id, x.wipe);
}

/// Release a whole device (a Device-type volume) for reuse: refuses a device
/// that is mounted or held; with wipe (the default) its content is discarded
/// with zeroing or zero-filled first. Answers the wipe method used.
struct release_device_req {
  bool wipe = true;
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, release_device_req& x) {
  return f(caf::meta::type_name("release_device_req"), x.wipe);
}

/// Find the actor of volume `id`.
struct volume_lookup {
  std::string id;
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, volume_lookup& x) {
  return f(caf::meta::type_name("volume_lookup"), x.id);
}

/// Manage these volume groups too (one VG actor each, its volumes rebuilt
/// from its LVs). Groups already managed stay; none is ever dropped (its
/// volumes would lose their actors). Answers how many groups are managed.
struct manage_vgs_req {
  std::vector<std::string> names;
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, manage_vgs_req& x) {
  return f(caf::meta::type_name("manage_vgs_req"), x.names);
}

// -- Device and MountPoint volumes (claims) ---------------------------------------

/// Claim a whole free block device (kind "Device") or a pre-mounted directory
/// (kind "MountPoint") for volume `id` and start its actor. The smallest
/// eligible candidate of at least min_bytes (at most max_bytes when set) of
/// the media type is chosen. Idempotent: a repeat answers the same claim
/// while it satisfies the request (already_exists when it does not);
/// resource_exhausted, naming what was looked at, when nothing fits.
struct claim_req {
  std::string id;
  std::string kind; ///< Device | MountPoint
  uint64_t min_bytes = 0;
  uint64_t max_bytes = 0; ///< 0 = no limit
  std::string media_type; ///< ssd | hdd | "" = any
  bool wipe = true;       ///< Device: zero the device when the volume is deleted
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, claim_req& x) {
  return f(caf::meta::type_name("claim_req"), x.id, x.kind, x.min_bytes, x.max_bytes, x.media_type,
           x.wipe);
}

/// A directly mounted subdirectory of the node's mount-point root (what
/// MountPoint volumes are made of), as the mount table and statvfs show it.
struct mount_point_facts {
  std::string path;   ///< "/mnt/open-local/disk1"
  std::string name;   ///< "disk1"
  std::string fstype; ///< "ext4"
  std::string source; ///< "/dev/sdc1"
  uint32_t major = 0; ///< st_dev of the filesystem
  uint32_t minor = 0;
  uint64_t total_bytes = 0; ///< statvfs
  uint64_t available_bytes = 0;
  bool rotational = false; ///< of the device under it: media "hdd" when true
  bool read_only = false;
  uint64_t entries = 0; ///< directory entries besides lost+found (a used mount point holds some)
  std::string error;    ///< why it could not be examined ("" if it was)

  std::string media_type() const { return rotational ? "hdd" : "ssd"; }
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, mount_point_facts& x) {
  return f(caf::meta::type_name("mount_point_facts"), x.path, x.name, x.fstype, x.source, x.major,
           x.minor, x.total_bytes, x.available_bytes, x.rotational, x.read_only, x.entries,
           x.error);
}

/// Which volume holds which device or mount point: one entry of the node's
/// claims file (<state_dir>/claims.json).
struct claim_record {
  std::string id;
  std::string kind;        ///< Device | MountPoint
  std::string path;        ///< "/dev/vdc" | "/mnt/open-local/disk1"
  std::string name;        ///< kernel name ("vdc") | directory name ("disk1")
  uint64_t size_bytes = 0; ///< when claimed: device size | statvfs total
  std::string media_type;  ///< ssd | hdd
  std::string fstype;      ///< MountPoint: the filesystem of the directory
  bool wipe = true;        ///< Device: zero it when the volume is deleted
  int64_t created_s = 0;   ///< Unix seconds
  /// Device: block_device::stable_id when claimed ("" = none known): a
  /// device at the path with another identity is not the claimed one.
  std::string stable_id;
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, claim_record& x) {
  return f(caf::meta::type_name("claim_record"), x.id, x.kind, x.path, x.name, x.size_bytes,
           x.media_type, x.fstype, x.wipe, x.created_s, x.stable_id);
}

/// A device or mount point the operator made eligible, or one that is
/// claimed (node_view; the controller's capacity comes from these).
struct claim_candidate {
  std::string kind; ///< Device | MountPoint
  std::string name;
  std::string path;
  uint64_t size_bytes = 0;
  std::string media_type;
  std::string fstype;      ///< mount points
  std::string claimed_by;  ///< volume id, "" when not claimed
  std::string unavailable; ///< why it cannot be claimed now ("" = free)

  bool free() const { return claimed_by.empty() && unavailable.empty(); }
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, claim_candidate& x) {
  return f(caf::meta::type_name("claim_candidate"), x.kind, x.name, x.path, x.size_bytes,
           x.media_type, x.fstype, x.claimed_by, x.unavailable);
}

/// Claim runner: fresh facts of every block device under `sysfs_root`
/// (sysfs, the mount table and signatures).
struct device_scan_req {
  std::string sysfs_root = "/sys";
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, device_scan_req& x) {
  return f(caf::meta::type_name("device_scan_req"), x.sysfs_root);
}

/// Claim runner: the mount points directly under `root`.
struct mount_scan_req {
  std::string root;
  std::string sysfs_root = "/sys"; ///< for the media type of the devices under them
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, mount_scan_req& x) {
  return f(caf::meta::type_name("mount_scan_req"), x.root, x.sysfs_root);
}

/// Claim runner: remove everything inside `path` (never the directory
/// itself, never following symlinks, never entering another filesystem),
/// which must be the root of filesystem major:minor. Answers the number of
/// entries removed.
struct clear_dir_command {
  std::string path;
  uint32_t major = 0;
  uint32_t minor = 0;
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, clear_dir_command& x) {
  return f(caf::meta::type_name("clear_dir_command"), x.path, x.major, x.minor);
}

/// Claim runner: read the claims file (a missing file holds no claims; an
/// unreadable one is parse_error naming the file and the problem).
struct load_claims_req {
  std::string path;
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, load_claims_req& x) {
  return f(caf::meta::type_name("load_claims_req"), x.path);
}

/// Claim runner: replace the claims file atomically (temporary file, fsync,
/// rename, fsync of the directory). Answers the bytes written.
struct save_claims_req {
  std::string path;
  std::vector<claim_record> claims;
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, save_claims_req& x) {
  return f(caf::meta::type_name("save_claims_req"), x.path, x.claims);
}

// -- the cluster: volume manager (CSI Controller) ---------------------------------

/// StorageClass / VolumeSnapshotClass parameters and volume contexts.
using param_map = std::map<std::string, std::string>;

/// CSI CreateVolume, translated from protobuf by the gateway.
struct provision_req {
  std::string name;            ///< becomes the volume id (and the LV name)
  uint64_t required_bytes = 0; ///< 0 = the default size (1 GiB, or the limit if smaller)
  uint64_t limit_bytes = 0;    ///< 0 = no limit
  param_map params;
  bool block = false;
  std::string fstype;             ///< from the volume capability ("" = parameters or ext4)
  std::string source_snapshot;    ///< restore from this snapshot id
  std::string source_volume;      ///< clone this volume id
  std::vector<std::string> nodes; ///< acceptable nodes, preferred first; empty = any
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, provision_req& x) {
  return f(caf::meta::type_name("provision_req"), x.name, x.required_bytes, x.limit_bytes, x.params,
           x.block, x.fstype, x.source_snapshot, x.source_volume, x.nodes);
}

/// A volume as the controller reports it.
struct volume_record {
  std::string id;
  uint64_t capacity_bytes = 0;
  std::string node;
  std::string vg;
  param_map context; ///< handed to the node at stage/publish
  std::string source_snapshot;
  std::string source_volume;
  bool abnormal = false; ///< condition
  std::string message;
  std::vector<std::string> published_nodes;
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, volume_record& x) {
  return f(caf::meta::type_name("volume_record"), x.id, x.capacity_bytes, x.node, x.vg, x.context,
           x.source_snapshot, x.source_volume, x.abnormal, x.message, x.published_nodes);
}

/// CSI DeleteVolume (idempotent: answers false when nothing was there).
struct unprovision_req {
  std::string id;
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, unprovision_req& x) {
  return f(caf::meta::type_name("unprovision_req"), x.id);
}

/// CSI ControllerExpandVolume.
struct resize_req {
  std::string id;
  uint64_t required_bytes = 0;
  uint64_t limit_bytes = 0;
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, resize_req& x) {
  return f(caf::meta::type_name("resize_req"), x.id, x.required_bytes, x.limit_bytes);
}

/// CSI CreateSnapshot.
struct snapshot_req {
  std::string name;
  std::string source_volume;
  param_map params;
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, snapshot_req& x) {
  return f(caf::meta::type_name("snapshot_req"), x.name, x.source_volume, x.params);
}

struct snapshot_record {
  std::string id;
  std::string source_volume;
  uint64_t size_bytes = 0;
  int64_t created_s = 0; ///< Unix seconds
  bool ready = true;
  std::string node;
  std::string vg;
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, snapshot_record& x) {
  return f(caf::meta::type_name("snapshot_record"), x.id, x.source_volume, x.size_bytes,
           x.created_s, x.ready, x.node, x.vg);
}

struct delete_snapshot_req {
  std::string id;
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, delete_snapshot_req& x) {
  return f(caf::meta::type_name("delete_snapshot_req"), x.id);
}

/// CSI ListSnapshots / ListVolumes: a page of at most max_entries (0 = all)
/// starting at an opaque token ("" = the start). A token this actor did not
/// hand out is refused with aborted, as the spec asks.
struct list_snapshots_req {
  uint32_t max_entries = 0;
  std::string starting_token;
  std::string snapshot_id;   ///< just this one
  std::string source_volume; ///< of this volume
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, list_snapshots_req& x) {
  return f(caf::meta::type_name("list_snapshots_req"), x.max_entries, x.starting_token,
           x.snapshot_id, x.source_volume);
}

struct list_volumes_req {
  uint32_t max_entries = 0;
  std::string starting_token;
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, list_volumes_req& x) {
  return f(caf::meta::type_name("list_volumes_req"), x.max_entries, x.starting_token);
}

struct snapshot_page {
  std::vector<snapshot_record> entries;
  std::string next_token;
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, snapshot_page& x) {
  return f(caf::meta::type_name("snapshot_page"), x.entries, x.next_token);
}

struct volume_page {
  std::vector<volume_record> entries;
  std::string next_token;
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, volume_page& x) {
  return f(caf::meta::type_name("volume_page"), x.entries, x.next_token);
}

/// CSI GetCapacity: bytes available for one new volume with these parameters.
struct capacity_req {
  param_map params;
  std::vector<std::string> nodes; ///< accessible topology; empty = any
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, capacity_req& x) {
  return f(caf::meta::type_name("capacity_req"), x.params, x.nodes);
}

/// CSI ControllerGetVolume.
struct volume_query {
  std::string id;
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, volume_query& x) {
  return f(caf::meta::type_name("volume_query"), x.id);
}

// -- the cluster: volume router (CSI Controller over every node) --------------------

/// Tells the volume router that node `name` exists and where its agent
/// listens ("" = known but not reachable). Answers true when this changed
/// what the router knew.
struct node_upsert {
  std::string name;
  std::string address;
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, node_upsert& x) {
  return f(caf::meta::type_name("node_upsert"), x.name, x.address);
}

/// Tells the volume router that node `name` is gone. Answers true when it was known.
struct node_remove {
  std::string name;
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, node_remove& x) {
  return f(caf::meta::type_name("node_remove"), x.name);
}

/// Where the scheduler's placement put a PVC on a node (open-local's
/// placement API, answered by `open-local scheduler`).
struct placement_query {
  std::string pvc_namespace;
  std::string pvc_name;
  std::string node;
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, placement_query& x) {
  return f(caf::meta::type_name("placement_query"), x.pvc_namespace, x.pvc_name, x.node);
}

struct placement_answer {
  std::string node;
  std::string volume_type; ///< LVM | Device | MountPoint
  std::string vg;          ///< LVM: the volume group
  std::string unit;        ///< Device / MountPoint: the device or mount point
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, placement_answer& x) {
  return f(caf::meta::type_name("placement_answer"), x.node, x.volume_type, x.vg, x.unit);
}

} // namespace olocal
