// Node service: capabilities and info, the field checks of every call, the
// stage/publish lifecycle (mount and block, read-only, idempotent repeats),
// NodeGetVolumeStats and NodeExpandVolume, each checked against the mount
// table, statvfs and the data written through the targets.

#include "tests/conformance/conformance.hpp"

#include <cerrno>
#include <fcntl.h>
#include <set>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

namespace conformance {
namespace {

int mounts_at(const std::string& path) {
  int n = 0;
  for (auto& e : read_mountinfo())
    n += e.mount_point == path;
  return n;
}

/// errno of creating a file at `path` (0 when it worked).
int create_errno(const std::string& path) {
  int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0)
    return errno;
  ::close(fd);
  return 0;
}

// -- NodeGetCapabilities, NodeGetInfo ------------------------------------------------------

using NodeGetCapabilities = csi_test;

TEST_F(NodeGetCapabilities, AreKnownAndMatchTheServedCalls) {
  pb::NodeGetCapabilitiesResponse resp;
  ASSERT_OK(call([&](auto* ctx) {
    return node().NodeGetCapabilities(ctx, pb::NodeGetCapabilitiesRequest{}, &resp);
  }));
  using rpc = pb::NodeServiceCapability::RPC;
  std::set<int> types;
  for (auto& cap : resp.capabilities()) {
    ASSERT_TRUE(cap.has_rpc());
    auto t = cap.rpc().type();
    EXPECT_TRUE(t >= rpc::UNKNOWN && t <= rpc::VOLUME_MOUNT_GROUP) << "unknown capability " << t;
    types.insert(t);
  }
  for (auto t : {rpc::STAGE_UNSTAGE_VOLUME, rpc::GET_VOLUME_STATS, rpc::EXPAND_VOLUME})
    EXPECT_TRUE(types.count(t)) << rpc::Type_Name(t) << " is not advertised";
}

using NodeGetInfo = csi_test;

TEST_F(NodeGetInfo, ReportsTheNodeAndItsTopology) {
  pb::NodeGetInfoResponse info;
  ASSERT_OK(node_info(&info));
  EXPECT_EQ(info.node_id(), env().config().node);
  EXPECT_GE(info.max_volumes_per_node(), 0);
  // VOLUME_ACCESSIBILITY_CONSTRAINTS is advertised: the topology is REQUIRED.
  ASSERT_TRUE(info.has_accessible_topology());
  ASSERT_EQ(info.accessible_topology().segments().count(topology_key), 1u);
  EXPECT_EQ(info.accessible_topology().segments().at(topology_key), env().config().node);
}

// -- field checks ----------------------------------------------------------------------------

class NodeFields : public csi_test {
protected:
  grpc::Status stage_call(const pb::NodeStageVolumeRequest& req) {
    pb::NodeStageVolumeResponse resp;
    return call([&](auto* ctx) { return node().NodeStageVolume(ctx, req, &resp); });
  }
  grpc::Status unstage_call(const pb::NodeUnstageVolumeRequest& req) {
    pb::NodeUnstageVolumeResponse resp;
    return call([&](auto* ctx) { return node().NodeUnstageVolume(ctx, req, &resp); });
  }
  grpc::Status publish_call(const pb::NodePublishVolumeRequest& req) {
    pb::NodePublishVolumeResponse resp;
    return call([&](auto* ctx) { return node().NodePublishVolume(ctx, req, &resp); });
  }
  grpc::Status unpublish_call(const pb::NodeUnpublishVolumeRequest& req) {
    pb::NodeUnpublishVolumeResponse resp;
    return call([&](auto* ctx) { return node().NodeUnpublishVolume(ctx, req, &resp); });
  }
  grpc::Status stats_call(const std::string& id, const std::string& path,
                          pb::NodeGetVolumeStatsResponse* resp) {
    pb::NodeGetVolumeStatsRequest req;
    req.set_volume_id(id);
    req.set_volume_path(path);
    resp->Clear();
    return call([&](auto* ctx) { return node().NodeGetVolumeStats(ctx, req, resp); });
  }
  grpc::Status expand_call(const pb::NodeExpandVolumeRequest& req,
                           pb::NodeExpandVolumeResponse* resp) {
    resp->Clear();
    return call([&](auto* ctx) { return node().NodeExpandVolume(ctx, req, resp); });
  }
  /// A path below the kubelet directory that no volume uses.
  std::string unused_path() const { return env().kubelet_dir() + "/pods/nobody/mount"; }
};

using NodeStageVolume = NodeFields;

TEST_F(NodeStageVolume, FailsWithoutVolumeId) {
  pb::NodeStageVolumeRequest req;
  req.set_staging_target_path(staging_path("x"));
  *req.mutable_volume_capability() = mount_cap();
  (*req.mutable_publish_context())["device"] = "/dev/mock";
  EXPECT_CODE(stage_call(req), INVALID_ARGUMENT);
}

TEST_F(NodeStageVolume, FailsWithoutStagingTargetPath) {
  pb::NodeStageVolumeRequest req;
  req.set_volume_id(unique("nostaging"));
  *req.mutable_volume_capability() = mount_cap();
  EXPECT_CODE(stage_call(req), INVALID_ARGUMENT);
}

TEST_F(NodeStageVolume, FailsWithoutVolumeCapability) {
  pb::Volume vol;
  ASSERT_NO_FATAL_FAILURE(shared(&vol));
  pb::NodeStageVolumeRequest req;
  req.set_volume_id(vol.volume_id());
  req.set_staging_target_path(staging_path(vol.volume_id()));
  EXPECT_CODE(stage_call(req), INVALID_ARGUMENT);
  EXPECT_FALSE(find_mount(req.staging_target_path()));
}

TEST_F(NodeStageVolume, UnknownVolumeIsNotFound) {
  pb::NodeStageVolumeRequest req;
  req.set_volume_id(unique("nosuchvolume"));
  req.set_staging_target_path(staging_path(req.volume_id()));
  *req.mutable_volume_capability() = mount_cap();
  EXPECT_CODE(stage_call(req), NOT_FOUND);
}

TEST_F(NodeStageVolume, PathsOutsideTheKubeletDirectoryAreInvalid) {
  // As we map it: --csi-allowed-path confines staging and target paths.
  pb::Volume vol;
  ASSERT_NO_FATAL_FAILURE(shared(&vol));
  pb::NodeStageVolumeRequest req;
  req.set_volume_id(vol.volume_id());
  req.set_staging_target_path("/tmp/olocal-conformance-outside");
  *req.mutable_volume_capability() = mount_cap();
  EXPECT_CODE(stage_call(req), INVALID_ARGUMENT);
  req.set_staging_target_path(env().kubelet_dir() + "/../escape");
  EXPECT_CODE(stage_call(req), INVALID_ARGUMENT);
}

using NodePublishVolume = NodeFields;

TEST_F(NodePublishVolume, FailsWithoutVolumeId) {
  EXPECT_CODE(publish_call(pb::NodePublishVolumeRequest{}), INVALID_ARGUMENT);
}

TEST_F(NodePublishVolume, FailsWithoutTargetPath) {
  pb::NodePublishVolumeRequest req;
  req.set_volume_id(unique("notarget"));
  EXPECT_CODE(publish_call(req), INVALID_ARGUMENT);
}

TEST_F(NodePublishVolume, FailsWithoutVolumeCapability) {
  pb::NodePublishVolumeRequest req;
  req.set_volume_id(unique("nocap"));
  req.set_target_path(target_path(req.volume_id(), "nocappod"));
  EXPECT_CODE(publish_call(req), INVALID_ARGUMENT);
}

TEST_F(NodePublishVolume, UnknownVolumeIsNotFound) {
  pb::NodePublishVolumeRequest req;
  req.set_volume_id(unique("nosuchvolume"));
  req.set_staging_target_path(staging_path(req.volume_id()));
  req.set_target_path(target_path(req.volume_id(), "unknownpod"));
  *req.mutable_volume_capability() = mount_cap();
  EXPECT_CODE(publish_call(req), NOT_FOUND);
}

// With STAGE_UNSTAGE_VOLUME advertised, publishing without a staging path is
// FAILED_PRECONDITION (spec: "Staging target path not set").
TEST_F(NodePublishVolume, MissingStagingTargetPathIsFailedPrecondition) {
  pb::Volume vol;
  ASSERT_NO_FATAL_FAILURE(make_volume("nostagingpath", 16 * mib, &vol));
  ASSERT_OK(stage(vol.volume_id()));
  pb::NodePublishVolumeRequest req;
  req.set_volume_id(vol.volume_id());
  req.set_target_path(target_path(vol.volume_id(), "nostagingpod"));
  *req.mutable_volume_capability() = mount_cap();
  EXPECT_CODE(publish_call(req), FAILED_PRECONDITION);
  EXPECT_FALSE(find_mount(req.target_path()));
}

TEST_F(NodePublishVolume, AnUnstagedVolumeIsFailedPrecondition) {
  pb::Volume vol;
  ASSERT_NO_FATAL_FAILURE(shared(&vol));
  auto target = target_path(vol.volume_id(), "unstagedpod");
  EXPECT_CODE(publish(vol.volume_id(), target), FAILED_PRECONDITION);
  EXPECT_FALSE(find_mount(target));
}

// A multi-node access mode exceeds a single-node volume's capabilities
// (spec: FAILED_PRECONDITION).
TEST_F(NodePublishVolume, AMultiNodeModeExceedsTheCapabilities) {
  pb::Volume vol;
  ASSERT_NO_FATAL_FAILURE(make_volume("multinodepub", 16 * mib, &vol));
  ASSERT_OK(stage(vol.volume_id()));
  auto target = target_path(vol.volume_id(), "multinodepod");
  EXPECT_CODE(publish(vol.volume_id(), target, mount_cap(access_mode::MULTI_NODE_MULTI_WRITER)),
              FAILED_PRECONDITION);
  EXPECT_FALSE(find_mount(target));
}

TEST_F(NodePublishVolume, AnIncompatibleRepublishAlreadyExists) {
  // Spec: "Volume published but is incompatible" (another readonly flag at
  // the same target) is ALREADY_EXISTS.
  pb::Volume vol;
  ASSERT_NO_FATAL_FAILURE(make_volume("incompatible", 16 * mib, &vol));
  std::string target;
  ASSERT_NO_FATAL_FAILURE(mount_volume(vol.volume_id(), "incompatiblepod", &target));
  EXPECT_CODE(publish(vol.volume_id(), target, mount_cap(), true), ALREADY_EXISTS);
  auto m = find_mount(target);
  ASSERT_TRUE(m);
  EXPECT_FALSE(m->read_only()) << "the existing publication must stay read-write";
  EXPECT_EQ(mounts_at(target), 1);
}

using NodeUnpublishVolume = NodeFields;

TEST_F(NodeUnpublishVolume, FailsWithoutVolumeId) {
  EXPECT_CODE(unpublish_call(pb::NodeUnpublishVolumeRequest{}), INVALID_ARGUMENT);
}

TEST_F(NodeUnpublishVolume, FailsWithoutTargetPath) {
  pb::NodeUnpublishVolumeRequest req;
  req.set_volume_id(unique("notarget"));
  EXPECT_CODE(unpublish_call(req), INVALID_ARGUMENT);
}

TEST_F(NodeUnpublishVolume, UnknownVolumeIsNotFound) {
  pb::NodeUnpublishVolumeRequest req;
  req.set_volume_id(unique("nosuchvolume"));
  req.set_target_path(unused_path());
  EXPECT_CODE(unpublish_call(req), NOT_FOUND);
}

TEST_F(NodeUnpublishVolume, RemovesTheTargetPath) {
  // Spec: the SP MUST delete the file or directory it created at target_path.
  pb::Volume vol;
  ASSERT_NO_FATAL_FAILURE(make_volume("removetarget", 16 * mib, &vol));
  std::string target;
  ASSERT_NO_FATAL_FAILURE(mount_volume(vol.volume_id(), "removepod", &target));
  ASSERT_TRUE(exists(target));
  ASSERT_OK(unpublish(vol.volume_id(), target));
  EXPECT_FALSE(find_mount(target));
  EXPECT_FALSE(exists(target)) << target << " was not removed";
}

using NodeUnstageVolume = NodeFields;

TEST_F(NodeUnstageVolume, FailsWithoutVolumeId) {
  pb::NodeUnstageVolumeRequest req;
  req.set_staging_target_path(staging_path("x"));
  EXPECT_CODE(unstage_call(req), INVALID_ARGUMENT);
}

TEST_F(NodeUnstageVolume, FailsWithoutStagingTargetPath) {
  pb::NodeUnstageVolumeRequest req;
  req.set_volume_id(unique("nostaging"));
  EXPECT_CODE(unstage_call(req), INVALID_ARGUMENT);
}

TEST_F(NodeUnstageVolume, UnknownVolumeIsNotFound) {
  pb::NodeUnstageVolumeRequest req;
  req.set_volume_id(unique("nosuchvolume"));
  req.set_staging_target_path(staging_path(req.volume_id()));
  EXPECT_CODE(unstage_call(req), NOT_FOUND);
}

// -- the lifecycle -------------------------------------------------------------------------

using NodeLifecycle = NodeFields;

TEST_F(NodeLifecycle, MountVolumeFullLifecycleWithRepeatedCalls) {
  // csi-sanity's "should be idempotent": every call twice, on a volume made
  // for NodeGetInfo's topology.
  pb::NodeGetInfoResponse info;
  ASSERT_OK(node_info(&info));
  auto req = volume_request(unique("lifecycle"), 32 * mib);
  *req.mutable_accessibility_requirements()->add_requisite() = info.accessible_topology();
  pb::CreateVolumeResponse created;
  ASSERT_OK(create_volume(req, &created));
  auto id = created.volume().volume_id();
  auto lv = find_lv(id);
  ASSERT_TRUE(lv);
  ASSERT_GE(lv->kernel_major, 0) << "the LV is not active";

  auto staging = staging_path(id);
  for (int i = 0; i < 2; ++i) {
    ASSERT_OK(stage(id)) << "stage #" << i + 1;
    auto m = find_mount(staging);
    ASSERT_TRUE(m) << "not mounted at " << staging;
    EXPECT_EQ(m->fstype, "ext4");
    EXPECT_EQ(m->major, static_cast<unsigned>(lv->kernel_major));
    EXPECT_EQ(m->minor, static_cast<unsigned>(lv->kernel_minor));
    EXPECT_FALSE(m->read_only());
    EXPECT_EQ(mounts_at(staging), 1) << "a repeated stage stacked a mount";
  }
  auto target = target_path(id, "lifecyclepod");
  for (int i = 0; i < 2; ++i) {
    ASSERT_OK(publish(id, target)) << "publish #" << i + 1;
    auto m = find_mount(target);
    ASSERT_TRUE(m) << "not mounted at " << target;
    EXPECT_EQ(m->major, static_cast<unsigned>(lv->kernel_major));
    EXPECT_EQ(m->minor, static_cast<unsigned>(lv->kernel_minor));
    EXPECT_FALSE(m->read_only());
    EXPECT_EQ(mounts_at(target), 1) << "a repeated publish stacked a mount";
  }
  pb::NodeGetVolumeStatsResponse stats;
  ASSERT_OK(stats_call(id, target, &stats));
  EXPECT_GT(stats.usage_size(), 0);

  auto data = pattern(2 * mib, 7);
  ASSERT_EQ(write_file(target + "/data", data), "");
  auto through_staging = read_file(staging + "/data");
  ASSERT_TRUE(through_staging);
  EXPECT_TRUE(*through_staging == data) << "the target does not show the staged filesystem";

  for (int i = 0; i < 2; ++i) {
    ASSERT_OK(unpublish(id, target)) << "unpublish #" << i + 1;
    EXPECT_FALSE(find_mount(target));
    EXPECT_FALSE(exists(target));
  }
  for (int i = 0; i < 2; ++i) {
    ASSERT_OK(unstage(id)) << "unstage #" << i + 1;
    EXPECT_FALSE(find_mount(staging));
  }
  for (int i = 0; i < 2; ++i) {
    ASSERT_OK(delete_volume(id)) << "delete #" << i + 1;
    EXPECT_FALSE(find_lv(id));
  }
}

TEST_F(NodeLifecycle, BlockVolumeIsPublishedAsItsDeviceNode) {
  pb::Volume vol;
  ASSERT_NO_FATAL_FAILURE(make_volume("blocklife", 16 * mib, &vol, block_cap()));
  auto id = vol.volume_id();
  auto lv = find_lv(id);
  ASSERT_TRUE(lv);
  for (int i = 0; i < 2; ++i)
    ASSERT_OK(stage(id, block_cap())) << "stage #" << i + 1;
  auto target = target_path(id, "blockpod");
  for (int i = 0; i < 2; ++i) {
    ASSERT_OK(publish(id, target, block_cap())) << "publish #" << i + 1;
    struct stat st {};
    ASSERT_EQ(::stat(target.c_str(), &st), 0) << target;
    ASSERT_TRUE(S_ISBLK(st.st_mode)) << target << " is no block device";
    EXPECT_EQ(major(st.st_rdev), static_cast<unsigned>(lv->kernel_major));
    EXPECT_EQ(minor(st.st_rdev), static_cast<unsigned>(lv->kernel_minor));
    EXPECT_EQ(mounts_at(target), 1) << "a repeated publish stacked a bind mount";
  }
  auto data = pattern(mib, 11);
  ASSERT_EQ(write_device(target, data), "");
  auto back = read_device(target, data.size());
  ASSERT_TRUE(back);
  EXPECT_TRUE(*back == data);

  // The bytes are on the LV: a second target sees them.
  auto second = target_path(id, "blockpod2");
  ASSERT_OK(publish(id, second, block_cap()));
  back = read_device(second, data.size());
  ASSERT_TRUE(back);
  EXPECT_TRUE(*back == data);
  for (auto* t : {&second, &target})
    for (int i = 0; i < 2; ++i) {
      ASSERT_OK(unpublish(id, *t)) << "unpublish #" << i + 1;
      EXPECT_FALSE(find_mount(*t));
      EXPECT_FALSE(exists(*t)) << *t << " was not removed";
    }
  for (int i = 0; i < 2; ++i)
    ASSERT_OK(unstage(id)) << "unstage #" << i + 1;
}

TEST_F(NodeLifecycle, ReadOnlyPublishRefusesWrites) {
  pb::Volume vol;
  ASSERT_NO_FATAL_FAILURE(make_volume("readonly", 16 * mib, &vol));
  std::string rw;
  ASSERT_NO_FATAL_FAILURE(mount_volume(vol.volume_id(), "writerpod", &rw));
  auto ro = target_path(vol.volume_id(), "readerpod");
  for (int i = 0; i < 2; ++i)
    ASSERT_OK(publish(vol.volume_id(), ro, mount_cap(), true)) << "publish #" << i + 1;
  auto m = find_mount(ro);
  ASSERT_TRUE(m);
  EXPECT_TRUE(m->read_only()) << m->options;
  EXPECT_EQ(create_errno(ro + "/refused"), EROFS);
  EXPECT_FALSE(exists(ro + "/refused"));
  // The writer's data shows through the read-only target.
  auto data = pattern(mib, 13);
  ASSERT_EQ(write_file(rw + "/shared", data), "");
  auto seen = read_file(ro + "/shared");
  ASSERT_TRUE(seen);
  EXPECT_TRUE(*seen == data);
}

TEST_F(NodeLifecycle, DataSurvivesUnpublishAndRepublish) {
  pb::Volume vol;
  ASSERT_NO_FATAL_FAILURE(make_volume("survive", 32 * mib, &vol));
  auto id = vol.volume_id();
  std::string target;
  ASSERT_NO_FATAL_FAILURE(mount_volume(id, "firstpod", &target));
  auto data = pattern(4 * mib, 17);
  ASSERT_EQ(write_file(target + "/data", data), "");
  ASSERT_OK(unpublish(id, target));
  ASSERT_OK(unstage(id));
  EXPECT_FALSE(find_mount(staging_path(id)));
  std::string again;
  ASSERT_NO_FATAL_FAILURE(mount_volume(id, "secondpod", &again));
  auto back = read_file(again + "/data");
  ASSERT_TRUE(back) << "the data is gone after a republish";
  EXPECT_TRUE(*back == data);
}

// -- NodeGetVolumeStats ------------------------------------------------------------------------

using NodeGetVolumeStats = NodeFields;

TEST_F(NodeGetVolumeStats, FailsWithoutVolumeId) {
  pb::NodeGetVolumeStatsResponse resp;
  EXPECT_CODE(stats_call("", "some/path", &resp), INVALID_ARGUMENT);
}

TEST_F(NodeGetVolumeStats, FailsWithoutVolumePath) {
  pb::NodeGetVolumeStatsResponse resp;
  EXPECT_CODE(stats_call(unique("nopath"), "", &resp), INVALID_ARGUMENT);
}

TEST_F(NodeGetVolumeStats, UnknownVolumeIsNotFound) {
  pb::NodeGetVolumeStatsResponse resp;
  EXPECT_CODE(stats_call(unique("nosuchvolume"), unused_path(), &resp), NOT_FOUND);
}

// A volume_path that is no path of the volume is NOT_FOUND whatever its form
// (csi-sanity sends "some/path").
TEST_F(NodeGetVolumeStats, RelativePathIsNotFound) {
  pb::NodeGetVolumeStatsResponse resp;
  EXPECT_CODE(stats_call(unique("nosuchvolume"), "some/path", &resp), NOT_FOUND);
  pb::Volume vol;
  ASSERT_NO_FATAL_FAILURE(make_volume("statsrelative", 16 * mib, &vol));
  std::string target;
  ASSERT_NO_FATAL_FAILURE(mount_volume(vol.volume_id(), "statsrelpod", &target));
  EXPECT_CODE(stats_call(vol.volume_id(), "some/path", &resp), NOT_FOUND);
}

TEST_F(NodeGetVolumeStats, APathThatIsNotTheVolumesIsNotFound) {
  pb::Volume vol;
  ASSERT_NO_FATAL_FAILURE(make_volume("statswrongpath", 16 * mib, &vol));
  std::string target;
  ASSERT_NO_FATAL_FAILURE(mount_volume(vol.volume_id(), "statswrongpod", &target));
  pb::NodeGetVolumeStatsResponse resp;
  EXPECT_CODE(stats_call(vol.volume_id(), unused_path(), &resp), NOT_FOUND);
}

TEST_F(NodeGetVolumeStats, ReportsBytesAndInodesOfTheFilesystem) {
  pb::Volume vol;
  ASSERT_NO_FATAL_FAILURE(make_volume("stats", 32 * mib, &vol));
  std::string target;
  ASSERT_NO_FATAL_FAILURE(mount_volume(vol.volume_id(), "statspod", &target));
  pb::NodeGetVolumeStatsResponse resp;
  ASSERT_OK(stats_call(vol.volume_id(), target, &resp));
  auto fs = usage_of(target);
  const pb::VolumeUsage* bytes = nullptr;
  const pb::VolumeUsage* inodes = nullptr;
  for (auto& u : resp.usage()) {
    if (u.unit() == pb::VolumeUsage::BYTES)
      bytes = &u;
    if (u.unit() == pb::VolumeUsage::INODES)
      inodes = &u;
  }
  ASSERT_TRUE(bytes);
  ASSERT_TRUE(inodes);
  EXPECT_EQ(bytes->total(), static_cast<int64_t>(fs.total_bytes));
  EXPECT_GT(bytes->total(), static_cast<int64_t>(24 * mib));
  EXPECT_LE(bytes->total(), vol.capacity_bytes());
  EXPECT_GE(bytes->used(), 0);
  EXPECT_GE(bytes->available(), 0);
  EXPECT_LE(bytes->used() + bytes->available(), bytes->total());
  EXPECT_EQ(inodes->total(), static_cast<int64_t>(fs.total_inodes));
  EXPECT_EQ(inodes->available(), static_cast<int64_t>(fs.free_inodes));
  EXPECT_EQ(inodes->used(), static_cast<int64_t>(fs.total_inodes - fs.free_inodes));
  EXPECT_GT(inodes->used(), 0);
  EXPECT_FALSE(resp.volume_condition().abnormal()) << resp.volume_condition().message();

  // Written data shows in the next answer.
  ASSERT_EQ(write_file(target + "/data", pattern(8 * mib, 19)), "");
  ASSERT_EQ(write_file(target + "/more", "x"), "");
  pb::NodeGetVolumeStatsResponse later;
  ASSERT_OK(stats_call(vol.volume_id(), target, &later));
  for (auto& u : later.usage()) {
    if (u.unit() == pb::VolumeUsage::BYTES) {
      EXPECT_GE(u.used() - bytes->used(), static_cast<int64_t>(8 * mib));
    }
    if (u.unit() == pb::VolumeUsage::INODES) {
      EXPECT_EQ(u.used() - inodes->used(), 2);
    }
  }
  // The staging path answers as well.
  ASSERT_OK(stats_call(vol.volume_id(), staging_path(vol.volume_id()), &resp));
}

TEST_F(NodeGetVolumeStats, ReportsTheSizeOfABlockVolume) {
  pb::Volume vol;
  ASSERT_NO_FATAL_FAILURE(make_volume("statsblock", 16 * mib, &vol, block_cap()));
  ASSERT_OK(stage(vol.volume_id(), block_cap()));
  auto target = target_path(vol.volume_id(), "statsblockpod");
  ASSERT_OK(publish(vol.volume_id(), target, block_cap()));
  pb::NodeGetVolumeStatsResponse resp;
  ASSERT_OK(stats_call(vol.volume_id(), target, &resp));
  ASSERT_EQ(resp.usage_size(), 1) << "a block volume has bytes, no inodes";
  EXPECT_EQ(resp.usage(0).unit(), pb::VolumeUsage::BYTES);
  EXPECT_EQ(resp.usage(0).total(), vol.capacity_bytes());
  EXPECT_FALSE(resp.volume_condition().abnormal()) << resp.volume_condition().message();
}

// -- NodeExpandVolume --------------------------------------------------------------------------

using NodeExpandVolume = NodeFields;

pb::NodeExpandVolumeRequest node_expand(const std::string& id, const std::string& path,
                                        uint64_t required, uint64_t limit = 0) {
  pb::NodeExpandVolumeRequest req;
  req.set_volume_id(id);
  req.set_volume_path(path);
  if (required != 0 || limit != 0) {
    req.mutable_capacity_range()->set_required_bytes(static_cast<int64_t>(required));
    req.mutable_capacity_range()->set_limit_bytes(static_cast<int64_t>(limit));
  }
  *req.mutable_volume_capability() = mount_cap();
  return req;
}

grpc::Status controller_expand(pb::Controller::Stub& stub, const std::string& id, uint64_t bytes,
                               pb::ControllerExpandVolumeResponse* resp) {
  pb::ControllerExpandVolumeRequest req;
  req.set_volume_id(id);
  req.mutable_capacity_range()->set_required_bytes(static_cast<int64_t>(bytes));
  *req.mutable_volume_capability() = mount_cap();
  return call([&](auto* ctx) { return stub.ControllerExpandVolume(ctx, req, resp); });
}

TEST_F(NodeExpandVolume, FailsWithoutVolumeId) {
  pb::NodeExpandVolumeResponse resp;
  EXPECT_CODE(expand_call(node_expand("", env().kubelet_dir(), 0), &resp), INVALID_ARGUMENT);
}

TEST_F(NodeExpandVolume, FailsWithoutVolumePath) {
  pb::Volume vol;
  ASSERT_NO_FATAL_FAILURE(shared(&vol));
  pb::NodeExpandVolumeResponse resp;
  EXPECT_CODE(expand_call(node_expand(vol.volume_id(), "", 0), &resp), INVALID_ARGUMENT);
}

TEST_F(NodeExpandVolume, UnknownVolumeIsNotFound) {
  pb::NodeExpandVolumeResponse resp;
  EXPECT_CODE(expand_call(node_expand(unique("nosuchvolume"), unused_path(), 0), &resp), NOT_FOUND);
}

// As for NodeGetVolumeStats: csi-sanity's "some/path" for an unknown volume is
// NOT_FOUND.
TEST_F(NodeExpandVolume, UnknownVolumeWithARelativePathIsNotFound) {
  pb::NodeExpandVolumeResponse resp;
  pb::NodeExpandVolumeRequest req;
  req.set_volume_id(unique("nosuchvolume"));
  req.set_volume_path("some/path");
  EXPECT_CODE(expand_call(req, &resp), NOT_FOUND);
}

TEST_F(NodeExpandVolume, GrowsThePublishedFilesystemOnline) {
  pb::Volume vol;
  ASSERT_NO_FATAL_FAILURE(make_volume("growonline", 32 * mib, &vol));
  std::string target;
  ASSERT_NO_FATAL_FAILURE(mount_volume(vol.volume_id(), "growpod", &target));
  auto data = pattern(4 * mib, 23);
  ASSERT_EQ(write_file(target + "/data", data), "");
  auto before = usage_of(target);

  pb::ControllerExpandVolumeResponse grown;
  ASSERT_OK(controller_expand(controller(), vol.volume_id(), 64 * mib, &grown));
  EXPECT_EQ(grown.capacity_bytes(), static_cast<int64_t>(64 * mib));
  EXPECT_TRUE(grown.node_expansion_required());
  pb::NodeExpandVolumeResponse resp;
  ASSERT_OK(expand_call(node_expand(vol.volume_id(), target, 64 * mib), &resp));
  EXPECT_GE(resp.capacity_bytes(), static_cast<int64_t>(64 * mib));
  auto after = usage_of(target);
  EXPECT_GT(after.total_bytes, before.total_bytes + 24 * mib)
    << "the filesystem did not grow: " << before.total_bytes << " -> " << after.total_bytes;
  EXPECT_TRUE(find_mount(target)) << "still published";
  auto back = read_file(target + "/data");
  ASSERT_TRUE(back);
  EXPECT_TRUE(*back == data) << "the data changed in the expansion";
  // Repeating it changes nothing.
  ASSERT_OK(expand_call(node_expand(vol.volume_id(), target, 64 * mib), &resp));
  EXPECT_EQ(usage_of(target).total_bytes, after.total_bytes);
}

TEST_F(NodeExpandVolume, GrowsTheFilesystemAfterAnOfflineControllerExpansion) {
  // csi-sanity's order: the controller grows the volume, then it is staged
  // and published, then NodeExpandVolume grows the filesystem.
  pb::Volume vol;
  ASSERT_NO_FATAL_FAILURE(make_volume("growoffline", 32 * mib, &vol));
  // Format it at the old size first (a volume in use before it was expanded).
  std::string target;
  ASSERT_NO_FATAL_FAILURE(mount_volume(vol.volume_id(), "offlinepod1", &target));
  auto small = usage_of(target);
  ASSERT_OK(unpublish(vol.volume_id(), target));
  ASSERT_OK(unstage(vol.volume_id()));

  pb::ControllerExpandVolumeResponse grown;
  ASSERT_OK(controller_expand(controller(), vol.volume_id(), 64 * mib, &grown));
  EXPECT_EQ(grown.capacity_bytes(), static_cast<int64_t>(64 * mib));
  EXPECT_TRUE(grown.node_expansion_required());
  auto lv = find_lv(vol.volume_id());
  ASSERT_TRUE(lv);
  EXPECT_EQ(lv->size_bytes, 64 * mib);

  ASSERT_NO_FATAL_FAILURE(mount_volume(vol.volume_id(), "offlinepod2", &target));
  pb::NodeExpandVolumeResponse resp;
  ASSERT_OK(expand_call(node_expand(vol.volume_id(), target, 64 * mib), &resp));
  EXPECT_GE(resp.capacity_bytes(), static_cast<int64_t>(64 * mib));
  auto after = usage_of(target);
  EXPECT_GT(after.total_bytes, small.total_bytes + 24 * mib)
    << "the filesystem did not grow: " << small.total_bytes << " -> " << after.total_bytes;
}

TEST_F(NodeExpandVolume, ALimitBelowTheVolumeIsOutOfRange) {
  // Spec: "Unsupported capacity" is OUT_OF_RANGE.
  pb::Volume vol;
  ASSERT_NO_FATAL_FAILURE(make_volume("expandlimit", 32 * mib, &vol));
  std::string target;
  ASSERT_NO_FATAL_FAILURE(mount_volume(vol.volume_id(), "limitpod", &target));
  pb::NodeExpandVolumeResponse resp;
  EXPECT_CODE(expand_call(node_expand(vol.volume_id(), target, 8 * mib, 16 * mib), &resp),
              OUT_OF_RANGE);
}

} // namespace
} // namespace conformance
