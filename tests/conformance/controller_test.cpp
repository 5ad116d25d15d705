// Controller service: capabilities, CreateVolume, DeleteVolume,
// ValidateVolumeCapabilities, ListVolumes, GetCapacity, ControllerGetVolume,
// ControllerExpandVolume. Every volume is checked against `lvs`.

#include "tests/conformance/conformance.hpp"

#include <algorithm>
#include <set>

namespace conformance {
namespace {

using rpc = pb::ControllerServiceCapability::RPC;

// -- ControllerGetCapabilities -------------------------------------------------------------

using ControllerGetCapabilities = csi_test;

TEST_F(ControllerGetCapabilities, AreKnownAndMatchTheServedCalls) {
  pb::ControllerGetCapabilitiesResponse resp;
  ASSERT_OK(call([&](auto* ctx) {
    return controller().ControllerGetCapabilities(ctx, pb::ControllerGetCapabilitiesRequest{},
                                                  &resp);
  }));
  std::set<int> types;
  for (auto& cap : resp.capabilities()) {
    ASSERT_TRUE(cap.has_rpc());
    auto t = cap.rpc().type();
    EXPECT_TRUE(t > rpc::UNKNOWN && t <= rpc::MODIFY_VOLUME) << "unknown capability " << t;
    EXPECT_TRUE(types.insert(t).second) << "capability " << rpc::Type_Name(t) << " twice";
  }
  for (auto t : {rpc::CREATE_DELETE_VOLUME, rpc::LIST_VOLUMES, rpc::GET_CAPACITY,
                 rpc::CREATE_DELETE_SNAPSHOT, rpc::LIST_SNAPSHOTS, rpc::CLONE_VOLUME,
                 rpc::EXPAND_VOLUME, rpc::GET_VOLUME, rpc::VOLUME_CONDITION})
    EXPECT_TRUE(types.count(t)) << rpc::Type_Name(t) << " is not advertised";
  // Node-local volumes need no attach step.
  EXPECT_FALSE(types.count(rpc::PUBLISH_UNPUBLISH_VOLUME));
}

TEST_F(ControllerGetCapabilities, UnadvertisedPublishIsUnimplemented) {
  pb::ControllerPublishVolumeRequest pub;
  pub.set_volume_id("any");
  pub.set_node_id(env().config().node);
  pb::ControllerPublishVolumeResponse pub_resp;
  EXPECT_CODE(
    call([&](auto* ctx) { return controller().ControllerPublishVolume(ctx, pub, &pub_resp); }),
    UNIMPLEMENTED);
  pb::ControllerUnpublishVolumeRequest unpub;
  unpub.set_volume_id("any");
  pb::ControllerUnpublishVolumeResponse unpub_resp;
  EXPECT_CODE(call([&](auto* ctx) {
                return controller().ControllerUnpublishVolume(ctx, unpub, &unpub_resp);
              }),
              UNIMPLEMENTED);
}

// -- CreateVolume --------------------------------------------------------------------------

using CreateVolume = csi_test;

TEST_F(CreateVolume, FailsWithoutName) {
  pb::CreateVolumeRequest req;
  *req.add_volume_capabilities() = mount_cap();
  pb::CreateVolumeResponse resp;
  EXPECT_CODE(create_volume(req, &resp), INVALID_ARGUMENT);
}

TEST_F(CreateVolume, FailsWithoutCapabilities) {
  pb::CreateVolumeRequest req;
  req.set_name(unique("nocaps"));
  pb::CreateVolumeResponse resp;
  EXPECT_CODE(create_volume(req, &resp), INVALID_ARGUMENT);
  EXPECT_FALSE(find_lv(req.name()));
}

TEST_F(CreateVolume, FailsWithCapabilityWithoutAccessType) {
  pb::CreateVolumeRequest req;
  req.set_name(unique("noaccesstype"));
  req.add_volume_capabilities()->mutable_access_mode()->set_mode(access_mode::SINGLE_NODE_WRITER);
  pb::CreateVolumeResponse resp;
  EXPECT_CODE(create_volume(req, &resp), INVALID_ARGUMENT);
  EXPECT_FALSE(find_lv(req.name()));
}

TEST_F(CreateVolume, RefusesMultiNodeAccessModes) {
  // As we map it: a node-local volume cannot serve several nodes.
  for (auto mode : {access_mode::MULTI_NODE_MULTI_WRITER, access_mode::MULTI_NODE_READER_ONLY}) {
    pb::CreateVolumeResponse resp;
    auto req = volume_request(unique("multinode"), 8 * mib, mount_cap(mode));
    EXPECT_CODE(create_volume(req, &resp), INVALID_ARGUMENT) << access_mode::Mode_Name(mode);
    EXPECT_FALSE(find_lv(req.name()));
  }
}

TEST_F(CreateVolume, WithoutCapacityGetsTheDefaultSize) {
  pb::CreateVolumeRequest req;
  req.set_name(unique("nocapacity"));
  *req.add_volume_capabilities() = mount_cap();
  pb::CreateVolumeResponse resp;
  ASSERT_OK(create_volume(req, &resp));
  EXPECT_EQ(resp.volume().capacity_bytes(), static_cast<int64_t>(gib));
  auto lv = find_lv(resp.volume().volume_id());
  ASSERT_TRUE(lv);
  EXPECT_EQ(lv->size_bytes, static_cast<uint64_t>(resp.volume().capacity_bytes()));
}

TEST_F(CreateVolume, HonoursRequiredBytes) {
  auto extent = pool_vg().extent_bytes;
  ASSERT_GT(extent, 0u);
  pb::CreateVolumeResponse resp;
  auto req = volume_request(unique("required"), 30 * mib);
  ASSERT_OK(create_volume(req, &resp));
  auto& vol = resp.volume();
  EXPECT_FALSE(vol.volume_id().empty());
  auto bytes = static_cast<uint64_t>(vol.capacity_bytes());
  EXPECT_GE(bytes, 30 * mib);
  EXPECT_LT(bytes, 30 * mib + extent) << "more than one extent of rounding";
  // The LV is there with that size, tagged as one of our volumes.
  auto lv = find_lv(vol.volume_id());
  ASSERT_TRUE(lv) << "no LV " << vol.volume_id();
  EXPECT_EQ(lv->size_bytes, bytes);
  EXPECT_TRUE(lv->has_tag("olocal/kind=volume")) << lv->tags;
  EXPECT_EQ(vol.volume_context().at("vgName"), env().config().vg);
  ASSERT_EQ(vol.accessible_topology_size(), 1);
  EXPECT_EQ(vol.accessible_topology(0).segments().at(topology_key), env().config().node);
  EXPECT_FALSE(vol.has_content_source());
}

TEST_F(CreateVolume, HonoursLimitBytes) {
  {
    pb::CreateVolumeRequest req = volume_request(unique("limitonly"), 0);
    req.mutable_capacity_range()->set_limit_bytes(static_cast<int64_t>(20 * mib));
    pb::CreateVolumeResponse resp;
    ASSERT_OK(create_volume(req, &resp));
    EXPECT_GT(resp.volume().capacity_bytes(), 0);
    EXPECT_LE(resp.volume().capacity_bytes(), static_cast<int64_t>(20 * mib));
    auto lv = find_lv(resp.volume().volume_id());
    ASSERT_TRUE(lv);
    EXPECT_EQ(lv->size_bytes, static_cast<uint64_t>(resp.volume().capacity_bytes()));
  }
  {
    pb::CreateVolumeRequest req = volume_request(unique("exact"), 24 * mib);
    req.mutable_capacity_range()->set_limit_bytes(static_cast<int64_t>(24 * mib));
    pb::CreateVolumeResponse resp;
    ASSERT_OK(create_volume(req, &resp));
    EXPECT_EQ(resp.volume().capacity_bytes(), static_cast<int64_t>(24 * mib));
    auto lv = find_lv(resp.volume().volume_id());
    ASSERT_TRUE(lv);
    EXPECT_EQ(lv->size_bytes, 24 * mib);
  }
}

TEST_F(CreateVolume, OutOfRangeWhenNoSizeFitsTheRange) {
  // LVM allocates whole extents: nothing lies between 2 extents + 1 MiB and
  // 2 extents + 2 MiB.
  auto extent = pool_vg().extent_bytes;
  ASSERT_GE(extent, 4 * mib);
  auto req = volume_request(unique("norange"), 2 * extent + mib);
  req.mutable_capacity_range()->set_limit_bytes(static_cast<int64_t>(2 * extent + 2 * mib));
  pb::CreateVolumeResponse resp;
  EXPECT_CODE(create_volume(req, &resp), OUT_OF_RANGE);
  EXPECT_FALSE(find_lv(req.name()));
}

TEST_F(CreateVolume, RequiredAboveLimitIsInvalid) {
  auto req = volume_request(unique("inverted"), 40 * mib);
  req.mutable_capacity_range()->set_limit_bytes(static_cast<int64_t>(20 * mib));
  pb::CreateVolumeResponse resp;
  EXPECT_CODE(create_volume(req, &resp), INVALID_ARGUMENT);
  EXPECT_FALSE(find_lv(req.name()));
}

TEST_F(CreateVolume, NegativeBytesAreInvalid) {
  auto req = volume_request(unique("negative"), 0);
  req.mutable_capacity_range()->set_required_bytes(-1);
  pb::CreateVolumeResponse resp;
  EXPECT_CODE(create_volume(req, &resp), INVALID_ARGUMENT);
  req.mutable_capacity_range()->set_required_bytes(0);
  req.mutable_capacity_range()->set_limit_bytes(-1);
  EXPECT_CODE(create_volume(req, &resp), INVALID_ARGUMENT);
  EXPECT_FALSE(find_lv(req.name()));
}

TEST_F(CreateVolume, TooLargeForThePoolIsResourceExhausted) {
  auto req = volume_request(unique("toolarge"), 1024 * gib);
  pb::CreateVolumeResponse resp;
  EXPECT_CODE(create_volume(req, &resp), RESOURCE_EXHAUSTED);
  EXPECT_FALSE(find_lv(req.name()));
}

TEST_F(CreateVolume, IsIdempotentForTheSameNameAndSize) {
  auto req = volume_request(unique("twice"), 16 * mib);
  pb::CreateVolumeResponse first, second;
  ASSERT_OK(create_volume(req, &first));
  ASSERT_OK(create_volume(req, &second));
  EXPECT_EQ(first.volume().volume_id(), second.volume().volume_id());
  EXPECT_EQ(first.volume().capacity_bytes(), second.volume().capacity_bytes());
  EXPECT_GE(second.volume().capacity_bytes(), static_cast<int64_t>(16 * mib));
  int named = 0;
  for (auto& lv : list_lvs())
    named += lv.name == first.volume().volume_id();
  EXPECT_EQ(named, 1);
}

// A repeated CreateVolume answers the same response, volume_context included
// (external-provisioner retries after a timeout and keeps the second answer).
TEST_F(CreateVolume, RepeatedCallReturnsTheSameVolume) {
  auto req = volume_request(unique("sameanswer"), 16 * mib);
  (*req.mutable_parameters())["volumeType"] = "LVM";
  (*req.mutable_parameters())["fsType"] = "ext4";
  pb::CreateVolumeResponse first, second;
  ASSERT_OK(create_volume(req, &first));
  ASSERT_OK(create_volume(req, &second));
  EXPECT_EQ(first.volume().DebugString(), second.volume().DebugString());
}

TEST_F(CreateVolume, SameNameWithAnotherSizeAlreadyExists) {
  auto name = unique("twicediff");
  auto req = volume_request(name, 16 * mib);
  req.mutable_capacity_range()->set_limit_bytes(static_cast<int64_t>(16 * mib));
  pb::CreateVolumeResponse resp;
  ASSERT_OK(create_volume(req, &resp));
  req.mutable_capacity_range()->set_required_bytes(static_cast<int64_t>(32 * mib));
  req.mutable_capacity_range()->set_limit_bytes(static_cast<int64_t>(32 * mib));
  pb::CreateVolumeResponse again;
  EXPECT_CODE(create_volume(req, &again), ALREADY_EXISTS);
  auto lv = find_lv(name);
  ASSERT_TRUE(lv);
  EXPECT_EQ(lv->size_bytes, 16 * mib) << "the existing volume must stay as it is";
}

// csi-sanity's "should not fail when creating volume with maximum-length
// name": 128 bytes is more than LVM takes for an LV name, so the volume id is
// the name's hashed LV name (lv_name_for).
TEST_F(CreateVolume, AcceptsAMaximumLengthName) {
  auto name = unique("maxlen");
  name += std::string(128 - name.size(), 'x');
  ASSERT_EQ(name.size(), 128u);
  pb::CreateVolumeResponse resp;
  ASSERT_OK(create_volume(volume_request(name, 8 * mib), &resp));
  EXPECT_GE(resp.volume().capacity_bytes(), static_cast<int64_t>(8 * mib));
  EXPECT_TRUE(find_lv(resp.volume().volume_id()));
}

TEST_F(CreateVolume, NameLongerThanTheSpecAllowsIsInvalid) {
  pb::CreateVolumeResponse resp;
  EXPECT_CODE(create_volume(volume_request(std::string(129, 'a'), 8 * mib), &resp),
              INVALID_ARGUMENT);
}

TEST_F(CreateVolume, ServesBlockCapabilities) {
  pb::Volume vol;
  ASSERT_NO_FATAL_FAILURE(make_volume("block", 8 * mib, &vol, block_cap()));
  auto lv = find_lv(vol.volume_id());
  ASSERT_TRUE(lv);
  EXPECT_EQ(lv->size_bytes, static_cast<uint64_t>(vol.capacity_bytes()));
}

TEST_F(CreateVolume, MixedBlockAndMountCapabilitiesAreInvalid) {
  auto req = volume_request(unique("mixed"), 8 * mib, block_cap());
  *req.add_volume_capabilities() = mount_cap();
  pb::CreateVolumeResponse resp;
  EXPECT_CODE(create_volume(req, &resp), INVALID_ARGUMENT);
  EXPECT_FALSE(find_lv(req.name()));
}

TEST_F(CreateVolume, HonoursAccessibilityRequirements) {
  // csi-sanity's lifecycle: the requisite topology is NodeGetInfo's.
  pb::NodeGetInfoResponse info;
  ASSERT_OK(node_info(&info));
  auto here = volume_request(unique("here"), 8 * mib);
  *here.mutable_accessibility_requirements()->add_requisite() = info.accessible_topology();
  *here.mutable_accessibility_requirements()->add_preferred() = info.accessible_topology();
  pb::CreateVolumeResponse resp;
  ASSERT_OK(create_volume(here, &resp));
  ASSERT_EQ(resp.volume().accessible_topology_size(), 1);
  EXPECT_EQ(resp.volume().accessible_topology(0).segments().at(topology_key), info.node_id());

  // Spec: "Unable to provision in accessible_topology" is RESOURCE_EXHAUSTED.
  auto elsewhere = volume_request(unique("elsewhere"), 8 * mib);
  pb::Topology other;
  (*other.mutable_segments())[topology_key] = "some-other-node";
  *elsewhere.mutable_accessibility_requirements()->add_requisite() = other;
  EXPECT_CODE(create_volume(elsewhere, &resp), RESOURCE_EXHAUSTED);
  EXPECT_FALSE(find_lv(elsewhere.name()));
}

TEST_F(CreateVolume, UnknownSourceSnapshotIsNotFound) {
  auto req = volume_request(unique("fromnosnap"), 8 * mib);
  req.mutable_volume_content_source()->mutable_snapshot()->set_snapshot_id(
    "non-existing-snapshot-id");
  pb::CreateVolumeResponse resp;
  EXPECT_CODE(create_volume(req, &resp), NOT_FOUND);
  EXPECT_FALSE(find_lv(req.name()));
}

TEST_F(CreateVolume, UnknownSourceVolumeIsNotFound) {
  auto req = volume_request(unique("fromnovol"), 8 * mib);
  req.mutable_volume_content_source()->mutable_volume()->set_volume_id(unique("nosuchvolume"));
  pb::CreateVolumeResponse resp;
  EXPECT_CODE(create_volume(req, &resp), NOT_FOUND);
  EXPECT_FALSE(find_lv(req.name()));
}

// -- DeleteVolume --------------------------------------------------------------------------

using DeleteVolume = csi_test;

TEST_F(DeleteVolume, FailsWithoutVolumeId) {
  EXPECT_CODE(delete_volume(""), INVALID_ARGUMENT);
}

TEST_F(DeleteVolume, SucceedsForAnUnknownId) {
  EXPECT_OK(delete_volume("fake-vol-id"));
}

TEST_F(DeleteVolume, RemovesTheVolumeAndIsIdempotent) {
  pb::Volume vol;
  ASSERT_NO_FATAL_FAILURE(make_volume("delete", 8 * mib, &vol));
  ASSERT_TRUE(find_lv(vol.volume_id()));
  ASSERT_OK(delete_volume(vol.volume_id()));
  EXPECT_FALSE(find_lv(vol.volume_id())) << "the LV is still there";
  std::vector<std::string> ids;
  ASSERT_NO_FATAL_FAILURE(all_volume_ids(0, &ids));
  EXPECT_EQ(std::count(ids.begin(), ids.end(), vol.volume_id()), 0);
  EXPECT_OK(delete_volume(vol.volume_id()));
}

TEST_F(DeleteVolume, RefusesAVolumeInUse) {
  // Spec: "Volume in use" is FAILED_PRECONDITION.
  pb::Volume vol;
  ASSERT_NO_FATAL_FAILURE(make_volume("inuse", 16 * mib, &vol));
  ASSERT_OK(stage(vol.volume_id()));
  EXPECT_CODE(delete_volume(vol.volume_id()), FAILED_PRECONDITION);
  EXPECT_TRUE(find_lv(vol.volume_id()));
  EXPECT_TRUE(find_mount(staging_path(vol.volume_id())));
}

// -- ValidateVolumeCapabilities ------------------------------------------------------------

using ValidateVolumeCapabilities = csi_test;

grpc::Status validate(pb::Controller::Stub& stub, const pb::ValidateVolumeCapabilitiesRequest& req,
                      pb::ValidateVolumeCapabilitiesResponse* resp) {
  return call([&](auto* ctx) { return stub.ValidateVolumeCapabilities(ctx, req, resp); });
}

TEST_F(ValidateVolumeCapabilities, FailsWithoutVolumeId) {
  pb::ValidateVolumeCapabilitiesRequest req;
  *req.add_volume_capabilities() = mount_cap();
  pb::ValidateVolumeCapabilitiesResponse resp;
  EXPECT_CODE(validate(controller(), req, &resp), INVALID_ARGUMENT);
}

TEST_F(ValidateVolumeCapabilities, FailsWithoutCapabilities) {
  pb::Volume vol;
  ASSERT_NO_FATAL_FAILURE(shared(&vol));
  pb::ValidateVolumeCapabilitiesRequest req;
  req.set_volume_id(vol.volume_id());
  pb::ValidateVolumeCapabilitiesResponse resp;
  EXPECT_CODE(validate(controller(), req, &resp), INVALID_ARGUMENT);
}

TEST_F(ValidateVolumeCapabilities, UnknownVolumeIsNotFound) {
  pb::ValidateVolumeCapabilitiesRequest req;
  req.set_volume_id(unique("nosuchvolume"));
  *req.add_volume_capabilities() = mount_cap();
  pb::ValidateVolumeCapabilitiesResponse resp;
  EXPECT_CODE(validate(controller(), req, &resp), NOT_FOUND);
}

TEST_F(ValidateVolumeCapabilities, ConfirmsSupportedCapabilities) {
  pb::Volume vol;
  ASSERT_NO_FATAL_FAILURE(shared(&vol));
  for (auto& cap :
       {mount_cap(), mount_cap(access_mode::SINGLE_NODE_READER_ONLY, "ext4"), block_cap()}) {
    pb::ValidateVolumeCapabilitiesRequest req;
    req.set_volume_id(vol.volume_id());
    *req.add_volume_capabilities() = cap;
    *req.mutable_volume_context() = vol.volume_context();
    pb::ValidateVolumeCapabilitiesResponse resp;
    ASSERT_OK(validate(controller(), req, &resp));
    ASSERT_TRUE(resp.has_confirmed()) << cap.ShortDebugString() << ": " << resp.message();
    // If confirmed, the capabilities are REQUIRED in the answer.
    ASSERT_EQ(resp.confirmed().volume_capabilities_size(), 1);
    EXPECT_EQ(resp.confirmed().volume_capabilities(0).ShortDebugString(), cap.ShortDebugString());
  }
}

TEST_F(ValidateVolumeCapabilities, DoesNotConfirmMultiNodeModes) {
  pb::Volume vol;
  ASSERT_NO_FATAL_FAILURE(shared(&vol));
  pb::ValidateVolumeCapabilitiesRequest req;
  req.set_volume_id(vol.volume_id());
  *req.add_volume_capabilities() = mount_cap(access_mode::MULTI_NODE_MULTI_WRITER);
  pb::ValidateVolumeCapabilitiesResponse resp;
  ASSERT_OK(validate(controller(), req, &resp));
  EXPECT_FALSE(resp.has_confirmed());
  EXPECT_FALSE(resp.message().empty());
}

// -- ListVolumes ---------------------------------------------------------------------------

using ListVolumes = csi_test;

TEST_F(ListVolumes, ListsEveryVolumeWithItsCapacity) {
  pb::Volume a, b;
  ASSERT_NO_FATAL_FAILURE(make_volume("lista", 8 * mib, &a));
  ASSERT_NO_FATAL_FAILURE(make_volume("listb", 12 * mib, &b));
  pb::ListVolumesResponse resp;
  ASSERT_OK(list_volumes(0, "", &resp));
  EXPECT_TRUE(resp.next_token().empty());
  std::set<std::string> listed;
  for (auto& e : resp.entries()) {
    EXPECT_FALSE(e.volume().volume_id().empty());
    EXPECT_TRUE(listed.insert(e.volume().volume_id()).second)
      << e.volume().volume_id() << " listed twice";
    EXPECT_FALSE(e.status().volume_condition().abnormal()) << e.ShortDebugString();
    for (auto* want : {&a, &b})
      if (e.volume().volume_id() == want->volume_id()) {
        EXPECT_EQ(e.volume().capacity_bytes(), want->capacity_bytes());
      }
  }
  EXPECT_TRUE(listed.count(a.volume_id()));
  EXPECT_TRUE(listed.count(b.volume_id()));
  // Exactly the volume LVs of the pool (no snapshots, nothing else).
  std::set<std::string> lvs;
  for (auto& lv : list_lvs())
    if (lv.has_tag("olocal/kind=volume") || lv.has_tag("olocal/kind=clone"))
      lvs.insert(lv.name);
  EXPECT_EQ(listed, lvs);
}

TEST_F(ListVolumes, FailsWithAnInvalidStartingToken) {
  pb::ListVolumesResponse resp;
  EXPECT_CODE(list_volumes(0, "invalid-token", &resp), ABORTED);
}

TEST_F(ListVolumes, NegativeMaxEntriesIsInvalid) {
  pb::ListVolumesResponse resp;
  EXPECT_CODE(list_volumes(-1, "", &resp), INVALID_ARGUMENT);
}

TEST_F(ListVolumes, ShowsNewVolumesAndForgetsDeletedOnes) {
  std::vector<std::string> before;
  ASSERT_NO_FATAL_FAILURE(all_volume_ids(0, &before));
  pb::Volume vol;
  ASSERT_NO_FATAL_FAILURE(make_volume("presence", 8 * mib, &vol));
  std::vector<std::string> with;
  ASSERT_NO_FATAL_FAILURE(all_volume_ids(0, &with));
  EXPECT_EQ(with.size(), before.size() + 1);
  EXPECT_EQ(std::count(with.begin(), with.end(), vol.volume_id()), 1);
  ASSERT_OK(delete_volume(vol.volume_id()));
  std::vector<std::string> after;
  ASSERT_NO_FATAL_FAILURE(all_volume_ids(0, &after));
  EXPECT_EQ(after.size(), before.size());
  EXPECT_EQ(std::count(after.begin(), after.end(), vol.volume_id()), 0);
}

TEST_F(ListVolumes, PaginatesWithMaxEntriesAndNextToken) {
  for (int i = 0; i < 3; ++i) {
    pb::Volume vol;
    ASSERT_NO_FATAL_FAILURE(make_volume("page", 8 * mib, &vol));
  }
  std::vector<std::string> all;
  ASSERT_NO_FATAL_FAILURE(all_volume_ids(0, &all));
  ASSERT_GE(all.size(), 3u);
  pb::ListVolumesResponse first;
  ASSERT_OK(list_volumes(2, "", &first));
  EXPECT_EQ(first.entries_size(), 2);
  EXPECT_FALSE(first.next_token().empty());
  // The rest in one call (no max_entries), then every page size: the same
  // volumes, each once, in the same order.
  pb::ListVolumesResponse rest;
  ASSERT_OK(list_volumes(0, first.next_token(), &rest));
  EXPECT_EQ(static_cast<size_t>(rest.entries_size()), all.size() - 2);
  EXPECT_TRUE(rest.next_token().empty());
  for (int32_t page : {1, 2, 3}) {
    std::vector<std::string> paged;
    ASSERT_NO_FATAL_FAILURE(all_volume_ids(page, &paged));
    EXPECT_EQ(paged, all) << "pages of " << page;
  }
}

TEST_F(ListVolumes, TokensSurviveVolumesDeletedAndAddedBetweenPages) {
  // csi-sanity's (disabled) pagination scenario: list a page, delete what it
  // listed, add a volume, continue with the token: no duplicates, no
  // deleted volume, no error.
  for (int i = 0; i < 3; ++i) {
    pb::Volume vol;
    ASSERT_NO_FATAL_FAILURE(make_volume("between", 8 * mib, &vol));
  }
  std::vector<std::string> all;
  ASSERT_NO_FATAL_FAILURE(all_volume_ids(0, &all));
  std::set<std::string> existing(all.begin(), all.end());
  pb::ListVolumesResponse page;
  ASSERT_OK(list_volumes(2, "", &page));
  ASSERT_EQ(page.entries_size(), 2);
  for (auto& e : page.entries()) {
    ASSERT_OK(delete_volume(e.volume().volume_id()));
    existing.erase(e.volume().volume_id());
  }
  pb::Volume added;
  ASSERT_NO_FATAL_FAILURE(make_volume("new-addition", 8 * mib, &added));
  existing.insert(added.volume_id());
  pb::ListVolumesResponse next;
  ASSERT_OK(list_volumes(0, page.next_token(), &next));
  EXPECT_LE(static_cast<size_t>(next.entries_size()), all.size() - 2 + 1);
  std::set<std::string> seen;
  for (auto& e : next.entries()) {
    EXPECT_TRUE(existing.count(e.volume().volume_id())) << e.volume().volume_id();
    EXPECT_TRUE(seen.insert(e.volume().volume_id()).second) << e.volume().volume_id();
  }
}

// -- GetCapacity ---------------------------------------------------------------------------

using GetCapacity = csi_test;

grpc::Status capacity(pb::Controller::Stub& stub, const pb::GetCapacityRequest& req,
                      pb::GetCapacityResponse* resp) {
  return call([&](auto* ctx) { return stub.GetCapacity(ctx, req, resp); });
}

TEST_F(GetCapacity, ReportsTheFreeSpaceOfThePool) {
  pb::GetCapacityResponse resp;
  ASSERT_OK(capacity(controller(), pb::GetCapacityRequest{}, &resp));
  auto vg = pool_vg();
  EXPECT_EQ(resp.available_capacity(), static_cast<int64_t>(vg.free_bytes));
  ASSERT_TRUE(resp.has_maximum_volume_size());
  EXPECT_EQ(resp.maximum_volume_size().value(), resp.available_capacity());
}

TEST_F(GetCapacity, DropsByTheSizeOfANewVolume) {
  pb::GetCapacityResponse before, after;
  ASSERT_OK(capacity(controller(), pb::GetCapacityRequest{}, &before));
  pb::Volume vol;
  ASSERT_NO_FATAL_FAILURE(make_volume("capacity", 40 * mib, &vol));
  ASSERT_OK(capacity(controller(), pb::GetCapacityRequest{}, &after));
  EXPECT_EQ(before.available_capacity() - after.available_capacity(), vol.capacity_bytes());
  EXPECT_EQ(after.available_capacity(), static_cast<int64_t>(pool_vg().free_bytes));
}

TEST_F(GetCapacity, FollowsTopologyAndCapabilities) {
  pb::GetCapacityResponse all;
  ASSERT_OK(capacity(controller(), pb::GetCapacityRequest{}, &all));
  ASSERT_GT(all.available_capacity(), 0);
  {
    pb::GetCapacityRequest req;
    (*req.mutable_accessible_topology()->mutable_segments())[topology_key] = env().config().node;
    *req.add_volume_capabilities() = mount_cap();
    pb::GetCapacityResponse resp;
    ASSERT_OK(capacity(controller(), req, &resp));
    EXPECT_EQ(resp.available_capacity(), all.available_capacity());
  }
  {
    pb::GetCapacityRequest req;
    (*req.mutable_accessible_topology()->mutable_segments())[topology_key] = "some-other-node";
    pb::GetCapacityResponse resp;
    ASSERT_OK(capacity(controller(), req, &resp));
    EXPECT_EQ(resp.available_capacity(), 0);
  }
  {
    pb::GetCapacityRequest req;
    *req.add_volume_capabilities() = mount_cap(access_mode::MULTI_NODE_MULTI_WRITER);
    pb::GetCapacityResponse resp;
    ASSERT_OK(capacity(controller(), req, &resp));
    EXPECT_EQ(resp.available_capacity(), 0);
  }
}

// -- ControllerGetVolume -------------------------------------------------------------------

using ControllerGetVolume = csi_test;

grpc::Status get_volume(pb::Controller::Stub& stub, const std::string& id,
                        pb::ControllerGetVolumeResponse* resp) {
  pb::ControllerGetVolumeRequest req;
  req.set_volume_id(id);
  resp->Clear();
  return call([&](auto* ctx) { return stub.ControllerGetVolume(ctx, req, resp); });
}

TEST_F(ControllerGetVolume, FailsWithoutVolumeId) {
  pb::ControllerGetVolumeResponse resp;
  EXPECT_CODE(get_volume(controller(), "", &resp), INVALID_ARGUMENT);
}

TEST_F(ControllerGetVolume, UnknownVolumeIsNotFound) {
  pb::ControllerGetVolumeResponse resp;
  EXPECT_CODE(get_volume(controller(), unique("nosuchvolume"), &resp), NOT_FOUND);
}

TEST_F(ControllerGetVolume, ReportsTheVolumeItsConditionAndWhereItIsPublished) {
  pb::Volume vol;
  ASSERT_NO_FATAL_FAILURE(make_volume("get", 16 * mib, &vol));
  pb::ControllerGetVolumeResponse resp;
  ASSERT_OK(get_volume(controller(), vol.volume_id(), &resp));
  EXPECT_EQ(resp.volume().volume_id(), vol.volume_id());
  EXPECT_EQ(resp.volume().capacity_bytes(), vol.capacity_bytes());
  ASSERT_EQ(resp.volume().accessible_topology_size(), 1);
  EXPECT_EQ(resp.volume().accessible_topology(0).segments().at(topology_key), env().config().node);
  EXPECT_FALSE(resp.status().volume_condition().abnormal());
  EXPECT_EQ(resp.status().published_node_ids_size(), 0);

  std::string target;
  ASSERT_NO_FATAL_FAILURE(mount_volume(vol.volume_id(), "getpod", &target));
  ASSERT_OK(get_volume(controller(), vol.volume_id(), &resp));
  ASSERT_EQ(resp.status().published_node_ids_size(), 1);
  EXPECT_EQ(resp.status().published_node_ids(0), env().config().node);

  ASSERT_OK(unpublish(vol.volume_id(), target));
  ASSERT_OK(get_volume(controller(), vol.volume_id(), &resp));
  EXPECT_EQ(resp.status().published_node_ids_size(), 0);
}

// -- ControllerExpandVolume ----------------------------------------------------------------

using ControllerExpandVolume = csi_test;

grpc::Status expand(pb::Controller::Stub& stub, const std::string& id, int64_t required,
                    int64_t limit, const pb::VolumeCapability* cap,
                    pb::ControllerExpandVolumeResponse* resp) {
  pb::ControllerExpandVolumeRequest req;
  req.set_volume_id(id);
  if (required != 0 || limit != 0) {
    req.mutable_capacity_range()->set_required_bytes(required);
    req.mutable_capacity_range()->set_limit_bytes(limit);
  }
  if (cap != nullptr)
    *req.mutable_volume_capability() = *cap;
  resp->Clear();
  return call([&](auto* ctx) { return stub.ControllerExpandVolume(ctx, req, resp); });
}

TEST_F(ControllerExpandVolume, FailsWithoutVolumeId) {
  pb::ControllerExpandVolumeResponse resp;
  EXPECT_CODE(expand(controller(), "", static_cast<int64_t>(64 * mib), 0, nullptr, &resp),
              INVALID_ARGUMENT);
}

TEST_F(ControllerExpandVolume, FailsWithoutCapacityRange) {
  pb::ControllerExpandVolumeResponse resp;
  EXPECT_CODE(expand(controller(), "", 0, 0, nullptr, &resp), INVALID_ARGUMENT);
  pb::Volume vol;
  ASSERT_NO_FATAL_FAILURE(shared(&vol));
  EXPECT_CODE(expand(controller(), vol.volume_id(), 0, 0, nullptr, &resp), INVALID_ARGUMENT);
}

TEST_F(ControllerExpandVolume, UnknownVolumeIsNotFound) {
  pb::ControllerExpandVolumeResponse resp;
  EXPECT_CODE(
    expand(controller(), unique("nosuchvolume"), static_cast<int64_t>(64 * mib), 0, nullptr, &resp),
    NOT_FOUND);
}

TEST_F(ControllerExpandVolume, GrowsTheVolumeAndNeverShrinksIt) {
  pb::Volume vol;
  ASSERT_NO_FATAL_FAILURE(make_volume("expand", 32 * mib, &vol));
  auto cap = mount_cap();
  pb::ControllerExpandVolumeResponse resp;
  ASSERT_OK(expand(controller(), vol.volume_id(), static_cast<int64_t>(64 * mib), 0, &cap, &resp));
  EXPECT_EQ(resp.capacity_bytes(), static_cast<int64_t>(64 * mib));
  EXPECT_TRUE(resp.node_expansion_required()) << "a filesystem volume grows on the node too";
  auto lv = find_lv(vol.volume_id());
  ASSERT_TRUE(lv);
  EXPECT_EQ(lv->size_bytes, 64 * mib);
  // Idempotent, and a smaller request leaves it as it is.
  ASSERT_OK(expand(controller(), vol.volume_id(), static_cast<int64_t>(64 * mib), 0, &cap, &resp));
  EXPECT_EQ(resp.capacity_bytes(), static_cast<int64_t>(64 * mib));
  ASSERT_OK(expand(controller(), vol.volume_id(), static_cast<int64_t>(16 * mib), 0, &cap, &resp));
  EXPECT_EQ(resp.capacity_bytes(), static_cast<int64_t>(64 * mib));
  lv = find_lv(vol.volume_id());
  ASSERT_TRUE(lv);
  EXPECT_EQ(lv->size_bytes, 64 * mib);
  pb::ControllerGetVolumeResponse got;
  ASSERT_OK(get_volume(controller(), vol.volume_id(), &got));
  EXPECT_EQ(got.volume().capacity_bytes(), static_cast<int64_t>(64 * mib));
}

TEST_F(ControllerExpandVolume, BlockVolumesNeedNoNodeExpansion) {
  pb::Volume vol;
  ASSERT_NO_FATAL_FAILURE(make_volume("expandblock", 8 * mib, &vol, block_cap()));
  auto cap = block_cap();
  pb::ControllerExpandVolumeResponse resp;
  ASSERT_OK(expand(controller(), vol.volume_id(), static_cast<int64_t>(16 * mib), 0, &cap, &resp));
  EXPECT_EQ(resp.capacity_bytes(), static_cast<int64_t>(16 * mib));
  EXPECT_FALSE(resp.node_expansion_required());
}

TEST_F(ControllerExpandVolume, OutOfRangeWhenNoSizeFitsTheRange) {
  auto extent = pool_vg().extent_bytes;
  ASSERT_GE(extent, 4 * mib);
  pb::Volume vol;
  ASSERT_NO_FATAL_FAILURE(make_volume("expandnofit", 8 * mib, &vol));
  pb::ControllerExpandVolumeResponse resp;
  auto wanted = static_cast<int64_t>(4 * extent + mib);
  EXPECT_CODE(expand(controller(), vol.volume_id(), wanted, wanted, nullptr, &resp), OUT_OF_RANGE);
  auto lv = find_lv(vol.volume_id());
  ASSERT_TRUE(lv);
  EXPECT_EQ(lv->size_bytes, static_cast<uint64_t>(vol.capacity_bytes()));
}

// Volumes never shrink: a limit below the current size cannot be met
// (spec: "Unsupported capacity", OUT_OF_RANGE).
TEST_F(ControllerExpandVolume, LimitBelowTheCurrentSizeIsOutOfRange) {
  pb::Volume vol;
  ASSERT_NO_FATAL_FAILURE(make_volume("expandbelow", 32 * mib, &vol));
  pb::ControllerExpandVolumeResponse resp;
  auto status = expand(controller(), vol.volume_id(), static_cast<int64_t>(8 * mib),
                       static_cast<int64_t>(16 * mib), nullptr, &resp);
  EXPECT_CODE(status, OUT_OF_RANGE) << "answered capacity_bytes " << resp.capacity_bytes();
}

} // namespace
} // namespace conformance
