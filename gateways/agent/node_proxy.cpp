#include "gateways/agent/node_proxy.hpp"

#include "actors/core/errc.hpp"
#include "actors/core/inspect.hpp"
#include "actors/core/json.hpp"
#include "actors/core/log.hpp"

#include <caf/all.hpp>

#include <atomic>
#include <map>
#include <memory>
#include <mutex>
#include <utility>

namespace olocal {

namespace {

constexpr std::string_view who = "node-proxy";

/// ExpandVolume, as the caller receives it.
struct proxy_expand_req {
  std::string id;
  uint64_t size_bytes = 0;
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, proxy_expand_req& x) {
  return f(caf::meta::type_name("proxy_expand_req"), x.id, x.size_bytes);
}

/// The detached actor that makes the blocking agent_client calls of one
/// proxy, one at a time (private to this file: nothing else talks to it).
using agent_caller_actor = caf::typed_actor<
  caf::replies_to<create_volume_req>::with<volume_state>,
  caf::replies_to<claim_req>::with<volume_state>, caf::replies_to<delete_volume_req>::with<bool>,
  caf::replies_to<proxy_expand_req>::with<volume_state>, caf::replies_to<get_atom>::with<node_view>,
  caf::replies_to<rescan_atom>::with<uint64_t>>;

template <class T>
caf::result<T> result_of(caf::expected<T>&& x) {
  if (!x)
    return std::move(x.error());
  return std::move(*x);
}

agent_caller_actor::behavior_type caller_behavior(std::shared_ptr<agent_client> client) {
  return {
    [client](create_volume_req& req) { return result_of(client->create_volume(req)); },
    [client](claim_req& req) { return result_of(client->claim_volume(req)); },
    [client](delete_volume_req& req) { return result_of(client->delete_volume(req)); },
    [client](proxy_expand_req& req) {
      return result_of(client->expand_volume(req.id, req.size_bytes));
    },
    [client](get_atom) { return result_of(client->get_node_view()); },
    [client](rescan_atom) { return result_of(client->rescan()); },
  };
}

/// What the proxy and its volume actors share: the caller and the counters
/// (atomics: the volume actors run on other threads).
struct proxy_shared {
  std::string node_name;
  std::string target;
  agent_caller_actor caller;
  caf::error init_error; ///< why there is no client (every call answers it)
  std::chrono::milliseconds call_timeout{30'000};
  std::atomic<uint64_t> calls{0};
  std::atomic<uint64_t> failures{0};
  std::atomic<uint64_t> in_flight{0};
  std::mutex mutex;
  std::string last_error;

  void note_failure(const caf::error& err) {
    ++failures;
    std::lock_guard<std::mutex> guard{mutex};
    last_error = render(err);
  }

  std::string last_error_copy() {
    std::lock_guard<std::mutex> guard{mutex};
    return last_error;
  }

  /// Our errors pass unchanged; CAF's own (the hop to the caller) become ours.
  caf::error own(const caf::error& err, std::chrono::milliseconds timeout) const {
    if (is_olocal(err)) {
      // Transport failures name the node, not only its address: that is
      // what the operator looks up.
      auto code = code_of(err);
      if (code == errc::unavailable || code == errc::timeout)
        return make_error(code, "node " + node_name + ": " + message_of(err));
      return err;
    }
    if (err == caf::sec::request_timeout)
      return make_error(errc::timeout, "node proxy " + node_name + ": no answer from the agent " +
                                         target + " within " + std::to_string(timeout.count()) +
                                         " ms (calls to one node run one at a time)");
    return make_error(errc::unavailable, "node proxy " + node_name +
                                           ": the agent caller is gone (" + render(err) + ")");
  }

  std::string summary() const {
    return "node " + node_name + " via " + target + ": " + std::to_string(calls.load()) +
           " calls, " + std::to_string(failures.load()) + " failed";
  }
};

using shared_ptr = std::shared_ptr<proxy_shared>;

/// Sends `msg` to the caller; `ok(Answer&)` or `fail(const caf::error&)`
/// run inside `self` with the answer (errors already counted and made ours).
template <class Answer, class Self, class Msg, class Ok, class Fail>
void call_agent(Self* self, const shared_ptr& sh, Msg msg, Ok ok, Fail fail) {
  ++sh->calls;
  if (sh->init_error) {
    sh->note_failure(sh->init_error);
    fail(sh->init_error);
    return;
  }
  // Calls queue in the caller, each bounded by call_timeout.
  auto waiting = ++sh->in_flight;
  auto timeout = sh->call_timeout * static_cast<int64_t>(waiting) + std::chrono::seconds{5};
  self->request(sh->caller, timeout, std::move(msg))
    .then(
      [sh, ok](Answer& answer) mutable {
        --sh->in_flight;
        ok(answer);
      },
      [sh, fail, timeout](caf::error& err) mutable {
        --sh->in_flight;
        auto ours = sh->own(err, timeout);
        sh->note_failure(ours);
        fail(ours);
      });
}

/// Forwards `msg` and delivers the answer (value or error) to the requester.
template <class Answer, class Self, class Msg>
caf::typed_response_promise<Answer> forward(Self* self, const shared_ptr& sh, Msg msg) {
  auto rp = self->template make_response_promise<Answer>();
  call_agent<Answer>(
    self, sh, std::move(msg), [rp](Answer& answer) mutable { rp.deliver(std::move(answer)); },
    [rp](const caf::error& err) mutable { rp.deliver(err); });
  return rp;
}

// -- the proxy volume actor ----------------------------------------------------------------

volume_actor::behavior_type proxy_volume(volume_actor::pointer self, shared_ptr sh,
                                         std::string id) {
  auto node_side = [sh, id]() -> caf::error {
    return make_error(errc::unimplemented,
                      "volume " + id + " on node " + sh->node_name +
                        ": node operations are served by the node's CSI, not the agent");
  };
  return {
    [node_side](stage_req&) -> caf::result<volume_state> { return node_side(); },
    [node_side](unstage_req&) -> caf::result<volume_state> { return node_side(); },
    [node_side](publish_req&) -> caf::result<volume_state> { return node_side(); },
    [node_side](unpublish_req&) -> caf::result<volume_state> { return node_side(); },
    [node_side](stats_atom) -> caf::result<volume_stats> { return node_side(); },
    [self, sh, id](expand_req& req) {
      return forward<volume_state>(self, sh, proxy_expand_req{id, req.size_bytes});
    },
    [self, sh, id](delete_volume_req& req) {
      auto rp = self->make_response_promise<bool>();
      call_agent<bool>(
        self, sh, delete_volume_req{id, req.wipe},
        [self, rp](bool deleted) mutable {
          rp.deliver(deleted);
          self->quit(); // as a node's volume actor does after a delete
        },
        [rp](const caf::error& err) mutable { rp.deliver(err); });
      return rp;
    },
    [self, sh, id](get_atom) {
      auto rp = self->make_response_promise<volume_state>();
      call_agent<node_view>(
        self, sh, get_atom::value,
        [rp, sh, id](node_view& view) mutable {
          for (auto& vs : view.volumes)
            if (vs.id == id) {
              rp.deliver(std::move(vs));
              return;
            }
          rp.deliver(make_error(errc::not_found,
                                "volume " + id + " does not exist on node " + sh->node_name));
        },
        [rp](const caf::error& err) mutable { rp.deliver(err); });
      return rp;
    },
    [](lv_update&) {},
    [self, sh, id](inspect_atom) {
      return make_report(self, "volume " + id + " on " + sh->summary(), sh->last_error_copy(),
                         "{\"volume\":" + json_quote(id) +
                           ",\"node\":" + json_quote(sh->node_name) + "}");
    },
  };
}

// -- the proxy ---------------------------------------------------------------------------

struct proxy_state {
  shared_ptr shared;
  std::map<std::string, volume_actor> volumes; ///< proxy volume actors, by id
};

using proxy_pointer = node_supervisor_actor::stateful_pointer<proxy_state>;

std::string state_json(proxy_pointer self) {
  auto& sh = *self->state.shared;
  std::string volumes = "[";
  for (auto& [id, vol] : self->state.volumes) {
    if (volumes.size() > 1)
      volumes += ',';
    volumes += json_quote(id);
  }
  volumes += ']';
  return "{\"node\":" + json_quote(sh.node_name) + ",\"target\":" + json_quote(sh.target) +
         ",\"calls\":" + std::to_string(sh.calls.load()) +
         ",\"failures\":" + std::to_string(sh.failures.load()) +
         ",\"in_flight\":" + std::to_string(sh.in_flight.load()) +
         ",\"client\":" + (sh.init_error ? json_quote(render(sh.init_error)) : "\"ok\"") +
         ",\"volumes\":" + volumes + "}";
}

node_supervisor_actor::behavior_type proxy(proxy_pointer self, shared_ptr sh,
                                           std::shared_ptr<agent_client> client) {
  self->state.shared = sh;
  if (client)
    sh->caller = self->spawn<caf::detached + caf::linked>(caller_behavior, std::move(client));
  // A proxy volume actor that exited (deleted) leaves the cache.
  self->set_down_handler([self](caf::down_msg& msg) {
    auto& volumes = self->state.volumes;
    for (auto it = volumes.begin(); it != volumes.end(); ++it)
      if (it->second.address() == msg.source) {
        volumes.erase(it);
        return;
      }
  });
  return {
    [self, sh](create_volume_req& req) { return forward<volume_state>(self, sh, std::move(req)); },
    [self, sh](claim_req& req) { return forward<volume_state>(self, sh, std::move(req)); },
    [self, sh](delete_volume_req& req) { return forward<bool>(self, sh, std::move(req)); },
    [self, sh](volume_lookup& req) -> caf::result<volume_actor> {
      if (sh->init_error) {
        ++sh->calls;
        sh->note_failure(sh->init_error);
        return sh->init_error;
      }
      auto& volumes = self->state.volumes;
      if (auto it = volumes.find(req.id); it != volumes.end())
        return it->second;
      auto vol = self->spawn<caf::linked>(proxy_volume, sh, req.id);
      self->monitor(vol);
      volumes.emplace(req.id, vol);
      return vol;
    },
    [sh](manage_vgs_req&) -> caf::result<uint64_t> {
      return make_error(errc::unimplemented,
                        "node " + sh->node_name + ": manage_vgs is not served over the agent");
    },
    [sh](tag_lv_req&) -> caf::result<lvm::lv_info> {
      return make_error(errc::unimplemented,
                        "node " + sh->node_name + ": LV tags are not served over the agent");
    },
    [self, sh](get_atom) { return forward<node_view>(self, sh, get_atom::value); },
    [self, sh](rescan_atom) { return forward<uint64_t>(self, sh, rescan_atom::value); },
    [](tick_atom) {},
    [self, sh](inspect_atom) {
      return make_report(self, sh->summary(), sh->last_error_copy(), state_json(self));
    },
  };
}

} // namespace

node_supervisor_actor spawn_node_proxy(caf::actor_system& sys, agent_client_options opts,
                                       std::string node_name) {
  auto sh = std::make_shared<proxy_shared>();
  sh->node_name = std::move(node_name);
  sh->target = opts.target;
  sh->call_timeout = opts.call_timeout;
  std::shared_ptr<agent_client> client;
  if (auto made = agent_client::make(std::move(opts))) {
    client = std::move(*made);
  } else {
    sh->init_error = made.error();
    log::warn(who, "node proxy without an agent client: every call fails",
              {{"node", sh->node_name}, {"error", render(made.error())}});
  }
  return sys.spawn(proxy, std::move(sh), std::move(client));
}

} // namespace olocal
