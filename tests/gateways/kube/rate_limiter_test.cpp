// The token bucket with a fake clock: no sleeping, exact waits.

#include "gateways/kube/rate_limiter.hpp"

#include <gtest/gtest.h>

#include <chrono>

namespace {

using namespace std::chrono_literals;
using olocal::kube::rate_limiter;

struct fake_clock {
  rate_limiter::clock::time_point now{};
  rate_limiter::clock_fn fn() {
    return [this] { return now; };
  }
};

TEST(rate_limiter, burst_is_immediate_then_requests_are_spaced_by_one_over_qps) {
  fake_clock t;
  rate_limiter limiter{10.0, 3, t.fn()};
  EXPECT_EQ(limiter.reserve(), 0ns);
  EXPECT_EQ(limiter.reserve(), 0ns);
  EXPECT_EQ(limiter.reserve(), 0ns);
  // Reservations beyond the burst queue up, 100 ms apart.
  EXPECT_EQ(limiter.reserve(), 100ms);
  EXPECT_EQ(limiter.reserve(), 200ms);
  EXPECT_EQ(limiter.reserve(), 300ms);
}

TEST(rate_limiter, tokens_come_back_at_qps) {
  fake_clock t;
  rate_limiter limiter{10.0, 1, t.fn()};
  EXPECT_EQ(limiter.reserve(), 0ns);
  EXPECT_EQ(limiter.reserve(), 100ms); // promised the token that arrives at +100 ms
  t.now += 100ms;
  EXPECT_EQ(limiter.reserve(), 100ms); // that token is spent: the next one at +200 ms
  t.now += 150ms;
  EXPECT_EQ(limiter.reserve(), 50ms);
}

TEST(rate_limiter, refill_is_capped_at_burst) {
  fake_clock t;
  rate_limiter limiter{5.0, 2, t.fn()};
  EXPECT_EQ(limiter.reserve(), 0ns);
  EXPECT_EQ(limiter.reserve(), 0ns);
  t.now += 1h; // would be 18000 tokens without the cap
  EXPECT_EQ(limiter.reserve(), 0ns);
  EXPECT_EQ(limiter.reserve(), 0ns);
  EXPECT_EQ(limiter.reserve(), 200ms);
}

TEST(rate_limiter, zero_burst_still_lets_one_through) {
  fake_clock t;
  rate_limiter limiter{1.0, 0, t.fn()};
  EXPECT_EQ(limiter.reserve(), 0ns);
  EXPECT_EQ(limiter.reserve(), 1s);
}

TEST(rate_limiter, qps_zero_or_negative_is_unlimited) {
  fake_clock t;
  for (double qps : {0.0, -1.0}) {
    rate_limiter limiter{qps, 1, t.fn()};
    EXPECT_TRUE(limiter.unlimited());
    for (int i = 0; i < 1000; ++i)
      ASSERT_EQ(limiter.reserve(), 0ns);
  }
}

TEST(rate_limiter, a_clock_going_backwards_adds_no_tokens) {
  fake_clock t;
  t.now += 10s;
  rate_limiter limiter{1.0, 1, t.fn()};
  EXPECT_EQ(limiter.reserve(), 0ns);
  t.now -= 5s;
  EXPECT_EQ(limiter.reserve(), 1s);
}

TEST(rate_limiter, default_clock_works) {
  rate_limiter limiter{1.0, 1};
  EXPECT_EQ(limiter.reserve(), 0ns);
  EXPECT_GT(limiter.reserve(), 0ns); // unless this line took a whole second
}

} // namespace
