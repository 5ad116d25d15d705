#include "actors/node/disk_actor.hpp"

#include "actors/core/inspect.hpp"
#include "actors/core/log.hpp"
#include "actors/node/block_devices.hpp"

#include <caf/all.hpp>

namespace olocal {

namespace {

struct disk_state {
  block_device facts;
  uint64_t updates = 0;
  static inline const char* name = "disk";
};

std::string summary_of(const block_device& d) {
  std::string s = d.kind + " " + std::to_string(d.size_bytes) + " bytes " + d.media_type();
  auto reason = d.in_use_reason();
  s += reason.empty() ? ", free" : ", in use: " + reason;
  return s;
}

disk_actor::behavior_type disk_impl(disk_actor::stateful_pointer<disk_state> self,
                                    block_device facts) {
  self->state.facts = std::move(facts);
  return {
    [self](get_atom) { return self->state.facts; },
    [self](block_device& update) {
      if (update.name != self->state.facts.name) {
        log::warn("disk/" + self->state.facts.name, "ignored facts of another device",
                  {{"device", update.name}});
        return;
      }
      self->state.facts = std::move(update);
      ++self->state.updates;
    },
    [self](inspect_atom) {
      auto& st = self->state;
      return make_report(self, summary_of(st.facts), "",
                         "{\"device\":" + to_json(st.facts) +
                           ",\"updates\":" + std::to_string(st.updates) + "}");
    },
  };
}

} // namespace

disk_actor spawn_disk_actor(caf::actor_system& sys, block_device facts) {
  return sys.spawn(disk_impl, std::move(facts));
}

} // namespace olocal
