#include "gateways/kube/informer.hpp"

#include "gateways/kube/client.hpp"
#include "tests/support/eventually.hpp"
#include "tests/support/fake_apiserver.hpp"

#include <caf/all.hpp>

#include <gtest/gtest.h>

#include <boost/json.hpp>

#include <chrono>
#include <mutex>
#include <thread>

using namespace olocal;
using namespace olocal::kube;
using namespace std::chrono_literals;
using olocal::test::eventually;

namespace {

namespace json = boost::json;

json::object pod_on(const std::string& name, const std::string& node, int generation = 0) {
  return json::object{{"apiVersion", "v1"},
                      {"kind", "Pod"},
                      {"metadata", {{"name", name}, {"namespace", "default"}}},
                      {"spec", {{"nodeName", node}, {"priority", generation}}}};
}

/// What a subscriber saw, checked as it arrives: an ADDED only for an absent
/// key, a MODIFIED or DELETED only for a present one, versions only growing.
struct subscriber_log {
  std::mutex mu;
  std::map<std::string, object> model;
  std::vector<std::string> violations;
  size_t events = 0;

  void on(const watch_event& ev) {
    std::lock_guard<std::mutex> lock{mu};
    ++events;
    auto key = ev.obj.key();
    auto it = model.find(key);
    if (ev.type == "SYNC")
      return;
    if (ev.type == "ADDED") {
      if (it != model.end())
        violations.push_back("ADDED twice: " + key);
      model[key] = ev.obj;
    } else if (ev.type == "MODIFIED") {
      if (it == model.end())
        violations.push_back("MODIFIED before ADDED: " + key);
      else if (ev.obj.resource_version_number() <= it->second.resource_version_number())
        violations.push_back("MODIFIED out of order or twice: " + key + " rv " +
                             ev.obj.resource_version());
      model[key] = ev.obj;
    } else if (ev.type == "DELETED") {
      if (it == model.end())
        violations.push_back("DELETED without ADDED: " + key);
      else
        model.erase(it);
    } else {
      violations.push_back("unknown type " + ev.type);
    }
  }

  /// name -> resourceVersion
  std::map<std::string, std::string> versions() {
    std::lock_guard<std::mutex> lock{mu};
    std::map<std::string, std::string> out;
    for (auto& [key, o] : model)
      out[o.name()] = o.resource_version();
    return out;
  }
};

std::map<std::string, std::string> versions_of(const std::vector<json::object>& objects) {
  std::map<std::string, std::string> out;
  for (auto& o : objects) {
    object obj{o};
    out[obj.name()] = obj.resource_version();
  }
  return out;
}

class informer_test : public ::testing::Test {
public:
  informer_test() : sys(cfg) {}

  ~informer_test() override {
    for (auto& a : actors)
      caf::anon_send_exit(a, caf::exit_reason::user_shutdown);
  }

  std::shared_ptr<client> make_client() {
    connection c;
    c.server = server.base_url();
    c.qps = 0; // unlimited
    c.retry_base = 5ms;
    c.retry_max = 50ms;
    c.max_retries = 2;
    return std::make_shared<client>(c);
  }

  informer_actor start(informer_options opts) {
    opts.backoff_base = 5ms;
    opts.backoff_max = 100ms;
    auto inf = spawn_informer(sys, make_client(), std::move(opts));
    actors.push_back(caf::actor_cast<caf::actor>(inf));
    return inf;
  }

  informer_options pods() {
    informer_options o;
    o.kind = &kinds::pod;
    o.indexes["node"] = index::pod_node;
    return o;
  }

  bool synced(const informer_actor& inf) {
    caf::scoped_actor self{sys};
    bool ok = false;
    self->request(inf, 20s, synced_atom::value)
      .receive([&](bool s) { ok = s; }, [&](caf::error&) { ok = false; });
    return ok;
  }

  std::vector<object> list(const informer_actor& inf, std::string index = "",
                           std::string value = "") {
    caf::scoped_actor self{sys};
    std::vector<object> out;
    self->request(inf, 10s, list_atom::value, index, value)
      .receive([&](std::vector<object>& v) { out = std::move(v); },
               [&](caf::error& e) { ADD_FAILURE() << caf::to_string(e); });
    return out;
  }

  informer_stats stats(const informer_actor& inf) {
    caf::scoped_actor self{sys};
    informer_stats out;
    self->request(inf, 10s, stats_atom::value)
      .receive([&](informer_stats& s) { out = s; },
               [&](caf::error& e) { ADD_FAILURE() << caf::to_string(e); });
    return out;
  }

  std::shared_ptr<subscriber_log> subscribe(const informer_actor& inf) {
    auto log = std::make_shared<subscriber_log>();
    auto sub = sys.spawn([log](caf::event_based_actor*) -> caf::behavior {
      return {[log](const watch_event& ev) { log->on(ev); }};
    });
    actors.push_back(sub);
    caf::anon_send(inf, subscribe_atom::value, sub);
    return log;
  }

  std::map<std::string, std::string> cached_versions(const informer_actor& inf) {
    std::map<std::string, std::string> out;
    for (auto& o : list(inf))
      out[o.name()] = o.resource_version();
    return out;
  }

  test::fake_apiserver server;
  caf::actor_system_config cfg;
  caf::actor_system sys;
  std::vector<caf::actor> actors;
};

} // namespace

TEST_F(informer_test, lists_then_follows_changes_with_indexes) {
  server.put("pods", pod_on("a", "n1"));
  server.put("pods", pod_on("b", "n2"));
  auto inf = start(pods());
  ASSERT_TRUE(synced(inf));
  EXPECT_EQ(list(inf).size(), 2u);
  auto on_n1 = list(inf, "node", "n1");
  ASSERT_EQ(on_n1.size(), 1u);
  EXPECT_EQ(on_n1[0].name(), "a");
  EXPECT_EQ(on_n1[0].string_at("kind"), "Pod") << "list items get their kind back";
  EXPECT_EQ(list(inf, "namespace", "default").size(), 2u);

  auto log = subscribe(inf);
  server.put("pods", pod_on("c", "n1"));
  server.put("pods", pod_on("a", "n2", 1));
  server.remove("pods", "default", "b");
  ASSERT_TRUE(eventually([&] { return log->versions() == versions_of(server.list("pods")); }));
  EXPECT_TRUE(log->violations.empty()) << log->violations.front();
  EXPECT_TRUE(eventually([&] { return list(inf, "node", "n1").size() == 1; }));
  EXPECT_EQ(list(inf, "node", "n1")[0].name(), "c") << "a moved to n2, the index follows";
  EXPECT_EQ(list(inf, "node", "n2").size(), 1u);
  caf::scoped_actor self{sys};
  self->request(inf, 10s, list_atom::value, std::string{"nope"}, std::string{"x"})
    .receive([](std::vector<object>&) { ADD_FAILURE() << "an unknown index answers"; },
             [](caf::error& e) { EXPECT_NE(caf::to_string(e).find("nope"), std::string::npos); });
}

TEST_F(informer_test, synced_waits_for_the_first_list) {
  server.fail_next(3, 500, "/pods");
  server.put("pods", pod_on("a", "n1"));
  auto inf = start(pods());
  ASSERT_TRUE(synced(inf)) << "the list is retried until it succeeds";
  EXPECT_EQ(list(inf).size(), 1u);
}

TEST_F(informer_test, no_event_lost_or_repeated_under_faults) {
  for (int i = 0; i < 10; ++i)
    server.put("pods", pod_on("p" + std::to_string(i), "n1"));
  auto inf = start(pods());
  ASSERT_TRUE(synced(inf));
  auto log = subscribe(inf);
  for (int round = 0; round < 6; ++round) {
    ASSERT_TRUE(server.wait_for_open_watches(1, 20s)) << "round " << round;
    if (round == 3) {
      // Keep the informer away while the server moves on and compacts: its
      // version is gone when it comes back, so it must relist.
      server.fail_next(3, 500, "watch");
      server.drop_watches();
    }
    for (int i = 0; i < 10; ++i) {
      auto name = "p" + std::to_string((i * 7 + round) % 13);
      if ((i + round) % 4 == 0)
        server.remove("pods", "default", name);
      else
        server.put("pods", pod_on(name, "n" + std::to_string(i % 3), round * 10 + i));
    }
    switch (round % 6) {
    case 0:
      server.drop_watches();
      break;
    case 1:
      server.fail_next(2, 500, "watch");
      server.drop_watches();
      break;
    case 2:
      server.fail_next(1, 429, "/pods", 0);
      server.drop_watches();
      break;
    case 3:
      server.compact_all();
      break;
    case 4:
      server.set_watch_event_limit(3);
      break;
    case 5:
      server.set_watch_event_limit(0);
      server.set_latency(20ms);
      server.drop_watches();
      break;
    }
  }
  server.set_latency(0ms);
  server.set_watch_event_limit(0);
  auto want = versions_of(server.list("pods"));
  ASSERT_TRUE(eventually([&] { return cached_versions(inf) == want; }))
    << "the cache equals the server's objects";
  ASSERT_TRUE(eventually([&] { return log->versions() == want; }))
    << "the subscriber's view equals the server's objects";
  std::lock_guard<std::mutex> lock{log->mu};
  EXPECT_TRUE(log->violations.empty()) << log->violations.front();
  auto s = stats(inf);
  EXPECT_GE(s.lists, 2u) << "compaction forced a relist";
  EXPECT_GE(s.relists_gone, 1u);
  EXPECT_GE(s.watches, 4u) << "dropped watches were re-established";
}

TEST_F(informer_test, field_selector_transitions_arrive_as_added_and_deleted) {
  server.put("pods", pod_on("a", "n1"));
  server.put("pods", pod_on("b", "n2"));
  auto opts = pods();
  opts.field_selector = "spec.nodeName=n1";
  auto inf = start(opts);
  ASSERT_TRUE(synced(inf));
  auto log = subscribe(inf);
  ASSERT_TRUE(eventually([&] { return log->versions().size() == 1; }));
  server.put("pods", pod_on("a", "n2", 1)); // leaves the selection
  server.put("pods", pod_on("b", "n1", 1)); // enters it
  ASSERT_TRUE(eventually([&] {
    auto v = log->versions();
    return v.size() == 1 && v.count("b") == 1;
  }));
  EXPECT_TRUE(log->violations.empty()) << log->violations.front();
}

TEST_F(informer_test, resync_delivers_every_object_again) {
  server.put("pods", pod_on("a", "n1"));
  auto opts = pods();
  opts.resync = 50ms;
  auto inf = start(opts);
  ASSERT_TRUE(synced(inf));
  auto log = subscribe(inf);
  ASSERT_TRUE(eventually([&] {
    std::lock_guard<std::mutex> lock{log->mu};
    return log->events >= 3; // the ADDED, then SYNCs
  }));
  EXPECT_TRUE(log->violations.empty());
}
