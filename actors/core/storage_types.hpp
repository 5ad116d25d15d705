#pragma once

// What LVM reports about physical volumes, volume groups and logical volumes:
// plain data that travels in actor messages. Parsed from lvm2's JSON reports by
// actors/backends/lvm.hpp.

#include <caf/meta/type_name.hpp>

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace olocal::lvm {

/// One physical volume (a row of `pvs`).
struct pv_info {
  std::string name;    ///< device path, "/dev/sdb"
  std::string vg_name; ///< "" for an orphan PV
  std::string uuid;
  uint64_t size_bytes = 0;
  uint64_t free_bytes = 0;
  std::vector<std::string> tags;
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, pv_info& x) {
  return f(caf::meta::type_name("lvm_pv_info"), x.name, x.vg_name, x.uuid, x.size_bytes,
           x.free_bytes, x.tags);
}

/// One volume group (a row of `vgs`).
struct vg_info {
  std::string name;
  std::string uuid;
  uint64_t size_bytes = 0;
  uint64_t free_bytes = 0;
  uint64_t extent_size_bytes = 0;
  uint64_t extent_count = 0;
  uint64_t free_extent_count = 0;
  uint32_t pv_count = 0;
  uint32_t lv_count = 0; ///< visible LVs, as lvm2 counts them
  std::vector<std::string> tags;
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, vg_info& x) {
  return f(caf::meta::type_name("lvm_vg_info"), x.name, x.uuid, x.size_bytes, x.free_bytes,
           x.extent_size_bytes, x.extent_count, x.free_extent_count, x.pv_count, x.lv_count,
           x.tags);
}

/// One logical volume (the rows of `lvs` for it, merged: lvm2 prints one row
/// per segment when segment fields such as segtype are requested).
struct lv_info {
  std::string name; ///< without the brackets lvm2 puts around hidden LVs
  std::string vg_name;
  std::string uuid;
  uint64_t size_bytes = 0;
  std::string attr;             ///< raw lv_attr, e.g. "-wi-ao----" (see lvs(8))
  std::string segtype;          ///< of the first segment: linear, striped, thin, thin-pool, ...
  std::string pool_lv;          ///< thin volumes: their pool
  std::string origin;           ///< snapshots: their origin
  double data_percent = -1;     ///< -1 when lvm2 reports none (inactive, not a pool/thin/snapshot)
  double metadata_percent = -1; ///< thin pools only, -1 otherwise
  double snap_percent = -1;     ///< CoW snapshots only, -1 otherwise
  uint32_t stripes = 0;         ///< of the first segment
  std::vector<std::string> tags;
  int32_t kernel_major = -1; ///< -1 if not active
  int32_t kernel_minor = -1;
  bool active = false;           ///< attr[4] says a live table is loaded (a, s, I, S, m, M, c, C)
  bool read_only = false;        ///< attr[1] is 'r' (read-only LV) or 'R' (read-only activation)
  bool invalid_snapshot = false; ///< attr[4] is 'I' or 'S' (invalid, possibly suspended)
  bool hidden = false;           ///< an internal LV ("[pool_tdata]"), only listed with -a
  uint32_t segment_count = 1;    ///< number of report rows merged into this record
  std::string path;              ///< "/dev/<vg>/<lv>", "" for hidden LVs

  /// attr[i], or '-' when the attribute string is shorter.
  char attr_at(size_t i) const { return i < attr.size() ? attr[i] : '-'; }
  /// "vg/lv", as lvm2 commands accept it.
  std::string full_name() const { return vg_name + "/" + name; }
  bool is_thin_pool() const { return segtype == "thin-pool" || attr_at(0) == 't'; }
  bool is_thin_volume() const { return segtype == "thin" || attr_at(0) == 'V'; }
  /// A thin volume created as a snapshot of another thin volume.
  bool is_thin_snapshot() const { return is_thin_volume() && !origin.empty(); }
  /// A classic copy-on-write snapshot (attr[0] 's', or 'S' while merging).
  bool is_cow_snapshot() const { return attr_at(0) == 's' || attr_at(0) == 'S'; }
  /// The origin of at least one CoW snapshot.
  bool is_cow_origin() const { return attr_at(0) == 'o' || attr_at(0) == 'O'; }
  /// attr[5]: the device is open (mounted or held by a process).
  bool device_open() const { return attr_at(5) == 'o'; }
  /// attr[8]: a PV under the LV is missing.
  bool partial() const { return attr_at(8) == 'p'; }
  /// attr[9]: skipped by normal activation (thin snapshots by default).
  bool skip_activation() const { return attr_at(9) == 'k'; }
  bool has_tag(std::string_view tag) const {
    for (auto& t : tags)
      if (t == tag)
        return true;
    return false;
  }
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, lv_info& x) {
  return f(caf::meta::type_name("lvm_lv_info"), x.name, x.vg_name, x.uuid, x.size_bytes, x.attr,
           x.segtype, x.pool_lv, x.origin, x.data_percent, x.metadata_percent, x.snap_percent,
           x.stripes, x.tags, x.kernel_major, x.kernel_minor, x.active, x.read_only,
           x.invalid_snapshot, x.hidden, x.segment_count, x.path);
}

// -- reading -----------------------------------------------------------------

} // namespace olocal::lvm

// -- filesystems -------------------------------------------------------------

namespace olocal::fs_ops {

/// One line of /proc/self/mountinfo, octal escapes (\040 ...) decoded.
struct mount_entry {
  uint32_t mount_id = 0;
  uint32_t parent_id = 0;
  uint32_t major = 0; ///< st_dev of the filesystem (for a block device its major:minor)
  uint32_t minor = 0;
  std::string root;          ///< the directory of the filesystem mounted here ("/" unless a bind)
  std::string mount_point;   ///< absolute, as this process sees it
  std::string options;       ///< per-mount options ("rw,relatime")
  std::string fstype;        ///< "ext4"
  std::string source;        ///< "/dev/loop3", "tmpfs"
  std::string super_options; ///< per-filesystem options ("rw,discard")
  /// Writes refused: the mount or the filesystem (e.g. after errors) is ro.
  bool read_only = false;
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, mount_entry& x) {
  return f(caf::meta::type_name("mount_entry"), x.mount_id, x.parent_id, x.major, x.minor, x.root,
           x.mount_point, x.options, x.fstype, x.source, x.super_options, x.read_only);
}

/// statvfs of a mounted filesystem, in bytes and inodes (as df counts them:
/// used = total - free, available = what an unprivileged user may still use).
struct fs_stats {
  uint64_t total_bytes = 0;
  uint64_t used_bytes = 0;
  uint64_t available_bytes = 0;
  uint64_t total_inodes = 0;
  uint64_t used_inodes = 0;
  uint64_t free_inodes = 0;
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, fs_stats& x) {
  return f(caf::meta::type_name("fs_stats"), x.total_bytes, x.used_bytes, x.available_bytes,
           x.total_inodes, x.used_inodes, x.free_inodes);
}

/// CSI's VolumeCondition.
struct volume_condition {
  bool abnormal = false;
  std::string message; ///< why it is abnormal, "" when normal
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, volume_condition& x) {
  return f(caf::meta::type_name("volume_condition"), x.abnormal, x.message);
}

} // namespace olocal::fs_ops
