#include "gateways/kube/config_controller.hpp"

#include "actors/core/errc.hpp"
#include "actors/core/log.hpp"
#include "gateways/kube/client.hpp"
#include "gateways/kube/events.hpp"
#include "gateways/kube/informer.hpp"
#include "gateways/kube/writer.hpp"

#include <caf/all.hpp>

#include <map>
#include <set>

namespace olocal::kube {

namespace {

namespace json = boost::json;

constexpr std::string_view who = "kube-config-controller";

using reconcile_atom = caf::atom_constant<caf::atom("kcreconc")>;

bool spec_equals(const object& nls, const nls_spec& desired) {
  auto* spec = nls.at_path("spec");
  auto current = parse_nls_spec(spec != nullptr ? *spec : json::value{});
  return current && *current == desired;
}

} // namespace

nls_action decide_nls(const init_config* config, const std::string& name, const object* node,
                      const object* nls) {
  if (node == nullptr)
    return nls != nullptr ? nls_action{nls_action::kind::remove, {}} : nls_action{};
  if (config == nullptr)
    return {}; // never wipe or invent specs without a valid nlsc
  auto desired = resolve_spec(*config, name, node->labels());
  desired.node_name = name;
  if (nls == nullptr)
    return {nls_action::kind::create, std::move(desired)};
  if (spec_equals(*nls, desired))
    return {};
  return {nls_action::kind::update, std::move(desired)};
}

object make_nls(const nls_spec& spec) {
  return object{json::object{{"apiVersion", kinds::node_local_storage.api_version()},
                             {"kind", "NodeLocalStorage"},
                             {"metadata", {{"name", spec.node_name}}},
                             {"spec", to_json(spec)}}};
}

namespace {

struct controller_state {
  static inline const char* name = "kube-config-controller";
  std::shared_ptr<client> api;
  config_controller_options opts;
  std::unique_ptr<event_recorder> events;
  std::vector<informer_actor> informers;
  int informers_synced = 0;
  std::map<std::string, object> nodes; ///< by name
  std::map<std::string, object> nls;   ///< by name (= node name)
  std::optional<object> nlsc;
  std::optional<init_config> config;   ///< set while the nlsc exists and parses
  std::string warned_version;          ///< the nlsc resourceVersion last warned about
  std::set<std::string> deleted_nodes; ///< Nodes deleted whose NLS may still exist
  std::set<std::string> orphans_seen;  ///< NLS without a Node at the previous resync
  std::set<std::string> dirty;         ///< nodes to look at in the next pass
  bool full_pending = false;           ///< the next pass looks at every node
  bool resync_pending = false;         ///< ... and it is a resync (orphans swept)
  bool scheduled = false;              ///< a reconcile_atom is on its way
  config_controller_stats stats;
};

using controller_pointer = caf::stateful_actor<controller_state>*;

void schedule(controller_pointer self) {
  auto& st = self->state;
  if (st.scheduled || !st.stats.synced)
    return;
  st.scheduled = true;
  self->send(self, reconcile_atom::value);
}

void mark(controller_pointer self, const std::string& name) {
  self->state.dirty.insert(name);
  schedule(self);
}

void mark_all(controller_pointer self) {
  self->state.full_pending = true;
  schedule(self);
}

/// Keeps `o` in `cache` unless the cache already holds a newer version (our
/// own write may be ahead of the informer's events).
void remember(std::map<std::string, object>& cache, const object& o) {
  auto it = cache.find(o.name());
  if (it == cache.end())
    cache.emplace(o.name(), o);
  else if (o.resource_version_number() >= it->second.resource_version_number())
    it->second = o;
}

void forget(std::map<std::string, object>& cache, const object& o) {
  auto it = cache.find(o.name());
  if (it != cache.end() && o.resource_version_number() >= it->second.resource_version_number())
    cache.erase(it);
}

void on_config(controller_pointer self, const watch_event& ev) {
  auto& st = self->state;
  if (ev.obj.name() != st.opts.init_config)
    return;
  if (ev.type == "DELETED") {
    st.nlsc.reset();
    st.config.reset();
    st.stats.config_valid = false;
    log::warn(who,
              "the NodeLocalStorageInitConfig is gone: NodeLocalStorage specs stay as they are",
              {{"name", st.opts.init_config}});
    return;
  }
  st.nlsc = ev.obj;
  auto* spec = ev.obj.at_path("spec");
  auto parsed = parse_init_config(spec != nullptr ? *spec : json::value{});
  if (!parsed) {
    st.config.reset();
    st.stats.config_valid = false;
    auto version = ev.obj.resource_version();
    if (version != st.warned_version) {
      st.warned_version = version;
      auto message =
        "NodeLocalStorageInitConfig " + st.opts.init_config +
        " is invalid, NodeLocalStorage specs stay as they are: " + render(parsed.error());
      log::warn(who, message, {{"resourceVersion", version}});
      if (st.events->record(ev.obj, "Warning", "InvalidConfiguration", message))
        ++st.stats.config_events;
    }
    return;
  }
  bool changed = !st.config || !(*st.config == *parsed);
  st.config = std::move(*parsed);
  st.stats.config_valid = true;
  if (changed)
    mark_all(self);
}

void on_node(controller_pointer self, const watch_event& ev) {
  auto& st = self->state;
  auto name = ev.obj.name();
  if (ev.type == "DELETED") {
    forget(st.nodes, ev.obj);
    if (!st.nodes.count(name)) {
      st.deleted_nodes.insert(name);
      mark(self, name);
    }
    return;
  }
  auto it = st.nodes.find(name);
  bool relevant = it == st.nodes.end() || it->second.labels() != ev.obj.labels();
  remember(st.nodes, ev.obj);
  st.deleted_nodes.erase(name);
  if (relevant)
    mark(self, name);
}

void on_nls(controller_pointer self, const watch_event& ev) {
  auto& st = self->state;
  if (ev.type == "DELETED")
    forget(st.nls, ev.obj);
  else
    remember(st.nls, ev.obj);
  // A spec edited by hand, an NLS created by the agent or deleted by someone:
  // look at that node again (a pass that finds nothing to do writes nothing).
  mark(self, ev.obj.name());
}

void note_failure(controller_pointer self, std::string_view what, const std::string& name,
                  const caf::error& err) {
  ++self->state.stats.failures;
  log::warn(who, std::string{what} + ", retrying at the next pass",
            {{"nls", name}, {"error", render(err)}});
}

void write_spec(controller_pointer self, const std::string& name, const nls_spec& desired);

void create_nls(controller_pointer self, const std::string& name, const nls_spec& desired) {
  auto& st = self->state;
  auto made = create(*st.api, kinds::node_local_storage, make_nls(desired));
  if (made) {
    ++st.stats.creates;
    remember(st.nls, *made);
    log::info(who, "created NodeLocalStorage", {{"nls", name}});
  } else if (code_of(made.error()) == errc::already_exists) {
    write_spec(self, name, desired); // made by someone else meanwhile (the agent)
  } else {
    note_failure(self, "cannot create NodeLocalStorage", name, made.error());
  }
}

void write_spec(controller_pointer self, const std::string& name, const nls_spec& desired) {
  auto& st = self->state;
  bool wrote = false;
  auto updated = update(*st.api, kinds::node_local_storage, "", name, [&](object& o) {
    if (spec_equals(o, desired))
      return false; // the cache was behind: it already holds the desired spec
    o.mutable_json()["spec"] = to_json(desired);
    wrote = true;
    return true;
  });
  if (updated) {
    if (wrote) {
      ++st.stats.updates;
      log::info(who, "rewrote NodeLocalStorage spec", {{"nls", name}});
    }
    remember(st.nls, *updated);
  } else if (code_of(updated.error()) == errc::not_found) {
    st.nls.erase(name);
    create_nls(self, name, desired);
  } else {
    note_failure(self, "cannot update NodeLocalStorage", name, updated.error());
  }
}

void remove_nls(controller_pointer self, const std::string& name, const object& nls) {
  auto& st = self->state;
  auto err = remove(*st.api, kinds::node_local_storage, "", name, preconditions{nls.uid(), ""});
  if (!err || code_of(err) == errc::not_found) {
    if (!err) {
      ++st.stats.deletes;
      log::info(who, "deleted the NodeLocalStorage of a deleted Node", {{"nls", name}});
    }
    st.nls.erase(name);
    st.deleted_nodes.erase(name);
    st.orphans_seen.erase(name);
    return;
  }
  note_failure(self, "cannot delete NodeLocalStorage", name, err);
}

void reconcile(controller_pointer self) {
  auto& st = self->state;
  st.scheduled = false;
  if (!st.stats.synced)
    return;
  std::set<std::string> names;
  names.swap(st.dirty);
  bool full = st.full_pending, resync = st.resync_pending;
  st.full_pending = st.resync_pending = false;
  if (full) {
    for (auto& [name, node] : st.nodes)
      names.insert(name);
    for (auto& [name, nls] : st.nls)
      names.insert(name);
    ++st.stats.full_passes;
  }
  ++st.stats.passes;
  std::set<std::string> orphans;
  for (auto& name : names) {
    auto node = st.nodes.find(name);
    auto nls = st.nls.find(name);
    const object* node_ptr = node == st.nodes.end() ? nullptr : &node->second;
    const object* nls_ptr = nls == st.nls.end() ? nullptr : &nls->second;
    auto action = decide_nls(st.config ? &*st.config : nullptr, name, node_ptr, nls_ptr);
    switch (action.what) {
    case nls_action::kind::none:
      break;
    case nls_action::kind::create:
      create_nls(self, name, action.desired);
      break;
    case nls_action::kind::update:
      write_spec(self, name, action.desired);
      break;
    case nls_action::kind::remove:
      // A Node's DELETED event removes its NLS at once. An NLS without a
      // Node otherwise goes only when two resyncs in a row find it so: the
      // Node informer may simply not have seen a brand-new Node yet.
      if (st.deleted_nodes.count(name) ||
          (resync && st.opts.delete_orphans && st.orphans_seen.count(name))) {
        auto copy = *nls_ptr;
        remove_nls(self, name, copy);
      } else if (resync) {
        orphans.insert(name);
      }
      break;
    }
  }
  if (resync)
    st.orphans_seen = std::move(orphans);
}

} // namespace

caf::actor spawn_config_controller(caf::actor_system& sys, std::shared_ptr<client> api,
                                   config_controller_options opts) {
  return sys.spawn<caf::detached>(
    [api = std::move(api), opts = std::move(opts)](controller_pointer self) -> caf::behavior {
      auto& st = self->state;
      st.api = api;
      st.opts = opts;
      st.events = std::make_unique<event_recorder>(api, "open-local-controller", "");
      auto follow = [&](const resource_kind& kind, std::string field_selector) {
        informer_options io;
        io.kind = &kind;
        io.field_selector = std::move(field_selector);
        auto informer = spawn_informer(self->system(), api, io);
        self->link_to(informer);
        caf::anon_send(informer, subscribe_atom::value, caf::actor{self});
        self->request(informer, caf::infinite, synced_atom::value).then([self](bool) {
          auto& st = self->state;
          if (++st.informers_synced == static_cast<int>(st.informers.size())) {
            st.stats.synced = true;
            log::info(who, "informers synced",
                      {{"nodes", st.nodes.size()},
                       {"nls", st.nls.size()},
                       {"config_valid", st.stats.config_valid}});
            mark_all(self);
          }
        });
        st.informers.push_back(informer);
      };
      follow(kinds::node, "");
      follow(kinds::node_local_storage_init_config, "metadata.name=" + opts.init_config);
      follow(kinds::node_local_storage, "");
      self->delayed_send(self, st.opts.resync, tick_atom::value);
      return {
        [self](const watch_event& ev) {
          if (ev.type == "SYNC")
            return;
          if (ev.kind == "Node")
            on_node(self, ev);
          else if (ev.kind == "NodeLocalStorage")
            on_nls(self, ev);
          else if (ev.kind == "NodeLocalStorageInitConfig")
            on_config(self, ev);
        },
        [self](reconcile_atom) { reconcile(self); },
        [self](tick_atom) {
          self->state.resync_pending = true;
          mark_all(self);
          self->delayed_send(self, self->state.opts.resync, tick_atom::value);
        },
        [self](stats_atom) { return self->state.stats; },
      };
    });
}

} // namespace olocal::kube
