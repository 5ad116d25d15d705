#include "actors/node/vg_setup.hpp"

#include "actors/backends/process.hpp"
#include "actors/core/errc.hpp"
#include "actors/core/log.hpp"
#include "actors/node/block_devices.hpp"

#include <algorithm>
#include <set>

namespace olocal {

namespace {

/// The checks every request shares: a valid name, devices, none twice.
caf::error check_request(const create_vg_req& req) {
  if (auto err = lvm::validate_vg_name(req.name, "vg name"))
    return err;
  if (req.devices.empty())
    return make_error(errc::invalid_argument,
                      "devices: volume group " + req.name + " needs at least one device");
  std::set<std::string> wanted(req.devices.begin(), req.devices.end());
  if (wanted.size() != req.devices.size())
    return make_error(errc::invalid_argument, "devices: a device is listed twice");
  return {};
}

bool is_orphan_pv(const std::string& path, const vg_setup_facts& facts) {
  return std::any_of(facts.pvs.begin(), facts.pvs.end(),
                     [&](const lvm::pv_info& pv) { return pv.name == path && pv.vg_name.empty(); });
}

/// Why `path` may not join a volume group (none when it may). An orphan PV
/// (labelled, in no VG) is exactly what vgcreate and vgextend want; force
/// covers content only (a filesystem, a partition table, a stale label),
/// never a device that something is using right now, nor another VG's PV.
caf::error check_new_device(const std::string& path, bool force, const vg_setup_facts& facts) {
  auto dev = std::find_if(facts.devices.begin(), facts.devices.end(),
                          [&](const block_device& d) { return d.path == path; });
  if (dev == facts.devices.end())
    return make_error(errc::not_found, "device " + path + " not found on this node");
  for (auto& pv : facts.pvs)
    if (pv.name == path && !pv.vg_name.empty())
      return make_error(errc::already_exists, "device " + path +
                                                " is a physical volume of volume group " +
                                                pv.vg_name + "; it is never taken");
  auto reason = dev->in_use_reason();
  if (reason.empty())
    return {};
  if (is_orphan_pv(path, facts) && dev->signatures == std::vector<std::string>{"LVM2_member"} &&
      dev->mountpoints.empty() && dev->holders.empty() && !dev->read_only)
    return {};
  bool content_only = !dev->read_only && dev->mountpoints.empty() && dev->holders.empty() &&
                      dev->partitions.empty() && dev->probe_error.empty();
  if (force && content_only)
    return {};
  return make_error(errc::device_busy,
                    "device " + path + " is in use (" + reason + ")" +
                      (content_only ? "; set force to take it and destroy its content" : ""));
}

std::set<std::string> members_of(const std::string& vg, const vg_setup_facts& facts) {
  std::set<std::string> members;
  for (auto& pv : facts.pvs)
    if (pv.vg_name == vg)
      members.insert(pv.name);
  return members;
}

/// Reads the facts, plans with `plan`, runs the commands in order.
template <class Plan>
caf::expected<std::vector<std::string>> plan_and_run(const create_vg_req& req,
                                                     const std::string& sysfs, Plan plan_fn) {
  auto facts = read_vg_setup_facts(sysfs);
  if (!facts)
    return facts.error();
  auto plan = plan_fn(req, *facts);
  if (!plan)
    return plan.error();
  std::vector<std::string> ran;
  for (auto& argv : *plan) {
    log::info("vg-setup", "running", {{"command", render_argv(argv)}});
    auto result = lvm::run_lvm(argv, std::chrono::minutes{2});
    if (!result)
      return result.error();
    ran.push_back(render_argv(argv));
  }
  return ran;
}

} // namespace

caf::expected<vg_setup_facts> read_vg_setup_facts(const std::string& sysfs) {
  vg_setup_facts facts;
  facts.devices = discover_block_devices(sysfs);
  annotate_usage(facts.devices);
  // A PV of another VG carries an LVM label, which the probe reports as a
  // signature; the pvs report is what tells whose it is.
  auto pvs_argv = lvm::report_argv(lvm::report_kind::pvs);
  if (!pvs_argv)
    return pvs_argv.error();
  auto out = lvm::run_lvm(*pvs_argv, std::chrono::seconds{60});
  if (!out)
    return out.error();
  auto pvs = lvm::parse_pvs(*out);
  if (!pvs)
    return pvs.error();
  facts.pvs = std::move(*pvs);
  return facts;
}

caf::expected<std::vector<std::vector<std::string>>> plan_create_vg(const create_vg_req& req,
                                                                    const vg_setup_facts& facts) {
  if (auto err = check_request(req))
    return err;
  // Already there?
  std::set<std::string> wanted(req.devices.begin(), req.devices.end());
  auto members = members_of(req.name, facts);
  if (!members.empty()) {
    if (members == wanted)
      return std::vector<std::vector<std::string>>{};
    std::string have;
    for (auto& m : members)
      have += (have.empty() ? "" : ", ") + m;
    return make_error(errc::already_exists,
                      "volume group " + req.name + " exists with devices " + have);
  }
  for (auto& path : req.devices)
    if (auto err = check_new_device(path, req.force, facts))
      return err;
  std::vector<std::vector<std::string>> plan;
  auto pvcreate = lvm::pvcreate(req.devices, req.force);
  if (!pvcreate)
    return pvcreate.error();
  auto vgcreate = lvm::vgcreate(req.name, req.devices, {"olocal/owner=standalone"}, req.force);
  if (!vgcreate)
    return vgcreate.error();
  plan.push_back(std::move(*pvcreate));
  plan.push_back(std::move(*vgcreate));
  return plan;
}

caf::expected<std::vector<std::string>> create_volume_group(const create_vg_req& req,
                                                            const std::string& sysfs) {
  return plan_and_run(req, sysfs, plan_create_vg);
}

// -- growing an existing group -------------------------------------------------------

caf::expected<std::vector<std::vector<std::string>>> plan_extend_vg(const create_vg_req& req,
                                                                    const vg_setup_facts& facts) {
  if (auto err = check_request(req))
    return err;
  auto members = members_of(req.name, facts);
  if (members.empty())
    return make_error(errc::not_found, "volume group " + req.name + " does not exist");
  std::vector<std::string> added, to_label;
  for (auto& path : req.devices) {
    if (members.count(path) != 0)
      continue;
    if (auto err = check_new_device(path, req.force, facts))
      return err;
    added.push_back(path);
    if (!is_orphan_pv(path, facts))
      to_label.push_back(path);
  }
  std::vector<std::vector<std::string>> plan;
  if (added.empty())
    return plan;
  if (!to_label.empty()) {
    auto pvcreate = lvm::pvcreate(to_label, req.force);
    if (!pvcreate)
      return pvcreate.error();
    plan.push_back(std::move(*pvcreate));
  }
  auto vgextend = lvm::vgextend(req.name, added, req.force);
  if (!vgextend)
    return vgextend.error();
  plan.push_back(std::move(*vgextend));
  return plan;
}

caf::expected<std::vector<std::string>> extend_volume_group(const create_vg_req& req,
                                                            const std::string& sysfs) {
  return plan_and_run(req, sysfs, plan_extend_vg);
}

} // namespace olocal
