#include "gateways/kube/rate_limiter.hpp"

#include <algorithm>
#include <cmath>

namespace olocal::kube {

rate_limiter::rate_limiter(double qps, unsigned burst, clock_fn now)
  : qps_(qps), burst_(std::max(1u, burst)), now_(now ? std::move(now) : clock_fn{&clock::now}),
    tokens_(burst_), last_(now_()) {
}

std::chrono::nanoseconds rate_limiter::reserve() {
  if (unlimited())
    return std::chrono::nanoseconds{0};
  std::lock_guard lock{mutex_};
  const auto t = now_();
  if (t > last_) {
    const double elapsed = std::chrono::duration<double>(t - last_).count();
    tokens_ = std::min(burst_, tokens_ + elapsed * qps_);
    last_ = t;
  }
  tokens_ -= 1.0;
  if (tokens_ >= 0.0)
    return std::chrono::nanoseconds{0};
  return std::chrono::nanoseconds{std::llround(-tokens_ / qps_ * 1e9)};
}

} // namespace olocal::kube
