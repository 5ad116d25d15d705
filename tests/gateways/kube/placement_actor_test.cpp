#include "gateways/kube/placement_actor.hpp"

#include "actors/core/errc.hpp"
#include "gateways/kube/client.hpp"
#include "tests/support/eventually.hpp"
#include "tests/support/fake_apiserver.hpp"

#include <caf/all.hpp>

#include <boost/json.hpp>
#include <gtest/gtest.h>

using namespace olocal;
using namespace olocal::kube;
using namespace std::chrono_literals;
using olocal::test::eventually;

namespace {

namespace json = boost::json;

constexpr uint64_t gi = 1ull << 30;

std::string quantity(uint64_t bytes) {
  return std::to_string(bytes);
}

class placement_actor_test : public ::testing::Test {
public:
  placement_actor_test() : sys(cfg) {}

  ~placement_actor_test() override {
    if (actor)
      caf::anon_send_exit(actor, caf::exit_reason::user_shutdown);
  }

  void start(placement_options opts = {}) {
    connection c;
    c.server = server.base_url();
    c.qps = 0;
    c.retry_base = 5ms;
    auto api = std::make_shared<client>(c);
    actor = spawn_placement(sys, api, reader, opts);
  }

  void start_synced(placement_options opts = {}) {
    start(opts);
    ASSERT_TRUE(eventually([&] { return reader->current()->synced; }));
  }

  // -- objects -------------------------------------------------------------------------

  void put_node(const std::string& name) {
    server.put("nodes", json::object{
                          {"apiVersion", "v1"}, {"kind", "Node"}, {"metadata", {{"name", name}}}});
  }

  void put_nls(const std::string& node, uint64_t allocatable) {
    json::object status{{"nodeStorageInfo",
                         {{"volumeGroups", json::array{json::object{{"name", "pool0"},
                                                                    {"total", allocatable},
                                                                    {"allocatable", allocatable}}}},
                          {"deviceInfo", json::array{}},
                          {"mountPoints", json::array{}}}},
                        {"filteredStorageInfo",
                         {{"volumeGroups", json::array{"pool0"}},
                          {"devices", json::array{}},
                          {"mountPoints", json::array{}}}}};
    server.put("nodelocalstorages", json::object{{"apiVersion", "csi.aliyun.com/v1alpha1"},
                                                 {"kind", "NodeLocalStorage"},
                                                 {"metadata", {{"name", node}}},
                                                 {"spec", {{"nodeName", node}}},
                                                 {"status", status}});
  }

  void put_sc() {
    server.put("storageclasses", json::object{{"apiVersion", "storage.k8s.io/v1"},
                                              {"kind", "StorageClass"},
                                              {"metadata", {{"name", "open-local-lvm"}}},
                                              {"provisioner", "local.csi.aliyun.com"},
                                              {"volumeBindingMode", "WaitForFirstConsumer"},
                                              {"parameters", {{"volumeType", "LVM"}}}});
  }

  void put_pvc(const std::string& name, uint64_t bytes) {
    server.put("persistentvolumeclaims",
               json::object{{"apiVersion", "v1"},
                            {"kind", "PersistentVolumeClaim"},
                            {"metadata", {{"name", name}, {"namespace", "default"}}},
                            {"spec",
                             {{"storageClassName", "open-local-lvm"},
                              {"accessModes", json::array{"ReadWriteOnce"}},
                              {"resources", {{"requests", {{"storage", quantity(bytes)}}}}}}},
                            {"status", {{"phase", "Pending"}}}});
  }

  void put_pv(const std::string& name, const std::string& claim, uint64_t bytes,
              const std::string& node = "node-1") {
    json::object affinity{
      {"required",
       {{"nodeSelectorTerms",
         json::array{json::object{
           {"matchExpressions",
            json::array{json::object{{"key", "kubernetes.io/hostname"},
                                     {"operator", "In"},
                                     {"values", json::array{json::string{node}}}}}}}}}}}};
    server.put("persistentvolumes",
               json::object{{"apiVersion", "v1"},
                            {"kind", "PersistentVolume"},
                            {"metadata", {{"name", name}}},
                            {"spec",
                             {{"capacity", {{"storage", quantity(bytes)}}},
                              {"claimRef", {{"namespace", "default"}, {"name", claim}}},
                              {"csi",
                               {{"driver", "local.csi.aliyun.com"},
                                {"volumeHandle", name},
                                {"volumeAttributes", {{"vgName", "pool0"}}}}},
                              {"nodeAffinity", affinity}}},
                            {"status", {{"phase", "Bound"}}}});
  }

  /// A pod using `claims`, on `node` ("" = not scheduled), with extra volumes.
  void put_pod(const std::string& name, const std::vector<std::string>& claims,
               const std::string& node = "", json::array extra = {},
               const std::string& phase = "Pending") {
    json::array volumes = std::move(extra);
    for (auto& c : claims)
      volumes.push_back(json::object{{"name", c}, {"persistentVolumeClaim", {{"claimName", c}}}});
    json::object spec{{"volumes", volumes}};
    if (!node.empty())
      spec["nodeName"] = node;
    server.put(
      "pods",
      json::object{{"apiVersion", "v1"},
                   {"kind", "Pod"},
                   {"metadata", {{"name", name}, {"namespace", "default"}, {"uid", "uid-" + name}}},
                   {"spec", spec},
                   {"status", {{"phase", phase}}}});
  }

  static json::object inline_volume(const std::string& name, const std::string& size) {
    return json::object{{"name", name},
                        {"csi",
                         {{"driver", "local.csi.aliyun.com"},
                          {"volumeAttributes", {{"vgName", "pool0"}, {"size", size}}}}}};
  }

  // -- observation ---------------------------------------------------------------------

  /// The published charge of node-1's pool0 (nullopt while absent).
  std::optional<uint64_t> charged(const std::string& node = "node-1") {
    auto snap = reader->current();
    auto it = snap->view->nodes.find(node);
    if (it == snap->view->nodes.end())
      return std::nullopt;
    for (auto& vg : it->second->vgs)
      if (vg.name == "pool0")
        return vg.charged;
    return std::nullopt;
  }

  bool charged_is(uint64_t bytes) {
    auto c = charged();
    return c && *c == bytes;
  }

  json::object state() {
    json::object out;
    caf::scoped_actor self{sys};
    self->request(actor, 10s, inspect_atom::value)
      .receive([&](actor_report& r) { out = json::parse(r.state_json).as_object(); },
               [&](caf::error& err) { ADD_FAILURE() << render(err); });
    return out;
  }

  uint64_t state_count(const std::string& key) {
    auto s = state();
    auto* v = s.if_contains(key);
    return v != nullptr ? v->to_number<uint64_t>() : ~0ull;
  }

  caf::expected<pvc_reservation> reserve(const std::string& pvc,
                                         const std::string& node = "node-1") {
    caf::expected<pvc_reservation> out{caf::error{}};
    caf::scoped_actor self{sys};
    self->request(actor, 10s, reserve_req{"default", pvc, node})
      .receive([&](pvc_reservation& r) { out = std::move(r); },
               [&](caf::error& err) { out = std::move(err); });
    return out;
  }

  /// A cluster with node-1 (pool0 of `allocatable`) and the LVM StorageClass.
  void basic_cluster(uint64_t allocatable = 100 * gi) {
    put_node("node-1");
    put_nls("node-1", allocatable);
    put_sc();
  }

  test::fake_apiserver server;
  caf::actor_system_config cfg;
  caf::actor_system sys;
  std::shared_ptr<placement_reader> reader = std::make_shared<placement_reader>();
  placement_actor actor;
};

} // namespace

TEST_F(placement_actor_test, publishes_synced_only_after_every_informer_has_synced) {
  basic_cluster();
  // The VolumeSnapshotClass list fails for the whole test: that informer never syncs.
  server.fail_next(100'000, 503, "/volumesnapshotclasses");
  EXPECT_FALSE(reader->current()->synced);
  EXPECT_TRUE(reader->current()->view != nullptr);
  start();
  ASSERT_TRUE(eventually([&] { return state_count("informersSynced") == 8; }));
  EXPECT_EQ(state_count("informers"), 9u);
  EXPECT_FALSE(reader->current()->synced);
  put_pvc("data", gi);
  auto r = reserve("data");
  ASSERT_FALSE(r);
  EXPECT_EQ(code_of(r.error()), errc::unavailable) << render(r.error());
}

TEST_F(placement_actor_test, a_pv_of_ours_charges_its_group_and_its_deletion_releases) {
  basic_cluster();
  start_synced();
  ASSERT_TRUE(eventually([&] { return charged_is(0); }));
  auto snap = reader->current();
  ASSERT_TRUE(snap->view->find("node-1") != nullptr);
  EXPECT_EQ(snap->view->find("node-1")->vgs[0].capacity, 100 * gi);
  put_pv("pv-1", "data", 10 * gi);
  ASSERT_TRUE(eventually([&] { return charged_is(10 * gi); }));
  EXPECT_EQ(state_count("pvsCharged"), 1u);
  server.remove("persistentvolumes", "", "pv-1");
  ASSERT_TRUE(eventually([&] { return charged_is(0); }));
  EXPECT_EQ(state_count("pvsCharged"), 0u);
}

TEST_F(placement_actor_test, a_pv_resize_changes_the_charge) {
  basic_cluster();
  put_pv("pv-1", "data", 10 * gi);
  start_synced();
  ASSERT_TRUE(eventually([&] { return charged_is(10 * gi); }));
  put_pv("pv-1", "data", 15 * gi);
  ASSERT_TRUE(eventually([&] { return charged_is(15 * gi); }));
}

TEST_F(placement_actor_test, a_reservation_covers_the_pod_and_its_pv_replaces_it) {
  basic_cluster();
  put_pvc("a", 10 * gi);
  put_pvc("b", 5 * gi);
  put_pod("web", {"a", "b"});
  start_synced();
  auto r = reserve("a");
  ASSERT_TRUE(r) << render(r.error());
  EXPECT_EQ(r->node, "node-1");
  EXPECT_EQ(r->assignment.request_id, "default/a");
  EXPECT_EQ(r->assignment.vg, "pool0");
  EXPECT_EQ(r->assignment.bytes, 10 * gi);
  // Both PVCs of the pod are charged at once.
  ASSERT_TRUE(eventually([&] { return charged_is(15 * gi); }));
  EXPECT_EQ(state_count("reservationCount"), 2u);

  // The sibling is answered from the reservation, again and again.
  auto b = reserve("b");
  ASSERT_TRUE(b) << render(b.error());
  EXPECT_EQ(b->assignment.request_id, "default/b");
  EXPECT_EQ(b->assignment.bytes, 5 * gi);
  EXPECT_TRUE(reserve("a"));
  EXPECT_EQ(state_count("reservedTotal"), 2u) << "nothing reserved twice";

  // The PV (provisioned a little larger) replaces a's reservation: 12 + 5, never 27.
  put_pv("pv-a", "a", 12 * gi);
  ASSERT_TRUE(eventually([&] { return charged_is(17 * gi); }));
  EXPECT_EQ(state_count("reservationCount"), 1u);
  EXPECT_EQ(state_count("pvsCharged"), 1u);
  put_pv("pv-b", "b", 5 * gi);
  ASSERT_TRUE(eventually([&] { return state_count("reservationCount") == 0; }));
  ASSERT_TRUE(eventually([&] { return charged_is(17 * gi); }));
}

TEST_F(placement_actor_test, reservations_expire_after_their_ttl) {
  basic_cluster();
  put_pvc("a", 10 * gi);
  put_pod("web", {"a"});
  placement_options opts;
  opts.reservation_ttl = 50ms;
  start_synced(opts);
  ASSERT_TRUE(reserve("a"));
  ASSERT_TRUE(eventually([&] { return state_count("reservationCount") == 0; }));
  EXPECT_EQ(state_count("expiredTotal"), 1u);
  ASSERT_TRUE(eventually([&] { return charged_is(0); }));
}

TEST_F(placement_actor_test, deleting_the_pvc_releases_its_reservation) {
  basic_cluster();
  put_pvc("a", 10 * gi);
  put_pod("web", {"a"});
  start_synced();
  ASSERT_TRUE(reserve("a"));
  ASSERT_TRUE(eventually([&] { return charged_is(10 * gi); }));
  server.remove("persistentvolumeclaims", "default", "a");
  ASSERT_TRUE(eventually([&] { return state_count("reservationCount") == 0; }));
  ASSERT_TRUE(eventually([&] { return charged_is(0); }));
}

TEST_F(placement_actor_test, reserve_errors_name_what_is_wrong) {
  basic_cluster(8 * gi);
  put_pvc("big", 10 * gi);
  put_pod("web", {"big"});
  start_synced();
  auto missing = reserve("nope");
  ASSERT_FALSE(missing);
  EXPECT_EQ(code_of(missing.error()), errc::not_found);
  EXPECT_NE(render(missing.error()).find("default/nope"), std::string::npos);
  auto node = reserve("big", "node-9");
  ASSERT_FALSE(node);
  EXPECT_EQ(code_of(node.error()), errc::not_found);
  EXPECT_NE(render(node.error()).find("node-9"), std::string::npos);
  auto full = reserve("big");
  ASSERT_FALSE(full);
  EXPECT_EQ(code_of(full.error()), errc::resource_exhausted) << render(full.error());
  EXPECT_EQ(state_count("reservationCount"), 0u);
}

TEST_F(placement_actor_test, inline_volumes_count_once_the_pod_is_bound) {
  basic_cluster();
  start_synced();
  put_pod("pending", {}, "", json::array{inline_volume("scratch", "3Gi")});
  put_pod("bound", {}, "node-1", json::array{inline_volume("scratch", "2Gi")});
  ASSERT_TRUE(eventually([&] { return state_count("inlineVolumes") == 1; }));
  ASSERT_TRUE(eventually([&] { return charged_is(2 * gi); }));
  // Finished: released.
  put_pod("bound", {}, "node-1", json::array{inline_volume("scratch", "2Gi")}, "Succeeded");
  ASSERT_TRUE(eventually([&] { return state_count("inlineVolumes") == 0; }));
  ASSERT_TRUE(eventually([&] { return charged_is(0); }));
}

TEST_F(placement_actor_test, readers_see_a_new_generation_after_a_change) {
  basic_cluster();
  start_synced();
  auto before = reader->current();
  ASSERT_TRUE(before->synced);
  auto g0 = before->view->generation;
  put_nls("node-1", 200 * gi);
  ASSERT_TRUE(eventually([&] {
    auto now = reader->current();
    auto* n = now->view->find("node-1");
    return now->view->generation > g0 && n != nullptr && !n->vgs.empty() &&
           n->vgs[0].capacity == 200 * gi;
  }));
  // The old snapshot is untouched.
  EXPECT_EQ(before->view->generation, g0);
  EXPECT_EQ(before->view->find("node-1")->vgs[0].capacity, 100 * gi);
  // Objects are published too.
  EXPECT_EQ(reader->current()->objects->storage_classes.count("open-local-lvm"), 1u);
  // Deleting the NodeLocalStorage removes the node's capacity (the Node remains).
  server.remove("nodelocalstorages", "", "node-1");
  ASSERT_TRUE(eventually([&] {
    auto* n = reader->current()->view->find("node-1");
    return n != nullptr && !n->reported && n->vgs.empty();
  }));
}

TEST_F(placement_actor_test, a_withdrawn_or_changed_node_selection_releases_the_reservation) {
  basic_cluster();
  put_node("node-2");
  put_nls("node-2", 100 * gi);
  put_pvc("a", 10 * gi);
  put_pvc("b", 10 * gi);
  put_pod("web", {"a"});
  put_pod("db", {"b"});
  start_synced();
  auto annotate = [&](const std::string& name, const std::string& node) {
    auto doc = server.get("persistentvolumeclaims", "default", name);
    ASSERT_TRUE(doc);
    auto& meta = (*doc)["metadata"].as_object();
    if (node.empty())
      meta.erase("annotations");
    else
      meta["annotations"] = json::object{{"volume.kubernetes.io/selected-node", node}};
    server.put("persistentvolumeclaims", *doc);
  };
  annotate("a", "node-1");
  annotate("b", "node-1");
  ASSERT_TRUE(reserve("a"));
  ASSERT_TRUE(reserve("b"));
  ASSERT_TRUE(eventually([&] { return charged_is(20 * gi); }));
  // Provisioning of a failed for good: external-provisioner removes the
  // selection and the pod is rescheduled. The reservation goes with it.
  annotate("a", "");
  ASSERT_TRUE(eventually([&] { return charged_is(10 * gi); }));
  // The scheduler picked another node for b: its reservation on node-1 goes.
  annotate("b", "node-2");
  ASSERT_TRUE(eventually([&] { return charged_is(0); }));
  EXPECT_EQ(state_count("reservationCount"), 0u);
}

TEST_F(placement_actor_test, a_claim_whose_pv_is_charged_is_never_reserved_again) {
  basic_cluster();
  put_pvc("a", 10 * gi);
  put_pvc("b", 5 * gi);
  put_pod("web", {"a", "b"});
  start_synced();
  ASSERT_TRUE(reserve("a"));
  ASSERT_TRUE(eventually([&] { return charged_is(15 * gi); }));
  // a's PV appears; the PVC is not updated to Bound yet.
  put_pv("pv-a", "a", 10 * gi);
  ASSERT_TRUE(eventually([&] { return state_count("pvsCharged") == 1; }));
  auto again = reserve("a");
  ASSERT_TRUE(again) << render(again.error());
  EXPECT_EQ(again->node, "node-1");
  // b's reservation expires or is released: reserving b reserves only b.
  auto b = reserve("b");
  ASSERT_TRUE(b);
  ASSERT_TRUE(eventually([&] { return charged_is(15 * gi); }))
    << "the PV and b's reservation, a counted once: " << (charged() ? *charged() : 0);
  EXPECT_EQ(state_count("reservationCount"), 1u);
}
