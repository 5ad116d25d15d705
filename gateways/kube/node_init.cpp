#include "gateways/kube/node_init.hpp"

#include "actors/backends/filesystem.hpp"
#include "actors/core/log.hpp"

#include <algorithm>
#include <filesystem>
#include <optional>
#include <set>
#include <string_view>

namespace olocal::kube {

namespace {

/// Signatures that name a filesystem (detect_signatures' vocabulary).
constexpr std::string_view filesystem_signatures[] = {"ext4",  "ext3", "ext2",   "xfs",
                                                      "btrfs", "vfat", "iso9660"};

bool is_filesystem(const std::string& signature) {
  return std::find(std::begin(filesystem_signatures), std::end(filesystem_signatures), signature) !=
         std::end(filesystem_signatures);
}

std::string join(const std::vector<std::string>& items) {
  std::string out;
  for (auto& item : items)
    out += (out.empty() ? "" : ", ") + item;
  return out;
}

std::string resolve(const init_facts& facts, const std::string& path) {
  auto it = facts.resolved.find(path);
  return it == facts.resolved.end() ? path : it->second;
}

/// Which resources list each (resolved) device.
std::map<std::string, std::vector<std::string>> device_users(const resources_to_init& spec,
                                                             const init_facts& facts) {
  std::map<std::string, std::vector<std::string>> users;
  for (auto& vg : spec.vgs) {
    std::set<std::string> seen;
    for (auto& dev : vg.devices)
      if (seen.insert(resolve(facts, dev)).second)
        users[resolve(facts, dev)].push_back(vg_resource(vg));
  }
  for (auto& mp : spec.mountpoints)
    users[resolve(facts, mp.device)].push_back(mountpoint_resource(mp));
  return users;
}

/// A refusal when one of `devices` is also listed by another resource.
std::optional<init_refusal>
shared_device(const std::string& resource, const std::vector<std::string>& devices,
              const std::map<std::string, std::vector<std::string>>& users,
              const init_facts& facts) {
  for (auto& dev : devices) {
    auto it = users.find(resolve(facts, dev));
    if (it == users.end())
      continue;
    for (auto& other : it->second)
      if (other != resource)
        return init_refusal{resource, errc::conflict,
                            "device " + dev + " is also listed by " + other +
                              "; a device serves one resource"};
  }
  return std::nullopt;
}

init_refusal refusal(const std::string& resource, const caf::error& err) {
  return {resource, code_of(err), render(err)};
}

void plan_vg(const vg_to_init& vg, const init_facts& facts, bool force, init_plan& plan) {
  auto resource = vg_resource(vg);
  create_vg_req req{vg.name, {}, force};
  for (auto& dev : vg.devices)
    req.devices.push_back(resolve(facts, dev));
  vg_setup_facts vg_facts{facts.devices, facts.pvs};
  std::set<std::string> members;
  for (auto& pv : facts.pvs)
    if (pv.vg_name == vg.name)
      members.insert(pv.name);
  if (members.empty()) {
    auto commands = plan_create_vg(req, vg_facts);
    if (!commands) {
      plan.refusals.push_back(refusal(resource, commands.error()));
      return;
    }
    plan.actions.push_back(
      {init_action::kind::create_vg, resource, req, {}, std::move(*commands), force});
    return;
  }
  auto commands = plan_extend_vg(req, vg_facts);
  if (!commands) {
    plan.refusals.push_back(refusal(resource, commands.error()));
    return;
  }
  if (commands->empty()) {
    plan.unchanged.push_back(resource);
    return;
  }
  plan.actions.push_back(
    {init_action::kind::extend_vg, resource, req, {}, std::move(*commands), force});
}

void plan_mountpoint(const mountpoint_to_init& spec_mp, const init_facts& facts, bool force,
                     init_plan& plan) {
  auto resource = mountpoint_resource(spec_mp);
  auto refuse = [&](errc code, std::string reason) {
    plan.refusals.push_back({resource, code, std::move(reason)});
  };
  auto mp = spec_mp;
  if (mp.fs_type.empty())
    mp.fs_type = "ext4";
  if (std::find(std::begin(fs_ops::supported_filesystems), std::end(fs_ops::supported_filesystems),
                mp.fs_type) == std::end(fs_ops::supported_filesystems))
    return refuse(errc::invalid_argument, "fsType " + mp.fs_type + " is not supported");
  if (auto opts = fs_ops::parse_mount_options(mp.options); !opts)
    return refuse(errc::invalid_argument, render(opts.error()));
  mp.path = resolve(facts, spec_mp.path);
  mp.device = resolve(facts, spec_mp.device);
  auto dev = std::find_if(facts.devices.begin(), facts.devices.end(),
                          [&](const block_device& d) { return d.path == mp.device; });
  if (dev == facts.devices.end())
    return refuse(errc::not_found, "device " + spec_mp.device + " not found on this node");

  // What is mounted at the path (the topmost mount when several are stacked).
  auto top = std::find_if(facts.mounts.rbegin(), facts.mounts.rend(),
                          [&](const fs_ops::mount_entry& m) { return m.mount_point == mp.path; });
  if (top != facts.mounts.rend()) {
    if (top->major == dev->major && top->minor == dev->minor) {
      plan.unchanged.push_back(resource);
      return;
    }
    return refuse(errc::already_exists, "path " + spec_mp.path + " is already a mount point of " +
                                          top->source + " (" + top->fstype + ")");
  }
  if (!dev->mountpoints.empty())
    return refuse(errc::device_busy,
                  "device " + spec_mp.device + " is mounted at " + dev->mountpoints.front());
  if (dev->read_only)
    return refuse(errc::device_busy, "device " + spec_mp.device + " is read-only");
  if (!dev->holders.empty())
    return refuse(errc::device_busy,
                  "device " + spec_mp.device + " is held by " + dev->holders.front());
  if (!dev->partitions.empty())
    return refuse(errc::device_busy,
                  "device " + spec_mp.device + " has partitions (" + join(dev->partitions) + ")");
  if (!dev->probe_error.empty())
    return refuse(errc::device_busy,
                  "device " + spec_mp.device + " content unknown: " + dev->probe_error);
  for (auto& pv : facts.pvs)
    if (pv.name == mp.device && !pv.vg_name.empty())
      return refuse(errc::device_busy, "device " + spec_mp.device +
                                         " is a physical volume of volume group " + pv.vg_name +
                                         "; it is never taken");

  std::vector<std::string> filesystems;
  std::copy_if(dev->signatures.begin(), dev->signatures.end(), std::back_inserter(filesystems),
               is_filesystem);
  if (!filesystems.empty()) {
    // A filesystem is never formatted over, force or not.
    if (dev->signatures.size() != 1)
      return refuse(errc::device_busy, "device " + spec_mp.device + " holds " +
                                         join(dev->signatures) +
                                         "; a device with a filesystem is never formatted");
    if (filesystems.front() != mp.fs_type)
      return refuse(errc::failed_precondition,
                    "device " + spec_mp.device + " holds a " + filesystems.front() +
                      " filesystem, not " + mp.fs_type +
                      "; it is never formatted: fix fsType or clear the device by hand");
    plan.actions.push_back({init_action::kind::mount_existing, resource, {}, mp, {}, false});
    return;
  }
  if (!dev->signatures.empty() && !force)
    return refuse(errc::device_busy, "device " + spec_mp.device + " holds " +
                                       join(dev->signatures) +
                                       "; set force to format it and destroy its content");
  plan.actions.push_back(
    {init_action::kind::format_and_mount, resource, {}, mp, {}, !dev->signatures.empty()});
}

} // namespace

std::string vg_resource(const vg_to_init& vg) {
  return "vg:" + vg.name;
}

std::string mountpoint_resource(const mountpoint_to_init& mp) {
  return "mountpoint:" + mp.path;
}

init_plan plan_init(const resources_to_init& spec, const init_facts& facts, bool force) {
  init_plan plan;
  auto users = device_users(spec, facts);
  std::map<std::string, int> names;
  for (auto& vg : spec.vgs)
    ++names[vg_resource(vg)];
  for (auto& mp : spec.mountpoints)
    ++names[mountpoint_resource(mp)];
  auto listed_twice = [&](const std::string& resource) {
    if (names[resource] < 2)
      return false;
    plan.refusals.push_back(
      {resource, errc::invalid_argument, resource + " is listed more than once"});
    return true;
  };
  for (auto& vg : spec.vgs) {
    auto resource = vg_resource(vg);
    if (listed_twice(resource))
      continue;
    if (auto conflict = shared_device(resource, vg.devices, users, facts)) {
      plan.refusals.push_back(std::move(*conflict));
      continue;
    }
    plan_vg(vg, facts, force, plan);
  }
  for (auto& mp : spec.mountpoints) {
    auto resource = mountpoint_resource(mp);
    if (listed_twice(resource))
      continue;
    if (auto conflict = shared_device(resource, {mp.device}, users, facts)) {
      plan.refusals.push_back(std::move(*conflict));
      continue;
    }
    plan_mountpoint(mp, facts, force, plan);
  }
  return plan;
}

bool init_report::all_ok() const {
  return std::all_of(outcomes.begin(), outcomes.end(), [](const init_outcome& o) { return o.ok; });
}

// -- running ---------------------------------------------------------------------------

namespace {

void add_resolved(init_facts& facts, const std::string& path) {
  std::error_code ec;
  auto canonical = std::filesystem::weakly_canonical(path, ec);
  if (!ec && canonical.string() != path)
    facts.resolved[path] = canonical.string();
}

caf::expected<init_facts> read_init_facts(const resources_to_init& spec, const std::string& sysfs) {
  auto vg_facts = read_vg_setup_facts(sysfs);
  if (!vg_facts)
    return vg_facts.error();
  auto mounts = fs_ops::read_mounts();
  if (!mounts)
    return mounts.error();
  init_facts facts{std::move(vg_facts->devices), std::move(vg_facts->pvs), std::move(*mounts), {}};
  for (auto& vg : spec.vgs)
    for (auto& dev : vg.devices)
      add_resolved(facts, dev);
  for (auto& mp : spec.mountpoints) {
    add_resolved(facts, mp.device);
    add_resolved(facts, mp.path);
  }
  return facts;
}

init_outcome failure(const std::string& resource, const caf::error& err) {
  return {resource, false, render(err), false};
}

init_outcome run_vg(const init_action& action, const std::string& sysfs) {
  auto ran = action.what == init_action::kind::create_vg ? create_volume_group(action.vg, sysfs)
                                                         : extend_volume_group(action.vg, sysfs);
  if (!ran)
    return failure(action.resource, ran.error());
  if (ran->empty())
    return {action.resource, true, "", false};
  return {action.resource, true,
          std::string{action.what == init_action::kind::create_vg ? "created" : "grown"} + ": " +
            join(*ran),
          true};
}

init_outcome run_mountpoint(const init_action& action) {
  auto& mp = action.mountpoint;
  // Look again right before acting: what is on the device now decides.
  auto found = fs_ops::detect_filesystem(mp.device);
  if (!found)
    return failure(action.resource, found.error());
  std::string done;
  if (action.what == init_action::kind::mount_existing) {
    if (*found != mp.fs_type)
      return {action.resource, false,
              "device " + mp.device + " no longer holds " + mp.fs_type + " (found \"" + *found +
                "\"); not mounted",
              false};
  } else {
    if (!found->empty())
      return {action.resource, false,
              "device " + mp.device + " holds a " + *found +
                " filesystem now; it is never formatted",
              false};
    fs_ops::format_options opts;
    opts.force = action.force;
    log::info("node-init", "formatting",
              {{"device", mp.device}, {"fstype", mp.fs_type}, {"path", mp.path}});
    auto formatted = fs_ops::format(mp.device, mp.fs_type, opts);
    if (!formatted)
      return failure(action.resource, formatted.error());
    done = "formatted (" + *formatted + "), ";
  }
  if (auto dir = fs_ops::ensure_directory(mp.path); !dir)
    return failure(action.resource, dir.error());
  auto mounted = fs_ops::mount(mp.device, mp.path, mp.fs_type, mp.options);
  if (!mounted)
    return failure(action.resource, mounted.error());
  log::info("node-init", "mounted", {{"device", mp.device}, {"path", mp.path}});
  return {action.resource, true, done + "mounted " + mp.device + " at " + mp.path,
          *mounted || !done.empty()};
}

} // namespace

init_report run_init(const resources_to_init& spec, bool force, const std::string& sysfs) {
  init_report report;
  std::vector<std::string> order;
  for (auto& vg : spec.vgs)
    order.push_back(vg_resource(vg));
  for (auto& mp : spec.mountpoints)
    order.push_back(mountpoint_resource(mp));
  if (order.empty())
    return report;
  auto facts = read_init_facts(spec, sysfs);
  if (!facts) {
    for (auto& resource : order)
      report.outcomes.push_back(failure(resource, facts.error()));
    return report;
  }
  auto plan = plan_init(spec, *facts, force);
  for (auto& refused : plan.refusals)
    report.outcomes.push_back({refused.resource, false, refused.reason, false});
  for (auto& resource : plan.unchanged)
    report.outcomes.push_back({resource, true, "", false});
  for (auto& action : plan.actions) {
    bool vg =
      action.what == init_action::kind::create_vg || action.what == init_action::kind::extend_vg;
    report.outcomes.push_back(vg ? run_vg(action, sysfs) : run_mountpoint(action));
  }
  auto rank = [&](const init_outcome& o) {
    return std::find(order.begin(), order.end(), o.resource) - order.begin();
  };
  std::stable_sort(report.outcomes.begin(), report.outcomes.end(),
                   [&](const init_outcome& a, const init_outcome& b) { return rank(a) < rank(b); });
  return report;
}

// -- backoff -----------------------------------------------------------------------------

init_backoff::init_backoff(clock::duration initial, clock::duration cap)
  : initial_(initial), cap_(std::max(cap, initial)) {
}

bool init_backoff::due(const std::string& resource, clock::time_point now) const {
  auto it = entries_.find(resource);
  return it == entries_.end() || now >= it->second.next;
}

bool init_backoff::failed(const std::string& resource, clock::time_point now,
                          const std::string& reason) {
  auto& e = entries_[resource];
  ++e.failures;
  e.delay = e.failures == 1 ? initial_ : std::min(e.delay * 2, cap_);
  e.next = now + e.delay;
  bool report = e.failures == 1 || reason != e.reason;
  e.reason = reason;
  return report;
}

void init_backoff::succeeded(const std::string& resource) {
  entries_.erase(resource);
}

init_backoff::clock::duration init_backoff::delay(const std::string& resource) const {
  auto it = entries_.find(resource);
  return it == entries_.end() ? clock::duration{} : it->second.delay;
}

uint32_t init_backoff::failures(const std::string& resource) const {
  auto it = entries_.find(resource);
  return it == entries_.end() ? 0 : it->second.failures;
}

void init_backoff::retain(const std::vector<std::string>& resources) {
  std::erase_if(entries_, [&](const auto& kv) {
    return std::find(resources.begin(), resources.end(), kv.first) == resources.end();
  });
}

} // namespace olocal::kube
