#include "gateways/kube/informer.hpp"

#include "actors/core/errc.hpp"
#include "actors/core/log.hpp"
#include "gateways/kube/client.hpp"

#include <caf/all.hpp>

#include <boost/json/parse.hpp>

#include <algorithm>
#include <atomic>
#include <random>
#include <set>

namespace olocal::kube {

namespace {

// -- the loop: blocking list and watch on a detached thread ------------------------

using loop_actor = caf::typed_actor<caf::reacts_to<step_atom>>;

struct loop_state {
  static inline const char* name = "kube-informer-loop";
  std::shared_ptr<client> api;
  informer_options opts;
  informer_actor owner;
  std::shared_ptr<std::atomic<bool>> stop;
  std::string rv;
  bool need_list = true;
  unsigned failures = 0;
  std::mt19937_64 rng{std::random_device{}()};
};

using loop_pointer = loop_actor::stateful_pointer<loop_state>;

std::string selectors(const informer_options& o) {
  std::string q;
  if (!o.label_selector.empty())
    q += "&labelSelector=" + url_encode(o.label_selector);
  if (!o.field_selector.empty())
    q += "&fieldSelector=" + url_encode(o.field_selector);
  return q;
}

/// Fills kind and apiVersion, which list items of built-in kinds lack.
object complete(object o, const resource_kind& kind) {
  if (o.string_at("kind").empty()) {
    auto& doc = o.mutable_json();
    doc["kind"] = kind.kind;
    doc["apiVersion"] = kind.api_version();
  }
  return o;
}

/// Backs off after a failure: base * 2^(failures-1), capped, jittered to 50-100%.
void retry_later(loop_pointer self, const std::string& why) {
  auto& st = self->state;
  ++st.failures;
  caf::anon_send(st.owner, tick_atom::value, why);
  auto shift = std::min(st.failures - 1, 16u);
  auto delay = std::min<std::chrono::milliseconds>(st.opts.backoff_max,
                                                   st.opts.backoff_base * (int64_t{1} << shift));
  std::uniform_real_distribution<double> jitter(0.5, 1.0);
  auto wait = std::chrono::milliseconds(
    static_cast<int64_t>(static_cast<double>(delay.count()) * jitter(st.rng)));
  self->delayed_send(self, wait, step_atom::value);
}

/// One full list, page by page. On success hands the items to the owner.
void list_once(loop_pointer self) {
  auto& st = self->state;
  auto& kind = *st.opts.kind;
  list_result result;
  std::string cont;
  do {
    auto path = kind.collection_path(st.opts.ns) + "?" +
                (st.opts.page_size > 0 ? "limit=" + std::to_string(st.opts.page_size) : "") +
                selectors(st.opts) + (cont.empty() ? "" : "&continue=" + url_encode(cont));
    auto r = st.api->send(api_request{"GET", path});
    if (r.status == 410 && !cont.empty()) {
      // The continue token expired between pages: start over.
      result.items.clear();
      cont.clear();
      continue;
    }
    if (r.status != 200) {
      auto s = status_of(r.status, r.body);
      return retry_later(self, "list " + std::string{kind.plural} + ": " +
                                 (r.status == 0 ? r.error : s.message));
    }
    std::string why;
    auto doc = parse_object(r.body, &why);
    if (!doc)
      return retry_later(self, "list " + std::string{kind.plural} + ": " + why);
    if (auto* items = doc->at_path("items"); items != nullptr && items->is_array())
      for (auto& item : items->get_array())
        if (item.is_object())
          result.items.push_back(complete(object{item.get_object()}, kind));
    result.resource_version = doc->string_at("metadata.resourceVersion");
    cont = doc->string_at("metadata.continue");
  } while (!cont.empty() && !st.stop->load());
  if (st.stop->load())
    return;
  st.rv = result.resource_version;
  st.need_list = false;
  st.failures = 0;
  caf::anon_send(st.owner, std::move(result));
  self->send(self, step_atom::value);
}

/// One watch from st.rv until the server ends it, it breaks, or we stop.
void watch_once(loop_pointer self) {
  auto& st = self->state;
  auto& kind = *st.opts.kind;
  auto path = kind.collection_path(st.opts.ns) +
              "?watch=1&allowWatchBookmarks=true&resourceVersion=" + url_encode(st.rv) +
              "&timeoutSeconds=" + std::to_string(st.opts.watch_timeout.count()) +
              selectors(st.opts);
  caf::anon_send(st.owner, step_atom::value);
  bool gone = false;
  std::string broken; // why the stream is unusable, "" = fine
  auto r = st.api->stream(
    path,
    [&](std::string_view line) {
      std::string why;
      auto ev = parse_object(line, &why);
      auto* obj = ev ? ev->at_path("object") : nullptr;
      if (!ev || obj == nullptr || !obj->is_object()) {
        broken = "unreadable watch event: " + (why.empty() ? "no object" : why);
        return false;
      }
      auto type = ev->string_at("type");
      object o{obj->get_object()};
      if (type == "ERROR") {
        auto s = status_of(0, o.serialize());
        if (s.code == 410)
          gone = true;
        else
          broken = "watch error: " + s.message;
        return false;
      }
      if (type == "BOOKMARK") {
        st.rv = o.resource_version();
        caf::anon_send(st.owner, watch_atom::value, st.rv);
        return true;
      }
      if (type != "ADDED" && type != "MODIFIED" && type != "DELETED") {
        broken = "unknown watch event type \"" + type + "\"";
        return false;
      }
      st.rv = o.resource_version();
      caf::anon_send(st.owner, stream_item{type, complete(std::move(o), kind)});
      return true;
    },
    *st.stop);
  if (st.stop->load())
    return;
  if (gone || r.status == 410) {
    st.need_list = true;
    caf::anon_send(st.owner, rescan_atom::value);
    self->send(self, step_atom::value);
    return;
  }
  if (r.status != 200 || !r.error.empty() || !broken.empty()) {
    auto why = !broken.empty()   ? broken
               : r.status == 200 ? r.error
               : r.status == 0   ? r.error
                                 : status_of(r.status, r.body).message;
    return retry_later(self, "watch " + std::string{kind.plural} + ": " + why);
  }
  st.failures = 0; // the server ended the watch (timeoutSeconds): watch again
  self->send(self, step_atom::value);
}

loop_actor::behavior_type loop_impl(loop_pointer self, std::shared_ptr<client> api,
                                    informer_options opts, informer_actor owner,
                                    std::shared_ptr<std::atomic<bool>> stop) {
  self->state.api = std::move(api);
  self->state.opts = std::move(opts);
  self->state.owner = std::move(owner);
  self->state.stop = std::move(stop);
  return {
    [self](step_atom) {
      if (self->state.stop->load())
        return;
      if (self->state.need_list)
        list_once(self);
      else
        watch_once(self);
    },
  };
}

// -- the informer: cache, indexes, subscribers ----------------------------------------

struct informer_state {
  static inline const char* name = "kube-informer";
  informer_options opts;
  std::map<std::string, object> cache;
  /// index name -> value -> keys
  std::map<std::string, std::map<std::string, std::set<std::string>>> indexes;
  std::vector<caf::actor> subscribers;
  std::vector<caf::typed_response_promise<bool>> waiting;
  informer_stats stats;
  std::shared_ptr<std::atomic<bool>> stop = std::make_shared<std::atomic<bool>>(false);
};

using informer_pointer = informer_actor::stateful_pointer<informer_state>;

std::vector<std::string> namespace_of(const object& o) {
  return {o.namespace_()};
}

void index_object(informer_state& st, const object& o, bool add) {
  auto key = o.key();
  auto update = [&](const std::string& name, const index_fn& fn) {
    auto& by_value = st.indexes[name];
    for (auto& value : fn(o)) {
      if (add) {
        by_value[value].insert(key);
      } else if (auto it = by_value.find(value); it != by_value.end()) {
        it->second.erase(key);
        if (it->second.empty())
          by_value.erase(it);
      }
    }
  };
  update("namespace", namespace_of);
  for (auto& [name, fn] : st.opts.indexes)
    update(name, fn);
}

void deliver(informer_pointer self, const std::string& type, const object& o) {
  watch_event ev{type, std::string{self->state.opts.kind->kind}, o};
  for (auto& sub : self->state.subscribers)
    caf::anon_send(sub, ev);
}

/// Applies one change; false when it changes nothing (a replayed event).
bool apply(informer_pointer self, const std::string& type, const object& o) {
  auto& st = self->state;
  auto key = o.key();
  auto it = st.cache.find(key);
  if (type == "DELETED") {
    if (it == st.cache.end())
      return false;
    index_object(st, it->second, false);
    st.cache.erase(it);
    ++st.stats.events;
    deliver(self, "DELETED", o);
    return true;
  }
  if (it != st.cache.end() && it->second.resource_version() == o.resource_version())
    return false;
  auto delivered = it == st.cache.end() ? "ADDED" : "MODIFIED";
  if (it != st.cache.end())
    index_object(st, it->second, false);
  st.cache[key] = o;
  index_object(st, o, true);
  ++st.stats.events;
  deliver(self, delivered, o);
  return true;
}

void note_version(informer_state& st, const std::string& rv) {
  if (!rv.empty())
    st.stats.resource_version = rv;
}

} // namespace

namespace index {
std::vector<std::string> pod_node(const object& o) {
  auto n = pod::node_name(o);
  return n.empty() ? std::vector<std::string>{} : std::vector<std::string>{n};
}

std::vector<std::string> pv_node(const object& o) {
  auto n = pv::node(o);
  return n.empty() ? std::vector<std::string>{} : std::vector<std::string>{n};
}
} // namespace index

informer_actor spawn_informer(caf::actor_system& sys, std::shared_ptr<client> api,
                              informer_options opts) {
  return sys.spawn([api = std::move(api), opts = std::move(opts)](
                     informer_pointer self) mutable -> informer_actor::behavior_type {
    auto& st = self->state;
    st.opts = opts;
    auto stop = st.stop;
    self->attach_functor([stop] { stop->store(true); });
    self->set_down_handler([self](caf::down_msg& msg) {
      auto& subs = self->state.subscribers;
      subs.erase(std::remove_if(subs.begin(), subs.end(),
                                [&](const caf::actor& a) { return a.address() == msg.source; }),
                 subs.end());
    });
    auto loop = self->spawn<caf::detached + caf::linked>(loop_impl, std::move(api), opts,
                                                         informer_actor{self}, stop);
    caf::anon_send(loop, step_atom::value);
    if (opts.resync.count() > 0)
      self->delayed_send(self, opts.resync, resync_atom::value);
    return {
      [self](subscribe_atom, caf::actor sub) {
        self->monitor(sub);
        self->state.subscribers.push_back(sub);
        if (self->state.stats.synced) {
          auto kind = std::string{self->state.opts.kind->kind};
          for (auto& [key, o] : self->state.cache)
            caf::anon_send(sub, watch_event{"ADDED", kind, o});
        }
      },
      [self](synced_atom) -> caf::result<bool> {
        if (self->state.stats.synced)
          return true;
        auto rp = self->make_response_promise<bool>();
        self->state.waiting.push_back(rp);
        return rp;
      },
      [self](get_atom, std::string& key) -> std::vector<object> {
        auto it = self->state.cache.find(key);
        if (it == self->state.cache.end())
          return {};
        return {it->second};
      },
      [self](list_atom, std::string& index,
             std::string& value) -> caf::result<std::vector<object>> {
        auto& st = self->state;
        std::vector<object> out;
        if (index.empty()) {
          for (auto& [key, o] : st.cache)
            out.push_back(o);
          return out;
        }
        auto idx = st.indexes.find(index);
        if (idx == st.indexes.end() && index != "namespace" && !st.opts.indexes.count(index))
          return make_error(errc::invalid_argument, "no index \"" + index + "\"");
        if (idx != st.indexes.end())
          if (auto keys = idx->second.find(value); keys != idx->second.end())
            for (auto& key : keys->second)
              out.push_back(st.cache.at(key));
        return out;
      },
      [self](stats_atom) {
        auto s = self->state.stats;
        s.objects = self->state.cache.size();
        return s;
      },
      [self](list_result& r) {
        auto& st = self->state;
        ++st.stats.lists;
        std::map<std::string, object> fresh;
        for (auto& o : r.items)
          fresh.emplace(o.key(), std::move(o));
        std::vector<object> gone;
        for (auto& [key, o] : st.cache)
          if (!fresh.count(key))
            gone.push_back(o);
        for (auto& o : gone)
          apply(self, "DELETED", o);
        for (auto& [key, o] : fresh)
          apply(self, "MODIFIED", o);
        note_version(st, r.resource_version);
        if (!st.stats.synced) {
          st.stats.synced = true;
          for (auto& rp : st.waiting)
            rp.deliver(true);
          st.waiting.clear();
        }
      },
      [self](stream_item& item) {
        note_version(self->state, item.obj.resource_version());
        apply(self, item.type, item.obj);
      },
      [self](watch_atom, std::string& rv) { note_version(self->state, rv); },
      [self](step_atom) { ++self->state.stats.watches; },
      [self](rescan_atom) { ++self->state.stats.relists_gone; },
      [self](tick_atom, std::string& why) {
        ++self->state.stats.errors;
        log::warn("kube-informer", why, {{"kind", std::string{self->state.opts.kind->kind}}});
      },
      [self](resync_atom) {
        for (auto& [key, o] : self->state.cache)
          deliver(self, "SYNC", o);
        self->delayed_send(self, self->state.opts.resync, resync_atom::value);
      },
    };
  });
}

} // namespace olocal::kube
