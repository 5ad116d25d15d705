#include "gateways/kube/node_reporter.hpp"

#include "actors/core/errc.hpp"
#include "gateways/kube/client.hpp"
#include "gateways/kube/resources.hpp"
#include "tests/support/eventually.hpp"
#include "tests/support/fake_apiserver.hpp"
#include "tests/support/stub_actors.hpp"

#include <caf/all.hpp>

#include <gtest/gtest.h>

#include <boost/json.hpp>

#include <atomic>
#include <mutex>

using namespace olocal;
using namespace olocal::kube;
using namespace std::chrono_literals;
using olocal::test::eventually;

namespace {

namespace json = boost::json;

constexpr uint64_t gib = 1ull << 30;

lvm::lv_info lv(std::string name, uint64_t size, std::vector<std::string> tags = {}) {
  lvm::lv_info l;
  l.name = std::move(name);
  l.vg_name = "pool0";
  l.size_bytes = size;
  l.attr = "-wi-a-----";
  l.segtype = "linear";
  l.tags = std::move(tags);
  return l;
}

/// A node view the test controls: pool0 (10 GiB, PV /dev/vdb) with one LV of
/// ours and one of someone else, and disk vdb.
node_view sample_view() {
  node_view v;
  block_device d;
  d.name = "vdb";
  d.path = "/dev/vdb";
  d.kind = "disk";
  d.size_bytes = 10 * gib;
  d.rotational = true;
  v.devices.push_back(d);
  block_device dm = d;
  dm.name = "dm-0";
  dm.path = "/dev/dm-0";
  dm.kind = "dm";
  v.devices.push_back(dm);
  vg_view g;
  g.vg.name = "pool0";
  g.vg.size_bytes = 10 * gib;
  g.vg.free_bytes = 8 * gib;
  lvm::pv_info pv;
  pv.name = "/dev/vdb";
  pv.vg_name = "pool0";
  g.pvs.push_back(pv);
  g.lvs.push_back(lv("local-1", gib, {"olocal/owner=standalone"}));
  g.lvs.push_back(lv("home", gib));
  v.vgs.push_back(g);
  return v;
}

/// A node supervisor that answers views from the test and counts the asks.
struct stub_node {
  std::mutex mu;
  node_view view = sample_view();
  std::atomic<uint64_t> gets{0};
  std::atomic<uint64_t> rescans{0};
  std::vector<std::string> managed; ///< the last manage_vgs_req

  void set(node_view v) {
    std::lock_guard<std::mutex> lock{mu};
    view = std::move(v);
  }
};

node_supervisor_actor spawn_stub(caf::actor_system& sys, std::shared_ptr<stub_node> stub) {
  test::stub_node_handlers h;
  h.manage_vgs = [stub](manage_vgs_req& req) -> caf::result<uint64_t> {
    std::lock_guard<std::mutex> lock{stub->mu};
    stub->managed = req.names;
    return uint64_t{req.names.size()};
  };
  h.view = [stub]() -> caf::result<node_view> {
    ++stub->gets;
    std::lock_guard<std::mutex> lock{stub->mu};
    return stub->view;
  };
  h.rescan = [stub]() -> caf::result<uint64_t> {
    ++stub->rescans;
    return uint64_t{0};
  };
  return test::spawn_stub_node(sys, std::move(h));
}

class node_reporter_test : public ::testing::Test {
public:
  node_reporter_test() : sys(cfg) {}

  ~node_reporter_test() override {
    for (auto& a : actors)
      caf::anon_send_exit(a, caf::exit_reason::user_shutdown);
  }

  void start(std::chrono::milliseconds heartbeat = 1h) {
    connection c;
    c.server = server.base_url();
    c.qps = 0;
    c.retry_base = 5ms;
    auto api = std::make_shared<client>(c);
    auto node = spawn_stub(sys, stub);
    actors.push_back(caf::actor_cast<caf::actor>(node));
    node_reporter_options opts;
    opts.node_name = "node-1";
    opts.poll = 20ms;
    opts.heartbeat = heartbeat;
    opts.sysfs = "/nonexistent"; // no block devices change under the test
    opts.list_vgs = [] { return std::vector<std::string>{"pool0", "system"}; };
    opts.static_vgs = {"static"};
    actors.push_back(spawn_node_reporter(sys, api, node, opts));
  }

  std::optional<object> nls() {
    auto o = server.get("nodelocalstorages", "", "node-1");
    return o ? std::optional<object>{object{*o}} : std::nullopt;
  }

  /// The reported allocatable of pool0, -1 while there is none.
  int64_t allocatable() {
    auto o = nls();
    auto* vgs = o ? o->at_path("status.nodeStorageInfo.volumeGroups") : nullptr;
    if (vgs == nullptr || !vgs->is_array() || vgs->get_array().empty())
      return -1;
    auto& vg = vgs->get_array()[0].get_object();
    return vg.at("allocatable").to_number<int64_t>();
  }

  size_t status_writes() {
    size_t n = 0;
    for (auto& r : server.request_log())
      if (r.method == "PUT" &&
          r.target.find("/nodelocalstorages/node-1/status") != std::string::npos)
        ++n;
    return n;
  }

  test::fake_apiserver server;
  std::shared_ptr<stub_node> stub = std::make_shared<stub_node>();
  caf::actor_system_config cfg;
  caf::actor_system sys;
  std::vector<caf::actor> actors;
};

void put_nls(test::fake_apiserver& server, json::object spec, json::object annotations = {}) {
  server.put("nodelocalstorages",
             json::object{{"apiVersion", "csi.aliyun.com/v1alpha1"},
                          {"kind", "NodeLocalStorage"},
                          {"metadata", {{"name", "node-1"}, {"annotations", annotations}}},
                          {"spec", spec}});
}

} // namespace

TEST(facts_of, counts_what_takes_extents_and_skips_what_is_not_a_disk) {
  auto view = sample_view();
  auto pool = lv("tp", 2 * gib, {"olocal/owner=standalone"});
  pool.segtype = "thin-pool";
  pool.attr = "twi-a-tz--";
  pool.data_percent = 12.5;
  auto thin = lv("local-thin", 5 * gib, {"olocal/owner=standalone"});
  thin.segtype = "thin";
  thin.attr = "Vwi-a-tz--";
  thin.pool_lv = "tp";
  view.vgs[0].lvs.push_back(pool);
  view.vgs[0].lvs.push_back(thin);
  auto f = facts_of(view, vg_options{});
  ASSERT_EQ(f.devices.size(), 1u) << "dm devices are not disks";
  EXPECT_EQ(f.devices[0].name, "/dev/vdb");
  EXPECT_EQ(f.devices[0].media_type, "hdd");
  ASSERT_EQ(f.vgs.size(), 1u);
  auto& vg = f.vgs[0];
  EXPECT_EQ(vg.pvs, std::vector<std::string>{"/dev/vdb"});
  ASSERT_EQ(vg.lvs.size(), 3u) << "thin volumes take no extents";
  for (auto& l : vg.lvs) {
    if (l.name == "local-1")
      EXPECT_TRUE(l.ours);
    else
      EXPECT_FALSE(l.ours) << l.name << ": foreign LVs and thin pools are not allocatable";
  }
  ASSERT_EQ(vg.thin_pools.size(), 1u);
  EXPECT_EQ(vg.thin_pools[0].virtual_bytes, 5 * gib);
  EXPECT_DOUBLE_EQ(vg.thin_pools[0].data_percent, 12.5);
}

TEST(managed_vgs, the_spec_selects_present_groups_and_flags_add_theirs) {
  nls_spec spec;
  spec.list.vgs.include = {"open-local-pool-[0-9]+", "yoda-pool[0-9]+"};
  spec.list.vgs.exclude = {"open-local-pool-9"};
  std::vector<std::string> present = {"ubuntu-vg", "open-local-pool-0", "open-local-pool-9",
                                      "yoda-pool1"};
  EXPECT_EQ(managed_vgs(spec, present, {"extra"}),
            (std::vector<std::string>{"extra", "open-local-pool-0", "yoda-pool1"}));
  EXPECT_EQ(managed_vgs(nls_spec{}, present, {}), std::vector<std::string>{})
    << "an empty include selects nothing";
  spec.list.vgs.include = {"("};
  EXPECT_EQ(managed_vgs(spec, present, {"extra"}), std::vector<std::string>{"extra"})
    << "a bad expression selects nothing (the status raises it as an Event)";
}

TEST_F(node_reporter_test, creates_its_nls_and_reports_the_node) {
  start();
  ASSERT_TRUE(eventually([&] { return allocatable() >= 0; }));
  auto o = nls();
  EXPECT_EQ(o->string_at("spec.nodeName"), "node-1");
  EXPECT_EQ(allocatable(), static_cast<int64_t>(9 * gib)) << "total minus the foreign LV";
  EXPECT_EQ(o->string_at("status.nodeStorageInfo.phase"), "Running");
  auto* devices = o->at_path("status.nodeStorageInfo.deviceInfo");
  ASSERT_TRUE(devices != nullptr && devices->is_array());
  ASSERT_EQ(devices->get_array().size(), 1u);
  EXPECT_EQ(devices->get_array()[0].at("name").as_string(), "/dev/vdb");
}

TEST_F(node_reporter_test, a_change_reaches_the_status_and_nothing_else_is_written) {
  put_nls(server, {{"nodeName", "node-1"},
                   {"listConfig", {{"vgs", {{"include", json::array{"pool[0-9]+"}}}}}}});
  start();
  ASSERT_TRUE(eventually([&] { return allocatable() == static_cast<int64_t>(9 * gib); }));
  auto reported = nls();
  auto* filtered = reported->at_path("status.filteredStorageInfo.volumeGroups");
  ASSERT_TRUE(filtered != nullptr && filtered->is_array());
  EXPECT_EQ(filtered->get_array().size(), 1u) << "listConfig selects pool0";

  ASSERT_TRUE(eventually([&] {
    std::lock_guard<std::mutex> lock{stub->mu};
    return stub->managed == std::vector<std::string>{"pool0", "static"};
  }))
    << "the groups listConfig selects, and --vg's";

  // Unchanged: many polls, no write.
  auto writes = status_writes();
  auto seen = stub->gets.load();
  ASSERT_TRUE(eventually([&] { return stub->gets.load() >= seen + 10; }));
  EXPECT_EQ(status_writes(), writes) << "an unchanged node writes nothing";

  // A new foreign LV lowers allocatable.
  auto view = sample_view();
  view.vgs[0].lvs.push_back(lv("other", 2 * gib));
  view.vgs[0].vg.free_bytes = 6 * gib;
  stub->set(view);
  ASSERT_TRUE(eventually([&] { return allocatable() == static_cast<int64_t>(7 * gib); }));
}

TEST_F(node_reporter_test, heartbeats_refresh_an_unchanged_status) {
  start(100ms);
  ASSERT_TRUE(eventually([&] { return allocatable() >= 0; }));
  auto first = nls()->string_at("status.nodeStorageInfo.state.lastHeartbeatTime");
  auto transition = nls()->string_at("status.nodeStorageInfo.state.lastTransitionTime");
  ASSERT_FALSE(first.empty());
  ASSERT_TRUE(eventually(
    [&] { return nls()->string_at("status.nodeStorageInfo.state.lastHeartbeatTime") != first; }));
  EXPECT_EQ(nls()->string_at("status.nodeStorageInfo.state.lastTransitionTime"), transition)
    << "the state did not change";
}

TEST_F(node_reporter_test, reservations_lower_allocatable_and_bad_ones_raise_an_event) {
  put_nls(server, {{"nodeName", "node-1"}},
          {{"csi.aliyun.com/storage-reserved", R"({"pool0":"50%"})"}});
  start();
  ASSERT_TRUE(eventually([&] { return allocatable() == static_cast<int64_t>(5 * gib); }))
    << "a percentage of the total is held back";
  auto o = nls();
  o->set_annotation("csi.aliyun.com/storage-reserved", R"({"pool0":"lots"})");
  server.put("nodelocalstorages", o->json());
  ASSERT_TRUE(eventually([&] {
    for (auto& e : server.list("events", "default"))
      if (object{e}.string_at("reason") == "InvalidConfiguration" &&
          object{e}.string_at("involvedObject.name") == "node-1")
        return true;
    return false;
  }));
  EXPECT_TRUE(eventually([&] { return allocatable() == static_cast<int64_t>(9 * gib); }))
    << "a bad reservation is ignored, not applied";
}
