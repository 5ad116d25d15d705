// Tests of leader election with a real actor system against the fake API
// server. Durations are small (lease 600 ms, renew 400 ms, retry 100 ms);
// outcomes are polled with a bound, and nothing asserts on how long a step
// took, only on what happened and in which order.

#include "gateways/kube/leader.hpp"

#include "actors/core/errc.hpp"
#include "gateways/kube/client.hpp"
#include "gateways/kube/resources.hpp"
#include "tests/support/eventually.hpp"
#include "tests/support/fake_apiserver.hpp"

#include <caf/all.hpp>

#include <gtest/gtest.h>

#include <boost/json.hpp>

#include <atomic>
#include <chrono>
#include <mutex>
#include <set>
#include <stdexcept>
#include <thread>

using namespace olocal;
using namespace olocal::kube;
using namespace std::chrono_literals;
using olocal::test::eventually;

namespace {

namespace json = boost::json;

/// What one candidate told its notify actor, in order.
struct notifications {
  mutable std::mutex mu;
  std::vector<leader_changed> seen;

  void add(const leader_changed& x) {
    std::lock_guard lock{mu};
    seen.push_back(x);
  }
  std::vector<leader_changed> all() const {
    std::lock_guard lock{mu};
    return seen;
  }
  std::optional<leader_changed> last() const {
    std::lock_guard lock{mu};
    if (seen.empty())
      return std::nullopt;
    return seen.back();
  }
  bool leading() const {
    auto l = last();
    return l && l->leading;
  }
  bool ever_led() const {
    std::lock_guard lock{mu};
    for (auto& x : seen)
      if (x.leading)
        return true;
    return false;
  }
  bool saw(bool leading, const std::string& holder) const {
    std::lock_guard lock{mu};
    for (auto& x : seen)
      if (x.leading == leading && x.holder == holder)
        return true;
    return false;
  }
};

std::string describe(const std::vector<leader_changed>& xs) {
  std::string out;
  for (auto& x : xs)
    out += std::string{x.leading ? "{lead " : "{follow "} + x.holder + "} ";
  return out;
}

caf::actor_system_config& configured(caf::actor_system_config& cfg) {
  cfg.set("scheduler.max-threads", 2);
  return cfg;
}

class leader_test : public ::testing::Test {
public:
  leader_test() : sys(configured(cfg)) {}

  ~leader_test() override {
    for (auto& a : actors)
      caf::anon_send_exit(a, caf::exit_reason::user_shutdown);
  }

  std::shared_ptr<client> make_client() {
    connection c;
    c.server = server.base_url();
    c.qps = 0;
    c.max_retries = 0;
    c.retry_base = 1ms;
    c.retry_max = 2ms;
    return std::make_shared<client>(c);
  }

  static leader_options options(const std::string& identity, bool release = true) {
    leader_options o;
    o.name = "open-local-controller";
    o.identity = identity;
    o.lease_duration = 900ms; // written as 1 s
    o.renew_deadline = 800ms; // generous: a loaded CI machine is slow to renew
    o.retry_period = 100ms;
    o.release_on_exit = release;
    return o;
  }

  struct candidate {
    caf::actor elector;
    std::shared_ptr<notifications> log;
  };

  candidate start(const std::string& identity, bool release = true) {
    auto log = std::make_shared<notifications>();
    auto sink = sys.spawn([log](caf::event_based_actor*) -> caf::behavior {
      return {[log](const leader_changed& x) { log->add(x); }};
    });
    actors.push_back(sink);
    auto elector = spawn_leader_elector(sys, make_client(), options(identity, release), sink);
    actors.push_back(elector);
    return {elector, log};
  }

  /// Ends a candidate and waits until its elector has finished (its last
  /// notification, "not leading", comes from its exit handler).
  void stop(const candidate& c) {
    caf::scoped_actor self{sys};
    self->monitor(c.elector);
    caf::anon_send_exit(c.elector, caf::exit_reason::user_shutdown);
    self->receive([](const caf::down_msg&) {},
                  caf::after(20s) >> [] { ADD_FAILURE() << "the elector did not stop"; });
  }

  std::optional<object> lease() {
    auto doc = server.get("leases", "kube-system", "open-local-controller");
    if (!doc)
      return std::nullopt;
    return object{*doc};
  }

  std::string holder() {
    auto l = lease();
    return l ? lease::holder(*l) : std::string{};
  }

  /// Waits until the lease has been renewed `n` more times.
  bool renewals(int n) {
    std::set<std::string> seen;
    return eventually([&] {
      if (auto l = lease())
        seen.insert(lease::renew_time(*l));
      return static_cast<int>(seen.size()) > n;
    });
  }

  test::fake_apiserver server;
  caf::actor_system_config cfg;
  caf::actor_system sys;
  std::vector<caf::actor> actors;
};

} // namespace

TEST_F(leader_test, options_are_checked) {
  auto bad = [](auto change) {
    auto o = options("a");
    change(o);
    return o;
  };
  std::vector<leader_options> wrong = {
    bad([](leader_options& o) { o.name.clear(); }),
    bad([](leader_options& o) { o.identity.clear(); }),
    bad([](leader_options& o) { o.ns.clear(); }),
    bad([](leader_options& o) { o.renew_deadline = o.lease_duration; }),
    bad([](leader_options& o) { o.retry_period = o.renew_deadline; }),
    bad([](leader_options& o) { o.retry_period = 0ms; }),
  };
  for (auto& o : wrong) {
    EXPECT_EQ(code_of(check_leader_options(o)), errc::config_invalid);
    EXPECT_THROW(spawn_leader_elector(sys, make_client(), o, caf::actor{}), std::invalid_argument);
  }
  EXPECT_FALSE(check_leader_options(options("a")));
  EXPECT_FALSE(check_leader_options(leader_options{"kube-system", "x", "y"})) << "the defaults";
}

TEST_F(leader_test, exactly_one_of_two_leads_and_the_lease_says_so) {
  auto a = start("a");
  auto b = start("b");
  ASSERT_TRUE(eventually([&] { return a.log->leading() || b.log->leading(); }));
  ASSERT_TRUE(renewals(5));
  auto& leader = a.log->leading() ? a : b;
  auto& other = a.log->leading() ? b : a;
  auto leader_id = &leader == &a ? "a" : "b";
  EXPECT_FALSE(other.log->ever_led()) << describe(other.log->all());
  ASSERT_TRUE(eventually([&] { return other.log->saw(false, leader_id); }))
    << "the follower reports the holder: " << describe(other.log->all());
  EXPECT_EQ(leader.log->all().size(), 1u) << describe(leader.log->all());

  auto l = lease();
  ASSERT_TRUE(l);
  EXPECT_EQ(lease::holder(*l), leader_id);
  EXPECT_EQ(lease::duration_seconds(*l), 1) << "600 ms, rounded up to whole seconds";
  EXPECT_EQ(lease::transitions(*l), 0);
  auto acquire = l->string_at("spec.acquireTime");
  auto renew = lease::renew_time(*l);
  EXPECT_EQ(acquire.size(), std::string{"2026-01-01T00:00:00.000000Z"}.size()) << acquire;
  ASSERT_TRUE(parse_time_ms(acquire)) << acquire;
  ASSERT_TRUE(parse_time_ms(renew)) << renew;
  EXPECT_GT(*parse_time_ms(renew), *parse_time_ms(acquire)) << "renewed since acquired";
}

TEST_F(leader_test, a_released_lease_is_taken_over) {
  auto a = start("a");
  ASSERT_TRUE(eventually([&] { return a.log->leading(); }));
  auto b = start("b");
  ASSERT_TRUE(eventually([&] { return b.log->saw(false, "a"); })) << describe(b.log->all());
  stop(a);
  // The last notice comes from a's exit handler; its sink may not have taken
  // it yet when the elector is down.
  EXPECT_TRUE(eventually([&] { return a.log->all().size() >= 2; }));
  auto a_seen = a.log->all();
  ASSERT_EQ(a_seen.size(), 2u) << describe(a_seen);
  EXPECT_TRUE(a_seen[1].leading == false && a_seen[1].holder.empty()) << describe(a_seen);

  ASSERT_TRUE(eventually([&] { return b.log->leading(); })) << describe(b.log->all());
  auto l = lease();
  ASSERT_TRUE(l);
  EXPECT_EQ(lease::holder(*l), "b");
  EXPECT_EQ(lease::transitions(*l), 1);
  EXPECT_EQ(lease::duration_seconds(*l), 1);
  EXPECT_FALSE(b.log->all().front().leading) << "b followed a before it led";
}

TEST_F(leader_test, without_release_the_lease_must_expire_first) {
  auto a = start("a", false);
  ASSERT_TRUE(eventually([&] { return a.log->leading(); }));
  auto b = start("b");
  ASSERT_TRUE(eventually([&] { return b.log->saw(false, "a"); })) << describe(b.log->all());
  stop(a); // a "crash": the lease keeps naming a
  auto left = lease();
  ASSERT_TRUE(left);
  EXPECT_EQ(lease::holder(*left), "a") << "nothing released it";
  auto last_renewal = parse_time_ms(lease::renew_time(*left));
  ASSERT_TRUE(last_renewal);

  ASSERT_TRUE(eventually([&] { return b.log->leading(); })) << describe(b.log->all());
  auto seen = b.log->all();
  ASSERT_EQ(seen.size(), 2u) << describe(seen);
  EXPECT_TRUE(!seen[0].leading && seen[0].holder == "a") << describe(seen);
  EXPECT_TRUE(seen[1].leading && seen[1].holder == "b") << describe(seen);

  auto taken = lease();
  ASSERT_TRUE(taken);
  EXPECT_EQ(lease::holder(*taken), "b");
  EXPECT_EQ(lease::transitions(*taken), 1);
  auto acquired = parse_time_ms(taken->string_at("spec.acquireTime"));
  ASSERT_TRUE(acquired);
  // b waited a whole leaseDurationSeconds (1 s) after it last saw a's record
  // change, and it saw that change after a wrote it: on one machine's clock
  // the takeover cannot come earlier (a few ms of slack for rounding).
  EXPECT_GE(*acquired - *last_renewal, 995) << "taken over before the lease expired";
}

TEST_F(leader_test, a_leader_that_cannot_renew_steps_down) {
  auto a = start("a");
  ASSERT_TRUE(eventually([&] { return a.log->leading(); }));
  // Enough failures to outlast the renew deadline several times over (every
  // attempt is one request, at least retry_period apart), then recovery.
  server.fail_next(25, 500, "leases");
  ASSERT_TRUE(eventually([&] { return !a.log->leading(); })) << describe(a.log->all());
  EXPECT_TRUE(a.log->saw(false, "")) << describe(a.log->all());
  ASSERT_TRUE(eventually([&] { return a.log->leading(); }))
    << "the lease still names a, so a renews it once the server answers again: "
    << describe(a.log->all());
  auto seen = a.log->all();
  ASSERT_EQ(seen.size(), 3u) << describe(seen);
  EXPECT_EQ(lease::transitions(*lease()), 0) << "no other holder came in between";
}

TEST_F(leader_test, transitions_count_handovers) {
  auto a = start("a");
  ASSERT_TRUE(eventually([&] { return a.log->leading(); }));
  EXPECT_EQ(lease::transitions(*lease()), 0);
  auto b = start("b");
  ASSERT_TRUE(eventually([&] { return b.log->saw(false, "a"); }));
  stop(a);
  ASSERT_TRUE(eventually([&] { return b.log->leading(); }));
  EXPECT_EQ(lease::transitions(*lease()), 1);
  auto c = start("c");
  ASSERT_TRUE(eventually([&] { return c.log->saw(false, "b"); }));
  stop(b);
  ASSERT_TRUE(eventually([&] { return c.log->leading(); }));
  auto l = lease();
  EXPECT_EQ(lease::holder(*l), "c");
  EXPECT_EQ(lease::transitions(*l), 2);
  stop(c);
  l = lease();
  EXPECT_EQ(lease::holder(*l), "") << "released";
  EXPECT_EQ(lease::duration_seconds(*l), 1);
  EXPECT_EQ(lease::transitions(*l), 2) << "a release is no transition";
}

TEST_F(leader_test, work_runs_only_where_leading_and_moves_with_the_lease) {
  // Each gate's work is an actor that counts itself running while alive.
  auto running = std::make_shared<std::atomic<int>>(0);
  auto started = std::make_shared<std::atomic<int>>(0);
  auto work = [running, started](caf::actor_system& s) {
    return s.spawn([running, started](caf::event_based_actor* self) -> caf::behavior {
      ++*running;
      ++*started;
      self->attach_functor([running] { --*running; });
      return {[](const std::string&) {}};
    });
  };
  auto a = spawn_while_leading(sys, make_client(), options("a"), work);
  ASSERT_TRUE(eventually([&] { return running->load() == 1; }));
  auto b = spawn_while_leading(sys, make_client(), options("b"), work);
  actors.push_back(b);
  ASSERT_TRUE(eventually([&] {
    auto l = server.get("leases", "kube-system", "open-local-controller");
    return l && object{*l}.string_at("spec.holderIdentity") == "a";
  }));
  EXPECT_EQ(running->load(), 1) << "the follower does not run the work";
  EXPECT_EQ(started->load(), 1);

  caf::anon_send_exit(a, caf::exit_reason::user_shutdown); // releases the lease
  ASSERT_TRUE(eventually([&] { return started->load() == 2; })) << "b takes over";
  EXPECT_TRUE(eventually([&] { return running->load() == 1; })) << "a's work has stopped";

  auto off = spawn_while_leading(sys, make_client(), std::nullopt, work);
  actors.push_back(off);
  EXPECT_TRUE(eventually([&] { return started->load() == 3; })) << "no election: runs at once";
  auto bad = options("c");
  bad.renew_deadline = bad.lease_duration;
  EXPECT_THROW(spawn_while_leading(sys, make_client(), bad, work), std::invalid_argument);
}
