#pragma once

// Device and MountPoint volumes: a whole block device or a pre-mounted
// directory held exclusively by one volume (open-local's volume types), with
// the safety open-local lacks: a device is handed out only when the operator
// included it by name and it is free (no signature, no holders, no
// partitions, not mounted, not read-only); a mount point only when it holds
// ext3, ext4 or xfs, is writable and empty. Which volume holds what is kept
// in a small JSON file, <state_dir>/claims.json, written atomically.
//
// The selection rules are pure functions (table-tested); the blocking work
// (scans, clearing a released mount point, the claims file) runs in the
// claim runner, a detached actor.

#include "actors/core/interfaces.hpp"
#include "actors/node/name_filter.hpp"

#include <caf/expected.hpp>
#include <caf/fwd.hpp>

#include <string>
#include <string_view>
#include <vector>

namespace olocal {

/// The volume types served by claims (open-local's spelling).
inline constexpr std::string_view device_type = "Device";
inline constexpr std::string_view mount_point_type = "MountPoint";

/// The kind tag of a claimed volume's actor: "device" | "mountpoint" ("" for
/// another type).
std::string claim_kind_tag(std::string_view type);
/// The volume type of a kind tag: "Device" | "MountPoint" ("" for LVM kinds).
std::string claim_type_of(std::string_view kind_tag);
bool is_claim_kind(std::string_view kind_tag);

/// <state_dir>/claims.json.
std::string claims_path(const std::string& state_dir);

// -- eligibility and choice (pure) -------------------------------------------------

/// The operator's choice of devices for Device volumes: open-local's
/// listConfig semantics (whole-name ECMAScript expressions, an empty include
/// list selects nothing), matched against both the kernel name ("vdc") and
/// the path ("/dev/vdc"): a device is included when an include expression
/// matches either and no exclude expression matches either.
class device_filter {
public:
  /// Compiles the expressions; a bad one is invalid_argument naming it.
  static caf::expected<device_filter> make(const std::vector<std::string>& include,
                                           const std::vector<std::string>& exclude);

  bool includes(const block_device& dev) const;

private:
  name_filter include_; ///< the include expressions
  name_filter exclude_; ///< the exclude expressions, as includes
};

/// True when `filter` includes the device (by kernel name or path).
bool device_included(const device_filter& filter, const block_device& dev);

/// Who `dev` is across reboots, from sysfs under `sysfs_root`: its wwid,
/// else its serial (for a partition: its disk's, with the partition name
/// appended), else a loop device's backing file; "" when none is known.
/// Blocking (reads sysfs).
std::string device_stable_id(const std::string& sysfs_root, const block_device& dev);

/// Why an included device cannot become a Device volume ("" when it can):
/// device-mapper devices (logical volumes and the like) never, empty ones
/// never, and otherwise block_device::in_use_reason() (signature, holders,
/// partitions, mounted, read-only, unreadable content). Never forced.
std::string device_unavailable(const block_device& dev);

/// Why a mount point cannot become a MountPoint volume ("" when it can):
/// only writable ext3, ext4 and xfs filesystems that hold nothing besides
/// lost+found.
std::string mount_point_unavailable(const mount_point_facts& mp);

/// Every candidate of the node: included devices, mount points under the
/// root, and whatever is claimed (marked with its volume, also when it is no
/// longer included or present). Sorted by kind, then name. `filter` may be
/// null (no device is included).
std::vector<claim_candidate> claim_candidates(const std::vector<block_device>& devices,
                                              const device_filter* filter,
                                              const std::vector<mount_point_facts>& mount_points,
                                              const std::vector<claim_record>& claims);

/// The candidate for a new claim: of req.kind, free, of the media type (""
/// = any), at least min_bytes and at most max_bytes (0 = no limit), the
/// smallest that fits (open-local's choice; ties by name).
/// resource_exhausted naming every candidate looked at and why it did not
/// fit; invalid_argument for a bad kind or media type.
caf::expected<claim_candidate> choose_claim(const std::vector<claim_candidate>& candidates,
                                            const claim_req& req);

/// Whether an existing claim answers a repeated request ("" when it does,
/// else why not: another type, too small, too large, other media).
std::string claim_mismatch(const claim_record& claim, const claim_req& req);

/// The largest free candidate of `type` and media type ("" = any): the most
/// one new volume can get (CSI GetCapacity).
uint64_t claim_capacity(const std::vector<claim_candidate>& candidates, std::string_view type,
                        std::string_view media_type);

/// What a volume actor needs to manage a claimed device or mount point: an
/// lv_info without a volume group (name = volume id, path = the device node,
/// size, kernel major:minor, tags olocal/kind=device|mountpoint and
/// olocal/id). For a mount point, path is the device of its filesystem and
/// major:minor its st_dev.
lvm::lv_info claim_lv(const claim_record& claim, const std::string& device_path, uint32_t major,
                      uint32_t minor, uint64_t size_bytes);

// -- the claims file -------------------------------------------------------------------

/// The claims as the file holds them:
/// {"version":1,"claims":[{"id":..,"kind":..,"path":..,"name":..,"sizeBytes":..,
///   "mediaType":..,"fstype":..,"wipe":..,"created":..,"stableId":..}]}. Pure.
std::string claims_to_json(const std::vector<claim_record>& claims);

/// Parses claims_to_json's output. parse_error naming `origin` and what is
/// wrong (not JSON, another version, a missing or mistyped field, an unknown
/// kind, two claims of one volume or of one device). Pure.
caf::expected<std::vector<claim_record>> claims_from_json(std::string_view text,
                                                          std::string_view origin);

/// Reads the claims file; a missing file holds no claims. Blocking.
caf::expected<std::vector<claim_record>> load_claims(const std::string& path);

/// Replaces the claims file atomically: a temporary file next to it, fsync,
/// rename, fsync of the directory (created when missing). Answers the bytes
/// written. Blocking.
caf::expected<uint64_t> save_claims(const std::string& path,
                                    const std::vector<claim_record>& claims);

// -- blocking work -------------------------------------------------------------------

/// The mount points directly under `root` among `table` (a parsed mount
/// table; the topmost mount of each), with statvfs, the media type of the
/// device below (from <sysfs_root>/dev/block/MAJ:MIN) and the number of
/// entries besides lost+found. Blocking (statvfs, readdir).
std::vector<mount_point_facts> scan_mount_points(const std::string& root,
                                                 const std::vector<fs_ops::mount_entry>& table,
                                                 const std::string& sysfs_root = "/sys");

/// Removes everything inside `path`, which must be the root directory of
/// filesystem major:minor (failed_precondition otherwise, e.g. when the
/// filesystem is not mounted there any more): directories are descended
/// without following symlinks (symlinks themselves are removed); a
/// directory of another filesystem inside is refused with device_busy and
/// nothing below it is touched. The directory itself stays. Answers the
/// number of entries removed. Blocking.
caf::expected<uint64_t> clear_directory(const std::string& path, uint32_t major, uint32_t minor);

/// Spawns the detached claim runner (its own thread).
claim_runner_actor spawn_claim_runner(caf::actor_system& sys);

} // namespace olocal
