#pragma once

// Live device-mapper state through libdevmapper: what the kernel says about
// a device right now (existence, major:minor, open count, suspension) and the
// status lines of its targets, parsed for the targets open-local cares about
// (thin pools, thin volumes, CoW snapshots).
//
// Two halves:
// - pure functions (dm_name, the status-line parsers) that run anywhere and
//   are table-tested on the host;
// - live queries (info, status, thin_pool, thin, snapshot), which issue
//   device-mapper ioctls. They BLOCK (a thin-pool status commits the pool's
//   metadata first, which may wait for disk I/O): call them from a detached
//   backend actor or another thread of your own, never from a scheduler
//   thread. They are safe to call from several threads (libdevmapper's global
//   state is guarded by one lock inside this module).
//
// On a kernel without device-mapper every live query fails with
// errc::no_device_mapper before libdevmapper is touched (libdevmapper would
// otherwise print its complaints on stderr), so the check is cheap and quiet.

#include <caf/expected.hpp>
#include <caf/meta/type_name.hpp>

#include <cstdint>
#include <filesystem>
#include <string>
#include <string_view>
#include <vector>

namespace olocal::dm {

// -- environment ---------------------------------------------------------------

/// True when the kernel has device-mapper: a "device-mapper" line in
/// <proc>/misc (read on every call: the module may be loaded later).
bool available(const std::filesystem::path& proc = "/proc");

/// Routes libdevmapper's own log messages to olocal::log (component
/// "devmapper"): fatal and error messages become errors, warnings warnings,
/// its verbose messages debug; its debug and backtrace messages are dropped.
/// Installs the route once per process (thread-safe); every live query calls
/// it, call it early at start-up too. At exit the route is removed again, so
/// libdevmapper's own exit handlers never log into a destroyed logger.
void route_log_once();

/// The device-mapper name LVM gives the LV `lv` of VG `vg`: "vg-lv", with
/// every '-' inside vg and lv doubled ("my-vg", "lv-1" -> "my--vg-lv--1").
/// A non-empty `layer` names one of LVM's hidden layers and is appended as
/// "-layer" ("vg-pool-tpool" is the thin-pool target of the pool "pool").
/// Pure: does not validate the names (lvm::validate_* do that).
std::string dm_name(std::string_view vg, std::string_view lv, std::string_view layer = {});

// -- records -------------------------------------------------------------------

/// What DM_DEVICE_INFO says about one device.
struct device_info {
  bool exists = false;
  uint32_t major = 0;
  uint32_t minor = 0;
  int32_t open_count = 0; ///< openers of the device node (mounts, processes, holders)
  bool suspended = false;
  bool read_only = false;
  int32_t target_count = 0; ///< targets in the live table (0: no table loaded)
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, device_info& x) {
  return f(caf::meta::type_name("dm_device_info"), x.exists, x.major, x.minor, x.open_count,
           x.suspended, x.read_only, x.target_count);
}

/// One target of a device's live table and its status line (DM_DEVICE_STATUS).
struct target_status {
  uint64_t start = 0;  ///< first sector (512 bytes) the target maps
  uint64_t length = 0; ///< sectors it maps
  std::string type;    ///< "linear", "thin-pool", "thin", "snapshot", ...
  std::string params;  ///< the target's status line, as the kernel wrote it
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, target_status& x) {
  return f(caf::meta::type_name("dm_target_status"), x.start, x.length, x.type, x.params);
}

/// A thin pool's status. Block counts are in the pool's units: metadata
/// blocks of 4 KiB, data blocks of the pool's chunk size.
struct thin_pool_status {
  bool fail = false; ///< "Fail": the pool failed; no other field is set
  uint64_t transaction_id = 0;
  uint64_t used_metadata_blocks = 0;
  uint64_t total_metadata_blocks = 0;
  uint64_t used_data_blocks = 0;
  uint64_t total_data_blocks = 0;
  double data_fill = 0;                ///< used / total data blocks, 0..1 (0 for an empty pool)
  double metadata_fill = 0;            ///< used / total metadata blocks, 0..1
  uint64_t held_root = 0;              ///< block of a held metadata root, 0 = none ("-")
  bool read_only = false;              ///< "ro": metadata read-only, nothing new can be provisioned
  bool out_of_space = false;           ///< "out_of_data_space": data device full
  std::string discards;                ///< "passdown", "nopassdown", "ignore" ("" if not reported)
  bool error_if_no_space = false;      ///< I/O errors at once instead of queueing when full
  bool needs_check = false;            ///< metadata must be checked and repaired (thin_check)
  uint64_t metadata_low_watermark = 0; ///< in metadata blocks; 0 if not reported (< 4.19)
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, thin_pool_status& x) {
  return f(caf::meta::type_name("dm_thin_pool_status"), x.fail, x.transaction_id,
           x.used_metadata_blocks, x.total_metadata_blocks, x.used_data_blocks, x.total_data_blocks,
           x.data_fill, x.metadata_fill, x.held_root, x.read_only, x.out_of_space, x.discards,
           x.error_if_no_space, x.needs_check, x.metadata_low_watermark);
}

/// A thin volume's status.
struct thin_status {
  bool fail = false;           ///< "Fail": its pool failed; no other field is set
  uint64_t mapped_sectors = 0; ///< provisioned sectors (whole pool chunks)
  /// Last sector of the highest provisioned chunk; 0 when nothing is mapped.
  uint64_t highest_mapped_sector = 0;
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, thin_status& x) {
  return f(caf::meta::type_name("dm_thin_status"), x.fail, x.mapped_sectors,
           x.highest_mapped_sector);
}

/// A CoW snapshot's status (targets "snapshot" and "snapshot-merge").
/// Counts are set only when the kernel reports them (a usable snapshot).
struct snapshot_status {
  bool invalid = false;           ///< "Invalid": dropped (COW area overfilled or I/O error)
  bool overflow = false;          ///< "Overflow": COW area full, snapshot kept (overflow mode)
  bool merge_failed = false;      ///< "Merge failed": a merge into the origin stopped
  uint64_t allocated_sectors = 0; ///< COW sectors in use (data and metadata)
  uint64_t total_sectors = 0;     ///< size of the COW area
  uint64_t metadata_sectors = 0;  ///< of allocated_sectors, the exception store's own
  double fill = 0;                ///< allocated / total, 0..1
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, snapshot_status& x) {
  return f(caf::meta::type_name("dm_snapshot_status"), x.invalid, x.overflow, x.merge_failed,
           x.allocated_sectors, x.total_sectors, x.metadata_sectors, x.fill);
}

// -- status-line parsers (pure) ------------------------------------------------
//
// Each takes the params of one target's status line (target_status::params)
// in the format of the kernel's Documentation/admin-guide/device-mapper.
// Fields a newer kernel appends after the documented ones are ignored.
// Errors: parse_error for a line that does not have the format (naming the
// field and quoting the line); io_error when the kernel reports that it could
// not read its own state ("Error", or a snapshot's "Unknown" usage).

/// "<transaction id> <used>/<total metadata> <used>/<total data> <held root>|-
/// ro|rw|out_of_data_space [no_]discard_passdown|ignore_discard
/// error_if_no_space|queue_if_no_space needs_check|- <metadata low watermark>",
/// or "Fail". The fields after the held root arrived with later kernels and
/// are optional.
caf::expected<thin_pool_status> parse_thin_pool_status(std::string_view params);

/// "<nr mapped sectors> <highest mapped sector>|-", or "Fail".
caf::expected<thin_status> parse_thin_status(std::string_view params);

/// "<allocated>/<total sectors> <metadata sectors>", or "Invalid" (possibly
/// followed by a cause), "Overflow", "Merge failed".
caf::expected<snapshot_status> parse_snapshot_status(std::string_view params);

// -- live queries (blocking ioctls; see the top of this file) -----------------
//
// `name` is a device-mapper name (dm_name(vg, lv)), not a path: 1..127
// characters, no '/'. Errors name the device: invalid_argument for a bad
// name; no_device_mapper when the kernel lacks device-mapper; not_found when
// no such device exists (except for info, which answers exists == false);
// failed_precondition when a convenience query meets a device of another
// target type, several targets, or no live table; io_error when libdevmapper
// or the ioctl fails (its own messages go to the log, see route_log_once).

/// DM_DEVICE_INFO. A missing device is not an error: exists == false.
caf::expected<device_info> info(std::string_view name);

/// DM_DEVICE_STATUS: every target of the live table in order (empty when the
/// device has no live table). The kernel flushes thin-pool metadata first,
/// so the numbers are current.
caf::expected<std::vector<target_status>> status(std::string_view name);

/// status() of a device with exactly one "thin-pool" target, parsed.
caf::expected<thin_pool_status> thin_pool(std::string_view name);

/// status() of a device with exactly one "thin" target, parsed.
caf::expected<thin_status> thin(std::string_view name);

/// status() of a device with exactly one "snapshot" or "snapshot-merge"
/// target, parsed.
caf::expected<snapshot_status> snapshot(std::string_view name);

/// The thin-pool status of the active LVM thin pool `pool` in `vg`. LVM puts
/// the thin-pool target on "vg-pool" while the pool has no thin volume, and
/// on the layer "vg-pool-tpool" (under a linear "vg-pool") once it has one:
/// this asks for the layer first and falls back to the pool's own device.
caf::expected<thin_pool_status> lvm_thin_pool(std::string_view vg, std::string_view pool);

} // namespace olocal::dm
