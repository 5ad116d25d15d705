#include "gateways/kube/placement_view.hpp"

#include <boost/json.hpp>
#include <gtest/gtest.h>

using namespace olocal;
using namespace olocal::kube;
using placement::volume_kind;

namespace {

namespace json = boost::json;

constexpr uint64_t gi = 1ull << 30;

object obj(std::string_view text) {
  std::string why;
  auto o = parse_object(text, &why);
  EXPECT_TRUE(o) << why << ": " << text;
  return o ? *o : object{};
}

const std::vector<std::string>& drivers() {
  return default_drivers();
}

// -- NodeLocalStorage --------------------------------------------------------------

const char* nls_doc = R"({
  "metadata": {"name": "node-1"},
  "status": {
    "nodeStorageInfo": {
      "deviceInfo": [
        {"name": "/dev/vdb", "mediaType": "hdd", "total": 107374182400},
        {"name": "/dev/vdc", "mediaType": "ssd", "total": 53687091200},
        {"name": "/dev/vdd", "mediaType": "ssd", "total": 1000},
        {"name": "/dev/vde", "mediaType": "hdd", "total": 2000},
        {"name": "/dev/vdf", "mediaType": "ssd", "total": 3000}
      ],
      "volumeGroups": [
        {"name": "pool0", "total": 200, "available": 150, "allocatable": 180,
         "thinPools": [{"name": "thinpool", "total": 100}]},
        {"name": "system", "total": 500, "allocatable": 500},
        {"name": "noalloc", "total": 70}
      ],
      "mountPoints": [
        {"name": "/mnt/a", "device": "/dev/vde", "fsType": "ext4", "total": 2000},
        {"name": "/mnt/b", "device": "/dev/vdf", "fsType": "xfs", "total": 3000},
        {"name": "/mnt/c", "device": "/dev/vdd", "fsType": "tmpfs", "total": 4000},
        {"name": "/mnt/d", "device": "/dev/vdd", "fsType": "ext3", "total": "1Ki"}
      ]
    },
    "filteredStorageInfo": {
      "volumeGroups": ["pool0", "noalloc", "ghost"],
      "devices": ["/dev/vdb", "/dev/vdc"],
      "mountPoints": ["/mnt/a", "/mnt/b", "/mnt/c", "/mnt/d"]
    }
  }
})";

TEST(node_state_of, takes_filtered_lists_with_allocatable_and_thin_pools) {
  auto s = node_state_of(obj(nls_doc), 2.5);
  EXPECT_EQ(s.name, "node-1");
  EXPECT_TRUE(s.reported);
  ASSERT_EQ(s.vgs.size(), 3u) << "only the filtered groups, in filtered order";
  EXPECT_EQ(s.vgs[0].name, "pool0");
  EXPECT_EQ(s.vgs[0].capacity, 180u) << "allocatable, not total or available";
  EXPECT_EQ(s.vgs[0].charged, 0u);
  ASSERT_EQ(s.vgs[0].thin_pools.size(), 1u);
  EXPECT_EQ(s.vgs[0].thin_pools[0].name, "thinpool");
  EXPECT_EQ(s.vgs[0].thin_pools[0].size, 100u);
  EXPECT_DOUBLE_EQ(s.vgs[0].thin_pools[0].overprovision, 2.5);
  EXPECT_EQ(s.vgs[1].name, "noalloc");
  EXPECT_EQ(s.vgs[1].capacity, 0u) << "no allocatable: 0";
  EXPECT_EQ(s.vgs[2].name, "ghost");
  EXPECT_EQ(s.vgs[2].capacity, 0u);
}

TEST(node_state_of, devices_take_total_and_media) {
  auto s = node_state_of(obj(nls_doc), 2.0);
  ASSERT_EQ(s.devices.size(), 2u);
  EXPECT_EQ(s.devices[0].name, "/dev/vdb");
  EXPECT_EQ(s.devices[0].capacity, 100 * gi);
  EXPECT_EQ(s.devices[0].media, "hdd");
  EXPECT_EQ(s.devices[1].media, "ssd");
  EXPECT_FALSE(s.devices[1].taken);
}

TEST(node_state_of, mount_points_only_ext_and_xfs_with_their_devices_media) {
  auto s = node_state_of(obj(nls_doc), 2.0);
  ASSERT_EQ(s.mount_points.size(), 3u);
  EXPECT_EQ(s.mount_points[0].name, "/mnt/a");
  EXPECT_EQ(s.mount_points[0].media, "hdd");
  EXPECT_EQ(s.mount_points[0].capacity, 2000u);
  EXPECT_EQ(s.mount_points[1].name, "/mnt/b");
  EXPECT_EQ(s.mount_points[1].media, "ssd");
  EXPECT_EQ(s.mount_points[2].name, "/mnt/d") << "tmpfs /mnt/c left out";
  EXPECT_EQ(s.mount_points[2].capacity, 1024u) << "a quantity string is read too";
}

TEST(node_state_of, no_status_is_not_reported) {
  auto s = node_state_of(obj(R"({"metadata":{"name":"n2"},"spec":{"nodeName":"n2"}})"), 2.0);
  EXPECT_EQ(s.name, "n2");
  EXPECT_FALSE(s.reported);
  EXPECT_TRUE(s.vgs.empty());
  auto empty = node_state_of(obj(R"({"metadata":{"name":"n3"},"status":{}})"), 2.0);
  EXPECT_FALSE(empty.reported);
}

// -- PersistentVolumes -------------------------------------------------------------

std::string pv_doc(std::string driver, std::string phase, std::string attrs,
                   std::string capacity = "10Gi", std::string annotations = "{}",
                   std::string node = "node-1") {
  return R"({"metadata":{"name":"pv-1","annotations":)" + annotations + R"(},
    "spec":{"capacity":{"storage":")" +
         capacity + R"("},
      "claimRef":{"namespace":"default","name":"data"},
      "csi":{"driver":")" +
         driver + R"(","volumeHandle":"local-1","volumeAttributes":)" + attrs + R"(},
      "nodeAffinity":{"required":{"nodeSelectorTerms":[{"matchExpressions":[
        {"key":"kubernetes.io/hostname","operator":"In","values":[")" +
         node + R"("]}]}]}}},
    "status":{"phase":")" +
         phase + R"("}})";
}

TEST(charge_of_pv, an_lvm_pv_of_ours_charges_its_group_on_its_node) {
  auto c =
    charge_of_pv(obj(pv_doc("local.csi.aliyun.com", "Bound", R"({"vgName":"pool0"})")), drivers());
  ASSERT_TRUE(c);
  EXPECT_EQ(c->node, "node-1");
  EXPECT_EQ(c->assignment.request_id, "pv-1");
  EXPECT_EQ(c->assignment.kind, volume_kind::lvm);
  EXPECT_EQ(c->assignment.vg, "pool0");
  EXPECT_EQ(c->assignment.pool, "");
  EXPECT_EQ(c->assignment.bytes, 10 * gi);
}

TEST(charge_of_pv, the_legacy_driver_counts_and_foreign_or_pending_do_not) {
  EXPECT_TRUE(charge_of_pv(
    obj(pv_doc("yodaplugin.csi.alibabacloud.com", "Bound", R"({"vgName":"pool0"})")), drivers()));
  EXPECT_FALSE(
    charge_of_pv(obj(pv_doc("ebs.csi.aws.com", "Bound", R"({"vgName":"pool0"})")), drivers()));
  EXPECT_FALSE(charge_of_pv(obj(pv_doc("local.csi.aliyun.com", "Pending", R"({"vgName":"pool0"})")),
                            drivers()));
  EXPECT_TRUE(charge_of_pv(obj(pv_doc("local.csi.aliyun.com", "Released", R"({"vgName":"pool0"})")),
                           drivers()));
  EXPECT_FALSE(charge_of_pv(
    obj(pv_doc("local.csi.aliyun.com", "Bound", R"({"vgName":"pool0"})", "1Gi", "{}", "")),
    drivers()))
    << "no node affinity: nowhere to charge";
  EXPECT_FALSE(charge_of_pv(
    obj(R"({"metadata":{"name":"hostpath"},"spec":{"hostPath":{"path":"/x"}}})"), drivers()));
}

TEST(charge_of_pv, the_allocated_annotation_takes_precedence) {
  auto c = charge_of_pv(obj(pv_doc("local.csi.aliyun.com", "Bound", R"({"vgName":"pool0"})", "1Gi",
                                   R"({"csi.aliyun.com/pv-allocated":
                                        "{\"vgName\":\"pool1\",\"volumeType\":\"LVM\"}"})")),
                        drivers());
  ASSERT_TRUE(c);
  EXPECT_EQ(c->assignment.vg, "pool1");
  auto bad = charge_of_pv(obj(pv_doc("local.csi.aliyun.com", "Bound", R"({"vgName":"pool0"})",
                                     "1Gi", R"({"csi.aliyun.com/pv-allocated":"not json"})")),
                          drivers());
  ASSERT_TRUE(bad);
  EXPECT_EQ(bad->assignment.vg, "pool0") << "an unreadable annotation falls back";
}

TEST(charge_of_pv, device_mount_point_and_thin) {
  auto dev = charge_of_pv(obj(pv_doc("local.csi.aliyun.com", "Bound",
                                     R"({"volumeType":"Device","Device":"/dev/vdc"})", "50Gi")),
                          drivers());
  ASSERT_TRUE(dev);
  EXPECT_EQ(dev->assignment.kind, volume_kind::device);
  EXPECT_EQ(dev->assignment.unit, "/dev/vdc");
  EXPECT_EQ(dev->assignment.bytes, 50 * gi);
  auto mp = charge_of_pv(obj(pv_doc("local.csi.aliyun.com", "Bound",
                                    R"({"volumeType":"MountPoint","MountPoint":"/mnt/a"})")),
                         drivers());
  ASSERT_TRUE(mp);
  EXPECT_EQ(mp->assignment.kind, volume_kind::mount_point);
  EXPECT_EQ(mp->assignment.unit, "/mnt/a");
  auto thin = charge_of_pv(
    obj(pv_doc("local.csi.aliyun.com", "Bound", R"({"vgName":"pool0","lvmType":"thin"})")),
    drivers());
  ASSERT_TRUE(thin);
  EXPECT_EQ(thin->assignment.pool, "thinpool");
  auto named = charge_of_pv(obj(pv_doc("local.csi.aliyun.com", "Bound",
                                       R"({"vgName":"pool0","lvmType":"thin","thinPool":"tp1"})")),
                            drivers());
  ASSERT_TRUE(named);
  EXPECT_EQ(named->assignment.pool, "tp1");
  EXPECT_FALSE(charge_of_pv(
    obj(pv_doc("local.csi.aliyun.com", "Bound", R"({"volumeType":"Quota"})")), drivers()));
}

TEST(charge_of_pv, reads_kubernetes_quantities) {
  struct row {
    const char* text;
    uint64_t bytes;
  };
  for (auto r : {row{"10Gi", 10 * gi}, row{"1G", 1'000'000'000}, row{"512Mi", 512ull << 20},
                 row{"1048576", 1048576}, row{"1.5Gi", 3 * gi / 2}}) {
    auto c = charge_of_pv(
      obj(pv_doc("local.csi.aliyun.com", "Bound", R"({"vgName":"pool0"})", r.text)), drivers());
    ASSERT_TRUE(c) << r.text;
    EXPECT_EQ(c->assignment.bytes, r.bytes) << r.text;
  }
}

// -- pods' demands -----------------------------------------------------------------

object sc(std::string name, std::string provisioner, std::string params) {
  return obj(R"({"metadata":{"name":")" + name + R"("},"provisioner":")" + provisioner +
             R"(","parameters":)" + params + "}");
}

object pvc(std::string name, std::string sc_name, std::string size, std::string extra_spec = "",
           std::string annotations = "{}") {
  std::string spec = R"({"resources":{"requests":{"storage":")" + size + R"("}}})";
  if (!sc_name.empty())
    spec.insert(1, R"("storageClassName":")" + sc_name + R"(",)");
  if (!extra_spec.empty())
    spec.insert(1, extra_spec + ",");
  return obj(R"({"metadata":{"name":")" + name + R"(","namespace":"default","uid":"uid-)" + name +
             R"(","annotations":)" + annotations + R"(},"spec":)" + spec + "}");
}

object pod_with(std::string volumes) {
  return obj(R"({"metadata":{"name":"web","namespace":"default","uid":"pod-uid"},
                 "spec":{"volumes":)" +
             volumes + "}}");
}

std::string claim(std::string name) {
  return R"({"name":")" + name + R"(","persistentVolumeClaim":{"claimName":")" + name + R"("}})";
}

object_index base_index() {
  object_index idx;
  auto add_sc = [&](object o) { idx.storage_classes[o.key()] = o; };
  add_sc(sc("lvm", "local.csi.aliyun.com", R"({"volumeType":"LVM"})"));
  add_sc(sc("lvm-pool1", "local.csi.aliyun.com", R"({"vgName":"pool1"})"));
  add_sc(sc("lvm-thin", "local.csi.aliyun.com", R"({"lvmType":"thin","thinPool":"tp"})"));
  add_sc(sc("device-ssd", "local.csi.aliyun.com", R"({"volumeType":"Device","mediaType":"ssd"})"));
  add_sc(sc("mp-hdd", "yodaplugin.csi.alibabacloud.com",
            R"({"volumeType":"MountPoint","mediaType":"hdd"})"));
  add_sc(
    sc("device-nvme", "local.csi.aliyun.com", R"({"volumeType":"Device","mediaType":"nvme"})"));
  add_sc(sc("device-none", "local.csi.aliyun.com", R"({"volumeType":"Device"})"));
  add_sc(sc("quota", "local.csi.aliyun.com", R"({"volumeType":"Quota"})"));
  add_sc(sc("ebs", "ebs.csi.aws.com", R"({})"));
  return idx;
}

void add_pvc(object_index& idx, object o) {
  idx.pvcs[o.key()] = o;
}

TEST(demand_of, unbound_pvcs_of_ours_are_requests_with_their_class) {
  auto idx = base_index();
  add_pvc(idx, pvc("a", "lvm", "10Gi"));
  add_pvc(idx, pvc("b", "lvm-pool1", "1Gi"));
  add_pvc(idx, pvc("c", "device-ssd", "20Gi"));
  add_pvc(idx, pvc("d", "mp-hdd", "5Gi"));
  add_pvc(idx, pvc("e", "lvm-thin", "3Gi"));
  auto d = demand_of(pod_with("[" + claim("a") + "," + claim("b") + "," + claim("c") + "," +
                              claim("d") + "," + claim("e") + "]"),
                     idx, drivers());
  EXPECT_EQ(d.error, "");
  ASSERT_EQ(d.volumes.size(), 5u);
  EXPECT_EQ(d.volumes[0].id, "default/a");
  EXPECT_EQ(d.volumes[0].kind, volume_kind::lvm);
  EXPECT_EQ(d.volumes[0].bytes, 10 * gi);
  EXPECT_EQ(d.volumes[0].vg, "");
  EXPECT_EQ(d.volumes[1].vg, "pool1");
  EXPECT_EQ(d.volumes[2].kind, volume_kind::device);
  EXPECT_EQ(d.volumes[2].media, "ssd");
  EXPECT_EQ(d.volumes[3].kind, volume_kind::mount_point);
  EXPECT_EQ(d.volumes[3].media, "hdd");
  EXPECT_EQ(d.volumes[4].thin_pool, "tp");
  EXPECT_TRUE(d.uses_local());
}

TEST(demand_of, bound_foreign_and_classless_pvcs_are_skipped_never_errors) {
  auto idx = base_index();
  add_pvc(idx, pvc("bound", "lvm", "1Gi", R"("volumeName":"pv-9")"));
  add_pvc(idx, pvc("foreign", "ebs", "1Gi"));
  add_pvc(idx, pvc("nosc", "", "1Gi"));
  add_pvc(idx, pvc("empty", "", "1Gi", R"("storageClassName":"")"));
  add_pvc(idx, pvc("unknown", "gone", "1Gi"));
  auto d =
    demand_of(pod_with("[" + claim("bound") + "," + claim("foreign") + "," + claim("nosc") + "," +
                       claim("empty") + "," + claim("unknown") + "," + claim("missing") + "]"),
              idx, drivers());
  EXPECT_EQ(d.error, "") << "open-local #211: a PVC without a known class is not an error";
  EXPECT_TRUE(d.volumes.empty());
  EXPECT_FALSE(d.uses_local());
}

TEST(demand_of, bad_media_or_volume_type_is_a_pod_error_naming_pvc_and_value) {
  auto idx = base_index();
  add_pvc(idx, pvc("fast", "device-nvme", "1Gi"));
  auto d = demand_of(pod_with("[" + claim("fast") + "]"), idx, drivers());
  EXPECT_NE(d.error.find("default/fast"), std::string::npos) << d.error;
  EXPECT_NE(d.error.find("\"nvme\""), std::string::npos) << d.error;
  add_pvc(idx, pvc("nomedia", "device-none", "1Gi"));
  d = demand_of(pod_with("[" + claim("nomedia") + "]"), idx, drivers());
  EXPECT_NE(d.error.find("mediaType"), std::string::npos) << d.error;
  add_pvc(idx, pvc("q", "quota", "1Gi"));
  d = demand_of(pod_with("[" + claim("q") + "]"), idx, drivers());
  EXPECT_NE(d.error.find("\"Quota\""), std::string::npos) << d.error;
}

TEST(demand_of, generic_ephemeral_volume_by_its_pvc_or_its_template) {
  auto idx = base_index();
  auto volume = R"([{"name":"scratch","ephemeral":{"volumeClaimTemplate":{"spec":{
      "storageClassName":"lvm","resources":{"requests":{"storage":"2Gi"}}}}}}])";
  auto d = demand_of(pod_with(volume), idx, drivers());
  EXPECT_EQ(d.error, "");
  ASSERT_EQ(d.volumes.size(), 1u) << "the template counts before the PVC exists";
  EXPECT_EQ(d.volumes[0].id, "default/web-scratch");
  EXPECT_EQ(d.volumes[0].bytes, 2 * gi);
  add_pvc(idx, pvc("web-scratch", "lvm", "3Gi"));
  d = demand_of(pod_with(volume), idx, drivers());
  ASSERT_EQ(d.volumes.size(), 1u);
  EXPECT_EQ(d.volumes[0].bytes, 3 * gi) << "the PVC once it exists";
  add_pvc(idx, pvc("web-scratch", "lvm", "3Gi", R"("volumeName":"pv-x")"));
  d = demand_of(pod_with(volume), idx, drivers());
  EXPECT_TRUE(d.volumes.empty()) << "bound";
}

TEST(demand_of, inline_volumes_need_a_vg_name) {
  auto idx = base_index();
  auto d = demand_of(pod_with(R"([
      {"name":"a","csi":{"driver":"local.csi.aliyun.com","volumeAttributes":{"vgName":"pool0","size":"2Gi"}}},
      {"name":"b","csi":{"driver":"local.csi.aliyun.com","volumeAttributes":{"vgName":"pool0"}}},
      {"name":"c","csi":{"driver":"other.csi","volumeAttributes":{}}}])"),
                     idx, drivers());
  EXPECT_EQ(d.error, "");
  ASSERT_EQ(d.volumes.size(), 2u);
  EXPECT_EQ(d.volumes[0].id, "inline:pod-uid/a");
  EXPECT_TRUE(d.volumes[0].inline_volume);
  EXPECT_EQ(d.volumes[0].vg, "pool0");
  EXPECT_EQ(d.volumes[0].bytes, 2 * gi);
  EXPECT_EQ(d.volumes[1].bytes, gi) << "size defaults to 1Gi";
  d = demand_of(pod_with(R"([{"name":"novg","csi":{"driver":"local.csi.aliyun.com"}}])"), idx,
                drivers());
  EXPECT_NE(d.error.find("\"novg\""), std::string::npos) << d.error;
  EXPECT_NE(d.error.find("vgName"), std::string::npos) << d.error;
}

TEST(demand_of, read_only_snapshot_is_pinned_to_its_source_node) {
  auto idx = base_index();
  auto cls = obj(R"({"metadata":{"name":"ro"},"driver":"local.csi.aliyun.com",
      "parameters":{"csi.aliyun.com/readonly":"true","csi.aliyun.com/snapshot-initial-size":"2Gi"}})");
  idx.snapshot_classes[cls.key()] = cls;
  auto snap = obj(R"({"metadata":{"name":"snap","namespace":"default"},
      "spec":{"volumeSnapshotClassName":"ro","source":{"persistentVolumeClaimName":"src"}}})");
  idx.snapshots[snap.key()] = snap;
  add_pvc(idx, pvc("src", "lvm", "10Gi", R"("volumeName":"pv-src")",
                   R"({"volume.kubernetes.io/selected-node":"node-7"})"));
  auto from_snap =
    R"("dataSource":{"apiGroup":"snapshot.storage.k8s.io","kind":"VolumeSnapshot","name":"snap"})";
  add_pvc(idx, pvc("restore", "lvm", "10Gi", from_snap));
  auto d = demand_of(pod_with("[" + claim("restore") + "]"), idx, drivers());
  EXPECT_EQ(d.error, "");
  ASSERT_EQ(d.volumes.size(), 1u);
  EXPECT_EQ(d.volumes[0].pinned_node, "node-7");
  EXPECT_EQ(d.volumes[0].bytes, 2 * gi) << "the snapshot LV's initial size";

  // Once the source's PV is known, it decides: its node, and its group (a
  // copy-on-write snapshot lives in its origin's volume group).
  idx.pvs["pv-src"] = obj(R"({"metadata":{"name":"pv-src"},"spec":{
      "capacity":{"storage":"10Gi"},
      "csi":{"driver":"local.csi.aliyun.com","volumeHandle":"local-src",
             "volumeAttributes":{"volumeType":"LVM","vgName":"pool1"}},
      "nodeAffinity":{"required":{"nodeSelectorTerms":[{"matchExpressions":[
        {"key":"kubernetes.io/hostname","operator":"In","values":["node-8"]}]}]}}},
      "status":{"phase":"Bound"}})");
  d = demand_of(pod_with("[" + claim("restore") + "]"), idx, drivers());
  ASSERT_EQ(d.volumes.size(), 1u);
  EXPECT_EQ(d.volumes[0].pinned_node, "node-8");
  EXPECT_EQ(d.volumes[0].vg, "pool1");
  idx.pvs.clear();

  // The source PVC lost its selected-node: an error that explains.
  add_pvc(idx, pvc("src", "lvm", "10Gi", R"("volumeName":"pv-src")"));
  d = demand_of(pod_with("[" + claim("restore") + "]"), idx, drivers());
  EXPECT_NE(d.error.find("default/src"), std::string::npos) << d.error;
  EXPECT_NE(d.error.find("selected-node"), std::string::npos) << d.error;

  // A snapshot class that is not read-only: an ordinary request.
  auto rw = obj(R"({"metadata":{"name":"ro"},"driver":"local.csi.aliyun.com","parameters":{}})");
  idx.snapshot_classes[rw.key()] = rw;
  d = demand_of(pod_with("[" + claim("restore") + "]"), idx, drivers());
  EXPECT_EQ(d.error, "");
  ASSERT_EQ(d.volumes.size(), 1u);
  EXPECT_EQ(d.volumes[0].pinned_node, "");
  EXPECT_EQ(d.volumes[0].bytes, 10 * gi);

  // An unknown snapshot cannot be resolved.
  idx.snapshots.clear();
  d = demand_of(pod_with("[" + claim("restore") + "]"), idx, drivers());
  EXPECT_NE(d.error.find("default/snap"), std::string::npos) << d.error;
}

// -- the cache dump --------------------------------------------------------------------

TEST(cache_json, dumps_every_node_or_one_with_numbers) {
  placement::cluster_view view;
  view.generation = 7;
  auto n = std::make_shared<placement::node_state>(node_state_of(obj(nls_doc), 2.0));
  n->vgs[0].charged = 30;
  n->devices[1].taken = true;
  view.nodes["node-1"] = n;
  auto other = std::make_shared<placement::node_state>();
  other->name = "node-2";
  view.nodes["node-2"] = other;

  auto all = json::parse(cache_json(view, "")).as_object();
  EXPECT_EQ(all.at("generation").to_number<uint64_t>(), 7u);
  auto& nodes = all.at("nodes").as_object();
  ASSERT_EQ(nodes.size(), 2u);
  auto& n1 = nodes.at("node-1").as_object();
  EXPECT_TRUE(n1.at("reported").as_bool());
  auto& vg = n1.at("vgs").as_array()[0].as_object();
  EXPECT_EQ(vg.at("name").as_string(), "pool0");
  EXPECT_EQ(vg.at("capacity").to_number<uint64_t>(), 180u);
  EXPECT_EQ(vg.at("charged").to_number<uint64_t>(), 30u);
  EXPECT_EQ(vg.at("free").to_number<uint64_t>(), 150u);
  auto& pool = vg.at("thinPools").as_array()[0].as_object();
  EXPECT_EQ(pool.at("name").as_string(), "thinpool");
  EXPECT_EQ(pool.at("size").to_number<uint64_t>(), 100u);
  auto& dev = n1.at("devices").as_array()[1].as_object();
  EXPECT_EQ(dev.at("name").as_string(), "/dev/vdc");
  EXPECT_TRUE(dev.at("taken").as_bool());
  EXPECT_EQ(dev.at("media").as_string(), "ssd");
  EXPECT_EQ(n1.at("mountPoints").as_array().size(), 3u);
  EXPECT_FALSE(nodes.at("node-2").as_object().at("reported").as_bool());

  auto one = json::parse(cache_json(view, "node-2")).as_object();
  EXPECT_EQ(one.at("nodes").as_object().size(), 1u);
  EXPECT_TRUE(one.at("nodes").as_object().contains("node-2"));
  auto none = json::parse(cache_json(view, "node-9")).as_object();
  EXPECT_TRUE(none.at("nodes").as_object().empty());
}

} // namespace
