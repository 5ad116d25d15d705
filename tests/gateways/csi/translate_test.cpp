#include "gateways/csi/translate.hpp"

#include <caf/sec.hpp>
#include <gtest/gtest.h>

#include <functional>
#include <map>
#include <string>
#include <vector>

using namespace olocal;

namespace {

using access_mode = csi_pb::VolumeCapability::AccessMode;

constexpr uint64_t mib = 1ull << 20;

const std::vector<std::string> kubelet = {"/var/lib/kubelet"};

csi_pb::VolumeCapability mount_cap(std::string fstype = "ext4",
                                   access_mode::Mode mode = access_mode::SINGLE_NODE_WRITER,
                                   std::vector<std::string> flags = {}) {
  csi_pb::VolumeCapability cap;
  cap.mutable_mount()->set_fs_type(fstype);
  for (auto& f : flags)
    cap.mutable_mount()->add_mount_flags(f);
  cap.mutable_access_mode()->set_mode(mode);
  return cap;
}

csi_pb::VolumeCapability block_cap(access_mode::Mode mode = access_mode::SINGLE_NODE_WRITER) {
  csi_pb::VolumeCapability cap;
  cap.mutable_block();
  cap.mutable_access_mode()->set_mode(mode);
  return cap;
}

/// Expects an invalid_argument whose message names `field`.
template <class T>
void expect_invalid(const caf::expected<T>& result, const std::string& field,
                    const std::string& what) {
  ASSERT_FALSE(result) << what << ": accepted";
  EXPECT_EQ(code_of(result.error()), errc::invalid_argument)
    << what << ": " << render(result.error());
  EXPECT_NE(message_of(result.error()).find(field), std::string::npos)
    << what << ": \"" << message_of(result.error()) << "\" does not name " << field;
}

void expect_invalid(const caf::error& err, const std::string& field, const std::string& what) {
  ASSERT_TRUE(err) << what << ": accepted";
  EXPECT_EQ(code_of(err), errc::invalid_argument) << what;
  EXPECT_NE(message_of(err).find(field), std::string::npos)
    << what << ": \"" << message_of(err) << "\" does not name " << field;
}

csi_pb::CreateVolumeRequest good_create() {
  csi_pb::CreateVolumeRequest req;
  req.set_name("pvc-1");
  *req.add_volume_capabilities() = mount_cap("xfs");
  req.mutable_capacity_range()->set_required_bytes(64 * mib);
  (*req.mutable_parameters())["vgName"] = "vg0";
  return req;
}

} // namespace

// -- ids and paths ----------------------------------------------------------------

TEST(csi_check_id, accepts_the_lvm_charset_only) {
  for (auto& ok : std::vector<std::string>{"pvc-1", "local-0a1b", "csi-" + std::string(64, 'f'),
                                           "a_b.c+d", std::string(128, 'x'), "A9"})
    EXPECT_FALSE(check_id("volume_id", ok)) << ok;
  struct row {
    std::string id;
    std::string why;
  };
  for (auto& r : std::vector<row>{{"", "is missing"},
                                  {std::string(129, 'x'), "129 bytes"},
                                  {"a/b", "outside"},
                                  {"a b", "outside"},
                                  {"ä", "outside"},
                                  {std::string("a\0b", 3), "outside"},
                                  {"pvc:1", "outside"},
                                  {"-x", "starts with"},
                                  {".", "not a valid"},
                                  {"..", "not a valid"}}) {
    auto err = check_id("snapshot_id", r.id);
    expect_invalid(err, "snapshot_id", r.id);
    EXPECT_NE(message_of(err).find(r.why), std::string::npos) << message_of(err);
  }
}

TEST(csi_check_path, accepts_only_clean_paths_below_an_allowed_root) {
  EXPECT_TRUE(is_below("/var/lib/kubelet/pods/x", "/var/lib/kubelet"));
  EXPECT_TRUE(is_below("/var/lib/kubelet/pods/x", "/var/lib/kubelet/"));
  EXPECT_TRUE(is_below("//var/lib//kubelet/./x", "/var/lib/kubelet"));
  EXPECT_FALSE(is_below("/var/lib/kubelet", "/var/lib/kubelet")) << "the root itself";
  EXPECT_FALSE(is_below("/var/lib/kubelet2/x", "/var/lib/kubelet")) << "the prefix trick";
  EXPECT_FALSE(is_below("/var/lib/kube", "/var/lib/kubelet"));
  EXPECT_TRUE(is_below("/anything", "/"));

  EXPECT_FALSE(check_path("target_path", "/var/lib/kubelet/pods/1/volumes/v/mount", kubelet));
  EXPECT_FALSE(check_path("target_path", "/srv/x", {"/var/lib/kubelet", "/srv"}));
  struct row {
    std::string path;
    std::string why;
  };
  for (auto& r : std::vector<row>{{"", "is missing"},
                                  {"var/lib/kubelet/x", "not absolute"},
                                  {"/var/lib/kubelet/../etc", "\"..\""},
                                  {"/var/lib/kubelet/pods/../../../../etc/shadow", "\"..\""},
                                  {"/var/lib/kubelet/pods/..", "\"..\""},
                                  {std::string("/var/lib/kubelet/a\0b", 20), "NUL"},
                                  {"/var/lib/kubelet2/pods/x", "not below"},
                                  {"/var/lib/kubelet", "not below"},
                                  {"/tmp/x", "not below"},
                                  {"/var/lib/kubelet/" + std::string(5000, 'a'), "longer than"}}) {
    auto err = check_path("staging_target_path", r.path, kubelet);
    expect_invalid(err, "staging_target_path", r.path.substr(0, 60));
    EXPECT_NE(message_of(err).find(r.why), std::string::npos) << message_of(err);
  }
}

// -- capabilities ------------------------------------------------------------------

TEST(csi_capability, serves_single_node_modes_only) {
  for (auto mode :
       {access_mode::SINGLE_NODE_WRITER, access_mode::SINGLE_NODE_READER_ONLY,
        access_mode::SINGLE_NODE_SINGLE_WRITER, access_mode::SINGLE_NODE_MULTI_WRITER}) {
    EXPECT_TRUE(is_single_node(mode));
    EXPECT_FALSE(check_capability("volume_capability", mount_cap("ext4", mode)));
    EXPECT_FALSE(check_capability("volume_capability", block_cap(mode)));
  }
  for (auto mode : {access_mode::MULTI_NODE_READER_ONLY, access_mode::MULTI_NODE_SINGLE_WRITER,
                    access_mode::MULTI_NODE_MULTI_WRITER, access_mode::UNKNOWN}) {
    EXPECT_FALSE(is_single_node(mode));
    expect_invalid(check_capability("volume_capability", mount_cap("ext4", mode)),
                   "volume_capability", access_mode::Mode_Name(mode));
  }
  EXPECT_NE(unsupported_capability(mount_cap("ext4", access_mode::MULTI_NODE_MULTI_WRITER))
              .find("MULTI_NODE_MULTI_WRITER"),
            std::string::npos);

  csi_pb::VolumeCapability neither;
  neither.mutable_access_mode()->set_mode(access_mode::SINGLE_NODE_WRITER);
  expect_invalid(check_capability_shape("volume_capabilities[0]", neither),
                 "volume_capabilities[0]", "neither block nor mount");
  csi_pb::VolumeCapability no_mode;
  no_mode.mutable_block();
  expect_invalid(check_capability_shape("volume_capability", no_mode),
                 "volume_capability.access_mode", "no access mode");
  EXPECT_FALSE(check_capability("c", mount_cap(""))) << "no fs_type: the default";
  expect_invalid(check_capability("c", mount_cap("btrfs")), "fs_type", "btrfs");
}

// -- capacity and topology ---------------------------------------------------------------

TEST(csi_capacity, checks_the_range) {
  csi_pb::CapacityRange r;
  EXPECT_EQ(capacity_of(r)->required, 0u);
  r.set_required_bytes(10);
  r.set_limit_bytes(20);
  auto b = capacity_of(r);
  ASSERT_TRUE(b);
  EXPECT_EQ(b->required, 10u);
  EXPECT_EQ(b->limit, 20u);
  r.set_limit_bytes(0);
  EXPECT_TRUE(capacity_of(r)) << "no limit";
  struct row {
    int64_t required;
    int64_t limit;
    std::string why;
  };
  for (auto& row : std::vector<row>{{-1, 0, "required_bytes -1 is negative"},
                                    {0, -5, "limit_bytes -5 is negative"},
                                    {30, 20, "above limit_bytes"}}) {
    r.set_required_bytes(row.required);
    r.set_limit_bytes(row.limit);
    auto bad = capacity_of(r);
    expect_invalid(bad, "capacity_range: ", row.why);
    EXPECT_NE(message_of(bad.error()).find(row.why), std::string::npos);
  }
}

TEST(csi_topology, requisite_hosts_become_the_allowed_nodes) {
  auto topo = [](std::map<std::string, std::string> segments) {
    csi_pb::Topology t;
    for (auto& [k, v] : segments)
      (*t.mutable_segments())[k] = v;
    return t;
  };
  csi_pb::TopologyRequirement req;
  EXPECT_TRUE(nodes_of(req).empty()) << "nothing required: any node";
  *req.add_preferred() = topo({{"kubernetes.io/hostname", "n3"}});
  EXPECT_TRUE(nodes_of(req).empty()) << "preferred alone does not restrict";
  *req.add_requisite() = topo({{"kubernetes.io/hostname", "n1"}});
  *req.add_requisite() = topo({{"kubernetes.io/hostname", "n2"}});
  *req.add_requisite() = topo({{"kubernetes.io/hostname", "n1"}});
  EXPECT_EQ(nodes_of(req), (std::vector<std::string>{"n1", "n2"}))
    << "a preferred host outside requisite is not allowed";
  *req.add_preferred() = topo({{"kubernetes.io/hostname", "n2"}});
  EXPECT_EQ(nodes_of(req), (std::vector<std::string>{"n2", "n1"}))
    << "preferred hosts (the selected node) lead";
  *req.add_requisite() = topo({{"topology.kubernetes.io/zone", "a"}});
  EXPECT_TRUE(nodes_of(req).empty()) << "a requisite without a host allows any host";

  EXPECT_EQ(nodes_of(topo({{"kubernetes.io/hostname", "n9"}})), std::vector<std::string>{"n9"});
  EXPECT_TRUE(nodes_of(topo({})).empty());
  csi_pb::Topology out;
  set_topology("node-1", &out);
  ASSERT_EQ(out.segments().size(), 1u);
  EXPECT_EQ(out.segments().at("kubernetes.io/hostname"), "node-1");
}

// -- Controller requests ------------------------------------------------------------------

TEST(csi_create_volume, translates_a_good_request) {
  auto req = good_create();
  req.mutable_capacity_range()->set_limit_bytes(128 * mib);
  auto* topo = req.mutable_accessibility_requirements()->add_requisite();
  (*topo->mutable_segments())["kubernetes.io/hostname"] = "node-1";
  req.mutable_volume_content_source()->mutable_snapshot()->set_snapshot_id("snap-1");
  auto p = to_provision_req(req);
  ASSERT_TRUE(p) << render(p.error());
  EXPECT_EQ(p->name, "pvc-1");
  EXPECT_EQ(p->required_bytes, 64 * mib);
  EXPECT_EQ(p->limit_bytes, 128 * mib);
  EXPECT_EQ(p->fstype, "xfs");
  EXPECT_FALSE(p->block);
  EXPECT_EQ(p->params.at("vgName"), "vg0");
  EXPECT_EQ(p->source_snapshot, "snap-1");
  EXPECT_TRUE(p->source_volume.empty());
  EXPECT_EQ(p->nodes, std::vector<std::string>{"node-1"});

  auto clone = good_create();
  clone.mutable_volume_content_source()->mutable_volume()->set_volume_id("pvc-0");
  clone.clear_volume_capabilities();
  *clone.add_volume_capabilities() = block_cap();
  auto c = to_provision_req(clone);
  ASSERT_TRUE(c) << render(c.error());
  EXPECT_TRUE(c->block);
  EXPECT_EQ(c->source_volume, "pvc-0");
  EXPECT_TRUE(c->fstype.empty());
}

TEST(csi_create_volume, every_refusal_names_the_field) {
  struct row {
    std::string field;
    std::function<void(csi_pb::CreateVolumeRequest&)> spoil;
  };
  std::vector<row> rows = {
    {"name is missing", [](auto& r) { r.clear_name(); }},
    {"name", [](auto& r) { r.set_name("pvc/1"); }},
    {"volume_capabilities is missing", [](auto& r) { r.clear_volume_capabilities(); }},
    {"volume_capabilities[1]",
     [](auto& r) {
       *r.add_volume_capabilities() = mount_cap("ext4", access_mode::MULTI_NODE_MULTI_WRITER);
     }},
    {"volume_capabilities[0]",
     [](auto& r) { r.mutable_volume_capabilities(0)->clear_access_type(); }},
    {"volume_capabilities[0].access_mode",
     [](auto& r) { r.mutable_volume_capabilities(0)->clear_access_mode(); }},
    {"volume_capabilities", [](auto& r) { *r.add_volume_capabilities() = block_cap(); }},
    {"volume_capabilities", [](auto& r) { *r.add_volume_capabilities() = mount_cap("ext4"); }},
    {"capacity_range", [](auto& r) { r.mutable_capacity_range()->set_required_bytes(-1); }},
    {"capacity_range", [](auto& r) { r.mutable_capacity_range()->set_limit_bytes(mib); }},
    {"volume_content_source.snapshot.snapshot_id",
     [](auto& r) { r.mutable_volume_content_source()->mutable_snapshot(); }},
    {"volume_content_source.volume.volume_id",
     [](auto& r) { r.mutable_volume_content_source()->mutable_volume()->set_volume_id("a b"); }},
    {"volume_content_source.type", [](auto& r) { r.mutable_volume_content_source(); }},
  };
  for (auto& r : rows) {
    auto req = good_create();
    r.spoil(req);
    expect_invalid(to_provision_req(req), r.field, r.field);
  }
}

TEST(csi_controller_requests, refusals_name_the_field) {
  expect_invalid(to_unprovision_req({}), "volume_id is missing", "DeleteVolume");
  csi_pb::DeleteVolumeRequest del;
  del.set_volume_id("pvc 1");
  expect_invalid(to_unprovision_req(del), "volume_id", "DeleteVolume charset");
  del.set_volume_id("pvc-1");
  EXPECT_EQ(to_unprovision_req(del)->id, "pvc-1");

  csi_pb::ValidateVolumeCapabilitiesRequest val;
  expect_invalid(to_volume_query(val), "volume_id is missing", "Validate");
  val.set_volume_id("pvc-1");
  expect_invalid(to_volume_query(val), "volume_capabilities is missing", "Validate caps");
  csi_pb::VolumeCapability neither;
  neither.mutable_access_mode()->set_mode(access_mode::SINGLE_NODE_WRITER);
  *val.add_volume_capabilities() = neither;
  expect_invalid(to_volume_query(val), "volume_capabilities[0]", "Validate shape");
  val.clear_volume_capabilities();
  *val.add_volume_capabilities() = mount_cap("ext4", access_mode::MULTI_NODE_MULTI_WRITER);
  EXPECT_TRUE(to_volume_query(val)) << "served or not is the answer, not an error";

  expect_invalid(to_volume_query(csi_pb::ControllerGetVolumeRequest{}), "volume_id is missing",
                 "ControllerGetVolume");

  csi_pb::ListVolumesRequest lv;
  lv.set_max_entries(-1);
  expect_invalid(to_list_volumes_req(lv), "max_entries", "ListVolumes");
  lv.set_max_entries(5);
  lv.set_starting_token("5");
  auto l = to_list_volumes_req(lv);
  ASSERT_TRUE(l);
  EXPECT_EQ(l->max_entries, 5u);
  EXPECT_EQ(l->starting_token, "5");

  csi_pb::CreateSnapshotRequest snap;
  expect_invalid(to_snapshot_req(snap), "source_volume_id is missing", "CreateSnapshot");
  snap.set_source_volume_id("pvc-1");
  expect_invalid(to_snapshot_req(snap), "name is missing", "CreateSnapshot name");
  snap.set_name("snapshot/1");
  expect_invalid(to_snapshot_req(snap), "name", "CreateSnapshot charset");
  snap.set_name("snap-1");
  (*snap.mutable_parameters())["csi.aliyun.com/readonly"] = "true";
  auto s = to_snapshot_req(snap);
  ASSERT_TRUE(s);
  EXPECT_EQ(s->source_volume, "pvc-1");
  EXPECT_EQ(s->params.at("csi.aliyun.com/readonly"), "true");

  expect_invalid(to_delete_snapshot_req({}), "snapshot_id is missing", "DeleteSnapshot");
  csi_pb::ListSnapshotsRequest ls;
  ls.set_max_entries(-3);
  expect_invalid(to_list_snapshots_req(ls), "max_entries", "ListSnapshots");
  ls.set_max_entries(0);
  ls.set_source_volume_id("pvc-1");
  EXPECT_EQ(to_list_snapshots_req(ls)->source_volume, "pvc-1");

  csi_pb::ControllerExpandVolumeRequest ex;
  expect_invalid(to_resize_req(ex), "volume_id is missing", "Expand id");
  ex.set_volume_id("pvc-1");
  expect_invalid(to_resize_req(ex), "capacity_range is missing", "Expand range");
  ex.mutable_capacity_range();
  expect_invalid(to_resize_req(ex), "capacity_range", "Expand empty range");
  ex.mutable_capacity_range()->set_required_bytes(200 * mib);
  auto r = to_resize_req(ex);
  ASSERT_TRUE(r);
  EXPECT_EQ(r->required_bytes, 200 * mib);
  EXPECT_TRUE(node_expansion_required(ex)) << "no capability: assume a filesystem";
  *ex.mutable_volume_capability() = mount_cap();
  EXPECT_TRUE(node_expansion_required(ex));
  *ex.mutable_volume_capability() = block_cap();
  EXPECT_FALSE(node_expansion_required(ex));

  csi_pb::GetCapacityRequest cap;
  (*cap.mutable_accessible_topology()->mutable_segments())["kubernetes.io/hostname"] = "n1";
  EXPECT_EQ(to_capacity_req(cap)->nodes, std::vector<std::string>{"n1"});
  cap.mutable_accessible_topology()->mutable_segments()->clear();
  (*cap.mutable_accessible_topology()->mutable_segments())["zone"] = "a";
  expect_invalid(to_capacity_req(cap), "accessible_topology", "GetCapacity topology");
  cap.clear_accessible_topology();
  cap.add_volume_capabilities();
  expect_invalid(to_capacity_req(cap), "volume_capabilities[0]", "GetCapacity shape");
}

// -- Node requests ----------------------------------------------------------------------------

TEST(csi_node_requests, stage_and_publish_translate_capabilities) {
  csi_pb::NodeStageVolumeRequest st;
  st.set_volume_id("pvc-1");
  st.set_staging_target_path("/var/lib/kubelet/plugins/csi/pv/pvc-1/globalmount");
  *st.mutable_volume_capability() = mount_cap("xfs", access_mode::SINGLE_NODE_WRITER, {"noatime"});
  auto s = to_stage_call(st, kubelet);
  ASSERT_TRUE(s) << render(s.error());
  EXPECT_EQ(s->volume_id, "pvc-1");
  EXPECT_EQ(s->req.staging_path, st.staging_target_path());
  EXPECT_FALSE(s->req.block);
  EXPECT_EQ(s->req.fstype, "xfs");
  EXPECT_EQ(s->req.mount_options, std::vector<std::string>{"noatime"});

  *st.mutable_volume_capability() = mount_cap("");
  (*st.mutable_volume_context())["fsType"] = "ext3";
  EXPECT_EQ(to_stage_call(st, kubelet)->req.fstype, "ext3") << "open-local's fsType parameter";
  st.mutable_volume_context()->clear();
  EXPECT_EQ(to_stage_call(st, kubelet)->req.fstype, "ext4") << "the default";
  *st.mutable_volume_capability() = block_cap();
  EXPECT_TRUE(to_stage_call(st, kubelet)->req.block);

  csi_pb::NodePublishVolumeRequest pub;
  pub.set_volume_id("pvc-1");
  pub.set_staging_target_path(st.staging_target_path());
  pub.set_target_path("/var/lib/kubelet/pods/uid/volumes/kubernetes.io~csi/pvc-1/mount");
  pub.set_readonly(true);
  *pub.mutable_volume_capability() = mount_cap("ext4", access_mode::SINGLE_NODE_READER_ONLY);
  auto p = to_publish_call(pub, kubelet, "/var/lib/open-local");
  ASSERT_TRUE(p) << render(p.error());
  EXPECT_EQ(p->req.target_path, pub.target_path());
  EXPECT_TRUE(p->req.read_only);
  EXPECT_FALSE(p->ephemeral);
}

TEST(csi_node_requests, publish_carries_io_limits_and_whose_cgroup) {
  csi_pb::NodePublishVolumeRequest pub;
  pub.set_volume_id("pvc-1");
  pub.set_staging_target_path("/var/lib/kubelet/plugins/x/globalmount");
  pub.set_target_path("/var/lib/kubelet/pods/u-1/volumes/kubernetes.io~csi/pvc-1/mount");
  *pub.mutable_volume_capability() = mount_cap();
  auto none = to_publish_call(pub, kubelet, "/s");
  ASSERT_TRUE(none) << render(none.error());
  EXPECT_TRUE(none->limit.empty());
  EXPECT_EQ(none->pod_uid, "u-1") << "from the target path";
  // open-local's StorageClass keys, as the controller carries them.
  (*pub.mutable_volume_context())["iops"] = "300";
  (*pub.mutable_volume_context())["bps"] = "1Mi";
  (*pub.mutable_volume_context())["writeBps"] = "512Ki";
  auto p = to_publish_call(pub, kubelet, "/s");
  ASSERT_TRUE(p) << render(p.error());
  EXPECT_EQ(p->limit, (io_limit{1u << 20, 512u << 10, 300, 300}));
  // podInfoOnMount's UID wins; olocal/cgroup names a standalone cgroup.
  (*pub.mutable_volume_context())["csi.storage.k8s.io/pod.uid"] = "u-2";
  (*pub.mutable_volume_context())["olocal/cgroup"] = "/system.slice/app.service";
  p = to_publish_call(pub, kubelet, "/s");
  ASSERT_TRUE(p);
  EXPECT_EQ(p->pod_uid, "u-2");
  EXPECT_EQ(p->cgroup, "/system.slice/app.service");
  (*pub.mutable_volume_context())["readIops"] = "many";
  expect_invalid(to_publish_call(pub, kubelet, "/s"), "readIops", "publish io limits");
  // Inline ephemeral volumes take them from their volumeAttributes.
  csi_pb::NodePublishVolumeRequest eph;
  eph.set_volume_id("csi-abc");
  eph.set_target_path("/var/lib/kubelet/pods/u-3/volumes/kubernetes.io~csi/data/mount");
  *eph.mutable_volume_capability() = mount_cap();
  (*eph.mutable_volume_context())["csi.storage.k8s.io/ephemeral"] = "true";
  (*eph.mutable_volume_context())["vgName"] = "vg0";
  (*eph.mutable_volume_context())["readBps"] = "2Mi";
  auto e = to_publish_call(eph, kubelet, "/s");
  ASSERT_TRUE(e) << render(e.error());
  ASSERT_TRUE(e->ephemeral);
  EXPECT_EQ(e->limit, (io_limit{2u << 20, 0, 0, 0}));
  EXPECT_EQ(e->pod_uid, "u-3");
}

TEST(csi_node_requests, every_refusal_names_the_field) {
  auto stage = [] {
    csi_pb::NodeStageVolumeRequest r;
    r.set_volume_id("pvc-1");
    r.set_staging_target_path("/var/lib/kubelet/plugins/x/globalmount");
    *r.mutable_volume_capability() = mount_cap();
    return r;
  };
  struct stage_row {
    std::string field;
    std::function<void(csi_pb::NodeStageVolumeRequest&)> spoil;
  };
  for (auto& r : std::vector<stage_row>{
         {"volume_id is missing", [](auto& q) { q.clear_volume_id(); }},
         {"staging_target_path is missing", [](auto& q) { q.clear_staging_target_path(); }},
         {"staging_target_path", [](auto& q) { q.set_staging_target_path("/var/lib/kubelet2/x"); }},
         {"staging_target_path",
          [](auto& q) { q.set_staging_target_path("/var/lib/kubelet/../x"); }},
         {"volume_capability is missing", [](auto& q) { q.clear_volume_capability(); }},
         {"volume_capability", [](auto& q) { q.mutable_volume_capability()->clear_access_type(); }},
         {"volume_capability",
          [](auto& q) {
            *q.mutable_volume_capability() = mount_cap("ext4", access_mode::MULTI_NODE_READER_ONLY);
          }},
         {"fstype", [](auto& q) {
            *q.mutable_volume_capability() = mount_cap("");
            (*q.mutable_volume_context())["fsType"] = "zfs";
          }}}) {
    auto q = stage();
    r.spoil(q);
    expect_invalid(to_stage_call(q, kubelet), r.field, "stage: " + r.field);
  }

  csi_pb::NodeUnstageVolumeRequest un;
  expect_invalid(to_unstage_call(un, kubelet), "volume_id is missing", "unstage");
  un.set_volume_id("pvc-1");
  expect_invalid(to_unstage_call(un, kubelet), "staging_target_path is missing", "unstage path");

  csi_pb::NodePublishVolumeRequest pub;
  pub.set_volume_id("pvc-1");
  *pub.mutable_volume_capability() = mount_cap();
  expect_invalid(to_publish_call(pub, kubelet, "/s"), "target_path is missing", "publish");
  pub.set_target_path("/var/lib/kubelet/pods/u/mount");
  // The driver stages: publishing an unstaged volume is a failed precondition.
  auto unstaged = to_publish_call(pub, kubelet, "/s");
  ASSERT_FALSE(unstaged);
  EXPECT_EQ(code_of(unstaged.error()), errc::failed_precondition);
  EXPECT_NE(message_of(unstaged.error()).find("staging_target_path is missing"), std::string::npos);
  pub.set_staging_target_path("/etc/x");
  expect_invalid(to_publish_call(pub, kubelet, "/s"), "staging_target_path", "publish staging");
  pub.set_staging_target_path("/var/lib/kubelet/plugins/x");
  pub.clear_volume_capability();
  expect_invalid(to_publish_call(pub, kubelet, "/s"), "volume_capability is missing",
                 "publish cap");

  csi_pb::NodeUnpublishVolumeRequest unp;
  unp.set_volume_id("pvc-1");
  unp.set_target_path("/var/lib/kubelet2/pods/u/mount");
  expect_invalid(to_unpublish_call(unp, kubelet), "target_path", "unpublish");

  csi_pb::NodeGetVolumeStatsRequest stats;
  stats.set_volume_id("pvc-1");
  expect_invalid(to_stats_call(stats, kubelet), "volume_path is missing", "stats");
  // A volume_path that cannot be one of the volume's is not found (CSI's code).
  stats.set_volume_path("some/path");
  auto relative = to_stats_call(stats, kubelet);
  ASSERT_FALSE(relative);
  EXPECT_EQ(code_of(relative.error()), errc::not_found);
  csi_pb::NodePublishVolumeRequest multi;
  multi.set_volume_id("pvc-1");
  multi.set_target_path("/var/lib/kubelet/pods/u/mount");
  multi.set_staging_target_path("/var/lib/kubelet/plugins/x");
  *multi.mutable_volume_capability() = mount_cap("ext4", access_mode::MULTI_NODE_MULTI_WRITER);
  auto exceeds = to_publish_call(multi, kubelet, "/s");
  ASSERT_FALSE(exceeds);
  EXPECT_EQ(code_of(exceeds.error()), errc::failed_precondition) << "exceeds capabilities";
  csi_pb::NodeExpandVolumeRequest ex;
  ex.set_volume_id("pvc-1");
  ex.set_volume_path("/var/lib/kubelet/pods/u/mount");
  ex.mutable_capacity_range()->set_required_bytes(-1);
  expect_invalid(to_node_expand_call(ex, kubelet), "capacity_range", "node expand");
  ex.mutable_capacity_range()->set_required_bytes(5);
  EXPECT_EQ(to_node_expand_call(ex, kubelet)->capacity.required, 5u);
}

TEST(csi_node_requests, inline_ephemeral_volumes_get_a_plan) {
  csi_pb::NodePublishVolumeRequest pub;
  pub.set_volume_id("csi-0123abcd");
  pub.set_target_path("/var/lib/kubelet/pods/u/volumes/kubernetes.io~csi/data/mount");
  *pub.mutable_volume_capability() = mount_cap("", access_mode::SINGLE_NODE_WRITER, {"noatime"});
  auto& ctx = *pub.mutable_volume_context();
  ctx["csi.storage.k8s.io/ephemeral"] = "true";
  ctx["vgName"] = "vg0";
  ctx["size"] = "64Mi";
  ctx["fsType"] = "xfs";
  auto p = to_publish_call(pub, kubelet, "/var/lib/open-local/");
  ASSERT_TRUE(p) << render(p.error());
  ASSERT_TRUE(p->ephemeral) << "no staging path needed";
  auto& plan = *p->ephemeral;
  EXPECT_EQ(plan.create.vg, "vg0");
  EXPECT_EQ(plan.create.lv.name, "csi-0123abcd");
  EXPECT_EQ(plan.create.lv.size_bytes, 64 * mib);
  EXPECT_EQ(plan.create.lv.layout, "linear");
  EXPECT_EQ(plan.create.lv.kind, "ephemeral");
  EXPECT_EQ(plan.stage.staging_path, "/var/lib/open-local/ephemeral/csi-0123abcd");
  EXPECT_EQ(plan.stage.fstype, "xfs");
  EXPECT_EQ(plan.stage.mount_options, std::vector<std::string>{"noatime"});

  ctx.erase("fsType");
  ctx.erase("size");
  auto d = to_publish_call(pub, kubelet, "/state");
  ASSERT_TRUE(d);
  EXPECT_EQ(d->ephemeral->stage.fstype, "ext4");
  EXPECT_EQ(d->ephemeral->create.lv.size_bytes, 1ull << 30) << "open-local's default 1Gi";

  ctx.erase("vgName");
  expect_invalid(to_publish_call(pub, kubelet, "/state"), "vgName", "no vgName");
  ctx["vgName"] = "vg0";
  ctx["size"] = "lots";
  expect_invalid(to_publish_call(pub, kubelet, "/state"), "size", "bad size");
  ctx.erase("size");
  *pub.mutable_volume_capability() = block_cap();
  expect_invalid(to_publish_call(pub, kubelet, "/state"), "volume_capability", "block inline");
  ctx["csi.storage.k8s.io/ephemeral"] = "false";
  EXPECT_FALSE(is_ephemeral({{"csi.storage.k8s.io/ephemeral", "false"}}));
  EXPECT_TRUE(is_ephemeral({{"csi.storage.k8s.io/ephemeral", "true"}}));
}

TEST(csi_node_requests, paths_of_a_volume) {
  volume_state v;
  v.staging_path = "/k/stage";
  v.targets = {{"/k/t1", false}, {"/k/t2", true}};
  EXPECT_TRUE(is_path_of(v, "/k/stage"));
  EXPECT_TRUE(is_path_of(v, "/k/t2"));
  EXPECT_FALSE(is_path_of(v, "/k/t3"));
  EXPECT_FALSE(is_path_of(v, ""));
  EXPECT_FALSE(is_path_of(volume_state{}, ""));
}

// -- responses -------------------------------------------------------------------------------

TEST(csi_responses, volumes_snapshots_and_stats) {
  volume_record rec;
  rec.id = "pvc-1";
  rec.capacity_bytes = 64 * mib;
  rec.node = "node-1";
  rec.context = {{"vgName", "vg0"}};
  rec.source_snapshot = "snap-1";
  csi_pb::Volume vol;
  fill_volume(rec, &vol);
  EXPECT_EQ(vol.volume_id(), "pvc-1");
  EXPECT_EQ(vol.capacity_bytes(), static_cast<int64_t>(64 * mib));
  EXPECT_EQ(vol.volume_context().at("vgName"), "vg0");
  EXPECT_EQ(vol.content_source().snapshot().snapshot_id(), "snap-1");
  ASSERT_EQ(vol.accessible_topology_size(), 1);
  EXPECT_EQ(vol.accessible_topology(0).segments().at("kubernetes.io/hostname"), "node-1");

  rec.source_snapshot.clear();
  rec.source_volume = "pvc-0";
  rec.abnormal = true;
  rec.message = "logical volume vg0/pvc-1 is missing";
  rec.published_nodes = {"node-1"};
  volume_page page{{rec}, "1"};
  csi_pb::ListVolumesResponse list;
  fill_list_volumes(page, &list);
  ASSERT_EQ(list.entries_size(), 1);
  EXPECT_EQ(list.next_token(), "1");
  EXPECT_EQ(list.entries(0).volume().content_source().volume().volume_id(), "pvc-0");
  EXPECT_TRUE(list.entries(0).status().volume_condition().abnormal());
  EXPECT_EQ(list.entries(0).status().published_node_ids(0), "node-1");
  csi_pb::ControllerGetVolumeResponse got;
  fill_get_volume(rec, &got);
  EXPECT_EQ(got.status().volume_condition().message(), rec.message);

  snapshot_record s{"snap-1", "pvc-1", 64 * mib, 1700000000, true, "node-1", "vg0"};
  csi_pb::Snapshot snap;
  fill_snapshot(s, &snap);
  EXPECT_EQ(snap.snapshot_id(), "snap-1");
  EXPECT_EQ(snap.source_volume_id(), "pvc-1");
  EXPECT_EQ(snap.size_bytes(), static_cast<int64_t>(64 * mib));
  EXPECT_EQ(snap.creation_time().seconds(), 1700000000);
  EXPECT_TRUE(snap.ready_to_use());

  volume_stats stats;
  stats.usage.stats = {100, 40, 50, 1000, 10, 990};
  stats.usage.condition = {true, "read-only"};
  csi_pb::NodeGetVolumeStatsResponse r;
  fill_stats(stats, &r);
  ASSERT_EQ(r.usage_size(), 2);
  EXPECT_EQ(r.usage(0).unit(), csi_pb::VolumeUsage::BYTES);
  EXPECT_EQ(r.usage(0).total(), 100);
  EXPECT_EQ(r.usage(0).used(), 40);
  EXPECT_EQ(r.usage(0).available(), 50);
  EXPECT_EQ(r.usage(1).unit(), csi_pb::VolumeUsage::INODES);
  EXPECT_EQ(r.usage(1).total(), 1000);
  EXPECT_EQ(r.usage(1).used(), 10);
  EXPECT_EQ(r.usage(1).available(), 990);
  EXPECT_TRUE(r.volume_condition().abnormal());
  EXPECT_EQ(r.volume_condition().message(), "read-only");
  stats.state.block = true;
  csi_pb::NodeGetVolumeStatsResponse b;
  fill_stats(stats, &b);
  EXPECT_EQ(b.usage_size(), 1) << "block volumes have no inodes";
}

TEST(csi_responses, validation_confirms_only_what_is_served) {
  csi_pb::ValidateVolumeCapabilitiesRequest req;
  req.set_volume_id("pvc-1");
  (*req.mutable_volume_context())["vgName"] = "vg0";
  (*req.mutable_parameters())["lvmType"] = "linear";
  *req.add_volume_capabilities() = mount_cap("ext4");
  *req.add_volume_capabilities() = block_cap(access_mode::SINGLE_NODE_MULTI_WRITER);
  csi_pb::ValidateVolumeCapabilitiesResponse ok;
  fill_validation(req, &ok);
  ASSERT_TRUE(ok.has_confirmed());
  EXPECT_EQ(ok.confirmed().volume_capabilities_size(), 2);
  EXPECT_EQ(ok.confirmed().volume_context().at("vgName"), "vg0");
  EXPECT_EQ(ok.confirmed().parameters().at("lvmType"), "linear");
  EXPECT_TRUE(ok.message().empty());

  *req.add_volume_capabilities() = mount_cap("ext4", access_mode::MULTI_NODE_SINGLE_WRITER);
  csi_pb::ValidateVolumeCapabilitiesResponse no;
  fill_validation(req, &no);
  EXPECT_FALSE(no.has_confirmed());
  EXPECT_NE(no.message().find("volume_capabilities[2]"), std::string::npos) << no.message();
  EXPECT_NE(no.message().find("MULTI_NODE_SINGLE_WRITER"), std::string::npos) << no.message();
}

TEST(csi_responses, capabilities_and_node_info) {
  csi_pb::GetPluginCapabilitiesResponse plugin;
  fill_plugin_capabilities(true, &plugin);
  ASSERT_EQ(plugin.capabilities_size(), 3);
  EXPECT_EQ(plugin.capabilities(0).service().type(),
            csi_pb::PluginCapability::Service::CONTROLLER_SERVICE);
  EXPECT_EQ(plugin.capabilities(1).service().type(),
            csi_pb::PluginCapability::Service::VOLUME_ACCESSIBILITY_CONSTRAINTS);
  EXPECT_EQ(plugin.capabilities(2).volume_expansion().type(),
            csi_pb::PluginCapability::VolumeExpansion::ONLINE);
  csi_pb::GetPluginCapabilitiesResponse node_only;
  fill_plugin_capabilities(false, &node_only);
  EXPECT_EQ(node_only.capabilities_size(), 2);

  csi_pb::ControllerGetCapabilitiesResponse ctrl;
  fill_controller_capabilities(&ctrl);
  EXPECT_EQ(ctrl.capabilities_size(), 10);
  csi_pb::NodeGetCapabilitiesResponse node;
  fill_node_capabilities(&node);
  ASSERT_EQ(node.capabilities_size(), 5);
  EXPECT_EQ(node.capabilities(0).rpc().type(),
            csi_pb::NodeServiceCapability::RPC::STAGE_UNSTAGE_VOLUME);

  csi_pb::NodeGetInfoResponse info;
  fill_node_info("node-1", 250, &info);
  EXPECT_EQ(info.node_id(), "node-1");
  EXPECT_EQ(info.max_volumes_per_node(), 250);
  EXPECT_EQ(info.accessible_topology().segments().at("kubernetes.io/hostname"), "node-1");
}

// -- errors ------------------------------------------------------------------------------------

TEST(csi_status, codes_come_from_the_errc_table) {
  struct row {
    errc code;
    grpc::StatusCode status;
  };
  for (auto& r :
       std::vector<row>{{errc::invalid_argument, grpc::StatusCode::INVALID_ARGUMENT},
                        {errc::not_found, grpc::StatusCode::NOT_FOUND},
                        {errc::already_exists, grpc::StatusCode::ALREADY_EXISTS},
                        {errc::resource_exhausted, grpc::StatusCode::RESOURCE_EXHAUSTED},
                        {errc::out_of_range, grpc::StatusCode::OUT_OF_RANGE},
                        {errc::aborted, grpc::StatusCode::ABORTED},
                        {errc::failed_precondition, grpc::StatusCode::FAILED_PRECONDITION},
                        {errc::timeout, grpc::StatusCode::DEADLINE_EXCEEDED},
                        {errc::unimplemented, grpc::StatusCode::UNIMPLEMENTED},
                        {errc::shutting_down, grpc::StatusCode::UNAVAILABLE},
                        {errc::command_failed, grpc::StatusCode::INTERNAL}}) {
    EXPECT_EQ(to_status_code(r.code), r.status) << to_string(r.code);
    auto st = to_status(make_error(r.code, "volume pvc-1: something"));
    EXPECT_EQ(st.error_code(), r.status);
    EXPECT_EQ(st.error_message(), "volume pvc-1: something");
  }
  for (auto code : all_errcs)
    EXPECT_EQ(static_cast<int>(to_status_code(code)), static_cast<int>(to_grpc_code(code)));
  EXPECT_TRUE(to_status(caf::error{}).ok());
  auto timeout = to_status(caf::make_error(caf::sec::request_timeout));
  EXPECT_EQ(timeout.error_code(), grpc::StatusCode::DEADLINE_EXCEEDED);
  EXPECT_FALSE(timeout.error_message().empty());
  EXPECT_EQ(to_status(caf::make_error(caf::sec::runtime_error)).error_code(),
            grpc::StatusCode::INTERNAL);
}
