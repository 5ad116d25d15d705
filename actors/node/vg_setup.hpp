#pragma once

#include "actors/backends/lvm.hpp"
#include "actors/core/messages.hpp"

#include <caf/expected.hpp>

#include <string>
#include <vector>

namespace olocal {

/// Make volume group `name` from `devices` (paths such as "/dev/sdb").
struct create_vg_req {
  std::string name;
  std::vector<std::string> devices;
  /// Take devices that carry a filesystem, partition table or stale LVM label.
  /// Never takes a device that is mounted, held, read-only, partitioned with
  /// partitions in use, or a PV of another volume group.
  bool force = false;
};

/// What the node knows when it decides: block devices with usage facts
/// (discover_block_devices + annotate_usage) and LVM's PVs (every PV, with
/// its VG or "" for an orphan).
struct vg_setup_facts {
  std::vector<block_device> devices;
  std::vector<lvm::pv_info> pvs;
};

/// The commands that create the VG, in order; empty when it already exists
/// with exactly these devices (idempotent). Refusals name the device and the
/// reason: not_found (unknown device), device_busy (in use), already_exists
/// (the VG exists with other devices, or a device is a PV of another VG),
/// invalid_argument (bad name, no devices, duplicates).
caf::expected<std::vector<std::vector<std::string>>> plan_create_vg(const create_vg_req& req,
                                                                    const vg_setup_facts& facts);

/// Reads the facts from the system (sysfs, mountinfo, device heads, `pvs`),
/// plans and runs the commands. Blocking: call from a backend.
caf::expected<std::vector<std::string>> create_volume_group(const create_vg_req& req,
                                                            const std::string& sysfs = "/sys");

/// Reads what plan_create_vg and plan_extend_vg decide from: the block devices
/// under `sysfs` with their usage (mountinfo, signatures) and `pvs`.
/// Blocking: call from a backend.
caf::expected<vg_setup_facts> read_vg_setup_facts(const std::string& sysfs = "/sys");

/// The commands that grow the existing volume group `req.name` so that it
/// holds every device of `req.devices`, in order (pvcreate for devices that
/// are no PV yet, then vgextend); empty when every listed device already is
/// one of its PVs. PVs of the group that are not listed stay: a group is never
/// shrunk. Each new device passes the same checks as in plan_create_vg (free,
/// no signature unless force, never mounted, held, read-only or partitioned,
/// never a PV of another group). Refusals: not_found (the group does not
/// exist, unknown device), device_busy, already_exists (a PV of another
/// group), invalid_argument (bad name, no devices, duplicates).
caf::expected<std::vector<std::vector<std::string>>> plan_extend_vg(const create_vg_req& req,
                                                                    const vg_setup_facts& facts);

/// Reads the facts, plans with plan_extend_vg and runs the commands; answers
/// the commands that ran (empty when nothing was to do). Blocking.
caf::expected<std::vector<std::string>> extend_volume_group(const create_vg_req& req,
                                                            const std::string& sysfs = "/sys");

} // namespace olocal
