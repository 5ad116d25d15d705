// The node agent's protobuf <-> struct translation: every shape survives a
// round trip field by field (compared through CAF's inspect, so a field added
// to a struct but forgotten here shows up), and requests from the wire are
// refused with invalid_argument naming the field.

#include "gateways/agent/agent_translate.hpp"

#include "actors/core/errc.hpp"

#include "agent/v1/agent.pb.h"

#include <caf/deep_to_string.hpp>

#include <gtest/gtest.h>

#include <string>

namespace {

using namespace olocal;
namespace pb = olocal::agent::v1;

template <class T>
std::string dump(const T& x) {
  return caf::deep_to_string(x);
}

create_lv_req sample_lv() {
  create_lv_req lv;
  lv.name = "local-1";
  lv.size_bytes = 3ull << 30;
  lv.layout = "striped";
  lv.stripes = 2;
  lv.pool = "pool0";
  lv.origin = "local-0";
  lv.kind = "clone";
  lv.expand_bytes = 1ull << 30;
  lv.expand_at_percent = 50;
  lv.tags = {"olocal/wipe=false", "csi/name"};
  return lv;
}

volume_state sample_volume() {
  volume_state vs;
  vs.id = "local-1";
  vs.vg = "pool0";
  vs.device = "/dev/pool0/local-1";
  vs.size_bytes = 5ull << 30;
  vs.kind = "volume";
  vs.phase = "published";
  vs.block = true;
  vs.fstype = "xfs";
  vs.staging_path = "/var/lib/kubelet/staging/x";
  vs.targets = {{"/pods/a", true}, {"/pods/b", false}};
  vs.lv_present = false;
  vs.snapshot_invalid = true;
  return vs;
}

lvm::lv_info sample_lv_info() {
  lvm::lv_info lv;
  lv.name = "local-1";
  lv.vg_name = "pool0";
  lv.uuid = "uuid-lv";
  lv.size_bytes = 1ull << 30;
  lv.attr = "swi-a-s---";
  lv.segtype = "linear";
  lv.pool_lv = "tp";
  lv.origin = "local-0";
  lv.data_percent = 12.5;
  lv.metadata_percent = -1;
  lv.snap_percent = 33.25;
  lv.stripes = 1;
  lv.tags = {"olocal/kind=snapshot"};
  lv.kernel_major = 253;
  lv.kernel_minor = 4;
  lv.active = true;
  lv.read_only = true;
  lv.invalid_snapshot = true;
  lv.path = "/dev/pool0/local-1";
  return lv;
}

vg_view sample_vg() {
  vg_view v;
  v.vg.name = "pool0";
  v.vg.uuid = "uuid-vg";
  v.vg.size_bytes = 100ull << 30;
  v.vg.free_bytes = 60ull << 30;
  v.vg.extent_size_bytes = 4 << 20;
  v.vg.extent_count = 25600;
  v.vg.free_extent_count = 15360;
  v.vg.tags = {"olocal"};
  v.pvs = {{"/dev/sdb", "pool0", "uuid-pv", 100ull << 30, 60ull << 30, {"t1"}}};
  v.lvs = {sample_lv_info()};
  v.vg.pv_count = 1;
  v.vg.lv_count = 1;
  v.generation = 7;
  v.scanned_at_ms = 1'700'000'000'123;
  return v;
}

block_device sample_device() {
  block_device d;
  d.name = "sdc1";
  d.path = "/dev/sdc1";
  d.parent = "sdc";
  d.kind = "partition";
  d.major = 8;
  d.minor = 33;
  d.size_bytes = 10ull << 30;
  d.rotational = true;
  d.read_only = true;
  d.removable = true;
  d.dm_name = "vg-lv";
  d.holders = {"dm-0"};
  d.partitions = {"sdc1p1"};
  d.signatures = {"ext4", "gpt"};
  d.mountpoints = {"/mnt/a"};
  d.probe_error = "EIO";
  d.stable_id = "wwid:abc";
  return d;
}

claim_candidate sample_candidate() {
  return {"MountPoint", "disk1",    "/mnt/open-local/disk1", 20ull << 30, "hdd", "ext4",
          "local-9",    "read-only"};
}

TEST(agent_translate, logical_volume_spec_round_trip) {
  pb::LogicalVolumeSpec msg;
  to_pb(sample_lv(), &msg);
  EXPECT_EQ(msg.layout(), "striped");
  EXPECT_EQ(msg.tags_size(), 2);
  EXPECT_EQ(dump(from_pb(msg)), dump(sample_lv()));
}

TEST(agent_translate, empty_layout_and_kind_read_as_defaults) {
  pb::LogicalVolumeSpec msg;
  msg.set_name("local-1");
  auto lv = from_pb(msg);
  EXPECT_EQ(lv.layout, "linear");
  EXPECT_EQ(lv.kind, "volume");
}

TEST(agent_translate, volume_state_round_trip) {
  pb::VolumeState msg;
  to_pb(sample_volume(), &msg);
  EXPECT_EQ(msg.targets_size(), 2);
  EXPECT_EQ(dump(from_pb(msg)), dump(sample_volume()));
}

TEST(agent_translate, pv_lv_and_vg_round_trip) {
  pb::PhysicalVolume pv;
  to_pb(sample_vg().pvs[0], &pv);
  EXPECT_EQ(dump(from_pb(pv)), dump(sample_vg().pvs[0]));
  pb::LogicalVolume lv;
  to_pb(sample_lv_info(), &lv);
  EXPECT_EQ(dump(from_pb(lv)), dump(sample_lv_info()));
  pb::VolumeGroup vg;
  to_pb(sample_vg(), &vg);
  EXPECT_EQ(vg.lvs_size(), 1);
  EXPECT_EQ(dump(from_pb(vg)), dump(sample_vg()));
}

TEST(agent_translate, lv_percentages_keep_minus_one) {
  lvm::lv_info lv;
  lv.name = "x";
  pb::LogicalVolume msg;
  to_pb(lv, &msg);
  auto back = from_pb(msg);
  EXPECT_EQ(back.data_percent, -1);
  EXPECT_EQ(back.kernel_major, -1);
  EXPECT_EQ(dump(back), dump(lv));
}

TEST(agent_translate, block_device_and_candidate_round_trip) {
  pb::BlockDevice dev;
  to_pb(sample_device(), &dev);
  EXPECT_EQ(dump(from_pb(dev)), dump(sample_device()));
  pb::ClaimCandidate cand;
  to_pb(sample_candidate(), &cand);
  EXPECT_EQ(dump(from_pb(cand)), dump(sample_candidate()));
}

TEST(agent_translate, node_view_round_trip) {
  node_view view;
  view.devices = {sample_device(), block_device{}};
  view.vgs = {sample_vg()};
  view.volumes = {sample_volume()};
  view.claimables = {sample_candidate()};
  pb::GetNodeViewResponse msg;
  to_pb(view, &msg);
  EXPECT_EQ(msg.devices_size(), 2);
  EXPECT_EQ(dump(from_pb(msg)), dump(view));
}

TEST(agent_translate, requests_round_trip) {
  create_volume_req create{"pool0", sample_lv()};
  create.lv.layout = "snapshot";
  pb::CreateVolumeRequest c;
  to_pb(create, &c);
  auto c_back = to_create_volume_req(c);
  ASSERT_TRUE(c_back) << render(c_back.error());
  EXPECT_EQ(dump(*c_back), dump(create));

  delete_volume_req del{"local-1", false};
  pb::DeleteVolumeRequest d;
  to_pb(del, &d);
  auto d_back = to_delete_volume_req(d);
  ASSERT_TRUE(d_back);
  EXPECT_EQ(dump(*d_back), dump(del));

  pb::ExpandVolumeRequest e;
  to_pb(agent_expand_req{"local-1", 7ull << 30}, &e);
  auto e_back = to_expand_req(e);
  ASSERT_TRUE(e_back);
  EXPECT_EQ(e_back->id, "local-1");
  EXPECT_EQ(e_back->size_bytes, 7ull << 30);

  claim_req claim{"local-2", "Device", 1ull << 30, 4ull << 30, "ssd", false};
  pb::ClaimVolumeRequest cl;
  to_pb(claim, &cl);
  auto cl_back = to_claim_req(cl);
  ASSERT_TRUE(cl_back);
  EXPECT_EQ(dump(*cl_back), dump(claim));
}

/// The request, refused with invalid_argument; "" when accepted.
template <class T>
std::string refusal(const caf::expected<T>& result) {
  if (result)
    return "";
  EXPECT_EQ(code_of(result.error()), errc::invalid_argument) << render(result.error());
  return message_of(result.error());
}

bool contains(const std::string& text, const std::string& part) {
  return text.find(part) != std::string::npos;
}

pb::CreateVolumeRequest valid_create() {
  pb::CreateVolumeRequest req;
  req.set_vg("pool0");
  req.mutable_lv()->set_name("local-1");
  req.mutable_lv()->set_size_bytes(1 << 30);
  return req;
}

TEST(agent_translate, create_volume_validation_names_the_field) {
  EXPECT_EQ(refusal(to_create_volume_req(valid_create())), "");
  struct row {
    std::string field;
    void (*edit)(pb::CreateVolumeRequest&);
  };
  const row rows[] = {
    {"vg is missing", [](pb::CreateVolumeRequest& r) { r.clear_vg(); }},
    {"vg \"a b\"", [](pb::CreateVolumeRequest& r) { r.set_vg("a b"); }},
    {"lv is missing", [](pb::CreateVolumeRequest& r) { r.clear_lv(); }},
    {"lv.name is missing", [](pb::CreateVolumeRequest& r) { r.mutable_lv()->clear_name(); }},
    {"lv.name \"-x\" starts with '-'",
     [](pb::CreateVolumeRequest& r) { r.mutable_lv()->set_name("-x"); }},
    {"lv.name \"..\"", [](pb::CreateVolumeRequest& r) { r.mutable_lv()->set_name(".."); }},
    {"lv.name \"../etc\"", [](pb::CreateVolumeRequest& r) { r.mutable_lv()->set_name("../etc"); }},
    {"lv.name is 128 bytes",
     [](pb::CreateVolumeRequest& r) { r.mutable_lv()->set_name(std::string(128, 'a')); }},
    {"lv.size_bytes is missing",
     [](pb::CreateVolumeRequest& r) { r.mutable_lv()->set_size_bytes(0); }},
    {"lv.size_bytes 18446744073709551615",
     [](pb::CreateVolumeRequest& r) { r.mutable_lv()->set_size_bytes(~0ull); }},
    {"lv.layout \"raid5\"",
     [](pb::CreateVolumeRequest& r) { r.mutable_lv()->set_layout("raid5"); }},
    {"lv.kind \"weird\"", [](pb::CreateVolumeRequest& r) { r.mutable_lv()->set_kind("weird"); }},
    {"lv.pool is missing", [](pb::CreateVolumeRequest& r) { r.mutable_lv()->set_layout("thin"); }},
    {"lv.origin is missing",
     [](pb::CreateVolumeRequest& r) { r.mutable_lv()->set_layout("snapshot"); }},
    {"lv.expand_at_percent 101",
     [](pb::CreateVolumeRequest& r) { r.mutable_lv()->set_expand_at_percent(101); }},
    {"lv.tags[1] is empty",
     [](pb::CreateVolumeRequest& r) {
       r.mutable_lv()->add_tags("ok");
       r.mutable_lv()->add_tags("");
     }},
    {"lv.tags[0] \"a;b\"", [](pb::CreateVolumeRequest& r) { r.mutable_lv()->add_tags("a;b"); }},
  };
  for (auto& r : rows) {
    auto req = valid_create();
    r.edit(req);
    auto why = refusal(to_create_volume_req(req));
    EXPECT_TRUE(contains(why, r.field)) << "expected \"" << r.field << "\", got \"" << why << '"';
  }
}

TEST(agent_translate, thin_snapshot_needs_no_size) {
  auto req = valid_create();
  req.mutable_lv()->set_layout("thin-snapshot");
  req.mutable_lv()->set_origin("local-0");
  req.mutable_lv()->set_size_bytes(0);
  EXPECT_EQ(refusal(to_create_volume_req(req)), "");
}

TEST(agent_translate, delete_expand_and_claim_validation) {
  pb::DeleteVolumeRequest del;
  EXPECT_TRUE(contains(refusal(to_delete_volume_req(del)), "id is missing"));
  del.set_id("a/b");
  EXPECT_TRUE(contains(refusal(to_delete_volume_req(del)), "id \"a/b\""));

  pb::ExpandVolumeRequest exp;
  exp.set_id("local-1");
  EXPECT_TRUE(contains(refusal(to_expand_req(exp)), "size_bytes is missing"));
  exp.set_id("");
  exp.set_size_bytes(1);
  EXPECT_TRUE(contains(refusal(to_expand_req(exp)), "id is missing"));

  pb::ClaimVolumeRequest claim;
  claim.set_id("local-2");
  claim.set_kind("Device");
  EXPECT_EQ(refusal(to_claim_req(claim)), "");
  claim.set_kind("LVM");
  EXPECT_TRUE(contains(refusal(to_claim_req(claim)), "kind \"LVM\""));
  claim.set_kind("MountPoint");
  claim.set_min_bytes(10);
  claim.set_max_bytes(5);
  EXPECT_TRUE(contains(refusal(to_claim_req(claim)), "max_bytes 5 is below min_bytes 10"));
  claim.set_max_bytes(0);
  claim.set_media_type("nvme");
  EXPECT_TRUE(contains(refusal(to_claim_req(claim)), "media_type \"nvme\""));
}

// The round trips compare renderings: make sure those show the values.
TEST(agent_translate, renderings_show_field_values) {
  auto text = dump(sample_volume());
  EXPECT_TRUE(contains(text, "/pods/b")) << text;
  EXPECT_TRUE(contains(text, "xfs")) << text;
  EXPECT_NE(dump(sample_volume()), dump(volume_state{}));
  EXPECT_TRUE(contains(dump(sample_lv_info()), "33.25"));
}

TEST(agent_translate, unprintable_names_are_shown_by_size) {
  pb::DeleteVolumeRequest del;
  del.set_id(std::string{"a\x01"});
  EXPECT_TRUE(contains(refusal(to_delete_volume_req(del)), "id of 2 bytes"));
}

} // namespace
