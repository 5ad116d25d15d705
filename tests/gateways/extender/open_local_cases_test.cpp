// A black-box comparison against open-local's own scheduling test cases,
// through the extender's HTTP handlers (extender::predicates / priorities are
// what POST /scheduler/predicates and /scheduler/priorities call).
//
// Where the cases come from (alibaba/open-local, read through the search
// tools; restated here as data, no Go code copied):
//   - cmd/scheduler/extender_test.go: the extender's own HTTP test (four nodes,
//     one pod per test, expected fitting-node count and scores per node);
//   - pkg/utils/test_helper.go: the fixture shared by those tests (the four
//     NodeLocalStorage objects, the StorageClasses, the bound PVs);
//   - pkg/scheduling-framework/filter_test.go: the framework plugin's filter
//     cases over the same fixture (expected pass/fail per node; its scores use
//     other maths and are not compared).
// Cases marked "reference §…" are derived from /work/shared/reference/
// open-local.md (documented rules and flaws), not from open-local's tests.
//
// The fixture, in our words:
//   node1: VGs ssd 100Gi, hdd 500Gi; mount point testmnt-node1-a 500Gi on
//          /dev/sdb (an ssd); devices sda hdd 100Gi, sdb ssd 500Gi, sdc hdd
//          150Gi, none of them filtered in.
//   node2: VGs ssd 200Gi, hdd 750Gi; its mount point and devices (all hdd)
//          are not in the filtered lists.
//   node3: VG ssd 300Gi (the filtered list also names hdd, which the node does
//          not report: capacity 0); mount point testmnt-node1-a 1000Gi on
//          /dev/sdb (an hdd); filtered device /dev/sdc hdd 150Gi.
//   node4: a NodeLocalStorage without status.
//   StorageClasses: sc-vg (LVM, vgName ssd), sc-novg (LVM), sc-mp
//   (MountPoint, hdd), sc-device (Device, hdd), sc-nolocal (another
//   provisioner). PVC sizes as in open-local's tests unless a case says.
//
// Scores: our capacity function counts the group's existing usage and our
// count function is not halved (README "Scheduling"); exact values below are
// ours, computed by hand in each case's comment, and compared with
// open-local's numbers only where the formulas agree.

#include "gateways/extender/extender.hpp"

#include "gateways/kube/placement_actor.hpp"
#include "gateways/kube/placement_view.hpp"

#include <gtest/gtest.h>

#include <boost/json.hpp>

#include <algorithm>
#include <map>
#include <memory>
#include <optional>
#include <ostream>
#include <string>
#include <vector>

using namespace olocal;
namespace json = boost::json;

namespace {

constexpr uint64_t gib = 1ull << 30;
const std::string yoda = "yodaplugin.csi.alibabacloud.com";
const std::string n1 = "node-192.168.0.1";
const std::string n2 = "node-192.168.0.2";
const std::string n3 = "node-192.168.0.3";
const std::string n4 = "node-192.168.0.4";
/// Not in open-local's fixture: a node for the greedy first-fit case.
const std::string greedy_node = "node-greedy";

kube::object parse(const std::string& text) {
  return kube::object{json::parse(text).as_object()};
}

// -- NodeLocalStorage objects -----------------------------------------------------

struct vg_info {
  std::string name;
  uint64_t allocatable;
};
struct device_info {
  std::string name, media;
  uint64_t total;
};
struct mount_info {
  std::string name, device;
  uint64_t total;
};

std::string nls(const std::string& node, const std::vector<vg_info>& vgs,
                const std::vector<device_info>& devices, const std::vector<mount_info>& mounts,
                const std::vector<std::string>& filtered_vgs,
                const std::vector<std::string>& filtered_mounts,
                const std::vector<std::string>& filtered_devices) {
  json::array vg_array, dev_array, mp_array;
  for (auto& v : vgs)
    vg_array.push_back(json::object{{"name", v.name},
                                    {"physicalVolumes", json::array{}},
                                    {"logicalVolumes", json::array{}},
                                    {"total", v.allocatable},
                                    {"available", v.allocatable},
                                    {"allocatable", v.allocatable}});
  for (auto& d : devices)
    dev_array.push_back(json::object{
      {"name", d.name}, {"mediaType", d.media}, {"total", d.total}, {"readOnly", false}});
  for (auto& m : mounts)
    mp_array.push_back(json::object{{"name", m.name},
                                    {"total", m.total},
                                    {"available", m.total},
                                    {"fsType", "ext4"},
                                    {"options", json::array{"rw", "ordered"}},
                                    {"device", m.device},
                                    {"readOnly", false}});
  auto names = [](const std::vector<std::string>& v) {
    json::array a;
    for (auto& s : v)
      a.push_back(json::value(s));
    return a;
  };
  json::object o{
    {"apiVersion", "csi.aliyun.com/v1alpha1"},
    {"kind", "NodeLocalStorage"},
    {"metadata", {{"name", node}}},
    {"spec", {{"nodeName", node}}},
    {"status",
     {{"nodeStorageInfo",
       {{"volumeGroups", vg_array}, {"deviceInfo", dev_array}, {"mountPoints", mp_array}}},
      {"filteredStorageInfo",
       {{"volumeGroups", names(filtered_vgs)},
        {"mountPoints", names(filtered_mounts)},
        {"devices", names(filtered_devices)}}}}}};
  return json::serialize(o);
}

std::vector<std::string> fixture_nls() {
  const std::string mp = "/mnt/open-local/testmnt-node1-a";
  return {
    nls(n1, {{"ssd", 100 * gib}, {"hdd", 500 * gib}},
        {{"/dev/sda", "hdd", 100 * gib},
         {"/dev/sdb", "ssd", 500 * gib},
         {"/dev/sdc", "hdd", 150 * gib}},
        {{mp, "/dev/sdb", 500 * gib}}, {"hdd", "ssd"}, {mp}, {}),
    nls(n2, {{"ssd", 200 * gib}, {"hdd", 750 * gib}},
        {{"/dev/sda", "hdd", 100 * gib},
         {"/dev/sdb", "hdd", 300 * gib},
         {"/dev/sdc", "hdd", 400 * gib},
         {"/dev/sdd", "hdd", 500 * gib}},
        {{mp, "/dev/sdb", 750 * gib}}, {"hdd", "ssd"}, {}, {}),
    nls(n3, {{"ssd", 300 * gib}},
        {{"/dev/sda", "hdd", 100 * gib},
         {"/dev/sdb", "hdd", 200 * gib},
         {"/dev/sdc", "hdd", 150 * gib}},
        {{mp, "/dev/sdb", 1000 * gib}}, {"hdd", "ssd"}, {mp}, {"/dev/sdc"}),
    // node4: spec only, no status.
    R"({"apiVersion":"csi.aliyun.com/v1alpha1","kind":"NodeLocalStorage",)"
    R"("metadata":{"name":")" +
      n4 + R"("},"spec":{"nodeName":")" + n4 + R"("}})",
    // reference §11.2: two groups where greedy first fit goes wrong.
    nls(greedy_node, {{"a", 100 * gib}, {"b", 50 * gib}}, {}, {}, {"a", "b"}, {}, {}),
  };
}

// -- Kubernetes objects of a case -------------------------------------------------

struct claim {
  std::string name;
  std::string storage_class;
  std::string size;
  std::string snapshot = "";      ///< dataSource VolumeSnapshot name
  std::string volume_name = "";   ///< bound to this PV
  std::string selected_node = ""; ///< volume.kubernetes.io/selected-node
};

std::string pvc_json(const claim& c) {
  json::object meta{{"name", c.name}, {"namespace", "default"}};
  if (!c.selected_node.empty())
    meta["annotations"] = json::object{{"volume.kubernetes.io/selected-node", c.selected_node}};
  json::object spec{{"accessModes", json::array{"ReadWriteOnce"}},
                    {"storageClassName", c.storage_class},
                    {"resources", {{"requests", {{"storage", c.size}}}}}};
  if (!c.snapshot.empty())
    spec["dataSource"] = json::object{
      {"apiGroup", "snapshot.storage.k8s.io"}, {"kind", "VolumeSnapshot"}, {"name", c.snapshot}};
  if (!c.volume_name.empty())
    spec["volumeName"] = c.volume_name;
  json::object o{{"metadata", meta},
                 {"spec", spec},
                 {"status", {{"phase", c.volume_name.empty() ? "Pending" : "Bound"}}}};
  return json::serialize(o);
}

/// A PV of ours, as open-local's test helper builds them: the placement in
/// the csi.aliyun.com/pv-allocated annotation, the node in nodeAffinity.
struct existing_pv {
  std::string name, node, size, volume_type, vg, device;
};

std::string pv_json(const existing_pv& p) {
  json::object allocated{{"volumeType", p.volume_type}};
  if (!p.vg.empty())
    allocated["vgName"] = p.vg;
  if (!p.device.empty())
    allocated["deviceName"] = p.device;
  json::object meta{{"name", p.name}};
  meta["annotations"] = json::object{{"csi.aliyun.com/pv-allocated", json::serialize(allocated)}};
  json::object csi{{"driver", yoda}, {"volumeHandle", p.name}};
  csi["volumeAttributes"] = json::object{{"volumeType", p.volume_type}};
  auto affinity = json::parse(R"({"required":{"nodeSelectorTerms":[{"matchExpressions":[)"
                              R"({"key":"kubernetes.io/hostname","operator":"In","values":[")" +
                              p.node + R"("]}]}]}})");
  json::object spec;
  spec["accessModes"] = json::array{"ReadWriteOnce"};
  spec["capacity"] = json::object{{"storage", p.size}};
  spec["csi"] = csi;
  spec["nodeAffinity"] = affinity;
  json::object o;
  o["metadata"] = meta;
  o["spec"] = spec;
  o["status"] = json::object{{"phase", "Bound"}};
  return json::serialize(o);
}

struct inline_volume {
  std::string name, vg, size;
};

std::string pod_json(const std::vector<std::string>& claims,
                     const std::vector<inline_volume>& inlines) {
  json::array volumes;
  for (auto& i : inlines)
    volumes.push_back(json::object{
      {"name", i.name},
      {"csi", {{"driver", yoda}, {"volumeAttributes", {{"vgName", i.vg}, {"size", i.size}}}}}});
  for (size_t k = 0; k < claims.size(); ++k)
    volumes.push_back(json::object{{"name", "vol" + std::to_string(k)},
                                   {"persistentVolumeClaim", {{"claimName", claims[k]}}}});
  json::object o{{"metadata", {{"name", "testpod"}, {"namespace", "default"}, {"uid", "testpod"}}},
                 {"spec",
                  {{"containers", json::array{json::object{{"name", "c"}, {"image", "x"}}}},
                   {"volumes", volumes}}}};
  return json::serialize(o);
}

void add_storage_classes(kube::object_index& idx) {
  auto sc = [&](const std::string& name, const std::string& provisioner, json::object params) {
    json::object o{{"metadata", {{"name", name}}},
                   {"provisioner", provisioner},
                   {"parameters", params},
                   {"volumeBindingMode", "WaitForFirstConsumer"}};
    idx.storage_classes[name] = kube::object{o};
  };
  sc("sc-vg", yoda, {{"fs", "ext4"}, {"vgName", "ssd"}, {"volumeType", "LVM"}});
  sc("sc-novg", yoda, {{"fs", "ext4"}, {"volumeType", "LVM"}});
  sc("sc-mp", yoda, {{"volumeType", "MountPoint"}, {"mediaType", "hdd"}});
  sc("sc-device", yoda, {{"volumeType", "Device"}, {"mediaType", "hdd"}});
  sc("sc-nolocal", "kubernetes.io/no-provisioner", {});
}

/// The read-only snapshot objects of filter_test.go's snapshot cases: the
/// VolumeSnapshot "snapshot-pvc-snapshot" of source PVC pvc-vg. open-local's
/// test gives the snapshot no class; we give it one with
/// csi.aliyun.com/readonly "true", since only such snapshots are pinned to
/// their source's node (reference §5.2; without it ours is a restore
/// anywhere).
void add_snapshot(kube::object_index& idx) {
  idx.snapshots["default/snapshot-pvc-snapshot"] =
    parse(R"({"metadata":{"name":"snapshot-pvc-snapshot","namespace":"default"},)"
          R"("spec":{"volumeSnapshotClassName":"open-local-ro",)"
          R"("source":{"persistentVolumeClaimName":"pvc-vg"}}})");
  idx.snapshot_classes["open-local-ro"] =
    parse(R"({"metadata":{"name":"open-local-ro"},"driver":"local.csi.aliyun.com",)"
          R"("deletionPolicy":"Delete","parameters":{"csi.aliyun.com/readonly":"true"}})");
}

// -- the table --------------------------------------------------------------------

struct scheduling_case {
  std::string name;
  std::vector<claim> pvcs; ///< every PVC in the index
  std::vector<std::string> pod_claims;
  std::vector<inline_volume> inlines;
  std::vector<existing_pv> pvs;
  std::vector<std::string> expect_fit;
  /// Our exact scores in node order; empty = not checked.
  std::vector<int64_t> expect_scores;
  std::vector<std::string> nodes = {n1, n2, n3, n4};
  bool with_snapshot = false;
  placement::strategy how = placement::strategy::binpack;
  /// Every failing node's reason must contain this ("" = not checked).
  std::string reason_contains;
  /// A problem of the pod itself: every node is answered in
  /// failedAndUnresolvableNodes (retrying on another node cannot help).
  bool unresolvable = false;
};

/// gtest prints a failing case by its name, not its bytes.
void PrintTo(const scheduling_case& c, std::ostream* os) {
  *os << c.name;
}

const claim pvc_vg{"pvc-vg", "sc-vg", "150Gi"};
const claim pvc_novg{"pvc-novg", "sc-novg", "400Gi"};
const claim pvc_mp{"pvc-mp", "sc-mp", "500Gi"};
const claim pvc_device{"pvc-device", "sc-device", "100Gi"};
const claim pvc_nolocal{"pvc-nolocal", "sc-nolocal", "100Gi"};
const claim pvc_vg_bound_n3{"pvc-vg", "sc-vg", "150Gi", "", "pv-pvc-vg", n3};
const claim pvc_snapshot{"pvc-snapshot", "sc-novg", "40Gi", "snapshot-pvc-snapshot"};

std::vector<scheduling_case> cases() {
  std::vector<scheduling_case> t;

  // ---- cmd/scheduler/extender_test.go (the extender over HTTP) ----

  // TestVGWithName: 150Gi in vgName ssd fits node2 (200) and node3 (300).
  // open-local scores 0,7,5,0; ours agree (nothing is used yet):
  // node2 ⌊150/200×10⌋ = 7, node3 ⌊150/300×10⌋ = 5.
  t.push_back({"extender_vg_with_name", {pvc_vg}, {"pvc-vg"}, {}, {}, {n2, n3}, {0, 7, 5, 0}});

  // TestVGWithNoName: 400Gi without vgName fits hdd on node1 (500) and node2
  // (750); node3 has only ssd 300 (its hdd reports nothing). open-local
  // scores 8,5,0,0; ours agree: ⌊400/500×10⌋ = 8, ⌊400/750×10⌋ = 5.
  t.push_back(
    {"extender_vg_without_name", {pvc_novg}, {"pvc-novg"}, {}, {}, {n1, n2}, {8, 5, 0, 0}});

  // TestMountPoint: 500Gi MountPoint hdd fits only node3 (node1's mount point
  // is on an ssd, node2 has none filtered in). open-local scores 5,0,10,0:
  // it scores node1, which its own filter rejected, with the count function
  // (which ignores the media type), and halves the count score. Ours: a
  // node that does not fit scores 0; node3 = capacity ⌊500/1000×10⌋ = 5 +
  // count ⌊1×10/1⌋ = 10 = 15. Same winner.
  t.push_back({"extender_mount_point", {pvc_mp}, {"pvc-mp"}, {}, {}, {n3}, {0, 0, 15, 0}});

  // TestDevice: 100Gi Device hdd fits only node3 (/dev/sdc, 150Gi).
  // open-local scores 0,0,11,0 (6 + halved count 5); ours 6 + 10 = 16.
  t.push_back({"extender_device", {pvc_device}, {"pvc-device"}, {}, {}, {n3}, {0, 0, 16, 0}});

  // TestNoLocal: a PVC of another provisioner passes everywhere; nodes
  // without local storage (node4) get 10 to keep storage nodes free. Same
  // as open-local: 0,0,0,10.
  t.push_back(
    {"extender_no_local", {pvc_nolocal}, {"pvc-nolocal"}, {}, {}, {n1, n2, n3, n4}, {0, 0, 0, 10}});

  // ---- pkg/scheduling-framework/filter_test.go (pass/fail per node) ----

  // "pvc too large use sc have vg": 1000Gi in ssd fits nowhere.
  t.push_back(
    {"framework_vg_with_name_too_large", {{"pvc-vg", "sc-vg", "1000Gi"}}, {"pvc-vg"}, {}, {}, {}});

  // "pvc use sc without vg" (160Gi): node1 takes hdd (ssd 100 too small),
  // node2 and node3 take ssd (binpack: least free that fits); node4 has no
  // status. Ours: node1 ⌊160/500×10⌋ = 3, node2 ⌊160/200×10⌋ = 8, node3
  // ⌊160/300×10⌋ = 5 (the plugin's scores use another scale; not compared).
  t.push_back({"framework_vg_without_name",
               {{"pvc-novg", "sc-novg", "160Gi"}},
               {"pvc-novg"},
               {},
               {},
               {n1, n2, n3},
               {3, 8, 5, 0}});

  // "pvc too large use sc without vg": 1000Gi fits no group anywhere.
  t.push_back({"framework_vg_without_name_too_large",
               {{"pvc-novg", "sc-novg", "1000Gi"}},
               {"pvc-novg"},
               {},
               {},
               {}});

  // "pod with inlineVolume": 150Gi inline in ssd: node2, node3 (node1's ssd
  // is 100Gi). Ours: 7 and 5 as for the PVC of the same size.
  t.push_back({"framework_inline_volume",
               {},
               {},
               {{"test_inline_volume", "ssd", "150Gi"}},
               {},
               {n2, n3},
               {0, 7, 5, 0}});

  // "inlineVolume too large": 1000Gi inline fits nowhere.
  t.push_back({"framework_inline_volume_too_large",
               {},
               {},
               {{"test_inline_volume", "ssd", "1000Gi"}},
               {},
               {}});

  // "pvc device": only node3's /dev/sdc (see extender_device).
  t.push_back({"framework_device", {pvc_device}, {"pvc-device"}, {}, {}, {n3}, {0, 0, 16, 0}});

  // "pvc device large": 1000Gi is larger than every device.
  t.push_back(
    {"framework_device_too_large", {{"pvc-device", "sc-device", "1000Gi"}}, {"pvc-device"}});

  // "pod with snapshot pvc valid": the source PVC was placed on node3, so
  // only node3 serves the read-only snapshot. Ours: the snapshot takes the
  // class's initial 4Gi in ssd 300: ⌊4/300×10⌋ = 0.
  {
    scheduling_case c{"framework_readonly_snapshot",
                      {pvc_snapshot, pvc_vg_bound_n3},
                      {"pvc-snapshot"},
                      {},
                      {},
                      {n3},
                      {0, 0, 0, 0}};
    c.with_snapshot = true;
    t.push_back(c);
  }
  // "snapshot pvc but snapshot not found": an error on every node (ours names
  // the missing snapshot).
  {
    scheduling_case c{"framework_snapshot_not_found", {pvc_snapshot}, {"pvc-snapshot"}};
    c.reason_contains = "VolumeSnapshot default/snapshot-pvc-snapshot is not known";
    c.unresolvable = true;
    t.push_back(c);
  }
  // "snapshot pvc but source pvc not found": an error on every node.
  {
    scheduling_case c{"framework_snapshot_source_not_found", {pvc_snapshot}, {"pvc-snapshot"}};
    c.with_snapshot = true;
    c.reason_contains = "source PVC default/pvc-vg";
    c.unresolvable = true;
    t.push_back(c);
  }

  // "complex pod with pvc pending but pvc not found": open-local's plugin
  // answers UnschedulableAndUnresolvable. Ours differs on purpose: a PVC we
  // cannot see is not ours and never blocks the pod (kube-scheduler's own
  // VolumeBinding plugin rejects pods whose PVCs are missing), so every node
  // passes, scored as for a pod without local volumes.
  t.push_back(
    {"framework_pvc_not_found_differs", {}, {"pvc-vg"}, {}, {}, {n1, n2, n3, n4}, {0, 0, 0, 10}});

  // ---- reference §11 items 2/3: open-local's documented flaws ----

  // Existing usage (§11.2 "extender scores ignore existing VG usage"): the
  // fixture's bound PV pv-pvc-vg (150Gi in ssd on node3, from open-local's
  // CreatePVsBound) is charged. open-local's extender still scores node2 7
  // and node3 5 (only the pod's share) and so prefers node2; ours counts the
  // usage: node3 ⌊(150+150)/300×10⌋ = 10 > node2 7, the binpack choice.
  t.push_back({"reference_existing_usage_counts",
               {{"pvc-new", "sc-vg", "150Gi"}},
               {"pvc-new"},
               {},
               {{"pv-pvc-vg", n3, "150Gi", "LVM", "ssd", ""}},
               {n2, n3},
               {0, 7, 10, 0}});

  // A bound Device PV (open-local's pv-pvc-device: /dev/sdc on node3, named
  // only in the pv-allocated annotation) takes the only filtered device:
  // no node is left for another Device PVC. Same as open-local.
  t.push_back({"reference_bound_device_is_taken",
               {{"pvc-device-2", "sc-device", "100Gi"}},
               {"pvc-device-2"},
               {},
               {{"pv-pvc-device", n3, "100Gi", "Device", "", "/dev/sdc"}},
               {}});

  // Inline and PVC together (§5.2 note, §11.2): 150Gi inline + 150Gi PVC in
  // ssd. open-local's extender checks each alone against the group and
  // passes node2 (ssd 200) too; ours charges them together: only node3
  // (300Gi, exactly full: ⌊300/300×10⌋ = 10).
  t.push_back({"reference_inline_and_pvc_together",
               {pvc_vg},
               {"pvc-vg"},
               {{"scratch", "ssd", "150Gi"}},
               {},
               {n3},
               {0, 0, 10, 0}});

  // Greedy first fit (§11.2): groups a 100Gi, b 50Gi; PVCs 40, 60, 50Gi
  // without vgName. open-local's filter puts 40 into b (least free that
  // fits), 60 into a, and finds no room for 50: the node fails. Ours
  // searches: 40 + 60 in a, 50 in b, both groups full: ⌊10 × 1⌋ = 10.
  {
    scheduling_case c{
      "reference_greedy_first_fit_differs",
      {{"p40", "sc-novg", "40Gi"}, {"p60", "sc-novg", "60Gi"}, {"p50", "sc-novg", "50Gi"}},
      {"p40", "p60", "p50"},
      {},
      {},
      {greedy_node},
      {10}};
    c.nodes = {greedy_node};
    t.push_back(c);
  }

  // Missing StorageClass (§11.3, issue #211): open-local fails the pod on
  // every node; ours treats the PVC as not ours: every node passes.
  t.push_back({"reference_missing_storage_class_differs",
               {{"pvc-gone", "sc-gone", "10Gi"}},
               {"pvc-gone"},
               {},
               {},
               {n1, n2, n3, n4},
               {0, 0, 0, 10}});

  // Unknown node (§11.3 "unknown node names silently dropped"): ours reports
  // it failed with a reason instead of leaving it out of the answer.
  {
    scheduling_case c{
      "reference_unknown_node_is_reported", {pvc_vg}, {"pvc-vg"}, {}, {}, {n2}, {7, 0}};
    c.nodes = {n2, "node-192.168.0.9"};
    t.push_back(c);
  }

  // Spread (§5.3), on TestVGWithNoName's pod: the group with the most free
  // space (hdd on both), f = 1 − u: node1 ⌊(1 − 400/500)×10⌋ = 2, node2
  // ⌊(1 − 400/750)×10⌋ = 4; open-local's formula gives the same here.
  {
    scheduling_case c{
      "reference_vg_without_name_spread", {pvc_novg}, {"pvc-novg"}, {}, {}, {n1, n2}, {2, 4, 0, 0}};
    c.how = placement::strategy::spread;
    t.push_back(c);
  }
  return t;
}

std::shared_ptr<kube::placement_snapshot> snapshot_for(const scheduling_case& c) {
  auto view = std::make_shared<placement::cluster_view>();
  view->generation = 1;
  std::map<std::string, placement::node_state> states;
  for (auto& text : fixture_nls()) {
    auto s = kube::node_state_of(parse(text), 2.0);
    states[s.name] = std::move(s);
  }
  for (auto& pv : c.pvs) {
    auto charge = kube::charge_of_pv(parse(pv_json(pv)), kube::default_drivers());
    EXPECT_TRUE(charge) << c.name << ": PV " << pv.name << " is not charged";
    if (!charge)
      continue;
    EXPECT_EQ(charge->node, pv.node);
    auto it = states.find(charge->node);
    EXPECT_TRUE(it != states.end() && placement::charge(it->second, charge->assignment))
      << c.name << ": PV " << pv.name << " could not be charged";
  }
  for (auto& [name, s] : states)
    view->nodes[name] = std::make_shared<const placement::node_state>(std::move(s));

  auto idx = std::make_shared<kube::object_index>();
  add_storage_classes(*idx);
  if (c.with_snapshot)
    add_snapshot(*idx);
  for (auto& p : c.pvcs)
    idx->pvcs["default/" + p.name] = parse(pvc_json(p));

  auto snap = std::make_shared<kube::placement_snapshot>();
  snap->view = view;
  snap->objects = idx;
  snap->synced = true;
  return snap;
}

std::string extender_args(const scheduling_case& c) {
  json::array names;
  for (auto& n : c.nodes)
    names.push_back(json::value(n));
  return R"({"pod":)" + pod_json(c.pod_claims, c.inlines) + R"(,"nodenames":)" +
         json::serialize(names) + "}";
}

class open_local_cases : public testing::TestWithParam<scheduling_case> {};

} // namespace

TEST_P(open_local_cases, filter_and_prioritize_through_the_http_handlers) {
  const auto& c = GetParam();
  auto snap = snapshot_for(c);
  extender::extender_options opts;
  opts.how = c.how;
  auto body = extender_args(c);

  auto filtered = extender::predicates(body, snap.get(), opts);
  ASSERT_EQ(filtered.status, 200u) << filtered.body;
  auto result = json::parse(filtered.body).as_object();
  ASSERT_FALSE(result.contains("error")) << filtered.body;
  std::vector<std::string> fit;
  if (auto* names = result.if_contains("nodenames"); names != nullptr && names->is_array())
    for (auto& n : names->as_array())
      fit.emplace_back(n.as_string());
  EXPECT_EQ(fit, c.expect_fit) << filtered.body;

  // Every node that does not fit is in failedNodes (or, for a problem of the
  // pod itself, failedAndUnresolvableNodes) with a reason.
  json::object failed;
  const char* failed_key = c.unresolvable ? "failedAndUnresolvableNodes" : "failedNodes";
  if (auto* f = result.if_contains(failed_key); f != nullptr && f->is_object())
    failed = f->as_object();
  if (c.unresolvable) {
    auto* f = result.if_contains("failedNodes");
    EXPECT_TRUE(f == nullptr || f->as_object().empty()) << filtered.body;
  } else {
    EXPECT_FALSE(result.contains("failedAndUnresolvableNodes")) << filtered.body;
  }
  EXPECT_EQ(failed.size() + fit.size(), c.nodes.size()) << filtered.body;
  for (auto& n : c.nodes) {
    if (std::find(c.expect_fit.begin(), c.expect_fit.end(), n) != c.expect_fit.end())
      continue;
    auto* reason = failed.if_contains(n);
    ASSERT_NE(reason, nullptr) << n << " missing from " << failed_key << ": " << filtered.body;
    EXPECT_FALSE(reason->as_string().empty()) << n;
    if (!c.reason_contains.empty()) {
      EXPECT_NE(std::string(reason->as_string()).find(c.reason_contains), std::string::npos)
        << n << ": " << std::string(reason->as_string());
    }
  }

  auto prioritized = extender::priorities(body, snap.get(), opts);
  ASSERT_EQ(prioritized.status, 200u) << prioritized.body;
  auto list = json::parse(prioritized.body).as_array();
  ASSERT_EQ(list.size(), c.nodes.size()) << prioritized.body;
  for (size_t i = 0; i < list.size(); ++i)
    EXPECT_EQ(list[i].as_object().at("host").as_string(), c.nodes[i]) << "input order";
  if (!c.expect_scores.empty()) {
    std::vector<int64_t> scores;
    for (auto& h : list)
      scores.push_back(h.as_object().at("score").as_int64());
    EXPECT_EQ(scores, c.expect_scores) << prioritized.body;
  }
}

INSTANTIATE_TEST_SUITE_P(open_local_cases, open_local_cases, testing::ValuesIn(cases()),
                         [](const testing::TestParamInfo<scheduling_case>& info) {
                           return info.param.name;
                         });
