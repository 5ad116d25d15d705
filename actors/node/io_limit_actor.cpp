#include "actors/node/io_limit_actor.hpp"

#include "actors/core/errc.hpp"
#include "actors/core/inspect.hpp"
#include "actors/core/json.hpp"
#include "actors/core/log.hpp"
#include "actors/core/state_file.hpp"
#include "actors/node/io_limits.hpp"

#include <caf/all.hpp>

#include <chrono>
#include <filesystem>
#include <map>
#include <utility>

namespace olocal {

namespace fs = std::filesystem;
using io_limits::cgroup_mode;

namespace {

constexpr std::string_view who = "io-limits";

/// One limit in force: a volume published at one target.
struct limit_entry {
  set_io_limit req;
  std::string dev;                  ///< "MAJ:MIN"
  std::vector<std::string> cgroups; ///< carrying the limit at the last apply
  int64_t applied_at_ms = 0;        ///< last time a file was written
  int64_t checked_at_ms = 0;        ///< last apply or reconcile
  uint64_t writes = 0;              ///< applies that wrote something
  std::string last_error;           ///< rendered, "" while in force
};

struct io_limit_state {
  io_limit_options opts;
  cgroup_mode mode = cgroup_mode::v2;
  fs::path hierarchy;
  std::map<std::pair<std::string, std::string>, limit_entry> limits; ///< (volume, target)
  uint64_t errors = 0;
  uint64_t reconciles = 0;
  std::string last_error;
  std::string saved; ///< the state file's content as last written
  static inline const char* name = "io-limits";
};

using io_pointer = io_limit_actor::stateful_pointer<io_limit_state>;

int64_t now_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
           std::chrono::system_clock::now().time_since_epoch())
    .count();
}

void count_error(io_limit_state& st, std::string_view reason, const caf::error& err) {
  ++st.errors;
  st.last_error = render(err);
  if (st.opts.on_error)
    st.opts.on_error(reason);
}

void report_in_force(const io_limit_state& st) {
  if (!st.opts.on_in_force)
    return;
  std::map<std::string, uint64_t> n{
    {"read_bps", 0}, {"write_bps", 0}, {"read_iops", 0}, {"write_iops", 0}};
  for (auto& [key, e] : st.limits) {
    if (!e.last_error.empty())
      continue;
    auto& l = e.req.limit;
    n["read_bps"] += l.read_bps != 0;
    n["write_bps"] += l.write_bps != 0;
    n["read_iops"] += l.read_iops != 0;
    n["write_iops"] += l.write_iops != 0;
  }
  st.opts.on_in_force(n);
}

/// The cgroup(s) a request limits: explicit > the pod's > the standalone
/// parent. not_found names what was looked for and where.
caf::expected<std::vector<fs::path>> targets_of(const io_limit_state& st, const set_io_limit& r) {
  auto named = [&](const std::string& name,
                   std::string_view what) -> caf::expected<std::vector<fs::path>> {
    auto cg = io_limits::named_cgroup(st.hierarchy, name);
    if (!cg)
      return cg.error();
    std::error_code ec;
    if (!fs::is_directory(*cg, ec))
      return make_error(errc::not_found, std::string{what} + " " + name + " does not exist under " +
                                           st.hierarchy.string());
    return std::vector<fs::path>{*cg};
  };
  if (!r.cgroup.empty())
    return named(r.cgroup, "cgroup");
  if (!r.pod_uid.empty()) {
    auto found = io_limits::pod_cgroups(st.hierarchy, r.pod_uid);
    if (found.empty())
      return make_error(errc::not_found, "no cgroup for pod " + r.pod_uid + " under " +
                                           st.hierarchy.string() + " (driver cgroupfs or systemd)");
    return found;
  }
  if (!st.opts.standalone_parent.empty())
    return named(st.opts.standalone_parent, "parent cgroup");
  return make_error(errc::invalid_argument,
                    "no cgroup to limit for volume " + r.volume_id + ": target " + r.target_path +
                      " names no pod, the publish no cgroup (olocal/cgroup) and no parent cgroup "
                      "is configured");
}

/// Makes the limit true in every cgroup it belongs in; answers those cgroups.
caf::expected<std::vector<std::string>> apply(io_limit_state& st, limit_entry& e) {
  e.checked_at_ms = now_ms();
  auto roots = targets_of(st, e.req);
  if (!roots)
    return roots.error();
  std::vector<std::string> written;
  bool changed = false;
  for (auto& root : *roots)
    for (auto& cg : io_limits::cgroups_to_write(root, st.mode)) {
      auto wrote = io_limits::write_limit(cg, st.mode, e.dev, e.req.limit);
      std::error_code ec;
      if (!wrote && cg != root && !fs::exists(cg, ec))
        continue; // a container's cgroup went away meanwhile
      if (!wrote)
        return wrote.error();
      changed = changed || *wrote;
      written.push_back(cg.string());
    }
  e.cgroups = written;
  if (changed) {
    e.applied_at_ms = e.checked_at_ms;
    ++e.writes;
  }
  return written;
}

/// Removes the limit from the cgroups that carry it (gone ones need nothing).
caf::error remove(io_limit_state& st, const limit_entry& e) {
  if (e.dev.empty())
    return {}; // never applied: its device was not found
  for (auto& [key, other] : st.limits)
    if (&other != &e && other.dev == e.dev)
      return {}; // the device is still limited for another target
  std::vector<fs::path> roots;
  if (auto found = targets_of(st, e.req))
    roots = std::move(*found);
  for (auto& c : e.cgroups)
    roots.emplace_back(c);
  for (auto& root : roots) {
    std::error_code ec;
    if (!fs::is_directory(root, ec))
      continue;
    for (auto& cg : io_limits::cgroups_to_write(root, st.mode)) {
      auto wrote = io_limits::write_limit(cg, st.mode, e.dev, io_limit{});
      if (!wrote && fs::exists(cg, ec))
        return wrote.error();
    }
  }
  return {};
}

std::string_view reason_of(const caf::error& err) {
  switch (code_of(err)) {
  case errc::not_found:
    return "no_cgroup";
  case errc::invalid_argument:
    return "bad_request";
  default:
    return "write_failed";
  }
}

/// Keeps the state file equal to the limits registered (a failure is
/// counted and logged: the limits stay in force, only a restart would not
/// know them).
void persist(io_limit_state& st) {
  if (st.opts.state_file.empty())
    return;
  std::vector<set_io_limit> all;
  all.reserve(st.limits.size());
  for (auto& [key, e] : st.limits)
    all.push_back(e.req);
  auto text = io_limits::limits_to_json(all);
  if (text == st.saved)
    return;
  if (auto wrote = write_state_file(st.opts.state_file, text, "IO limits file"); !wrote) {
    count_error(st, "persist_failed", wrote.error());
    log::warn(who, "limits not saved (a restart would not restore them)",
              {{"file", st.opts.state_file}, {"error", render(wrote.error())}});
    return;
  }
  st.saved = std::move(text);
}

/// Registers `req` for device `dev` (replacing what was set for its target)
/// and makes it true. A failure leaves it registered: every reconcile
/// tries again.
caf::expected<std::vector<std::string>> track(io_limit_state& st, set_io_limit req, dev_t dev) {
  std::pair key{req.volume_id, req.target_path};
  limit_entry e;
  e.dev = io_limits::device_number(dev);
  e.req = std::move(req);
  auto it = st.limits.find(key);
  if (it != st.limits.end()) {
    // Same target again (kubelet retries): keep the history, take the news.
    e.applied_at_ms = it->second.applied_at_ms;
    e.writes = it->second.writes;
    // Another device: its rule goes (a changed limit is simply rewritten).
    if (it->second.dev != e.dev)
      if (auto err = remove(st, it->second))
        log::warn(who, "old limit not removed",
                  {{"volume", e.req.volume_id}, {"error", render(err)}});
    it->second = std::move(e);
  } else {
    it = st.limits.emplace(key, std::move(e)).first;
  }
  auto& entry = it->second;
  auto written = apply(st, entry);
  if (!written) {
    entry.last_error = render(written.error());
    count_error(st, reason_of(written.error()), written.error());
    log::warn(who, "limit not applied (retried at every reconcile)",
              {{"volume", entry.req.volume_id},
               {"pod", entry.req.pod_uid},
               {"device", entry.dev},
               {"error", entry.last_error}});
    return written.error();
  }
  entry.last_error.clear();
  log::info(who, "limit applied",
            {{"volume", entry.req.volume_id},
             {"pod", entry.req.pod_uid},
             {"device", entry.dev},
             {"io.max", io_limits::io_max_line(entry.dev, entry.req.limit)},
             {"cgroups", written->size()}});
  return written;
}

caf::expected<dev_t> device_of(const io_limit_state& st, const std::string& device) {
  return st.opts.resolve_device ? st.opts.resolve_device(device)
                                : io_limits::block_device_number(device);
}

caf::result<std::vector<std::string>> set(io_pointer self, set_io_limit& req) {
  auto& st = self->state;
  if (req.volume_id.empty() || req.target_path.empty()) {
    auto err =
      make_error(errc::invalid_argument, "set_io_limit: volume_id and target_path are required");
    count_error(st, "bad_request", err);
    return err;
  }
  if (req.limit.empty()) {
    // Nothing to limit: a limit set before for this target goes.
    if (auto it = st.limits.find({req.volume_id, req.target_path}); it != st.limits.end()) {
      if (auto err = remove(st, it->second))
        return err;
      st.limits.erase(it);
      persist(st);
      report_in_force(st);
    }
    return std::vector<std::string>{};
  }
  auto dev = device_of(st, req.device);
  if (!dev) {
    count_error(st, "bad_device", dev.error());
    return dev.error();
  }
  auto written = track(st, std::move(req), *dev);
  persist(st);
  report_in_force(st);
  if (!written)
    return written.error();
  return std::move(*written);
}

/// At start: the limits of the state file registered and made true again.
/// A device not there yet (its volume group not activated) stays registered
/// and is looked up again at every reconcile.
void restore(io_limit_state& st, std::vector<set_io_limit> saved) {
  for (auto& req : saved) {
    auto dev = device_of(st, req.device);
    if (dev) {
      (void) track(st, std::move(req), *dev); // failures are logged, counted and retried
      continue;
    }
    limit_entry e;
    e.last_error = render(dev.error());
    count_error(st, "bad_device", dev.error());
    log::warn(who, "saved limit waits for its device",
              {{"volume", req.volume_id}, {"device", req.device}, {"error", e.last_error}});
    std::pair key{req.volume_id, req.target_path};
    e.req = std::move(req);
    st.limits.emplace(std::move(key), std::move(e));
  }
  log::info(who, "limits restored", {{"file", st.opts.state_file}, {"limits", st.limits.size()}});
  report_in_force(st);
}

caf::result<bool> clear(io_pointer self, const clear_io_limit& req) {
  auto& st = self->state;
  auto it = st.limits.find({req.volume_id, req.target_path});
  if (it == st.limits.end())
    return false;
  if (auto err = remove(st, it->second)) {
    count_error(st, "write_failed", err);
    return err;
  }
  log::info(
    who, "limit removed",
    {{"volume", req.volume_id}, {"pod", it->second.req.pod_uid}, {"device", it->second.dev}});
  st.limits.erase(it);
  persist(st);
  report_in_force(st);
  return true;
}

void reconcile(io_pointer self) {
  auto& st = self->state;
  ++st.reconciles;
  for (auto& [key, e] : st.limits) {
    if (e.dev.empty()) { // restored before its device appeared
      auto dev = device_of(st, e.req.device);
      if (!dev) {
        e.last_error = render(dev.error());
        count_error(st, "bad_device", dev.error());
        if (st.opts.on_not_in_force)
          st.opts.on_not_in_force(e.req, message_of(dev.error()));
        continue;
      }
      e.dev = io_limits::device_number(*dev);
    }
    auto before = e.writes;
    auto written = apply(st, e);
    if (!written) {
      e.last_error = render(written.error());
      count_error(st, reason_of(written.error()), written.error());
      log::warn(who, "limit not in force",
                {{"volume", e.req.volume_id}, {"pod", e.req.pod_uid}, {"error", e.last_error}});
      if (st.opts.on_not_in_force)
        st.opts.on_not_in_force(e.req, message_of(written.error()));
      continue;
    }
    if (!e.last_error.empty() || e.writes != before)
      log::info(
        who, "limit re-applied",
        {{"volume", e.req.volume_id}, {"pod", e.req.pod_uid}, {"cgroups", written->size()}});
    e.last_error.clear();
  }
  report_in_force(st);
}

std::string limit_json(const io_limit& l) {
  return "{\"readBps\":" + std::to_string(l.read_bps) +
         ",\"writeBps\":" + std::to_string(l.write_bps) +
         ",\"readIops\":" + std::to_string(l.read_iops) +
         ",\"writeIops\":" + std::to_string(l.write_iops) + "}";
}

std::string state_json(const io_limit_state& st) {
  std::string out =
    "{\"mode\":" + json_quote(io_limits::to_string(st.mode)) +
    ",\"hierarchy\":" + json_quote(st.hierarchy.string()) +
    ",\"reconcileIntervalMs\":" + std::to_string(st.opts.reconcile_interval.count()) +
    ",\"standaloneParent\":" + json_quote(st.opts.standalone_parent) +
    ",\"errors\":" + std::to_string(st.errors) +
    ",\"reconciles\":" + std::to_string(st.reconciles) + ",\"limits\":[";
  bool first = true;
  for (auto& [key, e] : st.limits) {
    if (!first)
      out += ',';
    first = false;
    out += "{\"volume\":" + json_quote(e.req.volume_id) +
           ",\"target\":" + json_quote(e.req.target_path) +
           ",\"pod\":" + json_quote(e.req.pod_uid) + ",\"cgroup\":" + json_quote(e.req.cgroup) +
           ",\"device\":" + json_quote(e.req.device) + ",\"deviceNumber\":" + json_quote(e.dev) +
           ",\"limit\":" + limit_json(e.req.limit) + ",\"cgroups\":[";
    for (size_t i = 0; i < e.cgroups.size(); ++i)
      out += (i ? "," : "") + json_quote(e.cgroups[i]);
    out += "],\"appliedAtMs\":" + std::to_string(e.applied_at_ms) +
           ",\"checkedAtMs\":" + std::to_string(e.checked_at_ms) +
           ",\"writes\":" + std::to_string(e.writes) +
           ",\"lastError\":" + json_quote(e.last_error) + "}";
  }
  return out + "]}";
}

/// What the state file holds; `saved` is set to its content.
struct loaded_limits {
  std::vector<set_io_limit> limits;
  std::string text;
};

io_limit_actor::behavior_type io_limit_impl(io_pointer self, io_limit_options opts,
                                            cgroup_mode mode, loaded_limits loaded) {
  auto& st = self->state;
  st.opts = std::move(opts);
  st.mode = mode;
  st.hierarchy = io_limits::hierarchy_of(st.opts.cgroup_root, mode);
  st.saved = std::move(loaded.text);
  log::info(who, "started",
            {{"mode", io_limits::to_string(mode)}, {"hierarchy", st.hierarchy.string()}});
  if (!loaded.limits.empty())
    restore(st, std::move(loaded.limits));
  auto interval = st.opts.reconcile_interval;
  if (interval.count() > 0)
    self->delayed_send(self, interval, tick_atom::value);
  return {
    [self](set_io_limit& req) { return set(self, req); },
    [self](clear_io_limit& req) { return clear(self, req); },
    [self](tick_atom) {
      reconcile(self);
      auto interval = self->state.opts.reconcile_interval;
      if (interval.count() > 0)
        self->delayed_send(self, interval, tick_atom::value);
    },
    [self](inspect_atom) {
      auto& st = self->state;
      size_t failing = 0;
      for (auto& [key, e] : st.limits)
        failing += !e.last_error.empty();
      auto summary = std::to_string(st.limits.size()) + " limits (" + std::to_string(failing) +
                     " not in force), cgroup " + std::string{io_limits::to_string(st.mode)} +
                     " at " + st.hierarchy.string();
      return make_report(self, std::move(summary), st.last_error, state_json(st));
    },
  };
}

} // namespace

caf::expected<io_limit_actor> spawn_io_limit_actor(caf::actor_system& sys, io_limit_options opts) {
  cgroup_mode mode;
  if (opts.mode == "auto")
    mode = io_limits::detect_mode(opts.cgroup_root);
  else if (opts.mode == "v1")
    mode = cgroup_mode::v1;
  else if (opts.mode == "v2")
    mode = cgroup_mode::v2;
  else
    return make_error(errc::config_invalid,
                      "cgroup mode \"" + opts.mode + "\": expected auto, v1 or v2");
  loaded_limits loaded;
  if (!opts.state_file.empty()) {
    auto text = read_state_file(opts.state_file, "IO limits file");
    if (!text)
      return text.error();
    if (*text) {
      auto limits = io_limits::limits_from_json(**text, opts.state_file);
      if (!limits)
        return make_error(code_of(limits.error()),
                          message_of(limits.error()) +
                            " (repair or move the file: it records the IO limits in force)");
      loaded.limits = std::move(*limits);
      loaded.text = std::move(**text);
    } else {
      loaded.text = io_limits::limits_to_json({}); // nothing to write until a limit is set
    }
  }
  if (opts.detached)
    return sys.spawn<caf::detached>(io_limit_impl, std::move(opts), mode, std::move(loaded));
  return sys.spawn(io_limit_impl, std::move(opts), mode, std::move(loaded));
}

std::string io_limits_path(const std::string& state_dir) {
  return (fs::path{state_dir} / "io-limits.json").string();
}

} // namespace olocal
