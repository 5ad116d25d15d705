// The scheduler extender's HTTP answers for kube-scheduler's real payloads
// (ExtenderArgs with nodenames and with a NodeList), over a hand-built view
// snapshot: filter results, failure reasons, scores in input order, malformed
// bodies, readiness, the cache dump and the local_* metrics.

#include "gateways/extender/extender.hpp"

#include "gateways/kube/placement_actor.hpp"
#include "gateways/kube/placement_view.hpp"

#include <gtest/gtest.h>

#include <boost/json.hpp>

#include <memory>
#include <string>

using namespace olocal;
using namespace olocal::extender;
namespace json = boost::json;

namespace {

constexpr uint64_t gib = 1ull << 30;

placement::node_ptr node(const std::string& name, uint64_t capacity, uint64_t charged) {
  auto n = std::make_shared<placement::node_state>();
  n->name = name;
  n->reported = true;
  placement::vg_state vg;
  vg.name = "pool0";
  vg.capacity = capacity;
  vg.charged = charged;
  n->vgs.push_back(vg);
  placement::exclusive_unit dev;
  dev.name = "/dev/vdc";
  dev.capacity = 100 * gib;
  dev.media = "hdd";
  dev.taken = name == "n2";
  n->devices.push_back(dev);
  if (name == "n3") { // what the placement actor records for reports
    n->charges.push_back({"inline:u-9/scratch", "LVM", "pool0", gib, "default/job-1", "Inline"});
    n->charges.push_back({"pv/local-1", "LVM", "pool0", 40 * gib, "default/data-db-0", "Bound"});
    n->charges.push_back({"res/default/logs", "LVM", "pool0", 9 * gib, "default/logs", "Reserved"});
  }
  return n;
}

kube::object parse(const std::string& text) {
  return kube::object{json::parse(text).as_object()};
}

/// Three nodes: n1 with 100 GiB free, n2 with 5 GiB free, n3 with 50 GiB.
std::shared_ptr<kube::placement_snapshot> snapshot() {
  auto view = std::make_shared<placement::cluster_view>();
  view->generation = 7;
  view->nodes["n1"] = node("n1", 100 * gib, 0);
  view->nodes["n2"] = node("n2", 100 * gib, 95 * gib);
  view->nodes["n3"] = node("n3", 100 * gib, 50 * gib);
  auto idx = std::make_shared<kube::object_index>();
  idx->storage_classes["open-local-lvm"] =
    parse(R"({"metadata":{"name":"open-local-lvm"},"provisioner":"local.csi.aliyun.com",)"
          R"("parameters":{"volumeType":"LVM"},"volumeBindingMode":"WaitForFirstConsumer"})");
  idx->storage_classes["other"] =
    parse(R"({"metadata":{"name":"other"},"provisioner":"ebs.csi.aws.com","parameters":{}})");
  idx->pvcs["default/data-web-0"] =
    parse(R"({"metadata":{"name":"data-web-0","namespace":"default"},)"
          R"("spec":{"storageClassName":"open-local-lvm","accessModes":["ReadWriteOnce"],)"
          R"("resources":{"requests":{"storage":"10Gi"}}},"status":{"phase":"Pending"}})");
  idx->pvcs["default/ebs-0"] =
    parse(R"({"metadata":{"name":"ebs-0","namespace":"default"},)"
          R"("spec":{"storageClassName":"other","resources":{"requests":{"storage":"10Gi"}}},)"
          R"("status":{"phase":"Pending"}})");
  auto s = std::make_shared<kube::placement_snapshot>();
  s->view = view;
  s->objects = idx;
  s->synced = true;
  return s;
}

std::string pod_with(const std::string& claim) {
  return R"({"metadata":{"name":"web-0","namespace":"default","uid":"u-1"},)"
         R"("spec":{"schedulerName":"default-scheduler","containers":[{"name":"c","image":"x"}],)"
         R"("volumes":[{"name":"data","persistentVolumeClaim":{"claimName":")" +
         claim + R"("}}]}})";
}

json::object body_of(const http::response& r) {
  return json::parse(r.body).as_object();
}

} // namespace

TEST(extender, predicates_with_nodenames_pass_what_fits_and_name_why_not) {
  auto s = snapshot();
  auto r =
    predicates(R"({"pod":)" + pod_with("data-web-0") + R"(,"nodenames":["n1","n2","n3","ghost"]})",
               s.get(), {});
  ASSERT_EQ(r.status, 200u);
  EXPECT_EQ(r.content_type, "application/json");
  auto o = body_of(r);
  EXPECT_EQ(json::serialize(o.at("nodenames")), R"(["n1","n3"])");
  auto& failed = o.at("failedNodes").as_object();
  ASSERT_EQ(failed.size(), 2u);
  EXPECT_NE(std::string(failed.at("n2").as_string()).find("n2"), std::string::npos);
  EXPECT_NE(std::string(failed.at("ghost").as_string()).find("not known"), std::string::npos)
    << "an unknown node is reported failed with a reason, not dropped";
  EXPECT_FALSE(o.contains("error"));
}

TEST(extender, predicates_with_a_node_list_answer_the_node_objects) {
  auto s = snapshot();
  auto r = predicates(R"({"pod":)" + pod_with("data-web-0") +
                        R"(,"nodes":{"items":[{"metadata":{"name":"n2"}},)"
                        R"({"metadata":{"name":"n1","labels":{"a":"b"}}}]}})",
                      s.get(), {});
  ASSERT_EQ(r.status, 200u);
  auto o = body_of(r);
  auto& items = o.at("nodes").as_object().at("items").as_array();
  ASSERT_EQ(items.size(), 1u);
  EXPECT_EQ(json::serialize(items[0]), R"({"metadata":{"name":"n1","labels":{"a":"b"}}})")
    << "the Node object comes back whole";
  EXPECT_TRUE(o.at("failedNodes").as_object().contains("n2"));
}

TEST(extender, pods_without_our_volumes_are_not_filtered) {
  auto s = snapshot();
  auto r =
    predicates(R"({"pod":)" + pod_with("ebs-0") + R"(,"nodenames":["n1","n2"]})", s.get(), {});
  auto o = body_of(r);
  EXPECT_EQ(json::serialize(o.at("nodenames")), R"(["n1","n2"])");
  // A PVC whose claim does not exist at all does not block the pod either.
  r = predicates(R"({"pod":)" + pod_with("missing") + R"(,"nodenames":["n2"]})", s.get(), {});
  EXPECT_EQ(json::serialize(body_of(r).at("nodenames")), R"(["n2"])");
}

TEST(extender, priorities_score_every_node_in_input_order) {
  auto s = snapshot();
  auto r = priorities(R"({"pod":)" + pod_with("data-web-0") + R"(,"nodenames":["n3","n2","n1"]})",
                      s.get(), {});
  ASSERT_EQ(r.status, 200u);
  auto list = json::parse(r.body).as_array();
  ASSERT_EQ(list.size(), 3u);
  EXPECT_EQ(list[0].as_object().at("host").as_string(), "n3");
  EXPECT_EQ(list[1].as_object().at("host").as_string(), "n2");
  EXPECT_EQ(list[1].as_object().at("score").as_int64(), 0) << "n2 cannot hold it";
  // binpack: n3 (50 + 10 of 100 GiB used: 6) above n1 (10 of 100: 1).
  EXPECT_EQ(list[0].as_object().at("score").as_int64(), 6);
  EXPECT_EQ(list[2].as_object().at("score").as_int64(), 1);
  extender_options spread;
  spread.how = placement::strategy::spread;
  r = priorities(R"({"pod":)" + pod_with("data-web-0") + R"(,"nodenames":["n3","n1"]})", s.get(),
                 spread);
  list = json::parse(r.body).as_array();
  EXPECT_EQ(list[0].as_object().at("score").as_int64(), 4); // 1 - 0.6
  EXPECT_EQ(list[1].as_object().at("score").as_int64(), 9); // 1 - 0.1
}

TEST(extender, malformed_bodies_get_errors_never_a_crash) {
  auto s = snapshot();
  for (std::string bad :
       {"", "{", "[]", R"({"pod":1})", R"({"pod":{}})", R"({"pod":{},"nodenames":[1]})",
        R"({"pod":{},"nodes":{"items":[{}]}})", R"({"pod":{},"nodenames":"n1"})"}) {
    auto f = predicates(bad, s.get(), {});
    EXPECT_EQ(f.status, 200u) << bad;
    EXPECT_TRUE(body_of(f).contains("error")) << bad << " -> " << f.body;
    auto p = priorities(bad, s.get(), {});
    EXPECT_EQ(p.status, 400u) << bad;
    EXPECT_FALSE(p.body.empty());
  }
}

TEST(extender, nothing_is_answered_from_an_unsynced_view) {
  auto s = snapshot();
  s->synced = false;
  auto f =
    predicates(R"({"pod":)" + pod_with("data-web-0") + R"(,"nodenames":["n1"]})", s.get(), {});
  EXPECT_NE(std::string(body_of(f).at("error").as_string()).find("not ready"), std::string::npos);
  EXPECT_EQ(priorities(R"({"pod":{},"nodenames":["n1"]})", nullptr, {}).status, 503u);
  EXPECT_EQ(cache("", s.get()).status, 503u);
}

TEST(extender, cache_dumps_the_view_or_one_node) {
  auto s = snapshot();
  auto all = cache("", s.get());
  ASSERT_EQ(all.status, 200u);
  EXPECT_NE(all.body.find("\"n1\""), std::string::npos);
  auto one = cache("nodeName=n2", s.get());
  ASSERT_EQ(one.status, 200u);
  EXPECT_NE(one.body.find("\"n2\""), std::string::npos);
  EXPECT_EQ(one.body.find("\"n1\""), std::string::npos);
  auto ghost = cache("nodeName=ghost", s.get());
  EXPECT_EQ(ghost.status, 400u);
  EXPECT_EQ(ghost.body, "ghost is not found\n");
}

TEST(extender, local_metrics_report_used_and_truly_available_values) {
  auto s = snapshot();
  auto text = local_metrics(*s->view);
  EXPECT_NE(text.find("local_volume_group_total{nodename=\"n2\",vgname=\"pool0\"} 107374182400"),
            std::string::npos)
    << text;
  EXPECT_NE(text.find("local_volume_group_used{nodename=\"n2\",vgname=\"pool0\"} 102005473280"),
            std::string::npos);
  EXPECT_NE(text.find("local_volume_group_available{nodename=\"n2\",vgname=\"pool0\"} 5368709120"),
            std::string::npos);
  EXPECT_NE(text.find("local_device_available{nodename=\"n2\",name=\"/dev/vdc\",type=\"hdd\"} 0"),
            std::string::npos)
    << "a bound device has nothing available (open-local reported its total)";
  EXPECT_NE(text.find("local_device_bind{nodename=\"n2\",name=\"/dev/vdc\"} 1"), std::string::npos);
  EXPECT_NE(text.find("local_view_generation 7"), std::string::npos);
  EXPECT_NE(text.find(R"(local_allocated_num{nodename="n3"} 1)"), std::string::npos) << text;
  EXPECT_NE(text.find(R"(local_allocated_num{nodename="n1"} 0)"), std::string::npos);
  EXPECT_NE(text.find(R"(local_local_pv{nodename="n3",pv_name="local-1",pv_type="LVM",)"
                      R"(pvc_name="data-db-0",pvc_ns="default",status="Bound",)"
                      R"(storage_name="pool0"} 42949672960)"),
            std::string::npos);
  EXPECT_NE(text.find(R"(local_inline_volume{pod_name="job-1",pod_namespace="default",)"
                      R"(nodename="n3",vgname="pool0",volume_name="scratch"} 1073741824)"),
            std::string::npos);
  EXPECT_NE(text.find(R"(local_reserved_volume{nodename="n3",pvc_name="logs",pvc_ns="default",)"
                      R"(type="LVM",storage_name="pool0"} 9663676416)"),
            std::string::npos);
}

TEST(extender, options_parse_like_open_locals) {
  auto w = parse_anti_affinity("MountPoint=5,Device=2");
  ASSERT_TRUE(w);
  EXPECT_EQ(w->mount_point, 5);
  EXPECT_EQ(w->device, 2);
  w = parse_anti_affinity("Device");
  ASSERT_TRUE(w);
  EXPECT_EQ(w->device, 5) << "a bare type weighs 5";
  EXPECT_FALSE(parse_anti_affinity("Device=11"));
  EXPECT_FALSE(parse_anti_affinity("Disk=1"));
  EXPECT_FALSE(parse_anti_affinity("Device=x"));
  EXPECT_EQ(query_param("nodeName=n%2D1&volumeType=LVM", "nodeName"), "n-1");
  EXPECT_EQ(query_param("a=1&b", "b"), "");
  EXPECT_EQ(query_param("a=1", "c"), "");
}
