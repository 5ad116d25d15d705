#include "gateways/kube/volume_gc.hpp"

#include "actors/core/errc.hpp"
#include "actors/core/inspect.hpp"
#include "actors/core/log.hpp"
#include "actors/node/vg_actor.hpp"
#include "gateways/kube/client.hpp"
#include "gateways/kube/informer.hpp"
#include "gateways/metrics/metrics.hpp"

#include <caf/all.hpp>

#include <boost/json/array.hpp>
#include <boost/json/object.hpp>
#include <boost/json/serialize.hpp>

#include <algorithm>
#include <charconv>
#include <deque>
#include <optional>

namespace olocal::kube {

std::string_view to_string(gc_policy policy) {
  switch (policy) {
  case gc_policy::off:
    return "off";
  case gc_policy::dry_run:
    return "dry-run";
  case gc_policy::remove:
    return "delete";
  }
  return "off";
}

caf::expected<gc_policy> parse_gc_policy(std::string_view text) {
  for (auto p : {gc_policy::off, gc_policy::dry_run, gc_policy::remove})
    if (text == to_string(p))
      return p;
  return make_error(errc::config_invalid, "volume GC policy \"" + std::string{text} +
                                            "\" is not one of off, dry-run, delete");
}

std::string pod_uid_of_target(std::string_view path) {
  static constexpr std::string_view marker = "/pods/";
  auto at = path.find(marker);
  if (at == std::string_view::npos)
    return {};
  auto rest = path.substr(at + marker.size());
  auto end = rest.find('/');
  if (end == std::string_view::npos || end == 0)
    return {};
  return std::string{rest.substr(0, end)};
}

namespace {

const char* gc_who = "volume-gc";

bool has_tag(const lvm::lv_info& lv, std::string_view tag) {
  return std::find(lv.tags.begin(), lv.tags.end(), tag) != lv.tags.end();
}

bool has_tag_prefix(const lvm::lv_info& lv, std::string_view prefix) {
  return std::any_of(lv.tags.begin(), lv.tags.end(), [&](const std::string& t) {
    return std::string_view{t}.substr(0, prefix.size()) == prefix;
  });
}

/// The kind the GC treats the LV as: volume, snapshot, ephemeral, or "" (never touched).
std::string gc_kind(const lvm::lv_info& lv) {
  if (lv.hidden || lv.is_thin_pool())
    return {};
  auto kind = lv_tags::value(lv, lv_tags::kind);
  if (kind.empty())
    return lv.is_cow_snapshot() ? "snapshot" : "volume";
  if (kind == "volume" || kind == "clone")
    return "volume";
  if (kind == "snapshot" || kind == "ephemeral")
    return kind;
  return {};
}

std::optional<std::chrono::system_clock::time_point> created_at(const lvm::lv_info& lv) {
  auto text = lv_tags::value(lv, lv_tags::created);
  int64_t seconds = 0;
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), seconds);
  if (text.empty() || ec != std::errc{} || end != text.data() + text.size())
    return std::nullopt;
  return std::chrono::system_clock::time_point{std::chrono::seconds{seconds}};
}

const volume_state* find_volume(const node_view& view, const std::string& id) {
  for (auto& v : view.volumes)
    if (v.id == id)
      return &v;
  return nullptr;
}

/// The handles the cluster may know this LV by: its name, and its CSI name
/// when that differs (a hashed LV name).
std::vector<std::string> handles_of(const lvm::lv_info& lv) {
  std::vector<std::string> out{lv.name};
  auto csi_name = lv_tags::value(lv, lv_tags::name);
  if (!csi_name.empty() && csi_name != lv.name)
    out.push_back(std::move(csi_name));
  return out;
}

} // namespace

gc_plan plan_gc(const node_view& view, const gc_references& refs, const gc_memory& memory,
                std::chrono::system_clock::time_point now, const volume_gc_options& opts) {
  gc_plan plan;
  if (opts.policy == gc_policy::off)
    return plan;
  for (auto& vg : view.vgs) {
    for (auto& lv : vg.lvs) {
      if (!has_tag_prefix(lv, lv_tags::owner))
        continue;
      auto kind = gc_kind(lv);
      if (kind.empty())
        continue;
      auto* state = find_volume(view, lv.name);
      bool retain_tagged = has_tag(lv, reclaim_retain_tag);

      // Referenced?
      bool referenced = false;
      std::string reason;
      if (kind == "volume") {
        std::optional<std::string> policy;
        for (auto& h : handles_of(lv))
          if (auto it = refs.volumes.find(h); it != refs.volumes.end())
            if (!policy || it->second == "Retain")
              policy = it->second;
        referenced = policy.has_value();
        if (referenced && opts.policy == gc_policy::remove) {
          if (*policy == "Retain" && !retain_tagged)
            plan.tag.push_back(lv.name);
          else if (*policy != "Retain" && retain_tagged)
            plan.untag.push_back(lv.name);
        }
        reason = "no PersistentVolume references it";
      } else if (kind == "snapshot") {
        for (auto& h : handles_of(lv))
          referenced = referenced || refs.snapshots.count(h) > 0;
        reason = "no VolumeSnapshotContent references it";
      } else { // ephemeral
        if (state != nullptr)
          for (auto& t : state->targets) {
            auto uid = pod_uid_of_target(t.path);
            referenced = referenced || (!uid.empty() && refs.pod_uids.count(uid) > 0);
          }
        reason = "its pod is gone";
      }
      if (referenced)
        continue; // forgotten: its clock restarts when it is unreferenced again

      auto& entry = plan.memory[lv.name];
      if (auto old = memory.find(lv.name); old != memory.end())
        entry = old->second;
      else
        entry.unreferenced_since = now;

      if (retain_tagged) {
        plan.retained.push_back(lv.name);
        ++plan.orphans[kind];
        continue;
      }
      bool busy = state != nullptr && (state->phase == "deleting" || state->phase == "expanding");
      bool mounted = state != nullptr && (!state->staging_path.empty() || !state->targets.empty());
      if (busy || (kind != "ephemeral" && mounted)) {
        plan.in_use.push_back(lv.name);
        ++plan.orphans[kind];
        continue;
      }
      auto created = created_at(lv);
      bool young = created && now - *created < opts.grace;
      bool recent = now - entry.unreferenced_since < opts.grace;
      if (young || recent) {
        plan.waiting.push_back(lv.name);
        ++plan.orphans[kind];
        continue;
      }

      gc_removal r;
      r.id = lv.name;
      r.vg = vg.vg.name;
      r.kind = kind;
      r.reason = reason;
      if (kind == "ephemeral" && state != nullptr) {
        for (auto& t : state->targets)
          r.unpublish_targets.push_back(t.path);
        r.unstage_path = state->staging_path;
      }
      if (opts.policy == gc_policy::dry_run) {
        r.first_report = !entry.reported;
        entry.reported = true;
        plan.would_remove.push_back(std::move(r));
        ++plan.orphans[kind];
      } else if (plan.remove.size() < opts.max_removals_per_pass) {
        plan.remove.push_back(std::move(r));
      } else {
        plan.deferred.push_back(lv.name);
        ++plan.orphans[kind];
      }
    }
  }
  return plan;
}

// -- the actor ----------------------------------------------------------------

namespace {

namespace json = boost::json;

using report_promise = caf::typed_response_promise<gc_report>;

struct gc_state {
  static inline const char* name = "kube-volume-gc";
  std::shared_ptr<client> api;
  node_supervisor_actor node;
  volume_gc_options opts;
  informer_actor pvs, contents, pods;
  bool pvs_synced = false, contents_synced = false, pods_synced = false;
  gc_memory memory;
  bool busy = false;
  std::vector<report_promise> current; ///< answered by the pass under way
  std::vector<report_promise> queued;  ///< answered by the next pass
  gc_report last;
  uint64_t passes = 0;
  std::string last_error;
};

using gc_pointer = volume_gc_actor::stateful_pointer<gc_state>;

/// The state of one pass while its requests are under way.
struct pass_context {
  node_view view;
  gc_references refs;
  gc_plan plan;
  gc_report report;
  /// The plan's changes, run one after another; each calls its continuation
  /// (they take the context as an argument, so it holds no cycle).
  std::vector<std::function<void(const std::shared_ptr<pass_context>&, std::function<void()>)>>
    steps;
  size_t next = 0;
};

using context_ptr = std::shared_ptr<pass_context>;

constexpr auto request_timeout = std::chrono::seconds{30};
/// A delete includes a secure wipe: it may take long.
constexpr auto delete_timeout = std::chrono::seconds{3600};

void start_pass(gc_pointer self);

void count(gc_pointer self, const std::string& kind, const std::string& outcome) {
  if (auto* m = self->state.opts.metrics)
    m->gc_volumes.Add({{"kind", kind}, {"outcome", outcome}}).Increment();
}

/// Answers the pass's requesters and starts the next pass if one was asked for.
void finish(gc_pointer self, gc_report report) {
  auto& st = self->state;
  report.passes = st.passes;
  st.last = report;
  for (auto& rp : st.current)
    rp.deliver(report);
  st.current.clear();
  st.busy = false;
  if (!st.queued.empty())
    start_pass(self);
}

void skip(gc_pointer self, std::string why) {
  log::debug(gc_who, "pass skipped", {{"reason", why}});
  gc_report r;
  r.skipped = std::move(why);
  finish(self, std::move(r));
}

void run_steps(gc_pointer self, context_ptr ctx) {
  if (ctx->next >= ctx->steps.size()) {
    auto& st = self->state;
    ++st.passes;
    if (auto* m = st.opts.metrics) {
      m->gc_passes.Add({}).Increment();
      for (auto kind : {"volume", "snapshot", "ephemeral"}) {
        auto it = ctx->plan.orphans.find(kind);
        m->gc_orphans.Add({{"kind", kind}})
          .Set(it == ctx->plan.orphans.end() ? 0.0 : static_cast<double>(it->second));
      }
    }
    ctx->steps.clear();
    finish(self, std::move(ctx->report));
    return;
  }
  auto step = ctx->steps[ctx->next++];
  step(ctx, [self, ctx] { run_steps(self, ctx); });
}

void removal_failed(gc_pointer self, const context_ptr& ctx, const gc_removal& r,
                    const std::string& what, const caf::error& err) {
  auto& st = self->state;
  st.last_error = render(err);
  ctx->report.failed.push_back(r.id);
  count(self, r.kind, "failed");
  log::warn(
    gc_who, "cannot remove orphaned volume " + r.id,
    {{"volume", r.id}, {"vg", r.vg}, {"kind", r.kind}, {"step", what}, {"error", render(err)}});
}

void delete_orphan(gc_pointer self, context_ptr ctx, gc_removal r, std::function<void()> done) {
  self->request(self->state.node, delete_timeout, delete_volume_req{r.id, true})
    .then(
      [self, ctx, r, done](bool existed) {
        self->state.memory.erase(r.id);
        if (existed) {
          ctx->report.removed.push_back(r.id);
          count(self, r.kind, "removed");
          log::info(gc_who, "removed orphaned volume " + r.id,
                    {{"volume", r.id}, {"vg", r.vg}, {"kind", r.kind}, {"reason", r.reason}});
        } else {
          log::info(gc_who, "orphaned volume " + r.id + " was already gone",
                    {{"volume", r.id}, {"vg", r.vg}, {"kind", r.kind}});
        }
        done();
      },
      [self, ctx, r, done](caf::error& err) {
        removal_failed(self, ctx, r, "delete", err);
        done();
      });
}

/// Ephemeral volumes: unpublish target `i`, ..., unstage, then delete.
void release_ephemeral(gc_pointer self, context_ptr ctx, volume_actor vol, gc_removal r, size_t i,
                       std::function<void()> done) {
  if (i < r.unpublish_targets.size()) {
    auto target = r.unpublish_targets[i];
    self->request(vol, request_timeout, unpublish_req{target})
      .then([self, ctx, vol, r, i,
             done](volume_state&) { release_ephemeral(self, ctx, vol, r, i + 1, done); },
            [self, ctx, r, done](caf::error& err) {
              removal_failed(self, ctx, r, "unpublish", err);
              done();
            });
    return;
  }
  if (!r.unstage_path.empty()) {
    auto path = r.unstage_path;
    r.unstage_path.clear();
    self->request(vol, request_timeout, unstage_req{path})
      .then([self, ctx, vol, r, i,
             done](volume_state&) { release_ephemeral(self, ctx, vol, r, i, done); },
            [self, ctx, r, done](caf::error& err) {
              removal_failed(self, ctx, r, "unstage", err);
              done();
            });
    return;
  }
  delete_orphan(self, ctx, std::move(r), std::move(done));
}

void remove_orphan(gc_pointer self, context_ptr ctx, gc_removal r, std::function<void()> done) {
  if (r.kind != "ephemeral" || (r.unpublish_targets.empty() && r.unstage_path.empty())) {
    delete_orphan(self, ctx, std::move(r), std::move(done));
    return;
  }
  self->request(self->state.node, request_timeout, volume_lookup{r.id})
    .then(
      [self, ctx, r, done](volume_actor& vol) { release_ephemeral(self, ctx, vol, r, 0, done); },
      [self, ctx, r, done](caf::error& err) {
        removal_failed(self, ctx, r, "lookup", err);
        done();
      });
}

void retag(gc_pointer self, context_ptr ctx, std::string id, bool add, std::function<void()> done) {
  tag_lv_req req{id, {}, {}};
  (add ? req.add : req.remove).push_back(std::string{reclaim_retain_tag});
  self->request(self->state.node, request_timeout, req)
    .then(
      [self, ctx, id, add, done](lvm::lv_info&) {
        (add ? ctx->report.tagged : ctx->report.untagged).push_back(id);
        log::info(gc_who, std::string{add ? "marked " : "unmarked "} + id + " as retained",
                  {{"volume", id}, {"tag", reclaim_retain_tag}});
        done();
      },
      [self, id, done](caf::error& err) {
        self->state.last_error = render(err);
        log::warn(gc_who, "cannot change the retain tag of " + id,
                  {{"volume", id}, {"error", render(err)}});
        done();
      });
}

/// Plans with the gathered inputs and carries the plan out.
void execute(gc_pointer self, context_ptr ctx) {
  auto& st = self->state;
  ctx->plan = plan_gc(ctx->view, ctx->refs, st.memory, st.opts.now(), st.opts);
  st.memory = ctx->plan.memory;
  auto& plan = ctx->plan;
  auto& rep = ctx->report;
  rep.retained = plan.retained;
  rep.in_use = plan.in_use;
  rep.waiting = plan.waiting;
  rep.deferred = plan.deferred;
  for (auto& r : plan.would_remove) {
    rep.dry_run.push_back(r.id);
    if (!r.first_report)
      continue;
    count(self, r.kind, "dry_run");
    log::warn(gc_who, "would remove orphaned volume " + r.id + " (dry-run)",
              {{"volume", r.id}, {"vg", r.vg}, {"kind", r.kind}, {"reason", r.reason}});
  }
  for (auto& id : plan.tag)
    ctx->steps.push_back([self, id](const context_ptr& c, std::function<void()> done) {
      retag(self, c, id, true, std::move(done));
    });
  for (auto& id : plan.untag)
    ctx->steps.push_back([self, id](const context_ptr& c, std::function<void()> done) {
      retag(self, c, id, false, std::move(done));
    });
  for (auto& r : plan.remove)
    ctx->steps.push_back([self, r](const context_ptr& c, std::function<void()> done) {
      remove_orphan(self, c, r, std::move(done));
    });
  run_steps(self, ctx);
}

using object_list = std::vector<object>;

void gather(gc_pointer self, context_ptr ctx) {
  auto& st = self->state;
  auto failed = [self](const char* what) {
    return [self, what](caf::error& err) {
      self->state.last_error = render(err);
      skip(self, std::string{"cannot list "} + what + ": " + render(err));
    };
  };
  self->request(st.pvs, request_timeout, list_atom::value, std::string{}, std::string{})
    .then(
      [self, ctx, failed](object_list& pvs) {
        for (auto& o : pvs) {
          auto handle = pv::volume_handle(o);
          if (handle.empty())
            continue;
          auto policy = pv::reclaim_policy(o);
          auto [it, fresh] = ctx->refs.volumes.emplace(handle, policy);
          if (!fresh && policy == "Retain")
            it->second = policy;
        }
        self
          ->request(self->state.contents, request_timeout, list_atom::value, std::string{},
                    std::string{})
          .then(
            [self, ctx, failed](object_list& contents) {
              for (auto& o : contents)
                for (auto path : {"status.snapshotHandle", "spec.source.snapshotHandle"})
                  if (auto h = o.string_at(path); !h.empty())
                    ctx->refs.snapshots.insert(h);
              self
                ->request(self->state.pods, request_timeout, list_atom::value, std::string{},
                          std::string{})
                .then(
                  [self, ctx](object_list& pods) {
                    for (auto& o : pods)
                      if (auto uid = o.uid(); !uid.empty())
                        ctx->refs.pod_uids.insert(uid);
                    execute(self, ctx);
                  },
                  failed("pods"));
            },
            failed("VolumeSnapshotContents"));
      },
      failed("PersistentVolumes"));
}

void start_pass(gc_pointer self) {
  auto& st = self->state;
  st.busy = true;
  st.current = std::move(st.queued);
  st.queued.clear();
  if (st.opts.policy == gc_policy::off)
    return skip(self, "policy is off");
  std::vector<std::string> unsynced;
  if (!st.pvs_synced)
    unsynced.emplace_back("PersistentVolumes");
  if (!st.contents_synced)
    unsynced.emplace_back("VolumeSnapshotContents");
  if (!st.pods_synced)
    unsynced.emplace_back("Pods");
  if (!unsynced.empty()) {
    std::string why = "informers not synced:";
    for (auto& u : unsynced)
      why += " " + u;
    return skip(self, why);
  }
  auto ctx = std::make_shared<pass_context>();
  self->request(st.node, request_timeout, get_atom::value)
    .then(
      [self, ctx](node_view& view) {
        ctx->view = std::move(view);
        gather(self, ctx);
      },
      [self](caf::error& err) {
        self->state.last_error = render(err);
        skip(self, "no node view: " + render(err));
      });
}

/// Asks for a pass: now when none runs, else right after the current one.
void request_pass(gc_pointer self, std::optional<report_promise> rp) {
  auto& st = self->state;
  if (rp)
    st.queued.push_back(std::move(*rp));
  else if (st.busy)
    return; // a timer pass while one runs: the running one will do
  if (!st.busy)
    start_pass(self);
}

json::array to_json(const std::vector<std::string>& ids) {
  json::array out;
  for (auto& id : ids)
    out.emplace_back(id);
  return out;
}

informer_actor start_informer(gc_pointer self, const resource_kind& kind,
                              std::string field_selector, bool gc_state::*synced) {
  informer_options io;
  io.kind = &kind;
  io.field_selector = std::move(field_selector);
  auto inf = spawn_informer(self->system(), self->state.api, io);
  self->link_to(inf);
  self->request(inf, caf::infinite, synced_atom::value).then([self, synced](bool) {
    self->state.*synced = true;
  });
  return inf;
}

} // namespace

volume_gc_actor spawn_volume_gc(caf::actor_system& sys, std::shared_ptr<client> api,
                                node_supervisor_actor node, volume_gc_options opts) {
  return sys.spawn([api = std::move(api), node = std::move(node), opts = std::move(opts)](
                     gc_pointer self) mutable -> volume_gc_actor::behavior_type {
    auto& st = self->state;
    st.api = api;
    st.node = node;
    st.opts = opts;
    if (!st.opts.now)
      st.opts.now = [] { return std::chrono::system_clock::now(); };
    if (st.opts.policy != gc_policy::off) {
      st.pvs = start_informer(self, kinds::persistent_volume, "", &gc_state::pvs_synced);
      st.contents =
        start_informer(self, kinds::volume_snapshot_content, "", &gc_state::contents_synced);
      st.pods = start_informer(self, kinds::pod, "spec.nodeName=" + st.opts.node_name,
                               &gc_state::pods_synced);
      if (st.opts.interval.count() > 0)
        self->delayed_send(self, st.opts.interval, gc_timer_atom::value);
      log::info(gc_who, "started",
                {{"node", st.opts.node_name},
                 {"policy", to_string(st.opts.policy)},
                 {"grace_s", static_cast<int64_t>(st.opts.grace.count())},
                 {"max_removals_per_pass", st.opts.max_removals_per_pass}});
    }
    return {
      [self](tick_atom) -> caf::result<gc_report> {
        auto rp = self->make_response_promise<gc_report>();
        request_pass(self, rp);
        return rp;
      },
      [self](gc_timer_atom) {
        request_pass(self, std::nullopt);
        self->delayed_send(self, self->state.opts.interval, gc_timer_atom::value);
      },
      [self](inspect_atom) {
        auto& st = self->state;
        auto& r = st.last;
        auto summary = std::string{to_string(st.opts.policy)} + ", " + std::to_string(st.passes) +
                       " passes, last: " +
                       (r.skipped.empty() ? std::to_string(r.removed.size()) + " removed, " +
                                              std::to_string(r.dry_run.size()) + " dry-run, " +
                                              std::to_string(r.waiting.size()) + " waiting"
                                          : "skipped (" + r.skipped + ")");
        json::object state{{"node", st.opts.node_name},
                           {"policy", to_string(st.opts.policy)},
                           {"graceSeconds", static_cast<int64_t>(st.opts.grace.count())},
                           {"passes", st.passes},
                           {"remembered", st.memory.size()},
                           {"skipped", r.skipped},
                           {"removed", to_json(r.removed)},
                           {"dryRun", to_json(r.dry_run)},
                           {"retained", to_json(r.retained)},
                           {"inUse", to_json(r.in_use)},
                           {"waiting", to_json(r.waiting)},
                           {"deferred", to_json(r.deferred)},
                           {"failed", to_json(r.failed)},
                           {"tagged", to_json(r.tagged)},
                           {"untagged", to_json(r.untagged)}};
        return make_report(self, summary, st.last_error, json::serialize(state));
      },
    };
  });
}

} // namespace olocal::kube
