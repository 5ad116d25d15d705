#include "gateways/admin/observability.hpp"

#include "actors/core/errc.hpp"
#include "actors/core/inspect.hpp"
#include "actors/core/runtime.hpp"
#include "gateways/metrics/metrics.hpp"
#include "tests/support/http_client.hpp"

#include <boost/json/parse.hpp>
#include <caf/all.hpp>
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

using namespace olocal;
using namespace std::chrono_literals;

namespace {

caf::behavior reporter(caf::event_based_actor* self, std::string summary, std::string error) {
  return {[=](inspect_atom) {
    return make_report(self, summary, error, "{\"volumes\":[\"local-1\"],\"free\":42}");
  }};
}

// Never answers inspections: stands for a stuck actor.
caf::behavior mute(caf::event_based_actor*) {
  return {[](inspect_atom) -> caf::result<actor_report> { return caf::delegated<actor_report>{}; }};
}

struct observability_test : ::testing::Test {
  metrics::registry metrics;
  runtime rt{runtime_options{2}};
  std::unique_ptr<observability> obs;

  void start(observability_options opts = {}) {
    opts.port = 0;
    opts.actor_timeout = 300ms;
    auto started = observability::start(rt.system(), rt.registry(), metrics, opts);
    ASSERT_TRUE(started) << render(started.error());
    obs = std::move(*started);
    obs->set_ready(true);
  }

  uint64_t adopt(caf::actor a, std::string name, std::string kind) {
    auto id = rt.adopt(std::move(a), std::move(name), std::move(kind));
    EXPECT_TRUE(id) << render(id.error());
    return id ? *id : 0;
  }

  ~observability_test() override {
    if (obs)
      obs->stop(1s);
    rt.shutdown();
  }
};

std::string temp_token_file(const std::string& token) {
  auto path = std::filesystem::temp_directory_path() /
              ("olocal-token-" + std::to_string(::getpid()) + "-" + std::to_string(token.size()));
  std::ofstream{path} << token << "\n";
  return path;
}

} // namespace

TEST_F(observability_test, health_and_readiness) {
  start();
  auto health = test::http_get(obs->port(), "/healthz");
  EXPECT_EQ(health.status, 200) << health.error;
  EXPECT_EQ(health.body, "ok\n");
  EXPECT_EQ(test::http_get(obs->port(), "/readyz").status, 200);
  obs->set_ready(false);
  auto ready = test::http_get(obs->port(), "/readyz");
  EXPECT_EQ(ready.status, 503);
  EXPECT_EQ(ready.body, "not ready\n");
}

TEST_F(observability_test, lists_every_registered_actor_with_its_report) {
  auto id = adopt(rt.system().spawn(reporter, "2 volumes", "command_failed: lvs exited 5"),
                  "vg/pool0", "vg");
  adopt(rt.system().spawn(mute), "disk/stuck", "disk");
  start();
  auto reply = test::http_get(obs->port(), "/admin/actors");
  ASSERT_EQ(reply.status, 200) << reply.error << reply.body;
  EXPECT_EQ(reply.headers["content-type"], "application/json");
  auto doc = boost::json::parse(reply.body).as_object();
  EXPECT_EQ(doc.at("count").as_int64(), 3);
  auto& actors = doc.at("actors").as_array();
  ASSERT_EQ(actors.size(), 3u);
  bool saw_vg = false, saw_stuck = false, saw_registry = false;
  for (auto& item : actors) {
    auto& a = item.as_object();
    auto name = a.at("name").as_string();
    if (name == "vg/pool0") {
      saw_vg = true;
      EXPECT_EQ(a.at("id").as_int64(), static_cast<int64_t>(id));
      EXPECT_EQ(a.at("kind").as_string(), "vg");
      EXPECT_EQ(a.at("summary").as_string(), "2 volumes");
      EXPECT_EQ(a.at("lastError").as_string(), "command_failed: lvs exited 5");
      EXPECT_EQ(a.at("mailboxDepth").as_int64(), 0);
      EXPECT_TRUE(a.at("responsive").as_bool());
      EXPECT_FALSE(a.contains("state")) << "the list view stays small";
    } else if (name == "disk/stuck") {
      saw_stuck = true;
      EXPECT_FALSE(a.at("responsive").as_bool());
      EXPECT_NE(std::string{a.at("lastError").as_string()}.find("timeout"), std::string::npos);
    } else if (name == "registry") {
      saw_registry = true;
    }
  }
  EXPECT_TRUE(saw_vg && saw_stuck && saw_registry);
}

TEST_F(observability_test, one_actor_answers_its_full_state) {
  auto id = adopt(rt.system().spawn(reporter, "2 volumes", ""), "vg/pool0", "vg");
  start();
  auto reply = test::http_get(obs->port(), "/admin/actors/" + std::to_string(id));
  ASSERT_EQ(reply.status, 200) << reply.body;
  auto doc = boost::json::parse(reply.body).as_object();
  EXPECT_EQ(doc.at("name").as_string(), "vg/pool0");
  EXPECT_EQ(doc.at("state").as_object().at("free").as_int64(), 42);

  auto missing = test::http_get(obs->port(), "/admin/actors/999999");
  EXPECT_EQ(missing.status, 404);
  auto err = boost::json::parse(missing.body).as_object().at("error").as_object();
  EXPECT_EQ(err.at("code").as_string(), "not_found");
  EXPECT_EQ(test::http_get(obs->port(), "/admin/actors/abc").status, 400);
  EXPECT_EQ(test::http_get(obs->port(), "/admin/actors/12x").status, 400);
}

TEST_F(observability_test, stuck_actor_gives_timeout_not_a_hang) {
  auto id = adopt(rt.system().spawn(mute), "disk/stuck", "disk");
  start();
  auto reply = test::http_get(obs->port(), "/admin/actors/" + std::to_string(id));
  EXPECT_EQ(reply.status, 504) << reply.body;
}

TEST_F(observability_test, metrics_in_prometheus_text_format) {
  adopt(rt.system().spawn(reporter, "", ""), "disk/sda", "disk");
  adopt(rt.system().spawn(reporter, "", ""), "disk/sdb", "disk");
  start();
  test::http_get(obs->port(), "/healthz");
  auto reply = test::http_get(obs->port(), "/metrics");
  ASSERT_EQ(reply.status, 200);
  EXPECT_EQ(reply.headers["content-type"], "text/plain; version=0.0.4; charset=utf-8");
  auto& body = reply.body;
  EXPECT_NE(body.find("# TYPE open_local_actors gauge"), std::string::npos) << body;
  EXPECT_NE(body.find("open_local_actors{kind=\"disk\"} 2"), std::string::npos) << body;
  EXPECT_NE(body.find("open_local_actors{kind=\"registry\"} 1"), std::string::npos) << body;
  EXPECT_NE(body.find("open_local_http_requests_total{code=\"200\",route=\"/healthz\"} 1"),
            std::string::npos)
    << body;
  EXPECT_NE(body.find("open_local_ready 1"), std::string::npos) << body;
}

TEST_F(observability_test, unknown_paths_and_methods) {
  start();
  auto reply = test::http_get(obs->port(), "/nope");
  EXPECT_EQ(reply.status, 404);
  EXPECT_NE(reply.body.find("no such endpoint: /nope"), std::string::npos);
  auto post = test::http_request(obs->port(), "POST", "/admin/actors", {}, "{}");
  EXPECT_EQ(post.status, 405);
  EXPECT_EQ(post.headers["allow"], "GET, HEAD");
}

TEST_F(observability_test, token_protects_admin_but_not_health) {
  auto file = temp_token_file("s3cret-token-0123456789");
  observability_options opts;
  opts.admin_token_file = file;
  start(opts);
  EXPECT_EQ(test::http_get(obs->port(), "/admin/actors").status, 401);
  EXPECT_EQ(
    test::http_get(obs->port(), "/admin/actors", {{"Authorization", "Bearer wrong"}}).status, 401);
  EXPECT_EQ(test::http_get(obs->port(), "/admin/actors",
                           {{"Authorization", "Bearer s3cret-token-0123456789x"}})
              .status,
            401);
  EXPECT_EQ(test::http_get(obs->port(), "/admin/actors",
                           {{"Authorization", "Bearer s3cret-token-0123456789"}})
              .status,
            200);
  EXPECT_EQ(test::http_get(obs->port(), "/healthz").status, 200);
  EXPECT_EQ(test::http_get(obs->port(), "/metrics").status, 200);
  std::filesystem::remove(file);
}

TEST_F(observability_test, non_loopback_without_token_is_refused) {
  observability_options opts;
  opts.address = "0.0.0.0";
  opts.port = 0;
  auto started = observability::start(rt.system(), rt.registry(), metrics, opts);
  ASSERT_FALSE(started);
  EXPECT_EQ(code_of(started.error()), errc::config_invalid);
  EXPECT_NE(render(started.error()).find("--admin-token-file"), std::string::npos);

  auto short_token = temp_token_file("short");
  opts.admin_token_file = short_token;
  started = observability::start(rt.system(), rt.registry(), metrics, opts);
  ASSERT_FALSE(started);
  EXPECT_NE(render(started.error()).find("at least 16"), std::string::npos);
  std::filesystem::remove(short_token);

  opts.admin_token_file = "/nonexistent/token";
  started = observability::start(rt.system(), rt.registry(), metrics, opts);
  ASSERT_FALSE(started);
  EXPECT_NE(render(started.error()).find("/nonexistent/token"), std::string::npos);
}

TEST(loopback, addresses) {
  EXPECT_TRUE(is_loopback_address("127.0.0.1"));
  EXPECT_TRUE(is_loopback_address("127.1.2.3"));
  EXPECT_TRUE(is_loopback_address("::1"));
  EXPECT_TRUE(is_loopback_address("localhost"));
  EXPECT_FALSE(is_loopback_address("0.0.0.0"));
  EXPECT_FALSE(is_loopback_address("10.0.0.1"));
  EXPECT_FALSE(is_loopback_address("::"));
  EXPECT_FALSE(is_loopback_address("128.0.0.1"));
}
