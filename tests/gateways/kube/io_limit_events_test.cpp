// Warning Events for IO limits not in force, against the fake API server:
// the pod found by UID among this node's pods, repeats counted on one Event,
// unknown UIDs looked up once per TTL.

#include "gateways/kube/io_limit_events.hpp"

#include "gateways/kube/client.hpp"
#include "gateways/kube/resources.hpp"
#include "tests/support/fake_apiserver.hpp"

#include <gtest/gtest.h>

#include <boost/json.hpp>

using namespace olocal;
using namespace olocal::kube;
using namespace std::chrono_literals;

namespace {

namespace json = boost::json;

class io_limit_events_test : public ::testing::Test {
public:
  io_limit_events_test() {
    connection c;
    c.server = server.base_url();
    c.qps = 0;
    c.max_retries = 1;
    c.retry_base = 1ms;
    c.retry_max = 2ms;
    api = std::make_shared<client>(c);
    put_pod("apps", "db-0", "uid-db", "node-1");
    put_pod("apps", "web-0", "uid-web", "node-2");
  }

  void put_pod(const std::string& ns, const std::string& name, const std::string& uid,
               const std::string& node) {
    server.put("pods", json::object{{"apiVersion", "v1"},
                                    {"kind", "Pod"},
                                    {"metadata", {{"name", name}, {"namespace", ns}, {"uid", uid}}},
                                    {"spec", {{"nodeName", node}}}});
  }

  std::vector<object> events(const std::string& ns) {
    std::vector<object> out;
    for (auto& e : server.list("events", ns))
      out.emplace_back(e);
    return out;
  }

  std::unique_ptr<io_limit_events> make(std::chrono::milliseconds ttl = 1min) {
    io_limit_event_options o;
    o.node_name = "node-1";
    o.lookup_ttl = ttl;
    return std::make_unique<io_limit_events>(api, o);
  }

  test::fake_apiserver server;
  std::shared_ptr<client> api;
};

TEST_F(io_limit_events_test, a_warning_on_the_pod_found_by_uid_and_repeats_counted) {
  auto ev = make();
  ASSERT_TRUE(ev->report("uid-db", "pvc-1", "no cgroup for pod uid-db under /sys/fs/cgroup"));
  auto all = events("apps");
  ASSERT_EQ(all.size(), 1u);
  auto& e = all.front().json();
  EXPECT_EQ(e.at("type").as_string(), "Warning");
  EXPECT_EQ(e.at("reason").as_string(), "IOLimitNotApplied");
  EXPECT_EQ(e.at("message").as_string(),
            "IO limit of volume pvc-1 is not in force: no cgroup for pod uid-db under "
            "/sys/fs/cgroup");
  auto& ref = e.at("involvedObject").as_object();
  EXPECT_EQ(ref.at("kind").as_string(), "Pod");
  EXPECT_EQ(ref.at("name").as_string(), "db-0");
  EXPECT_EQ(ref.at("namespace").as_string(), "apps");
  EXPECT_EQ(ref.at("uid").as_string(), "uid-db");
  // The next reconcile says the same: counted on the same Event, no new list.
  ASSERT_TRUE(ev->report("uid-db", "pvc-1", "no cgroup for pod uid-db under /sys/fs/cgroup"));
  all = events("apps");
  ASSERT_EQ(all.size(), 1u);
  EXPECT_EQ(all.front().json().at("count").to_number<int64_t>(), 2);
  EXPECT_EQ(ev->lookups(), 1u);
}

TEST_F(io_limit_events_test, pods_of_other_nodes_and_unknown_uids_get_none) {
  auto ev = make();
  EXPECT_FALSE(ev->report("uid-web", "pvc-2", "x")) << "web-0 runs on node-2";
  EXPECT_FALSE(ev->report("uid-gone", "pvc-3", "x"));
  EXPECT_FALSE(ev->report("uid-gone", "pvc-3", "x"));
  EXPECT_FALSE(ev->report("", "pvc-4", "x")) << "standalone publications name no pod";
  EXPECT_TRUE(events("apps").empty());
  EXPECT_EQ(ev->lookups(), 2u) << "a miss is remembered for the TTL";
}

TEST_F(io_limit_events_test, a_pod_started_after_a_miss_is_found_after_the_ttl) {
  auto ev = make(0ms);
  EXPECT_FALSE(ev->report("uid-new", "pvc-5", "x"));
  put_pod("apps", "new-0", "uid-new", "node-1");
  EXPECT_TRUE(ev->report("uid-new", "pvc-5", "x"));
  ASSERT_EQ(events("apps").size(), 1u);
  EXPECT_EQ(events("apps").front().json().at("involvedObject").at("name").as_string(), "new-0");
}

TEST_F(io_limit_events_test, an_unreachable_api_server_is_no_event_and_no_crash) {
  connection c;
  c.server = "http://127.0.0.1:1";
  c.qps = 0;
  c.max_retries = 0;
  c.connect_timeout = 200ms;
  io_limit_event_options o;
  o.node_name = "node-1";
  io_limit_events ev{std::make_shared<client>(c), o};
  EXPECT_FALSE(ev.report("uid-db", "pvc-1", "x"));
}

} // namespace
