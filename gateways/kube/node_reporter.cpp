#include "gateways/kube/node_reporter.hpp"

#include "actors/backends/filesystem.hpp"
#include "actors/backends/lvm.hpp"
#include "actors/core/errc.hpp"
#include "actors/core/inspect.hpp"
#include "actors/core/log.hpp"
#include "actors/node/name_filter.hpp"
#include "gateways/kube/client.hpp"
#include "gateways/kube/events.hpp"
#include "gateways/kube/informer.hpp"
#include "gateways/kube/node_init.hpp"
#include "gateways/kube/writer.hpp"

#include <caf/all.hpp>

#include <boost/json/serialize.hpp>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <set>
#include <sstream>

namespace olocal::kube {

namespace {

namespace json = boost::json;

/// Block devices the status lists: disks, partitions and loop devices with a
/// backing file (the LVs themselves, md and virtual devices are not disks).
bool reported(const block_device& d) {
  if (d.kind == "loop")
    return d.size_bytes > 0;
  return d.kind == "disk" || d.kind == "partition" || d.kind == "nvme";
}

std::vector<std::string> split_options(const std::string& text) {
  std::vector<std::string> out;
  std::stringstream in{text};
  std::string item;
  while (std::getline(in, item, ','))
    if (!item.empty())
      out.push_back(item);
  return out;
}

} // namespace

node_storage_facts facts_of(const node_view& view, const vg_options& ours,
                            const std::function<void(mount_fact&)>& mount_stats) {
  node_storage_facts f;
  for (auto& d : view.devices)
    if (reported(d))
      f.devices.push_back(device_fact{d.path.empty() ? "/dev/" + d.name : d.path, d.media_type(),
                                      d.size_bytes, d.read_only});
  for (auto& v : view.vgs) {
    vg_fact vg;
    vg.name = v.vg.name;
    vg.total = v.vg.size_bytes;
    vg.free = v.vg.free_bytes;
    for (auto& pv : v.pvs)
      vg.pvs.push_back(pv.name);
    std::map<std::string, uint64_t> virtual_of_pool;
    for (auto& lv : v.lvs)
      if (lv.is_thin_volume())
        virtual_of_pool[lv.pool_lv] += lv.size_bytes;
    for (auto& lv : v.lvs) {
      if (lv.hidden || lv.is_thin_volume())
        continue; // thin volumes take no extents of the group
      // A thin pool's extents serve thin volumes only: never allocatable to
      // thick ones, whoever made it.
      bool mine = !lv.is_thin_pool() && owned_by_us(lv, ours);
      vg.lvs.push_back(lv_fact{lv.name, lv.size_bytes, lv.read_only, mine});
      if (lv.is_thin_pool())
        vg.thin_pools.push_back(
          thin_pool_fact{lv.name, lv.size_bytes, std::max(0.0, lv.data_percent),
                         std::max(0.0, lv.metadata_percent), virtual_of_pool[lv.name]});
    }
    f.vgs.push_back(std::move(vg));
  }
  for (auto& c : view.claimables) {
    if (c.kind != "MountPoint")
      continue;
    mount_fact m;
    m.path = c.path;
    m.fs_type = c.fstype;
    m.total = c.size_bytes;
    if (mount_stats)
      mount_stats(m);
    f.mounts.push_back(std::move(m));
  }
  return f;
}

std::string block_fingerprint(const std::string& sysfs) {
  std::error_code ec;
  std::set<std::string> entries;
  auto size_of = [](const std::filesystem::path& dir) {
    std::ifstream in{dir / "size"};
    std::string s;
    std::getline(in, s);
    return s;
  };
  for (auto& dev : std::filesystem::directory_iterator(sysfs + "/block", ec)) {
    auto name = dev.path().filename().string();
    entries.insert(name + "=" + size_of(dev.path()));
    std::error_code ec2;
    for (auto& sub : std::filesystem::directory_iterator(dev.path(), ec2))
      if (sub.path().filename().string().rfind(name, 0) == 0)
        entries.insert(sub.path().filename().string() + "=" + size_of(sub.path()));
  }
  std::string out;
  for (auto& e : entries)
    out += e + ";";
  return out;
}

std::vector<std::string> managed_vgs(const nls_spec& spec, const std::vector<std::string>& present,
                                     const std::vector<std::string>& static_vgs) {
  std::set<std::string> out(static_vgs.begin(), static_vgs.end());
  if (auto filter = name_filter::make(spec.list.vgs.include, spec.list.vgs.exclude))
    for (auto& name : filter->select(present))
      out.insert(name);
  return {out.begin(), out.end()};
}

namespace {

struct reporter_state {
  static inline const char* name = "kube-node-reporter";
  std::shared_ptr<client> api;
  node_supervisor_actor node;
  node_reporter_options opts;
  std::unique_ptr<event_recorder> events;
  informer_actor informer;
  bool informer_synced = false;
  std::optional<object> nls;           ///< our NodeLocalStorage as last seen
  std::optional<json::object> written; ///< the status last written
  std::chrono::steady_clock::time_point written_at{};
  std::string fingerprint;
  std::set<std::string> warned; ///< warnings already raised as Events
  bool busy = false;            ///< a report is under way
  /// The spec must be applied (first time, spec or devices changed, or a
  /// resource failed and its retry is due).
  bool apply_pending = true;
  std::optional<init_backoff> backoff;
  uint64_t writes = 0, heartbeats = 0, unchanged = 0, failures = 0;
  std::string last_error;
};

using reporter_pointer = caf::stateful_actor<reporter_state>*;

void fill_mount(mount_fact& m) {
  if (auto st = fs_ops::stats(m.path)) {
    m.total = st->total_bytes;
    m.available = st->available_bytes;
  }
  if (auto entry = fs_ops::find_mount(m.path); entry && *entry) {
    m.device = (*entry)->source;
    m.options = split_options((*entry)->options);
    m.read_only = (*entry)->read_only;
    if (m.fs_type.empty())
      m.fs_type = (*entry)->fstype;
  }
}

void warn_once(reporter_pointer self, const std::string& reason, const std::string& message) {
  auto& st = self->state;
  if (!st.warned.insert(reason + "/" + message).second || !st.nls)
    return;
  log::warn("kube-node-reporter", message, {{"reason", reason}});
  st.events->record(*st.nls, "Warning", reason, message);
}

/// Creates our NodeLocalStorage when the informer has synced without it.
void ensure_nls(reporter_pointer self) {
  auto& st = self->state;
  if (st.nls || !st.informer_synced)
    return;
  object fresh{json::object{{"apiVersion", kinds::node_local_storage.api_version()},
                            {"kind", "NodeLocalStorage"},
                            {"metadata", {{"name", st.opts.node_name}}},
                            {"spec", {{"nodeName", st.opts.node_name}}}}};
  auto made = create(*st.api, kinds::node_local_storage, fresh);
  if (made)
    st.nls = *made;
  else if (code_of(made.error()) != errc::already_exists)
    log::warn("kube-node-reporter", "cannot create NodeLocalStorage " + st.opts.node_name,
              {{"error", render(made.error())}});
}

void report(reporter_pointer self, const node_view& view) {
  auto& st = self->state;
  ensure_nls(self);
  if (!st.nls)
    return;
  auto spec_doc = st.nls->at_path("spec");
  auto spec = parse_nls_spec(spec_doc != nullptr ? *spec_doc : json::value{});
  if (!spec) {
    warn_once(self, "InvalidSpec", render(spec.error()));
    spec = nls_spec{};
  }
  auto facts = facts_of(view, st.opts.vg, fill_mount);
  std::optional<json::object> previous = st.written;
  if (!previous)
    if (auto* s = st.nls->at_path("status"); s != nullptr && s->is_object())
      previous = s->get_object();
  std::vector<std::string> warnings;
  auto status = build_status(facts, *spec, st.nls->annotations(), time_now(), previous, &warnings);
  for (auto& w : warnings)
    warn_once(self, "InvalidConfiguration", w);
  auto now = std::chrono::steady_clock::now();
  bool changed = !previous || status_changed(status, *previous);
  bool heartbeat_due = now - st.written_at >= st.opts.heartbeat;
  if (!changed && !heartbeat_due) {
    ++st.unchanged;
    return;
  }
  auto updated = update(
    *st.api, kinds::node_local_storage, "", st.opts.node_name,
    [&](object& o) {
      o.mutable_json()["status"] = status;
      return true;
    },
    true);
  if (!updated) {
    ++st.failures;
    st.last_error = render(updated.error());
    log::warn("kube-node-reporter", "cannot write the NodeLocalStorage status",
              {{"node", st.opts.node_name}, {"error", render(updated.error())}});
    if (code_of(updated.error()) == errc::not_found)
      st.nls.reset(); // deleted under us: create it again next time
    return;
  }
  st.nls = *updated;
  st.written = status;
  st.written_at = now;
  ++(changed ? st.writes : st.heartbeats);
}

std::vector<std::string> volume_group_names() {
  std::vector<std::string> names;
  auto argv = lvm::report_argv(lvm::report_kind::vgs);
  auto out =
    argv ? lvm::run_lvm(*argv, std::chrono::seconds{60}) : caf::expected<std::string>{argv.error()};
  auto vgs = out ? lvm::parse_vgs(*out) : caf::expected<std::vector<lvm::vg_info>>{out.error()};
  if (!vgs) {
    log::warn("kube-node-reporter", "cannot list the volume groups",
              {{"error", render(vgs.error())}});
    return names;
  }
  for (auto& vg : *vgs)
    names.push_back(vg.name);
  return names;
}

std::string event_reason(const std::string& resource) {
  // open-local's reason for a VG it could not create, ours for mount points.
  return resource.rfind("vg:", 0) == 0 ? "CreateVGFailed" : "InitMountPointFailed";
}

/// Applies the spec (blocking: this is a detached actor): initialization,
/// then the groups to manage. Leaves apply_pending set while a resource
/// still fails, so that its retry runs when the backoff allows.
void apply_spec(reporter_pointer self, const nls_spec& spec) {
  auto& st = self->state;
  auto now = std::chrono::steady_clock::now();
  std::vector<std::string> resources;
  for (auto& vg : spec.init.vgs)
    resources.push_back(vg_resource(vg));
  for (auto& mp : spec.init.mountpoints)
    resources.push_back(mountpoint_resource(mp));
  st.backoff->retain(resources);
  bool failing = false;
  bool due = std::any_of(resources.begin(), resources.end(),
                         [&](const std::string& r) { return st.backoff->due(r, now); });
  if (due) {
    auto report = run_init(spec.init, st.opts.force_init, st.opts.sysfs);
    for (auto& o : report.outcomes) {
      if (o.ok) {
        st.backoff->succeeded(o.resource);
        if (o.changed) {
          log::info("kube-node-reporter", "initialized " + o.resource, {{"what", o.reason}});
          if (st.nls)
            st.events->record(*st.nls, "Normal", "Initialized", o.resource + ": " + o.reason);
        }
        continue;
      }
      failing = true;
      if (st.backoff->failed(o.resource, now, o.reason)) {
        auto retry =
          std::chrono::duration_cast<std::chrono::milliseconds>(st.backoff->delay(o.resource));
        log::warn("kube-node-reporter", "cannot initialize " + o.resource,
                  {{"reason", o.reason}, {"retry_in_ms", retry.count()}});
        if (st.nls)
          st.events->record(*st.nls, "Warning", event_reason(o.resource),
                            o.resource + ": " + o.reason);
      }
    }
  } else if (!resources.empty()) {
    failing = true; // a failed resource waits for its retry
  }
  // Which groups exist (one lvm process; only when something changed).
  auto present = st.opts.list_vgs ? st.opts.list_vgs() : volume_group_names();
  auto wanted = managed_vgs(spec, present, st.opts.static_vgs);
  if (!wanted.empty())
    self->request(st.node, std::chrono::seconds{120}, manage_vgs_req{wanted})
      .then([](uint64_t) {},
            [](caf::error& err) {
              log::warn("kube-node-reporter", "cannot manage the selected volume groups",
                        {{"error", render(err)}});
            });
  st.apply_pending = failing;
}

void poll(reporter_pointer self) {
  auto& st = self->state;
  if (st.busy)
    return;
  st.busy = true;
  auto fp = block_fingerprint(st.opts.sysfs);
  if (fp != st.fingerprint)
    st.apply_pending = true;
  if (st.apply_pending && st.nls) {
    auto* doc = st.nls->at_path("spec");
    if (auto spec = parse_nls_spec(doc != nullptr ? *doc : json::value{}))
      apply_spec(self, *spec);
    else
      st.apply_pending = false; // reported as InvalidSpec with the status
  }
  auto with_view = [self] {
    self->request(self->state.node, std::chrono::seconds{30}, get_atom::value)
      .then(
        [self](node_view& view) {
          report(self, view);
          self->state.busy = false;
        },
        [self](caf::error& err) {
          ++self->state.failures;
          log::warn("kube-node-reporter", "no node view", {{"error", render(err)}});
          self->state.busy = false;
        });
  };
  if (fp != st.fingerprint && !st.fingerprint.empty()) {
    // Something appeared, went or grew under us: rescan before reporting.
    st.fingerprint = fp;
    self->request(st.node, std::chrono::seconds{120}, rescan_atom::value)
      .then([with_view](uint64_t) { with_view(); }, [with_view](caf::error&) { with_view(); });
    return;
  }
  st.fingerprint = fp;
  with_view();
}

} // namespace

caf::actor spawn_node_reporter(caf::actor_system& sys, std::shared_ptr<client> api,
                               node_supervisor_actor node, node_reporter_options opts) {
  return sys.spawn<caf::detached>(
    [api = std::move(api), node = std::move(node),
     opts = std::move(opts)](reporter_pointer self) mutable -> caf::behavior {
      auto& st = self->state;
      st.api = api;
      st.node = node;
      st.opts = opts;
      st.events = std::make_unique<event_recorder>(api, "open-local-agent", opts.node_name);
      st.backoff.emplace(opts.init_retry, opts.init_retry_cap);
      informer_options io;
      io.kind = &kinds::node_local_storage;
      io.field_selector = "metadata.name=" + opts.node_name;
      st.informer = spawn_informer(self->system(), api, io);
      self->link_to(st.informer);
      caf::anon_send(st.informer, subscribe_atom::value, caf::actor{self});
      self->request(st.informer, caf::infinite, synced_atom::value).then([self](bool) {
        self->state.informer_synced = true;
        poll(self);
      });
      self->delayed_send(self, self->state.opts.poll, tick_atom::value);
      return {
        [self](tick_atom) {
          poll(self);
          self->delayed_send(self, self->state.opts.poll, tick_atom::value);
        },
        [self](inspect_atom) {
          auto& st = self->state;
          auto summary = std::to_string(st.writes) + " status writes, " +
                         std::to_string(st.heartbeats) + " heartbeats, " +
                         std::to_string(st.failures) + " failures";
          json::object state{
            {"node", st.opts.node_name}, {"nodeLocalStorageKnown", st.nls.has_value()},
            {"writes", st.writes},       {"heartbeats", st.heartbeats},
            {"unchanged", st.unchanged}, {"failures", st.failures}};
          return make_report(self, summary, st.last_error, json::serialize(state));
        },
        [self](const watch_event& ev) {
          auto& st = self->state;
          if (ev.obj.name() != st.opts.node_name)
            return;
          if (ev.type == "DELETED") {
            st.nls.reset();
            st.written.reset();
            return;
          }
          bool spec_changed = !st.nls || st.nls->generation() != ev.obj.generation() ||
                              st.nls->annotations() != ev.obj.annotations();
          st.nls = ev.obj;
          if (spec_changed)
            st.apply_pending = true;
          if (spec_changed && st.informer_synced)
            poll(self); // a new listConfig or reservation shows at once
        },
      };
    });
}

} // namespace olocal::kube
