#include "actors/core/registry.hpp"

#include "actors/core/errc.hpp"
#include "actors/core/inspect.hpp"
#include "actors/core/json.hpp"
#include "actors/core/log.hpp"

#include <caf/all.hpp>

#include <map>

namespace olocal {

namespace {

struct registry_state {
  std::map<uint64_t, actor_entry> entries;
  std::map<std::string, uint64_t> by_name;
  uint64_t registered_total = 0;
  bool stopping = false;
  static inline const char* name = "registry";
};

using registry_pointer = registry_actor::stateful_pointer<registry_state>;

std::string state_json(const registry_state& st) {
  std::string out = "{\"registered_total\":" + std::to_string(st.registered_total) +
                    ",\"stopping\":" + (st.stopping ? "true" : "false") + ",\"actors\":[";
  bool first = true;
  for (auto& [id, entry] : st.entries) {
    if (!first)
      out += ',';
    first = false;
    out += "{\"id\":" + std::to_string(id) + ",\"name\":" + json_quote(entry.name) +
           ",\"kind\":" + json_quote(entry.kind) + "}";
  }
  out += "]}";
  return out;
}

registry_actor::behavior_type registry_impl(registry_pointer self) {
  self->set_down_handler([self](caf::down_msg& msg) {
    for (auto i = self->state.entries.begin(); i != self->state.entries.end(); ++i) {
      if (i->second.handle.address() == msg.source) {
        log::debug("registry", "actor terminated",
                   {{"name", i->second.name}, {"reason", caf::to_string(msg.reason)}});
        self->state.by_name.erase(i->second.name);
        self->state.entries.erase(i);
        return;
      }
    }
  });
  return {
    [self](register_actor_req& req) -> caf::result<uint64_t> {
      if (!req.handle)
        return make_error(errc::invalid_argument, "register: invalid actor handle");
      if (self->state.stopping) {
        // Intake is closed: the newcomer is stopped right away.
        self->send_exit(req.handle, caf::exit_reason::user_shutdown);
        return make_error(errc::shutting_down, "register " + req.name + ": shutting down");
      }
      if (self->state.by_name.count(req.name))
        return make_error(errc::already_exists,
                          "an actor named " + req.name + " is already registered");
      auto id = req.handle.id();
      self->monitor(req.handle);
      self->state.by_name.emplace(req.name, id);
      self->state.entries.emplace(id, actor_entry{id, req.name, req.kind, req.handle});
      ++self->state.registered_total;
      return id;
    },
    [self](list_atom) {
      std::vector<actor_entry> result;
      result.reserve(self->state.entries.size() + 1);
      // The registry lists itself first: it is a long-lived actor too.
      result.push_back(
        actor_entry{self->id(), "registry", "registry", caf::actor_cast<caf::actor>(self)});
      for (auto& [id, entry] : self->state.entries)
        result.push_back(entry);
      return result;
    },
    [](ping_atom x) { return x; },
    [self](stop_all_atom) {
      self->state.stopping = true;
      uint64_t count = 0;
      for (auto& [id, entry] : self->state.entries) {
        self->send_exit(entry.handle, caf::exit_reason::user_shutdown);
        ++count;
      }
      return count;
    },
    [self](inspect_atom) {
      auto& st = self->state;
      return make_report(self,
                         std::to_string(st.entries.size()) + " actors registered" +
                           (st.stopping ? ", stopping" : ""),
                         "", state_json(st));
    },
  };
}

} // namespace

registry_actor spawn_registry(caf::actor_system& sys) {
  return sys.spawn(registry_impl);
}

} // namespace olocal
