#pragma once

// Stub node supervisors and volume actors for gateway tests: each test sets
// the handlers it needs; every other message is answered unimplemented,
// naming the message, so a test that sends something unexpected fails with
// a clear reason.

#include "actors/core/errc.hpp"
#include "actors/core/interfaces.hpp"

#include <caf/actor_system.hpp>
#include <caf/typed_event_based_actor.hpp>

#include <functional>
#include <memory>
#include <string>

namespace olocal::test {

/// What a stub node supervisor answers (tick_atom is ignored).
struct stub_node_handlers {
  using self_ptr = node_supervisor_actor::pointer;
  std::function<caf::result<volume_state>(self_ptr, create_volume_req&)> create;
  std::function<caf::result<volume_state>(claim_req&)> claim;
  std::function<caf::result<bool>(delete_volume_req&)> remove;
  std::function<caf::result<volume_actor>(self_ptr, volume_lookup&)> lookup;
  std::function<caf::result<lvm::lv_info>(tag_lv_req&)> tag;
  std::function<caf::result<uint64_t>(manage_vgs_req&)> manage_vgs;
  std::function<caf::result<node_view>()> view;
  std::function<caf::result<uint64_t>()> rescan;
};

/// What a stub volume actor answers (lv_update is ignored).
struct stub_volume_handlers {
  std::function<caf::result<volume_state>(stage_req&)> stage;
  std::function<caf::result<volume_state>(unstage_req&)> unstage;
  std::function<caf::result<volume_state>(publish_req&)> publish;
  std::function<caf::result<volume_state>(unpublish_req&)> unpublish;
  std::function<caf::result<volume_state>(expand_req&)> expand;
  std::function<caf::result<bool>(delete_volume_req&)> remove;
  std::function<caf::result<volume_state>()> get;
  std::function<caf::result<volume_stats>()> stats;
};

namespace detail {

inline caf::error unexpected(const char* who, const char* message) {
  return make_error(errc::unimplemented, std::string{who} + ": " + message + " not expected");
}

/// h ? h(args...) : unimplemented naming `message`.
template <class Result, class F, class... Args>
Result answer(const F& h, const char* who, const char* message, Args&&... args) {
  if (h)
    return h(std::forward<Args>(args)...);
  return unexpected(who, message);
}

} // namespace detail

inline node_supervisor_actor spawn_stub_node(caf::actor_system& sys, stub_node_handlers handlers) {
  auto h = std::make_shared<const stub_node_handlers>(std::move(handlers));
  return sys.spawn(
    [h](node_supervisor_actor::pointer self) -> node_supervisor_actor::behavior_type {
      using detail::answer;
      constexpr const char* who = "stub node";
      return {
        [self, h](create_volume_req& r) {
          return answer<caf::result<volume_state>>(h->create, who, "create_volume_req", self, r);
        },
        [h](claim_req& r) {
          return answer<caf::result<volume_state>>(h->claim, who, "claim_req", r);
        },
        [h](delete_volume_req& r) {
          return answer<caf::result<bool>>(h->remove, who, "delete_volume_req", r);
        },
        [self, h](volume_lookup& r) {
          return answer<caf::result<volume_actor>>(h->lookup, who, "volume_lookup", self, r);
        },
        [h](tag_lv_req& r) {
          return answer<caf::result<lvm::lv_info>>(h->tag, who, "tag_lv_req", r);
        },
        [h](manage_vgs_req& r) {
          return answer<caf::result<uint64_t>>(h->manage_vgs, who, "manage_vgs_req", r);
        },
        [h](get_atom) { return answer<caf::result<node_view>>(h->view, who, "get_atom"); },
        [h](rescan_atom) { return answer<caf::result<uint64_t>>(h->rescan, who, "rescan_atom"); },
        [](tick_atom) {},
        [](inspect_atom) -> caf::result<actor_report> {
          return detail::unexpected(who, "inspect_atom");
        },
      };
    });
}

inline volume_actor spawn_stub_volume(caf::actor_system& sys, stub_volume_handlers handlers) {
  auto h = std::make_shared<const stub_volume_handlers>(std::move(handlers));
  return sys.spawn([h]() -> volume_actor::behavior_type {
    using detail::answer;
    using state = caf::result<volume_state>;
    constexpr const char* who = "stub volume";
    return {
      [h](stage_req& r) { return answer<state>(h->stage, who, "stage_req", r); },
      [h](unstage_req& r) { return answer<state>(h->unstage, who, "unstage_req", r); },
      [h](publish_req& r) { return answer<state>(h->publish, who, "publish_req", r); },
      [h](unpublish_req& r) { return answer<state>(h->unpublish, who, "unpublish_req", r); },
      [h](expand_req& r) { return answer<state>(h->expand, who, "expand_req", r); },
      [h](delete_volume_req& r) {
        return answer<caf::result<bool>>(h->remove, who, "delete_volume_req", r);
      },
      [h](get_atom) { return answer<state>(h->get, who, "get_atom"); },
      [h](stats_atom) { return answer<caf::result<volume_stats>>(h->stats, who, "stats_atom"); },
      [](lv_update&) {},
      [](inspect_atom) -> caf::result<actor_report> {
        return detail::unexpected(who, "inspect_atom");
      },
    };
  });
}

} // namespace olocal::test
