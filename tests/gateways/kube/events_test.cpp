// Tests of the event recorder against the fake API server, on an injected
// clock (no sleeping): the Event's fields, de-duplication, the spam filter.

#include "gateways/kube/events.hpp"

#include "gateways/kube/client.hpp"
#include "tests/support/fake_apiserver.hpp"

#include <gtest/gtest.h>

#include <boost/json.hpp>

#include <atomic>
#include <chrono>
#include <regex>
#include <set>
#include <thread>

using namespace olocal;
using namespace olocal::kube;
using namespace std::chrono_literals;

namespace {

namespace json = boost::json;

/// 2026-01-01T00:00:00Z
constexpr std::chrono::seconds epoch{1767225600};

class events_test : public ::testing::Test {
public:
  events_test() {
    connection c;
    c.server = server.base_url();
    c.qps = 0;
    c.max_retries = 1;
    c.retry_base = 1ms;
    c.retry_max = 2ms;
    api = std::make_shared<client>(c);
    involved = object{
      server.put("pods", json::object{{"apiVersion", "v1"},
                                      {"kind", "Pod"},
                                      {"metadata", {{"name", "web-0"}, {"namespace", "apps"}}},
                                      {"spec", {{"nodeName", "n1"}}}})};
  }

  std::unique_ptr<event_recorder> recorder(event_options opts = {}) {
    opts.clock = [this] { return std::chrono::system_clock::time_point{epoch + now.load()}; };
    return std::make_unique<event_recorder>(api, "open-local-agent", "node-1", std::move(opts));
  }

  std::vector<object> events(const std::string& ns = "apps") {
    std::vector<object> out;
    for (auto& e : server.list("events", ns))
      out.emplace_back(e);
    return out;
  }

  test::fake_apiserver server;
  std::shared_ptr<client> api;
  object involved;
  std::atomic<std::chrono::milliseconds> now{5s};
};

void move_clock(std::atomic<std::chrono::milliseconds>& clock, std::chrono::milliseconds by) {
  clock.store(clock.load() + by);
}

} // namespace

TEST_F(events_test, creates_an_event_with_exact_fields) {
  auto rec = recorder();
  ASSERT_TRUE(rec->record(involved, "Warning", "FailedMount", "the disk is gone"));
  auto all = events();
  ASSERT_EQ(all.size(), 1u);
  auto& e = all[0];
  EXPECT_TRUE(std::regex_match(e.name(), std::regex{R"(web-0\.[0-9a-f]+)"})) << e.name();
  EXPECT_EQ(e.namespace_(), "apps");
  json::object want_ref{{"kind", "Pod"},      {"namespace", "apps"},
                        {"name", "web-0"},    {"uid", involved.uid()},
                        {"apiVersion", "v1"}, {"resourceVersion", involved.resource_version()}};
  ASSERT_NE(e.at_path("involvedObject"), nullptr);
  EXPECT_EQ(*e.at_path("involvedObject"), want_ref);
  EXPECT_EQ(e.string_at("reason"), "FailedMount");
  EXPECT_EQ(e.string_at("message"), "the disk is gone");
  EXPECT_EQ(e.string_at("type"), "Warning");
  EXPECT_EQ(e.string_at("firstTimestamp"), "2026-01-01T00:00:05Z");
  EXPECT_EQ(e.string_at("lastTimestamp"), "2026-01-01T00:00:05Z");
  ASSERT_NE(e.at_path("count"), nullptr);
  EXPECT_EQ(*e.at_path("count"), 1);
  EXPECT_EQ(*e.at_path("source"),
            (json::object{{"component", "open-local-agent"}, {"host", "node-1"}}));
  EXPECT_EQ(e.string_at("reportingComponent"), "open-local-agent");
  EXPECT_EQ(e.string_at("reportingInstance"), "node-1");
  EXPECT_EQ(e.at_path("eventTime"), nullptr) << "a core/v1 Event of the legacy recorder";
  EXPECT_EQ(rec->stats().created, 1u);
}

TEST_F(events_test, cluster_scoped_objects_get_events_in_default) {
  object node{server.put(
    "nodes",
    json::object{{"apiVersion", "v1"}, {"kind", "Node"}, {"metadata", {{"name", "node-1"}}}})};
  auto rec = recorder();
  ASSERT_TRUE(rec->record(node, "Normal", "VolumeGroupReady", "vg ready"));
  auto all = events("default");
  ASSERT_EQ(all.size(), 1u);
  EXPECT_EQ(all[0].namespace_(), "default");
  EXPECT_EQ(all[0].string_at("involvedObject.kind"), "Node");
  EXPECT_EQ(all[0].string_at("involvedObject.name"), "node-1");
  EXPECT_EQ(all[0].at_path("involvedObject.namespace"), nullptr);
}

TEST_F(events_test, repeats_count_on_one_event) {
  auto rec = recorder();
  for (int i = 0; i < 5; ++i) {
    ASSERT_TRUE(rec->record(involved, "Warning", "FailedMount", "the disk is gone")) << i;
    move_clock(now, 1s);
  }
  auto all = events();
  ASSERT_EQ(all.size(), 1u);
  EXPECT_EQ(*all[0].at_path("count"), 5);
  EXPECT_EQ(all[0].string_at("firstTimestamp"), "2026-01-01T00:00:05Z");
  EXPECT_EQ(all[0].string_at("lastTimestamp"), "2026-01-01T00:00:09Z");
  auto s = rec->stats();
  EXPECT_EQ(s.created, 1u);
  EXPECT_EQ(s.patched, 4u);
  EXPECT_EQ(s.dropped, 0u);
  EXPECT_EQ(s.failed, 0u);
}

TEST_F(events_test, a_different_message_or_reason_is_another_event) {
  auto rec = recorder();
  ASSERT_TRUE(rec->record(involved, "Warning", "FailedMount", "the disk is gone"));
  ASSERT_TRUE(rec->record(involved, "Warning", "FailedMount", "the disk is back"));
  ASSERT_TRUE(rec->record(involved, "Warning", "Resized", "the disk is gone"));
  ASSERT_TRUE(rec->record(involved, "Normal", "FailedMount", "the disk is gone"));
  ASSERT_TRUE(rec->record(involved, "Warning", "FailedMount", "the disk is back"));
  auto all = events();
  ASSERT_EQ(all.size(), 4u);
  std::set<std::string> names;
  for (auto& e : all)
    names.insert(e.name());
  EXPECT_EQ(names.size(), 4u) << "every event has its own name";
  EXPECT_EQ(rec->stats().created, 4u);
  EXPECT_EQ(rec->stats().patched, 1u);
}

TEST_F(events_test, a_repeat_after_the_window_is_a_new_event) {
  event_options opts;
  opts.window = 10min;
  auto rec = recorder(opts);
  ASSERT_TRUE(rec->record(involved, "Normal", "Provisioned", "done"));
  move_clock(now, 10min);
  ASSERT_TRUE(rec->record(involved, "Normal", "Provisioned", "done"));
  EXPECT_EQ(events().size(), 1u) << "within the window (inclusive)";
  move_clock(now, 10min + 1s);
  ASSERT_TRUE(rec->record(involved, "Normal", "Provisioned", "done"));
  EXPECT_EQ(events().size(), 2u);
}

TEST_F(events_test, the_rate_limit_drops_beyond_the_burst) {
  event_options opts;
  opts.burst = 3;
  opts.refill = 1min;
  auto rec = recorder(opts);
  EXPECT_TRUE(rec->record(involved, "Normal", "A", "1"));
  EXPECT_TRUE(rec->record(involved, "Normal", "A", "2"));
  EXPECT_TRUE(rec->record(involved, "Normal", "A", "1")) << "a repeat takes a token too";
  EXPECT_FALSE(rec->record(involved, "Normal", "A", "3"));
  EXPECT_FALSE(rec->record(involved, "Normal", "A", "1"));
  EXPECT_EQ(rec->stats().dropped, 2u);

  // Another object has its own bucket.
  object other{
    server.put("pods", json::object{{"apiVersion", "v1"},
                                    {"kind", "Pod"},
                                    {"metadata", {{"name", "web-1"}, {"namespace", "apps"}}}})};
  EXPECT_TRUE(rec->record(other, "Normal", "A", "1"));

  move_clock(now, 59s);
  EXPECT_FALSE(rec->record(involved, "Normal", "A", "4"));
  move_clock(now, 1s);
  EXPECT_TRUE(rec->record(involved, "Normal", "A", "4")) << "one token per minute";
  EXPECT_FALSE(rec->record(involved, "Normal", "A", "5"));

  move_clock(now, 1h);
  for (int i = 0; i < 3; ++i)
    EXPECT_TRUE(rec->record(involved, "Normal", "B", std::to_string(i))) << i;
  EXPECT_FALSE(rec->record(involved, "Normal", "B", "x")) << "the bucket holds at most the burst";
  auto s = rec->stats();
  EXPECT_EQ(s.dropped, 5u);
  EXPECT_EQ(s.created + s.patched, 8u);
}

TEST_F(events_test, a_deleted_event_is_created_again) {
  auto rec = recorder();
  ASSERT_TRUE(rec->record(involved, "Warning", "FailedMount", "the disk is gone"));
  auto first = events();
  ASSERT_EQ(first.size(), 1u);
  ASSERT_TRUE(server.remove("events", "apps", first[0].name()));
  move_clock(now, 1s);
  ASSERT_TRUE(rec->record(involved, "Warning", "FailedMount", "the disk is gone"));
  auto all = events();
  ASSERT_EQ(all.size(), 1u);
  EXPECT_EQ(all[0].name(), first[0].name()) << "recreated under its name, like client-go";
  EXPECT_EQ(*all[0].at_path("count"), 2);
  EXPECT_EQ(all[0].string_at("firstTimestamp"), "2026-01-01T00:00:05Z");
  EXPECT_EQ(all[0].string_at("lastTimestamp"), "2026-01-01T00:00:06Z");
  move_clock(now, 1s);
  ASSERT_TRUE(rec->record(involved, "Warning", "FailedMount", "the disk is gone"));
  EXPECT_EQ(*events()[0].at_path("count"), 3);
  auto s = rec->stats();
  EXPECT_EQ(s.created, 2u);
  EXPECT_EQ(s.patched, 1u);
}

TEST_F(events_test, invalid_events_are_refused) {
  auto rec = recorder();
  EXPECT_FALSE(rec->record(involved, "Info", "X", "m"));
  EXPECT_FALSE(rec->record(involved, "", "X", "m"));
  EXPECT_FALSE(rec->record(involved, "Normal", "", "m"));
  EXPECT_FALSE(rec->record(object{}, "Normal", "X", "m"));
  EXPECT_EQ(rec->stats().failed, 4u);
  EXPECT_TRUE(events().empty());
}

TEST_F(events_test, failed_writes_are_counted_and_retried_next_time) {
  auto rec = recorder();
  server.fail_next(1, 403, "events");
  EXPECT_FALSE(rec->record(involved, "Warning", "FailedMount", "the disk is gone"));
  EXPECT_EQ(rec->stats().failed, 1u);
  EXPECT_TRUE(events().empty());
  ASSERT_TRUE(rec->record(involved, "Warning", "FailedMount", "the disk is gone"));
  ASSERT_EQ(events().size(), 1u);
  EXPECT_EQ(*events()[0].at_path("count"), 1) << "the failed one was never written";

  server.fail_next(1, 403, "events");
  EXPECT_FALSE(rec->record(involved, "Warning", "FailedMount", "the disk is gone"));
  EXPECT_EQ(rec->stats().failed, 2u);
  ASSERT_TRUE(rec->record(involved, "Warning", "FailedMount", "the disk is gone"));
  auto all = events();
  ASSERT_EQ(all.size(), 1u) << "a failed patch does not start a second Event";
  EXPECT_EQ(*all[0].at_path("count"), 2);
  auto s = rec->stats();
  EXPECT_EQ(s.created, 1u);
  EXPECT_EQ(s.patched, 1u);
}

TEST_F(events_test, concurrent_repeats_count_exactly) {
  auto rec = recorder();
  constexpr int threads = 4, each = 5;
  std::vector<std::thread> pool;
  for (int t = 0; t < threads; ++t)
    pool.emplace_back([&] {
      for (int i = 0; i < each; ++i)
        rec->record(involved, "Normal", "Tick", "same");
    });
  for (auto& t : pool)
    t.join();
  auto all = events();
  ASSERT_EQ(all.size(), 1u);
  EXPECT_EQ(*all[0].at_path("count"), threads * each);
  EXPECT_EQ(rec->stats().created + rec->stats().patched, static_cast<uint64_t>(threads * each));
}
