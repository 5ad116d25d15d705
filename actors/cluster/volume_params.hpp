#pragma once

// StorageClass, VolumeSnapshotClass and inline-volume parameters: open-local's
// keys with open-local's meaning, plus ours (thin volumes, wipe policy,
// separate read/write IO limits). Pure parsing, table-tested: every bad
// value is an invalid_argument naming the key and what it accepts.

#include "actors/core/messages.hpp"
#include "actors/core/quantity.hpp"
#include "actors/node/io_limit_context.hpp"

#include <caf/expected.hpp>

#include <cstdint>
#include <map>
#include <string>
#include <string_view>

namespace olocal {

/// Parameter keys (open-local's spelling).
namespace param_keys {
inline constexpr std::string_view volume_type = "volumeType";
inline constexpr std::string_view fstype = "csi.storage.k8s.io/fstype";
inline constexpr std::string_view fstype_legacy = "fsType";
inline constexpr std::string_view vg_name = "vgName";
inline constexpr std::string_view media_type = "mediaType";
inline constexpr std::string_view lvm_type = "lvmType";
inline constexpr std::string_view iops = io_limits::keys::iops;
inline constexpr std::string_view bps = io_limits::keys::bps;
inline constexpr std::string_view spdk = "spdk";
inline constexpr std::string_view direct = "direct";
// ours
inline constexpr std::string_view thin_pool = "thinPool";
inline constexpr std::string_view wipe = "wipe";
inline constexpr std::string_view read_iops = io_limits::keys::read_iops;
inline constexpr std::string_view write_iops = io_limits::keys::write_iops;
inline constexpr std::string_view read_bps = io_limits::keys::read_bps;
inline constexpr std::string_view write_bps = io_limits::keys::write_bps;
// inline ephemeral volumes
inline constexpr std::string_view size = "size";
inline constexpr std::string_view ephemeral = "csi.storage.k8s.io/ephemeral";
// VolumeSnapshotClass (open-local)
inline constexpr std::string_view snap_readonly = "csi.aliyun.com/readonly";
inline constexpr std::string_view snap_initial_size = "csi.aliyun.com/snapshot-initial-size";
inline constexpr std::string_view snap_expansion_size = "csi.aliyun.com/snapshot-expansion-size";
inline constexpr std::string_view snap_expansion_threshold =
  "csi.aliyun.com/snapshot-expansion-threshold";
} // namespace param_keys

// parse_quantity: actors/core/quantity.hpp

/// What a StorageClass asks for.
struct volume_params {
  std::string volume_type = "LVM"; ///< LVM | Device | MountPoint
  std::string fstype;              ///< "" = what the volume capability says, else ext4
  std::string vg_name;             ///< "" = placement chooses
  std::string media_type;          ///< ssd | hdd | "" (Device and MountPoint)
  std::string lvm_type = "linear"; ///< linear | striping | thin
  std::string thin_pool = "thinpool";
  bool wipe = true; ///< zero released space before reuse
  /// IO limits (0 = none): open-local's iops/bps apply to reads and writes.
  uint64_t read_iops = 0;
  uint64_t write_iops = 0;
  uint64_t read_bps = 0;
  uint64_t write_bps = 0;
};

/// Parses CreateVolume parameters. Unknown keys are kept by the caller in the
/// volume context but otherwise ignored (external-provisioner adds its own
/// csi.storage.k8s.io/... keys). open-local's `spdk` and `direct` (kata
/// direct volumes) are refused as not supported on this driver.
caf::expected<volume_params> parse_volume_params(const param_map& params);

/// The create_lv_req layout for the params ("linear", "striped", "thin").
std::string lv_layout(const volume_params& p);

/// What a VolumeSnapshotClass asks for.
struct snapshot_params {
  /// open-local's read-only CoW snapshot (csi.aliyun.com/readonly: "true").
  /// Without it a thin volume gets a thin snapshot and a thick volume a CoW
  /// snapshot all the same (both are read-only sources for restores).
  bool read_only = false;
  uint64_t initial_bytes = 4ull << 30;   ///< open-local's default 4Gi
  uint64_t expansion_bytes = 1ull << 30; ///< 1Gi
  uint32_t expansion_threshold_percent = 50;
};

caf::expected<snapshot_params> parse_snapshot_params(const param_map& params);

/// An inline ephemeral volume's attributes: vgName (required), size
/// (default 1Gi), plus the StorageClass-like keys above.
struct ephemeral_params {
  volume_params volume;
  uint64_t size_bytes = 1ull << 30;
};

caf::expected<ephemeral_params> parse_ephemeral_params(const param_map& attributes);

/// The longest LV name used as given. Device-mapper names the LV
/// "<vg>-<lv>" with every '-' doubled, plus suffixes up to 6 bytes ("-tpool",
/// "_tdata"), in 127 bytes: a 64-byte budget for the LV leaves room for VG
/// names up to about 55 bytes.
inline constexpr size_t max_plain_lv_name = 64;

/// The LV name for a CSI volume or snapshot name (which may be 128 bytes).
/// A name whose device-mapper form (dashes doubled) fits max_plain_lv_name is
/// its own LV name, as open-local does ("local-<uuid>"); a longer one maps to
/// "olocal-" and 32 hex digits of its SHA-256. The mapping is deterministic,
/// so a retried CreateVolume finds the LV it made; the LV name is the id we
/// return, and the full name is kept in the LV's "olocal/name=" tag.
std::string lv_name_for(std::string_view csi_name);

} // namespace olocal
