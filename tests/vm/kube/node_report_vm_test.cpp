// The NodeLocalStorage reporter on a real node: real LVM, the real node
// supervisor and sysfs, and the fake API server (there is no real one here).

#include "actors/backends/signatures.hpp"
#include "gateways/kube/client.hpp"
#include "gateways/kube/node_reporter.hpp"
#include "gateways/kube/resources.hpp"
#include "tests/support/eventually.hpp"
#include "tests/support/fake_apiserver.hpp"
#include "tests/vm/node/vm_support.hpp"

#include <gtest/gtest.h>

#include <boost/json/serialize.hpp>

using namespace olocal;
using namespace std::chrono_literals;

namespace {

constexpr uint64_t mib = 1ull << 20;

struct reported_vg {
  int64_t total = -1, available = -1, allocatable = -1;
};

reported_vg reported(test::fake_apiserver& api, const std::string& vg) {
  auto doc = api.get("nodelocalstorages", "", "vm-node");
  if (!doc)
    return {};
  kube::object nls{*doc};
  auto* vgs = nls.at_path("status.nodeStorageInfo.volumeGroups");
  if (vgs == nullptr || !vgs->is_array())
    return {};
  for (auto& v : vgs->get_array()) {
    auto& o = v.get_object();
    if (o.at("name").as_string() == vg)
      return {o.at("total").to_number<int64_t>(), o.at("available").to_number<int64_t>(),
              o.at("allocatable").to_number<int64_t>()};
  }
  return {};
}

size_t status_writes(test::fake_apiserver& api) {
  size_t n = 0;
  for (auto& r : api.request_log())
    if (r.method == "PUT" && r.target.find("/status") != std::string::npos)
      ++n;
  return n;
}

/// The reporter of node "vm-node" on the harness's node (heartbeat an hour
/// away, so every write the test sees comes from a change).
caf::actor start_reporter(test::fake_apiserver& api, test::node_harness& h) {
  kube::connection c;
  c.server = api.base_url();
  kube::node_reporter_options ro;
  ro.node_name = "vm-node";
  ro.heartbeat = 1h;
  return kube::spawn_node_reporter(h.rt.system(), std::make_shared<kube::client>(c), h.node, ro);
}

} // namespace

TEST(node_report_vm, capacity_changes_reach_the_status_within_ten_seconds) {
  if (!test::in_vm())
    GTEST_SKIP() << "needs device-mapper (run inside tests/vm/run-in-vm.sh)";
  test::loop_vg disk{"olreport", 256 * mib};
  test::fake_apiserver api;
  test::node_harness h;
  h.setup.volume_groups = {disk.vg};
  h.setup.reconcile_interval = 0ms; // the default 60 s rescan stays: changes must not wait for it
  h.setup.state_dir = "/run/olocal-report-state";
  h.start();

  auto reporter = start_reporter(api, h);

  ASSERT_TRUE(test::eventually([&] { return reported(api, disk.vg).total > 0; }, 30s));
  auto before = reported(api, disk.vg);
  EXPECT_EQ(before.allocatable, before.total) << "nothing foreign in the group yet";

  // Someone else's LV, made by hand: only sysfs changes; the group's own
  // rescan is a minute away.
  test::run_ok({"lvcreate", "-q", "-y", "-L", "32m", "-n", "foreign", disk.vg});
  EXPECT_TRUE(test::eventually(
    [&] { return reported(api, disk.vg).allocatable == before.total - int64_t(32 * mib); }, 10s))
    << "a new LV shows in the reported allocatable within 10 s";

  // One of ours, through the node's actors: available drops, allocatable
  // (open-local's meaning: what our volumes may use) does not.
  create_volume_req req;
  req.vg = disk.vg;
  req.lv.name = "local-report-1";
  req.lv.size_bytes = 64 * mib;
  auto made = test::ask<volume_state>(h.rt, h.node, req);
  ASSERT_TRUE(made) << render(made.error());
  EXPECT_TRUE(test::eventually(
    [&] {
      auto now = reported(api, disk.vg);
      return now.available == before.available - int64_t(96 * mib) &&
             now.allocatable == before.total - int64_t(32 * mib);
    },
    10s));

  // A new disk.
  test::loop_device added{"/run", "olocal-report-new.img", 32 * mib};
  auto device_listed = [&] {
    auto doc = api.get("nodelocalstorages", "", "vm-node");
    if (!doc)
      return false;
    kube::object nls{*doc};
    auto* devices = nls.at_path("status.nodeStorageInfo.deviceInfo");
    if (devices == nullptr || !devices->is_array())
      return false;
    for (auto& d : devices->get_array())
      if (d.get_object().at("name").as_string() == added.path)
        return true;
    return false;
  };
  EXPECT_TRUE(test::eventually(device_listed, 10s)) << "a new device shows within 10 s";

  // Nothing changes: nothing is written (the heartbeat is an hour away).
  // The new disk's facts may be refined by one more scan first (a loop
  // device's size and content settle after losetup): wait for a quiet spell.
  ASSERT_TRUE(test::eventually(
    [&] {
      auto w = status_writes(api);
      std::this_thread::sleep_for(3s);
      return status_writes(api) == w;
    },
    30s));
  auto writes = status_writes(api);
  auto status_before = boost::json::serialize(*api.get("nodelocalstorages", "", "vm-node"));
  std::this_thread::sleep_for(6s); // three report intervals
  EXPECT_EQ(status_writes(api), writes)
    << "an unchanged node writes nothing\nbefore: " << status_before
    << "\nafter:  " << boost::json::serialize(*api.get("nodelocalstorages", "", "vm-node"));

  caf::anon_send_exit(reporter, caf::exit_reason::user_shutdown);
  test::ask<bool>(h.rt, h.node, delete_volume_req{"local-report-1"});
  test::run_ok({"lvremove", "-q", "-y", disk.vg + "/foreign"});
}

TEST(node_report_vm, the_spec_creates_its_group_and_refuses_a_device_with_a_filesystem) {
  if (!test::in_vm())
    GTEST_SKIP() << "needs device-mapper (run inside tests/vm/run-in-vm.sh)";
  test::loop_device free_dev{"/run", "olocal-report-free.img", 128 * mib};
  test::loop_device fs_dev{"/run", "olocal-report-fs.img", 64 * mib};
  test::run_ok({"mkfs.ext4", "-q", "-F", fs_dev.path});
  test::fake_apiserver api;
  api.put(
    "nodelocalstorages",
    boost::json::object{
      {"apiVersion", "csi.aliyun.com/v1alpha1"},
      {"kind", "NodeLocalStorage"},
      {"metadata", {{"name", "vm-node"}}},
      {"spec",
       {{"nodeName", "vm-node"},
        {"listConfig", {{"vgs", {{"include", boost::json::array{"olinit-.*"}}}}}},
        {"resourceToBeInited",
         {{"vgs", boost::json::array{
                    {{"name", "olinit-good"}, {"devices", boost::json::array{free_dev.path}}},
                    {{"name", "olinit-bad"}, {"devices", boost::json::array{fs_dev.path}}}}}}}}}});
  test::node_harness h;
  h.setup.reconcile_interval = 0ms;
  h.start();
  auto reporter = start_reporter(api, h);

  EXPECT_TRUE(test::eventually([&] { return reported(api, "olinit-good").total > 0; }, 60s))
    << "the group is created, managed and reported";
  auto filtered = [&] {
    auto doc = api.get("nodelocalstorages", "", "vm-node");
    if (!doc)
      return std::string{};
    kube::object nls{*doc};
    auto* vgs = nls.at_path("status.filteredStorageInfo.volumeGroups");
    return vgs != nullptr ? boost::json::serialize(*vgs) : std::string{};
  };

  EXPECT_TRUE(test::eventually([&] { return filtered() == R"(["olinit-good"])"; }, 30s))
    << filtered();
  EXPECT_TRUE(test::eventually(
    [&] {
      for (auto& e : api.list("events", "default")) {
        kube::object ev{e};
        if (ev.string_at("reason") == "CreateVGFailed" &&
            ev.string_at("message").find(fs_dev.path) != std::string::npos)
          return true;
      }
      return false;
    },
    30s))
    << "the device with a filesystem is refused with an Event";
  EXPECT_EQ(probe_signatures(fs_dev.path).value(), std::vector<std::string>{"ext4"})
    << "and left untouched";

  caf::anon_send_exit(reporter, caf::exit_reason::user_shutdown);
  caf::anon_send_exit(h.node, caf::exit_reason::user_shutdown);
  h.node = nullptr;
  run_command({{"vgremove", "-ff", "-y", "olinit-good"}, 60s, {"DM_DISABLE_UDEV=1"}});
  run_command({{"pvremove", "-ff", "-y", free_dev.path}, 60s, {"DM_DISABLE_UDEV=1"}});
}
