#pragma once

// Client-side request throttling for the Kubernetes API (client-go's "qps" and
// "burst"): a token bucket that hands out reservations instead of blocking, so
// the decision is pure and tested with a fake clock; the caller sleeps.

#include <chrono>
#include <functional>
#include <mutex>

namespace olocal::kube {

class rate_limiter {
public:
  using clock = std::chrono::steady_clock;
  using clock_fn = std::function<clock::time_point()>;

  /// `qps` tokens are added per second up to `burst` (at least 1); the bucket
  /// starts full. qps <= 0 means unlimited. `now` defaults to steady_clock.
  rate_limiter(double qps, unsigned burst, clock_fn now = {});

  /// Takes one token and returns how long the caller must wait before using
  /// it (zero when a token was available). Reservations queue up: the n-th
  /// caller beyond the burst waits n/qps. Thread-safe.
  std::chrono::nanoseconds reserve();

  bool unlimited() const { return qps_ <= 0; }

private:
  double qps_;
  double burst_;
  clock_fn now_;
  std::mutex mutex_;
  double tokens_;          ///< may go negative: tokens already promised
  clock::time_point last_; ///< when tokens_ was last brought up to date
};

} // namespace olocal::kube
