#pragma once

#include "actors/core/storage_types.hpp"

// The LVM command layer: what we ask lvm2 and how we read its answers.
//
// Pure functions (report parsers, argv builders, name validation, error
// classification) plus one thin blocking runner. No actors here: the VG and
// volume actors call these from their detached backend workers.
//
// Reports are read with `--reportformat json --units b --nosuffix`, so every
// value is a string and every size a plain byte count. Changes are argv
// vectors for olocal::run_command (no shell, program name first, never the
// `lvm` wrapper). Every builder validates its inputs with lvm2's own naming
// rules and refuses what lvm2 would refuse, so a bad name never reaches a
// command line.

#include <caf/error.hpp>
#include <caf/expected.hpp>

#include <chrono>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace olocal::lvm {

// -- report records ------------------------------------------------------------

enum class report_kind : uint8_t { pvs, vgs, lvs };

/// The fields each report requests (in this order), lvm2's names.
std::vector<std::string> pvs_fields();
std::vector<std::string> vgs_fields();
std::vector<std::string> lvs_fields();

/// argv of a report, e.g. {"lvs", "--reportformat", "json", "--units", "b",
/// "--nosuffix", "-o", "lv_name,...", "vg0"}.
///
/// `vg_filter` restricts the report to one VG ("" = all): the last argument
/// of vgs and lvs (an unknown VG then fails with not_found), a selection
/// `-S vg_name=<vg>` for pvs (which takes PVs as arguments; an unknown VG
/// gives an empty list). Hidden LVs (thin pool internals such as
/// [pool_tdata], [pool_tmeta], [lvol0_pmspare]) are left out unless
/// `include_hidden` (lvs -a): they are not volumes, their space is already in
/// vg_free, and pools report their usage through data_percent and
/// metadata_percent.
caf::expected<std::vector<std::string>>
report_argv(report_kind kind, std::string_view vg_filter = {}, bool include_hidden = false);

/// Parsers of the JSON reports: {"report":[{"pv"|"vg"|"lv":[{...}, ...]}]}.
/// Every requested field must be present; sizes must be byte counts; percents
/// may be "" (reported as -1). Values of lvm2's json_std format (numbers,
/// null, string arrays) are accepted too. Anything else is a parse_error
/// naming the row, the field and the offending value; never throws.
caf::expected<std::vector<pv_info>> parse_pvs(std::string_view json);
caf::expected<std::vector<vg_info>> parse_vgs(std::string_view json);
caf::expected<std::vector<lv_info>> parse_lvs(std::string_view json);

/// One volume group with its PVs and visible LVs.
struct vg_report {
  vg_info vg;
  std::vector<pv_info> pvs;
  std::vector<lv_info> lvs;
};

/// `lvm fullreport` for one VG (or all with ""): VG, PVs, LVs and segments in
/// one process, which is what a periodic rescan should cost.
caf::expected<std::vector<std::string>> fullreport_argv(std::string_view vg_filter = {});

/// Parses fullreport_argv's output (one report element per VG; segment type
/// and stripes joined from the "seg" list by lv_uuid; hidden LVs dropped).
caf::expected<std::vector<vg_report>> parse_fullreport(std::string_view json);

// -- validation ----------------------------------------------------------------

/// lvm2's rules for a VG name: 1..127 characters of a-z A-Z 0-9 + _ . -, not
/// starting with '-', not "." or "..". (lvm2 also refuses names that exist
/// in /dev; that is only known at run time and comes back from vgcreate.)
/// Returns invalid_argument naming `field` and the value, or an empty error.
caf::error validate_vg_name(std::string_view name, std::string_view field = "vg name");

/// The VG rules plus lvm2's reserved LV names: no prefix "snapshot" or
/// "pvmove", none of "_cdata", "_cmeta", "_corig", "_iorig", "_mimage",
/// "_mlog", "_pmspare", "_rimage", "_rmeta", "_tdata", "_tmeta", "_vdata",
/// "_vorigin", "_wcorig" anywhere in the name.
caf::error validate_lv_name(std::string_view name, std::string_view field = "lv name");

/// lvm2's tag rules: 1..1024 characters of a-z A-Z 0-9 _ + . - / = ! : & #.
caf::error validate_tag(std::string_view tag, std::string_view field = "tag");

/// A device argument: an absolute path ("/dev/sdb"), no control characters.
caf::error validate_device(std::string_view device, std::string_view field = "device");

// -- changes (argv only, nothing runs) ---------------------------------------
//
// Sizes are bytes, passed as "<n>b" and must be positive multiples of 512
// (lvm2 refuses others; it rounds up to whole extents). Every lvcreate
// answers prompts with yes (-y), wipes signatures found on the new LV (-W y)
// and zeroes its start (-Z y) where lvm2 allows those options, and adds one
// --addtag per tag. lvm2 also limits "vg/lv" of a new LV to 125 characters
// (checked here, together with the name rules).

using argv_result = caf::expected<std::vector<std::string>>;

/// lvcreate -y -W y -Z y --type linear -L <n>b -n <name> [--addtag t]... <vg>
argv_result lvcreate_linear(std::string_view vg, std::string_view name, uint64_t size_bytes,
                            const std::vector<std::string>& tags = {});

/// lvcreate -y -W y -Z y --type striped -i <stripes> [-I <s>b] -L <n>b -n <name> ... <vg>
/// `stripe_size_bytes` 0 takes lvm2's default (64 KiB); otherwise a power of
/// two of at least 4 KiB. `stripes` 1..128.
argv_result lvcreate_striped(std::string_view vg, std::string_view name, uint64_t size_bytes,
                             uint32_t stripes, uint64_t stripe_size_bytes = 0,
                             const std::vector<std::string>& tags = {});

/// lvcreate -y -Z y --type thin-pool -L <n>b [--poolmetadatasize <m>b] -n <pool> ... <vg>
/// -Z y here makes the pool zero newly provisioned blocks, so that a thin
/// volume never reads another volume's old data (lvm2 refuses -W for pools).
/// `metadata_size_bytes` 0 lets lvm2 size the metadata. The pool name leaves
/// room for lvm2's "<pool>_tdata"/"<pool>_tmeta" sub-LVs.
argv_result lvcreate_thin_pool(std::string_view vg, std::string_view pool, uint64_t size_bytes,
                               uint64_t metadata_size_bytes = 0,
                               const std::vector<std::string>& tags = {});

/// lvcreate -y -W y --type thin -V <n>b --thinpool <pool> -n <name> ... <vg>
/// (no -Z: lvm2 only accepts it when creating the pool).
argv_result lvcreate_thin(std::string_view vg, std::string_view pool, std::string_view name,
                          uint64_t virtual_size_bytes, const std::vector<std::string>& tags = {});

/// lvcreate -y -s -p r -L <n>b -n <name> ... <vg>/<origin>: a read-only CoW
/// snapshot whose exception store holds `size_bytes`.
argv_result lvcreate_cow_snapshot(std::string_view vg, std::string_view origin,
                                  std::string_view name, uint64_t size_bytes,
                                  const std::vector<std::string>& tags = {});

/// lvcreate -y -s -k n -a y -n <name> ... <vg>/<origin>: a thin snapshot of a
/// thin volume, without the activation-skip flag lvm2 sets by default, and
/// activated at once so that its device exists.
argv_result lvcreate_thin_snapshot(std::string_view vg, std::string_view origin,
                                   std::string_view name,
                                   const std::vector<std::string>& tags = {});

/// lvremove -y <vg>/<name>. -y answers every prompt, including lvm2's offer
/// to remove dependent snapshots or thin volumes: callers check dependents
/// first.
argv_result lvremove(std::string_view vg, std::string_view name);

/// lvextend -y -L <n>b [-r] <vg>/<name>; -r also grows the file system
/// (lvm2 runs fsadm). lvm2 fails when the size does not grow (out_of_range).
argv_result lvextend(std::string_view vg, std::string_view name, uint64_t new_size_bytes,
                     bool resize_fs);

/// lvchange --addtag <t>... <vg>/<name> (at least one tag).
argv_result lvchange_addtag(std::string_view vg, std::string_view name,
                            const std::vector<std::string>& tags);

/// lvchange --deltag <t>... <vg>/<name> (at least one tag).
argv_result lvchange_deltag(std::string_view vg, std::string_view name,
                            const std::vector<std::string>& tags);

/// vgcreate <-qq | -f -y> [--addtag t]... <vg> <device>...
///
/// Devices that are not PVs yet are initialized by vgcreate. Without `force`
/// (-qq) every lvm2 prompt is answered "no": a device that carries a file
/// system or another signature makes the command fail (device_busy) instead
/// of being wiped. With `force` (-f -y) such signatures are wiped. A device
/// that belongs to another VG is refused either way (that would take -ff,
/// which we never pass).
argv_result vgcreate(std::string_view vg, const std::vector<std::string>& devices,
                     const std::vector<std::string>& tags = {}, bool force = false);

/// pvcreate <-qq | -f -y> <device>... with the same `force` meaning as vgcreate.
argv_result pvcreate(const std::vector<std::string>& devices, bool force = false);

/// vgextend <-qq | -f -y> <vg> <device>... with the same `force` meaning.
argv_result vgextend(std::string_view vg, const std::vector<std::string>& devices,
                     bool force = false);

// -- running -----------------------------------------------------------------

/// Maps a failed lvm2 command to our codes by its stderr (the one place that
/// reads lvm2's message text):
/// - not_found: an unknown LV, VG, PV, pool or device ("Failed to find
///   logical volume", "Volume group \"x\" not found", "No device found for");
/// - already_exists: "already exists in volume group", "A volume group
///   called x already exists";
/// - resource_exhausted: "insufficient free space", "Insufficient suitable
///   allocatable extents", a thin pool over its threshold, too few PVs for
///   the stripes;
/// - device_busy: an LV or PV in use or open, a device that cannot be opened
///   exclusively, a device in another VG, a signature we refused to wipe, a
///   partitioned device or an md/multipath member;
/// - out_of_range: lvextend to a size that does not grow the LV;
/// - failed_precondition: an LV that other LVs depend on, an inactive LV
///   whose file system should grow, a device lvm2 will not use (filtered,
///   too small);
/// - aborted: a lock held by another lvm2 command;
/// - no_device_mapper: the kernel lacks device-mapper or a target;
/// - invalid_argument: lvm2 refused the command line (exit code 3), or a new
///   VG name that exists in /dev;
/// - command_failed: anything else.
/// The message holds the command line and the stderr line that decided (or
/// the last meaningful one).
caf::error classify_failure(const std::vector<std::string>& argv, int exit_code,
                            std::string_view stderr_text);

/// The environment every lvm2 command gets: LC_ALL=C (messages as
/// classify_failure knows them), LVM_SUPPRESS_FD_WARNINGS=1,
/// DM_DISABLE_UDEV=1 (containers and VMs without udev).
std::vector<std::string> lvm_environment();

/// Runs one lvm2 command (blocking: backend actors only). Returns its stdout
/// on exit 0; errc::timeout when `timeout` passed (the command is killed);
/// the classify_failure error otherwise; run_command's error when the
/// program cannot be started.
caf::expected<std::string> run_lvm(const std::vector<std::string>& argv,
                                   std::chrono::milliseconds timeout);

} // namespace olocal::lvm
