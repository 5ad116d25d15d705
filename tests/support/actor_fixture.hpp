#pragma once

// GoogleTest fixture on CAF's deterministic test scheduler: no threads, no
// real clock, no sleeps. Messages run when the test calls run(); timeouts
// fire when it advances the clock. The destructor drains pending timeouts so
// that the actor system can always be torn down.

#include "actors/core/runtime.hpp"

#include <caf/all.hpp>

#include <gtest/gtest.h>

#include <optional>

namespace olocal::test {

class actor_fixture : public ::testing::Test {
public:
  actor_fixture();
  ~actor_fixture() override;

  /// Runs every runnable message; returns how many ran.
  size_t run() { return sched.run(); }

  /// Advances the deterministic clock and runs what becomes due.
  size_t advance(caf::timespan dt) {
    auto fired = sched.clock().advance_time(dt);
    run();
    return fired;
  }

  /// Sends a request from the test, runs the system, returns the answer.
  /// A missing answer (the actor did not reply while everything ran) is a
  /// test failure reported as an empty optional.
  template <class T, class Handle, class... Ts>
  caf::expected<T> request(const Handle& dest, Ts&&... xs) {
    auto answer = std::make_shared<std::optional<caf::expected<T>>>();
    auto client = sys.spawn([=](caf::event_based_actor* self) mutable {
      self->request(dest, caf::infinite, std::forward<Ts>(xs)...)
        .then([answer](T& value) { *answer = std::move(value); },
              [answer](caf::error& err) { *answer = caf::expected<T>{std::move(err)}; });
    });
    run();
    if (!answer->has_value()) {
      ADD_FAILURE() << "no answer after running every message";
      return caf::make_error(caf::sec::request_timeout);
    }
    return std::move(**answer);
  }

  caf::actor_system_config cfg;
  caf::actor_system sys;
  caf::scheduler::test_coordinator& sched;

private:
  static caf::actor_system_config& prepare(caf::actor_system_config& cfg);
};

} // namespace olocal::test
