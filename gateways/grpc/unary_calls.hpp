#pragma once

// Unary gRPC calls (callback API) answered by actors, shared by the CSI
// gateway and the node agent. A call is answered exactly once, by whoever
// comes first: the actor working on it, that actor's exit hook (it ended
// without answering), or the server's stop. gRPC's shutdown waits for every
// call to be finished and must never wait for an actor, so a stop closes the
// registry, waits for the calls in flight up to its drain time, then answers
// the rest itself and ends their actors.
//
// Include only from translation units that include gRPC already.

#include <caf/actor_addr.hpp>
#include <caf/actor_cast.hpp>
#include <caf/actor_system.hpp>
#include <caf/event_based_actor.hpp>
#include <caf/send.hpp>

#include <grpcpp/support/server_callback.h>
#include <grpcpp/support/status.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string_view>
#include <unordered_map>
#include <vector>

namespace olocal::grpc_calls {

using reactor_ptr = grpc::ServerUnaryReactor*;

class unary_call;

/// The calls of one server handed to actors, and its intake. Shared with the
/// calls: a call's actor may outlive the server.
class call_registry {
public:
  /// Registers a call; false once closed (the call is then refused).
  bool admit(const std::shared_ptr<unary_call>& call) {
    std::lock_guard<std::mutex> guard{mutex_};
    if (closed_)
      return false;
    live_.emplace(call.get(), call);
    return true;
  }

  void leave(const unary_call* call) {
    std::lock_guard<std::mutex> guard{mutex_};
    if (live_.erase(call) != 0 && live_.empty())
      idle_.notify_all();
  }

  void count() { answered_.fetch_add(1); }
  uint64_t answered() const { return answered_.load(); }

  /// Refuses new calls, waits up to `drain` for the ones in flight, then
  /// abandons what is left and ends their actors.
  inline void close_and_drain(std::chrono::milliseconds drain);

private:
  std::mutex mutex_;
  std::condition_variable idle_;
  std::unordered_map<const unary_call*, std::weak_ptr<unary_call>> live_;
  bool closed_ = false;
  std::atomic<uint64_t> answered_{0};
};

/// One call, ended exactly once. The call's request and response objects
/// belong to gRPC and are valid only until the call ends, so they are
/// touched only inside answer()'s `fill`.
class unary_call {
public:
  unary_call(reactor_ptr reactor, std::shared_ptr<call_registry> registry)
    : reactor_(reactor), registry_(std::move(registry)) {}
  virtual ~unary_call() = default;

  unary_call(const unary_call&) = delete;
  unary_call& operator=(const unary_call&) = delete;

  reactor_ptr reactor() const { return reactor_; }
  call_registry& registry() const { return *registry_; }

  /// Ends the call unless it has ended: `fill` writes the response and
  /// names the status.
  template <class Fill>
  void answer(Fill fill) {
    if (done_.exchange(true))
      return;
    grpc::Status status = fill();
    answered(status);
    registry_->count();
    reactor_->Finish(status);
    registry_->leave(this);
  }

  /// Answers a call the server is stopping under (refused at intake, or
  /// still in flight when the drain time is over).
  virtual void abandon() = 0;

  /// The actor that works on the call (a weak reference: it owns this).
  void set_actor(caf::actor_addr actor) {
    std::lock_guard<std::mutex> guard{actor_mutex_};
    actor_ = std::move(actor);
  }

  /// Ends the actor of a call that was answered without it (stop), so that
  /// it does not wait for its answer and hold actor handles until then.
  void stop_actor() {
    std::lock_guard<std::mutex> guard{actor_mutex_};
    if (auto handle = caf::actor_cast<caf::actor>(actor_))
      caf::anon_send_exit(handle, caf::exit_reason::user_shutdown);
  }

protected:
  /// Called once with the status the call ends with (logging).
  virtual void answered(const grpc::Status&) {}

private:
  reactor_ptr reactor_;
  std::shared_ptr<call_registry> registry_;
  std::atomic<bool> done_{false};
  std::mutex actor_mutex_;
  caf::actor_addr actor_;
};

void call_registry::close_and_drain(std::chrono::milliseconds drain) {
  std::vector<std::shared_ptr<unary_call>> left;
  {
    std::unique_lock<std::mutex> lock{mutex_};
    closed_ = true;
    idle_.wait_for(lock, drain, [this] { return live_.empty(); });
    for (auto& [ptr, weak] : live_)
      if (auto call = weak.lock())
        left.push_back(std::move(call));
  }
  for (auto& call : left) {
    call->abandon();
    call->stop_actor();
  }
}

/// Runs `body(self, call)` in a new one-shot actor, after admitting the call
/// (a closed registry abandons it). Should the actor end without having
/// answered (the actor system shuts down under it), `unanswered(call)`
/// answers: no call is left for gRPC to wait on.
template <class Call, class Body, class Unanswered>
reactor_ptr run_in_actor(caf::actor_system& sys, std::shared_ptr<Call> call, Body body,
                         Unanswered unanswered) {
  if (!call->registry().admit(call)) {
    call->abandon();
    return call->reactor();
  }
  auto actor = sys.spawn([call, body, unanswered](caf::event_based_actor* self) {
    self->attach_functor([call, unanswered] { unanswered(*call); });
    auto once = body;
    once(self, call);
  });
  call->set_actor(caf::actor_cast<caf::actor_addr>(actor));
  return call->reactor();
}

} // namespace olocal::grpc_calls
