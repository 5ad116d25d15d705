#pragma once

// Message types and atoms shared by all actors. Messages are plain copyable
// structs with an inspect() overload (CAF 0.17 style); protocol types
// (protobuf, JSON) never cross into actors.

#include "actors/core/storage_types.hpp"

#include <caf/actor.hpp>
#include <caf/atom.hpp>
#include <caf/meta/type_name.hpp>

#include <cstdint>
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
           x.size_bytes, x.rotational, x.read_only, x.removable, x.dm_name, x.holders,
           x.partitions);
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
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, create_lv_req& x) {
  return f(caf::meta::type_name("create_lv_req"), x.name, x.size_bytes, x.layout, x.stripes, x.pool,
           x.origin, x.kind, x.expand_bytes, x.expand_at_percent);
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

} // namespace olocal
