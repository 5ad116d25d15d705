#pragma once

// Initialization of a node's resources from its NodeLocalStorage's
// spec.resourceToBeInited: volume groups made (or grown) from the listed
// devices, mount points formatted and mounted. Unlike open-local's agent
// (reference §6.3, §11 item 7) nothing that holds data is ever destroyed:
//   - a device holding a filesystem is never formatted, whether its path is
//     mounted or not (open-local reformatted it after every reboot); it is
//     mounted as it is, or refused when its filesystem is not the asked one;
//   - other content (an LVM label, a partition table, ...) is only taken with
//     the node's force option (open-local's Force_Create_VG); a device that is
//     mounted, held, read-only, partitioned or a PV of another VG never is;
//   - an existing VG grows by listed devices that are not its PVs yet, under
//     the same checks; its PVs that are not listed are never removed;
//   - a device listed by two resources is refused for both.
//
// plan_init is pure (table-tested); run_init reads the node, plans and runs,
// blocking (call it from a backend thread). init_backoff spaces out retries
// of failing resources.

#include "actors/core/errc.hpp"
#include "actors/core/messages.hpp"
#include "actors/core/storage_types.hpp"
#include "actors/node/vg_setup.hpp"
#include "gateways/kube/nls.hpp"

#include <chrono>
#include <map>
#include <string>
#include <vector>

namespace olocal::kube {

/// The node as plan_init sees it.
struct init_facts {
  /// Block devices with usage facts (discover_block_devices + annotate_usage).
  std::vector<block_device> devices;
  /// Every PV with its VG ("" for an orphan).
  std::vector<lvm::pv_info> pvs;
  /// The mount table (read_mounts), in mount order.
  std::vector<fs_ops::mount_entry> mounts;
  /// What a path of the spec resolves to ("/dev/disk/by-id/x" -> "/dev/sdb",
  /// "/mnt/a/" -> "/mnt/a"); paths not listed are taken as they are.
  std::map<std::string, std::string> resolved;
};

/// The name a resource goes by in plans and reports: "vg:<name>" or
/// "mountpoint:<path>" (the path as the spec spells it).
std::string vg_resource(const vg_to_init& vg);
std::string mountpoint_resource(const mountpoint_to_init& mp);

struct init_action {
  enum class kind {
    create_vg,        ///< vgcreate from free devices (create_volume_group)
    extend_vg,        ///< vgextend by the listed devices it lacks (extend_volume_group)
    mount_existing,   ///< the device holds `fs_type` already: mount it as it is
    format_and_mount, ///< the device is empty (or force covers its content): mkfs, mount
  };
  kind what = kind::create_vg;
  std::string resource;
  /// create_vg, extend_vg: the request (devices resolved).
  create_vg_req vg;
  /// mount_existing, format_and_mount: the mount point (path and device resolved).
  mountpoint_to_init mountpoint;
  /// create_vg, extend_vg: the LVM commands as planned now (informative: the
  /// run re-reads the node and plans again).
  std::vector<std::vector<std::string>> commands;
  /// format_and_mount: the device's content may be destroyed (force).
  bool force = false;
};

struct init_refusal {
  std::string resource;
  errc code = errc::invalid_argument;
  std::string reason;
};

struct init_plan {
  std::vector<init_action> actions;
  std::vector<init_refusal> refusals;
  /// Resources already as the spec asks (nothing to do).
  std::vector<std::string> unchanged;
};

/// Decides, resource by resource, what to do. VGs first, then mount points,
/// each in spec order. Pure.
init_plan plan_init(const resources_to_init& spec, const init_facts& facts, bool force);

/// How one resource went.
struct init_outcome {
  std::string resource;
  bool ok = false;
  std::string reason;   ///< why it failed or was refused; what was done when it changed
  bool changed = false; ///< something was created, grown, formatted or mounted
};

struct init_report {
  std::vector<init_outcome> outcomes; ///< one per resource of the spec
  bool all_ok() const;
};

/// Reads the facts (sysfs under `sysfs`, mountinfo, device heads, pvs),
/// plans and runs every action. Blocking: call from a backend thread. A fact
/// that cannot be read fails every resource of the spec with that reason.
init_report run_init(const resources_to_init& spec, bool force, const std::string& sysfs = "/sys");

/// Capped exponential backoff per resource: after the n-th failure in a row a
/// resource is due again `initial * 2^(n-1)` later, at most `cap`; a success
/// resets it. Pure: the caller passes the time, so tests inject their clock.
class init_backoff {
public:
  using clock = std::chrono::steady_clock;

  init_backoff(clock::duration initial, clock::duration cap);

  /// True when `resource` may be tried at `now` (never failed, or its wait is over).
  bool due(const std::string& resource, clock::time_point now) const;

  /// Records a failure at `now`. Answers true when the caller should log it:
  /// the first failure in a row, or a reason other than the previous one.
  bool failed(const std::string& resource, clock::time_point now, const std::string& reason = {});

  /// Records a success: the resource is due at once and its wait back to `initial`.
  void succeeded(const std::string& resource);

  /// The wait after the resource's last failure (zero when it is not failing).
  clock::duration delay(const std::string& resource) const;

  /// Failures in a row (0 when it is not failing).
  uint32_t failures(const std::string& resource) const;

  /// Forgets resources no longer in the spec.
  void retain(const std::vector<std::string>& resources);

private:
  struct entry {
    uint32_t failures = 0;
    clock::duration delay{};
    clock::time_point next{};
    std::string reason;
  };
  clock::duration initial_;
  clock::duration cap_;
  std::map<std::string, entry> entries_;
};

} // namespace olocal::kube
