#include "gateways/kube/config_controller.hpp"

#include "actors/core/messages.hpp"
#include "gateways/kube/client.hpp"
#include "gateways/kube/resources.hpp"
#include "tests/gateways/kube/user_guide_nlsc.hpp"
#include "tests/support/eventually.hpp"
#include "tests/support/fake_apiserver.hpp"

#include <caf/all.hpp>

#include <gtest/gtest.h>

#include <boost/json.hpp>

using namespace olocal;
using namespace olocal::kube;
using namespace std::chrono_literals;
using olocal::test::eventually;

namespace {

namespace json = boost::json;
using names = std::vector<std::string>;

using test::user_guide_nlsc;

const std::string special = "cn-hangzhou.10.0.95.236";
using labels_t = std::map<std::string, std::string>;

init_config guide_config() {
  auto c = parse_init_config(json::parse(user_guide_nlsc));
  EXPECT_TRUE(c);
  return *c;
}

json::object node_doc(const std::string& name, const labels_t& labels) {
  json::object l;
  for (auto& [k, v] : labels)
    l[k] = v;
  return json::object{
    {"apiVersion", "v1"}, {"kind", "Node"}, {"metadata", {{"name", name}, {"labels", l}}}};
}

labels_t worker_labels(const std::string& name) {
  return {{"kubernetes.io/hostname", name}};
}
labels_t master_labels(const std::string& name) {
  return {{"kubernetes.io/hostname", name}, {"node-role.kubernetes.io/master", ""}};
}

class config_controller_test : public ::testing::Test {
public:
  config_controller_test() : sys(cfg) {}

  ~config_controller_test() override {
    for (auto& a : actors)
      caf::anon_send_exit(a, caf::exit_reason::user_shutdown);
  }

  void start(std::chrono::milliseconds resync = 1h, unsigned max_retries = 5) {
    connection c;
    c.server = server.base_url();
    c.qps = 0;
    c.retry_base = 5ms;
    c.max_retries = max_retries;
    config_controller_options opts;
    opts.resync = resync;
    controller = spawn_config_controller(sys, std::make_shared<client>(c), opts);
    actors.push_back(controller);
  }

  config_controller_stats stats() {
    caf::scoped_actor self{sys};
    config_controller_stats out;
    self->request(controller, 10s, stats_atom::value)
      .receive([&](const config_controller_stats& s) { out = s; },
               [&](caf::error& err) { ADD_FAILURE() << sys.render(err); });
    return out;
  }

  void put_config(const std::string& spec_text, const std::string& name = "open-local") {
    server.put("nodelocalstorageinitconfigs",
               json::object{{"apiVersion", "csi.aliyun.com/v1alpha1"},
                            {"kind", "NodeLocalStorageInitConfig"},
                            {"metadata", {{"name", name}}},
                            {"spec", json::parse(spec_text)}});
  }

  void put_node(const std::string& name, const labels_t& labels) {
    server.put("nodes", node_doc(name, labels));
  }

  /// The three nodes of the user guide example.
  void put_guide_cluster() {
    put_config(user_guide_nlsc);
    put_node("worker-1", worker_labels("worker-1"));
    put_node("master-1", master_labels("master-1"));
    put_node(special, worker_labels(special));
  }

  std::optional<object> nls(const std::string& name) {
    auto o = server.get("nodelocalstorages", "", name);
    return o ? std::optional<object>{object{*o}} : std::nullopt;
  }

  /// The NLS spec as stored, null when there is no NLS.
  json::value spec_of(const std::string& name) {
    auto o = nls(name);
    auto* s = o ? o->at_path("spec") : nullptr;
    return s != nullptr ? *s : json::value{};
  }

  json::value expected(const std::string& name, const labels_t& labels) {
    auto spec = resolve_spec(guide_config(), name, labels);
    spec.node_name = name;
    return to_json(spec);
  }

  bool has_spec(const std::string& name, const labels_t& labels) {
    return spec_of(name) == expected(name, labels);
  }

  /// Writes (anything but GET) to NodeLocalStorages since the log was cleared.
  size_t nls_writes() {
    size_t n = 0;
    for (auto& r : server.request_log())
      if (r.method != "GET" && r.target.find("/nodelocalstorages") != std::string::npos)
        ++n;
    return n;
  }

  /// Waits until `n` more full passes have run than now.
  bool wait_passes(uint64_t n) {
    auto seen = stats().full_passes;
    return eventually([&] { return stats().full_passes >= seen + n; });
  }

  size_t warning_events(const std::string& involved) {
    size_t n = 0;
    for (auto& e : server.list("events", "default")) {
      object ev{e};
      if (ev.string_at("type") == "Warning" && ev.string_at("reason") == "InvalidConfiguration" &&
          ev.string_at("involvedObject.name") == involved)
        ++n;
    }
    return n;
  }

  test::fake_apiserver server;
  caf::actor_system_config cfg;
  caf::actor_system sys;
  caf::actor controller;
  std::vector<caf::actor> actors;
};

} // namespace

// -- the pure decision -----------------------------------------------------------

TEST(decide_nls, every_case) {
  auto config = guide_config();
  object node{node_doc("worker-1", worker_labels("worker-1"))};
  auto desired = resolve_spec(config, "worker-1", worker_labels("worker-1"));
  desired.node_name = "worker-1";
  auto same = make_nls(desired);
  EXPECT_EQ(same.name(), "worker-1");
  EXPECT_EQ(same.string_at("kind"), "NodeLocalStorage");
  EXPECT_EQ(same.string_at("apiVersion"), "csi.aliyun.com/v1alpha1");

  using k = nls_action::kind;
  EXPECT_EQ(decide_nls(&config, "worker-1", nullptr, &same).what, k::remove);
  EXPECT_EQ(decide_nls(&config, "worker-1", nullptr, nullptr).what, k::none);
  EXPECT_EQ(decide_nls(nullptr, "worker-1", &node, nullptr).what, k::none)
    << "no valid nlsc: nothing invented";
  EXPECT_EQ(decide_nls(nullptr, "worker-1", nullptr, &same).what, k::remove)
    << "a deleted node's NLS goes whatever the nlsc";
  auto made = decide_nls(&config, "worker-1", &node, nullptr);
  EXPECT_EQ(made.what, k::create);
  EXPECT_EQ(made.desired, desired);
  EXPECT_EQ(decide_nls(&config, "worker-1", &node, &same).what, k::none);

  // The same meaning in another form (fields reordered, an unknown field, an
  // explicit empty list) is no change.
  object reordered{
    json::object{{"metadata", {{"name", "worker-1"}}},
                 {"spec",
                  {{"future", 1},
                   {"resourceToBeInited",
                    {{"vgs", {{{"name", "open-local-pool-0"}, {"devices", {"/dev/vdb3"}}}}}}},
                   {"listConfig",
                    {{"devices", {{"include", {"/dev/vdc"}}, {"exclude", json::array{}}}},
                     {"vgs", {{"include", {"open-local-pool-[0-9]+"}}}}}},
                   {"nodeName", "worker-1"}}}}};
  EXPECT_EQ(decide_nls(&config, "worker-1", &node, &reordered).what, k::none);

  auto other = same;
  other.mutable_json()["spec"].as_object()["nodeName"] = "someone-else";
  auto fix = decide_nls(&config, "worker-1", &node, &other);
  EXPECT_EQ(fix.what, k::update);
  EXPECT_EQ(fix.desired, desired);

  auto broken = same;
  broken.mutable_json()["spec"] = json::array{};
  EXPECT_EQ(decide_nls(&config, "worker-1", &node, &broken).what, k::update)
    << "an unparseable spec is rewritten";
  auto empty = same;
  empty.mutable_json().erase("spec");
  EXPECT_EQ(decide_nls(&config, "worker-1", &node, &empty).what, k::update);
}

// -- the actor against the fake API server ----------------------------------------

TEST_F(config_controller_test, the_user_guide_nlsc_gives_each_node_its_spec) {
  put_guide_cluster();
  start();
  ASSERT_TRUE(eventually([&] {
    return has_spec("worker-1", worker_labels("worker-1")) &&
           has_spec("master-1", master_labels("master-1")) &&
           has_spec(special, worker_labels(special));
  }))
    << json::serialize(spec_of("worker-1"));

  auto worker = nls("worker-1");
  EXPECT_EQ(worker->string_at("apiVersion"), "csi.aliyun.com/v1alpha1");
  EXPECT_EQ(worker->string_at("kind"), "NodeLocalStorage");
  EXPECT_EQ(worker->string_at("spec.nodeName"), "worker-1");
  auto& wspec = worker->json().at("spec");
  EXPECT_EQ(wspec.at("listConfig").at("vgs").at("include"),
            (json::array{"open-local-pool-[0-9]+"}));
  EXPECT_EQ(wspec.at("listConfig").at("devices").at("include"), (json::array{"/dev/vdc"}));
  auto& vgs = wspec.at("resourceToBeInited").at("vgs").as_array();
  ASSERT_EQ(vgs.size(), 1u);
  EXPECT_EQ(vgs[0].at("name"), "open-local-pool-0");
  EXPECT_EQ(vgs[0].at("devices"), (json::array{"/dev/vdb3"}));

  auto master = nls("master-1");
  EXPECT_EQ(master->string_at("spec.nodeName"), "master-1");
  EXPECT_EQ(master->json().at("spec").at("listConfig").at("vgs").at("include"),
            (json::array{"share-pool"}));
  auto* init = master->at_path("spec.resourceToBeInited.vgs");
  EXPECT_TRUE(init == nullptr || init->as_array().empty()) << "sections replaced, not merged";

  auto host = nls(special);
  EXPECT_EQ(host->string_at("spec.nodeName"), special);
  auto* hv = host->at_path("spec.listConfig.vgs.include");
  EXPECT_TRUE(hv == nullptr || hv->as_array().empty()) << "the second rule sets empty sections";

  EXPECT_EQ(stats().creates, 3u);
  EXPECT_TRUE(stats().config_valid);
}

TEST_F(config_controller_test, label_changes_new_and_deleted_nodes_are_followed) {
  put_guide_cluster();
  start();
  ASSERT_TRUE(eventually([&] {
    return has_spec("worker-1", worker_labels("worker-1")) &&
           has_spec("master-1", master_labels("master-1")) &&
           has_spec(special, worker_labels(special));
  }));

  // worker-1 becomes a master: the first rule's spec.
  put_node("worker-1", master_labels("worker-1"));
  ASSERT_TRUE(eventually([&] { return has_spec("worker-1", master_labels("worker-1")); }));
  EXPECT_EQ(spec_of("worker-1").at("listConfig").at("vgs").at("include"),
            (json::array{"share-pool"}));

  // A new node gets its NLS.
  put_node("worker-2", worker_labels("worker-2"));
  ASSERT_TRUE(eventually([&] { return has_spec("worker-2", worker_labels("worker-2")); }));

  // A deleted node's NLS is removed; the others stay.
  ASSERT_TRUE(server.remove("nodes", "", "master-1"));
  ASSERT_TRUE(eventually([&] { return !nls("master-1"); }));
  EXPECT_TRUE(nls("worker-1"));
  EXPECT_TRUE(nls(special));
  EXPECT_EQ(stats().deletes, 1u);
}

TEST_F(config_controller_test, a_rewrite_keeps_status_annotations_and_labels) {
  put_guide_cluster();
  server.put(
    "nodelocalstorages",
    json::object{{"apiVersion", "csi.aliyun.com/v1alpha1"},
                 {"kind", "NodeLocalStorage"},
                 {"metadata",
                  {{"name", "worker-1"},
                   {"annotations", {{"csi.aliyun.com/storage-reserved", R"({"a":"1G"})"}}},
                   {"labels", {{"team", "storage"}}}}},
                 {"spec", {{"nodeName", "worker-1"}, {"spdkConfig", {{"deviceType", "x"}}}}},
                 {"status", {{"nodeStorageInfo", {{"phase", "Running"}}}}}});
  start();
  ASSERT_TRUE(eventually([&] { return has_spec("worker-1", worker_labels("worker-1")); }));
  auto o = nls("worker-1");
  EXPECT_EQ(o->string_at("status.nodeStorageInfo.phase"), "Running");
  EXPECT_EQ(o->annotation("csi.aliyun.com/storage-reserved"), R"({"a":"1G"})");
  EXPECT_EQ(o->label("team"), "storage");
  EXPECT_EQ(o->at_path("spec.spdkConfig.deviceType"), nullptr) << "the stale field is gone";
  EXPECT_EQ(stats().updates, 1u);
}

TEST_F(config_controller_test, an_unchanged_cluster_writes_nothing) {
  put_guide_cluster();
  // Already correct, some with a status: nothing to do from the start.
  for (auto& [name, labels] :
       std::vector<std::pair<std::string, labels_t>>{{"worker-1", worker_labels("worker-1")},
                                                     {"master-1", master_labels("master-1")},
                                                     {special, worker_labels(special)}}) {
    json::object doc{{"apiVersion", "csi.aliyun.com/v1alpha1"},
                     {"kind", "NodeLocalStorage"},
                     {"metadata", {{"name", name}}},
                     {"spec", expected(name, labels)},
                     {"status", {{"nodeStorageInfo", {{"phase", "Running"}}}}}};
    server.put("nodelocalstorages", doc);
  }
  server.clear_request_log();
  start(20ms);
  ASSERT_TRUE(eventually([&] { return stats().synced; }));
  ASSERT_TRUE(wait_passes(5));
  EXPECT_EQ(nls_writes(), 0u) << "correct specs are not written";

  // After the controller made the NLS of a new node, resyncs write nothing more.
  put_node("worker-2", worker_labels("worker-2"));
  ASSERT_TRUE(eventually([&] { return has_spec("worker-2", worker_labels("worker-2")); }));
  ASSERT_TRUE(wait_passes(1));
  server.clear_request_log();
  ASSERT_TRUE(wait_passes(5));
  EXPECT_EQ(nls_writes(), 0u);
  auto s = stats();
  EXPECT_EQ(s.creates, 1u);
  EXPECT_EQ(s.updates, 0u);
  EXPECT_EQ(s.deletes, 0u);
  EXPECT_EQ(s.failures, 0u);
}

TEST_F(config_controller_test, a_deleted_nlsc_changes_nothing) {
  put_guide_cluster();
  start(20ms);
  ASSERT_TRUE(eventually([&] { return has_spec("worker-1", worker_labels("worker-1")); }));
  ASSERT_TRUE(eventually([&] { return has_spec("master-1", master_labels("master-1")); }));
  auto before = spec_of("worker-1");

  ASSERT_TRUE(server.remove("nodelocalstorageinitconfigs", "", "open-local"));
  ASSERT_TRUE(eventually([&] { return !stats().config_valid; }));
  server.clear_request_log();
  put_node("worker-1", master_labels("worker-1")); // would move it, with a config
  put_node("worker-3", worker_labels("worker-3")); // would get an NLS, with a config
  ASSERT_TRUE(wait_passes(5));
  EXPECT_EQ(nls_writes(), 0u) << "no spec wiped or invented without the nlsc";
  EXPECT_EQ(spec_of("worker-1"), before);
  EXPECT_FALSE(nls("worker-3"));

  // It comes back: the specs follow again.
  put_config(user_guide_nlsc);
  ASSERT_TRUE(eventually([&] { return has_spec("worker-1", master_labels("worker-1")); }));
  ASSERT_TRUE(eventually([&] { return has_spec("worker-3", worker_labels("worker-3")); }));
}

TEST_F(config_controller_test, an_invalid_nlsc_raises_one_warning_and_changes_nothing) {
  put_guide_cluster();
  start(20ms);
  ASSERT_TRUE(eventually([&] { return has_spec("worker-1", worker_labels("worker-1")); }));
  auto before = spec_of("worker-1");

  put_config(R"({"globalConfig": {"listConfig": {"vgs": {"include": "pool"}}}})");
  ASSERT_TRUE(eventually([&] { return warning_events("open-local") == 1; }));
  EXPECT_FALSE(stats().config_valid);
  server.clear_request_log();
  put_node("worker-4", worker_labels("worker-4"));
  ASSERT_TRUE(wait_passes(5));
  EXPECT_EQ(nls_writes(), 0u);
  EXPECT_EQ(spec_of("worker-1"), before);
  EXPECT_FALSE(nls("worker-4"));
  EXPECT_EQ(stats().config_events, 1u) << "once per resourceVersion";
  for (auto& e : server.list("events", "default")) {
    object ev{e};
    if (ev.string_at("reason") == "InvalidConfiguration") {
      EXPECT_NE(ev.string_at("message").find("spec.globalConfig.listConfig.vgs.include"),
                std::string::npos)
        << ev.string_at("message");
      EXPECT_EQ(ev.string_at("involvedObject.kind"), "NodeLocalStorageInitConfig");
    }
  }

  // Another invalid version: one more warning.
  put_config(R"({"globalConfig": {"listConfig": {"vgs": {"include": "other"}}}})");
  ASSERT_TRUE(eventually([&] { return stats().config_events == 2; }));
}

TEST_F(config_controller_test, an_invalid_nlsc_from_the_start_creates_nothing) {
  put_config(R"({"nodesConfig": [{"selector": {"matchLabels": []}}]})");
  put_node("worker-1", worker_labels("worker-1"));
  start(20ms);
  ASSERT_TRUE(eventually([&] { return stats().synced; }));
  ASSERT_TRUE(wait_passes(3));
  EXPECT_FALSE(nls("worker-1"));
  EXPECT_EQ(stats().config_events, 1u);
}

TEST_F(config_controller_test, api_errors_are_retried_at_the_next_pass) {
  put_node("worker-1", worker_labels("worker-1"));
  put_node("master-1", master_labels("master-1"));
  put_node(special, worker_labels(special));
  start(20ms, 0);
  ASSERT_TRUE(eventually([&] { return stats().synced; }));
  server.fail_next(3, 500, "/nodelocalstorages");
  put_config(user_guide_nlsc);
  ASSERT_TRUE(eventually([&] { return stats().failures >= 1; }));
  ASSERT_TRUE(eventually([&] {
    return has_spec("worker-1", worker_labels("worker-1")) &&
           has_spec("master-1", master_labels("master-1")) &&
           has_spec(special, worker_labels(special));
  }));
}

TEST_F(config_controller_test, an_nls_without_a_node_goes_at_a_later_resync) {
  put_guide_cluster();
  server.put("nodelocalstorages", json::object{{"apiVersion", "csi.aliyun.com/v1alpha1"},
                                               {"kind", "NodeLocalStorage"},
                                               {"metadata", {{"name", "ghost"}}},
                                               {"spec", {{"nodeName", "ghost"}}}});
  start(20ms);
  ASSERT_TRUE(eventually([&] { return !nls("ghost"); }))
    << "a Node deleted while the controller was down";
  EXPECT_EQ(stats().deletes, 1u);
  EXPECT_TRUE(nls("worker-1"));
}
