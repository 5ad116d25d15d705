#include "gateways/kube/resources.hpp"

#include <gtest/gtest.h>

#include <boost/json.hpp>

using namespace olocal::kube;

TEST(resource_kind, builds_the_real_paths) {
  EXPECT_EQ(kinds::pod.collection_path("default"), "/api/v1/namespaces/default/pods");
  EXPECT_EQ(kinds::pod.collection_path(), "/api/v1/pods") << "all namespaces";
  EXPECT_EQ(kinds::node_local_storage.object_path("", "node-1", "status"),
            "/apis/csi.aliyun.com/v1alpha1/nodelocalstorages/node-1/status");
  EXPECT_EQ(kinds::lease.object_path("kube-system", "open-local"),
            "/apis/coordination.k8s.io/v1/namespaces/kube-system/leases/open-local");
  EXPECT_EQ(kinds::storage_class.collection_path("ignored"),
            "/apis/storage.k8s.io/v1/storageclasses")
    << "cluster-scoped kinds have no namespace";
  EXPECT_EQ(kinds::find("VolumeSnapshotContent"), &kinds::volume_snapshot_content);
  EXPECT_EQ(kinds::find("Nope"), nullptr);
  EXPECT_EQ(kinds::all().size(), 13u);
}

TEST(object, keeps_unknown_fields_through_changes) {
  auto parsed = parse_object(R"({"apiVersion":"v1","kind":"PersistentVolume",
    "metadata":{"name":"local-1","resourceVersion":"42","annotations":{"other/x":"y"},
                "futureField":{"a":[1,2]}},
    "spec":{"capacity":{"storage":"10Gi"},"csi":{"driver":"local.csi.aliyun.com",
            "volumeHandle":"local-1","volumeAttributes":{"vgName":"pool"}},
            "claimRef":{"namespace":"ns","name":"data"},"persistentVolumeReclaimPolicy":"Delete",
            "nodeAffinity":{"required":{"nodeSelectorTerms":[{"matchExpressions":[
              {"key":"kubernetes.io/hostname","operator":"In","values":["node-1"]}]}]}},
            "newSpecField":true},
    "status":{"phase":"Bound"}})");
  ASSERT_TRUE(parsed);
  auto copy = *parsed;
  copy.set_annotation("csi.aliyun.com/x", "1");
  copy.set_label("app", "db");
  EXPECT_EQ(parsed->annotation("csi.aliyun.com/x"), "") << "copies are independent";
  EXPECT_EQ(copy.annotation("other/x"), "y");
  EXPECT_EQ(copy.annotations().size(), 2u);
  EXPECT_EQ(copy.label("app"), "db");
  EXPECT_TRUE(copy.at_path("spec.newSpecField")->as_bool());
  EXPECT_EQ(copy.at_path("metadata.futureField.a")->as_array().size(), 2u);
  EXPECT_EQ(copy.resource_version_number(), 42u);
  EXPECT_EQ(pv::capacity_bytes(copy), 10ull << 30);
  EXPECT_EQ(pv::csi_driver(copy), "local.csi.aliyun.com");
  EXPECT_EQ(pv::node(copy), "node-1");
  EXPECT_EQ(pv::claim_name(copy), "data");
  EXPECT_EQ(pv::volume_attributes(copy).at("vgName"), "pool");
  EXPECT_EQ(pv::phase(copy), "Bound");
  copy.remove_annotation("other/x");
  EXPECT_EQ(copy.annotations().size(), 1u);
  EXPECT_EQ(copy.key(), "local-1");
  auto round_trip = parse_object(copy.serialize());
  ASSERT_TRUE(round_trip);
  EXPECT_EQ(*round_trip, copy);
}

TEST(object, readers_default_when_fields_are_missing_or_mistyped) {
  auto o = parse_object(R"({"metadata":{"name":5,"labels":"x"},"spec":{"nodeName":["n"]}})");
  ASSERT_TRUE(o);
  EXPECT_EQ(o->name(), "");
  EXPECT_EQ(o->label("a"), "");
  EXPECT_EQ(pod::node_name(*o), "");
  EXPECT_EQ(pvc::requested_bytes(*o), 0u);
  EXPECT_EQ(o->at_path("spec.nodeName.x"), nullptr);
  std::string why;
  EXPECT_FALSE(parse_object("[1]", &why));
  EXPECT_EQ(why, "not a JSON object");
  EXPECT_FALSE(parse_object("{", &why));
  EXPECT_NE(why.find("not JSON"), std::string::npos);
}

TEST(object, typed_readers_of_pods_claims_classes_leases) {
  auto pod_obj = parse_object(R"({"metadata":{"name":"p","namespace":"ns"},
    "spec":{"nodeName":"n1","volumes":[{"name":"a","persistentVolumeClaim":{"claimName":"c1"}},
                                        {"name":"b","emptyDir":{}}]},
    "status":{"phase":"Succeeded"}})");
  ASSERT_TRUE(pod_obj);
  EXPECT_EQ(pod::node_name(*pod_obj), "n1");
  EXPECT_EQ(pod::claim_names(*pod_obj), std::vector<std::string>{"c1"});
  EXPECT_TRUE(pod::finished(*pod_obj));
  EXPECT_EQ(pod_obj->key(), "ns/p");
  auto claim = parse_object(R"({"metadata":{"name":"c1","namespace":"ns","annotations":{
    "volume.kubernetes.io/selected-node":"n1"}},"spec":{"storageClassName":"open-local-lvm",
    "resources":{"requests":{"storage":"1.5Gi"}}}})");
  ASSERT_TRUE(claim);
  EXPECT_EQ(pvc::requested_bytes(*claim), 3ull << 29);
  EXPECT_EQ(pvc::selected_node(*claim), "n1");
  EXPECT_EQ(pvc::storage_class(*claim), "open-local-lvm");
  auto sc = parse_object(R"({"metadata":{"name":"s"},"provisioner":"local.csi.aliyun.com",
    "parameters":{"volumeType":"LVM"},"allowVolumeExpansion":true})");
  ASSERT_TRUE(sc);
  EXPECT_EQ(storage_class::binding_mode(*sc), "Immediate") << "the API default";
  EXPECT_TRUE(storage_class::allows_expansion(*sc));
  EXPECT_EQ(storage_class::parameters(*sc).at("volumeType"), "LVM");
  auto l = parse_object(R"({"metadata":{"name":"l"},"spec":{"holderIdentity":"me",
    "leaseDurationSeconds":15,"renewTime":"2026-11-27T11:20:25.123456Z","leaseTransitions":3}})");
  ASSERT_TRUE(l);
  EXPECT_EQ(lease::holder(*l), "me");
  EXPECT_EQ(lease::duration_seconds(*l), 15);
  EXPECT_EQ(lease::transitions(*l), 3);
  EXPECT_EQ(parse_time_ms(lease::renew_time(*l)), 1795778425123);
}

TEST(status, reads_metav1_status_or_falls_back_to_the_code) {
  auto s = status_of(409, R"({"kind":"Status","apiVersion":"v1","status":"Failure",
    "message":"the object has been modified","reason":"Conflict","code":409})");
  EXPECT_EQ(s.code, 409);
  EXPECT_EQ(s.reason, "Conflict");
  EXPECT_EQ(s.message, "the object has been modified");
  auto plain = status_of(502, "<html>bad gateway</html>");
  EXPECT_EQ(plain.code, 502);
  EXPECT_EQ(plain.message, "HTTP 502");
}

TEST(time, formats_and_parses_kubernetes_times) {
  auto now = micro_time_now();
  ASSERT_EQ(now.size(), 27u) << now;
  EXPECT_TRUE(parse_time_ms(now));
  EXPECT_TRUE(parse_time_ms(time_now()));
  EXPECT_EQ(parse_time_ms("1970-01-01T00:00:01Z"), 1000);
  EXPECT_FALSE(parse_time_ms("yesterday"));
  EXPECT_FALSE(parse_time_ms("1970-01-01T00:00:01.x1Z"));
  EXPECT_EQ(url_encode("a=b,c in (d)"), "a%3Db%2Cc%20in%20%28d%29");
}
