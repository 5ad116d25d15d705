// The per-test fixture: calls that record what they create, and the cleanup.

#include "tests/conformance/conformance.hpp"

#include <algorithm>
#include <atomic>
#include <filesystem>
#include <set>

namespace conformance {

void csi_test::SetUp() {
  auto& e = env();
  if (!e.skip_reason().empty())
    GTEST_SKIP() << e.skip_reason();
  if (!e.start_error().empty()) {
    FAIL() << "the driver did not start: " << e.start_error();
  }
}

void csi_test::TearDown() {
  if (!env().skip_reason().empty() || !env().start_error().empty())
    return;
  // kubelet's order, then the provisioner's: unpublish, unstage, then
  // snapshots before their sources.
  for (auto it = published_.rbegin(); it != published_.rend(); ++it)
    EXPECT_OK(unpublish(it->first, it->second)) << "cleanup: unpublish " << it->second;
  for (auto it = staged_.rbegin(); it != staged_.rend(); ++it)
    EXPECT_OK(unstage(it->first)) << "cleanup: unstage " << it->first;
  for (auto it = snapshots_.rbegin(); it != snapshots_.rend(); ++it)
    EXPECT_OK(delete_snapshot(*it)) << "cleanup: delete snapshot " << *it;
  for (auto it = volumes_.rbegin(); it != volumes_.rend(); ++it)
    EXPECT_OK(delete_volume(*it)) << "cleanup: delete volume " << *it;
}

void csi_test::shared(pb::Volume* out) {
  *out = env().shared_volume();
  ASSERT_FALSE(out->volume_id().empty()) << "no shared volume";
}

namespace {

/// Whether a failed create may still have left something behind (so that the
/// cleanup must try to delete it). Refusals made nothing.
bool may_have_created(const grpc::Status& status) {
  switch (status.error_code()) {
  case grpc::StatusCode::OK:
  case grpc::StatusCode::UNKNOWN:
  case grpc::StatusCode::INTERNAL:
  case grpc::StatusCode::DEADLINE_EXCEEDED:
  case grpc::StatusCode::UNAVAILABLE:
  case grpc::StatusCode::ABORTED:
  case grpc::StatusCode::CANCELLED:
    return true;
  default:
    return false;
  }
}

} // namespace

std::string csi_test::unique(const std::string& tag) {
  static std::atomic<int> counter{0};
  return "cf" + std::to_string(++counter) + "-" + tag;
}

// -- controller ----------------------------------------------------------------------

pb::CreateVolumeRequest csi_test::volume_request(const std::string& name, uint64_t required_bytes,
                                                 const pb::VolumeCapability& cap) const {
  pb::CreateVolumeRequest req;
  req.set_name(name);
  *req.add_volume_capabilities() = cap;
  if (required_bytes != 0)
    req.mutable_capacity_range()->set_required_bytes(static_cast<int64_t>(required_bytes));
  return req;
}

grpc::Status csi_test::create_volume(const pb::CreateVolumeRequest& req,
                                     pb::CreateVolumeResponse* resp) {
  auto status = call([&](auto* ctx) { return controller().CreateVolume(ctx, req, resp); });
  // Our volume ids are the names; deleting what is not there is OK.
  auto id = status.ok() ? resp->volume().volume_id() : req.name();
  if (may_have_created(status) && !id.empty() &&
      std::find(volumes_.begin(), volumes_.end(), id) == volumes_.end())
    volumes_.push_back(id);
  return status;
}

grpc::Status csi_test::delete_volume(const std::string& id) {
  pb::DeleteVolumeRequest req;
  req.set_volume_id(id);
  pb::DeleteVolumeResponse resp;
  auto status = call([&](auto* ctx) { return controller().DeleteVolume(ctx, req, &resp); });
  if (status.ok())
    env().forget_if_shared(id);
  return status;
}

grpc::Status csi_test::create_snapshot(const std::string& name, const std::string& source,
                                       pb::CreateSnapshotResponse* resp) {
  pb::CreateSnapshotRequest req;
  req.set_name(name);
  req.set_source_volume_id(source);
  auto status = call([&](auto* ctx) { return controller().CreateSnapshot(ctx, req, resp); });
  auto id = status.ok() ? resp->snapshot().snapshot_id() : name;
  if (may_have_created(status) && !id.empty() &&
      std::find(snapshots_.begin(), snapshots_.end(), id) == snapshots_.end())
    snapshots_.push_back(id);
  return status;
}

grpc::Status csi_test::delete_snapshot(const std::string& id) {
  pb::DeleteSnapshotRequest req;
  req.set_snapshot_id(id);
  pb::DeleteSnapshotResponse resp;
  return call([&](auto* ctx) { return controller().DeleteSnapshot(ctx, req, &resp); });
}

void csi_test::make_volume(const std::string& tag, uint64_t bytes, pb::Volume* out,
                           const pb::VolumeCapability& cap) {
  pb::CreateVolumeResponse resp;
  ASSERT_OK(create_volume(volume_request(unique(tag), bytes, cap), &resp));
  ASSERT_FALSE(resp.volume().volume_id().empty());
  *out = resp.volume();
}

void csi_test::make_snapshot(const std::string& tag, const std::string& source, pb::Snapshot* out) {
  pb::CreateSnapshotResponse resp;
  ASSERT_OK(create_snapshot(unique(tag), source, &resp));
  ASSERT_FALSE(resp.snapshot().snapshot_id().empty());
  *out = resp.snapshot();
}

grpc::Status csi_test::list_volumes(int32_t max_entries, const std::string& token,
                                    pb::ListVolumesResponse* resp) {
  pb::ListVolumesRequest req;
  req.set_max_entries(max_entries);
  req.set_starting_token(token);
  resp->Clear();
  return call([&](auto* ctx) { return controller().ListVolumes(ctx, req, resp); });
}

void csi_test::all_volume_ids(int32_t page_size, std::vector<std::string>* ids) {
  ids->clear();
  std::string token;
  for (int pages = 0; pages < 1000; ++pages) {
    pb::ListVolumesResponse resp;
    ASSERT_OK(list_volumes(page_size, token, &resp));
    if (page_size > 0) {
      ASSERT_LE(resp.entries_size(), page_size);
    }
    for (auto& e : resp.entries())
      ids->push_back(e.volume().volume_id());
    token = resp.next_token();
    if (token.empty())
      return;
    ASSERT_GT(resp.entries_size(), 0) << "a page with a next_token must not be empty";
  }
  FAIL() << "ListVolumes never ended (1000 pages)";
}

grpc::Status csi_test::list_snapshots(const pb::ListSnapshotsRequest& req,
                                      pb::ListSnapshotsResponse* resp) {
  resp->Clear();
  return call([&](auto* ctx) { return controller().ListSnapshots(ctx, req, resp); });
}

grpc::Status csi_test::node_info(pb::NodeGetInfoResponse* resp) {
  return call([&](auto* ctx) { return node().NodeGetInfo(ctx, pb::NodeGetInfoRequest{}, resp); });
}

// -- node ---------------------------------------------------------------------------------

std::string csi_test::staging_path(const std::string& volume_id) const {
  // kubelet: plugins/kubernetes.io/csi/<driver>/<hash>/globalmount
  return env().kubelet_dir() + "/plugins/kubernetes.io/csi/" + driver_name + "/" + volume_id +
         "/globalmount";
}

std::string csi_test::target_path(const std::string& volume_id, const std::string& tag) {
  // kubelet: pods/<uid>/volumes/kubernetes.io~csi/<pv>/mount, parent made by kubelet
  auto parent = env().kubelet_dir() + "/pods/" + tag + "/volumes/kubernetes.io~csi/" + volume_id;
  std::error_code ec;
  std::filesystem::create_directories(parent, ec);
  EXPECT_FALSE(ec) << "create " << parent << ": " << ec.message();
  return parent + "/mount";
}

grpc::Status csi_test::stage(const std::string& volume_id, const pb::VolumeCapability& cap) {
  pb::NodeStageVolumeRequest req;
  req.set_volume_id(volume_id);
  req.set_staging_target_path(staging_path(volume_id));
  *req.mutable_volume_capability() = cap;
  std::error_code ec; // kubelet makes the staging directory's parent
  std::filesystem::create_directories(
    std::filesystem::path{req.staging_target_path()}.parent_path(), ec);
  pb::NodeStageVolumeResponse resp;
  auto status = call([&](auto* ctx) { return node().NodeStageVolume(ctx, req, &resp); });
  std::pair<std::string, std::string> entry{volume_id, req.staging_target_path()};
  if (status.ok() && std::find(staged_.begin(), staged_.end(), entry) == staged_.end())
    staged_.push_back(entry);
  return status;
}

grpc::Status csi_test::unstage(const std::string& volume_id) {
  pb::NodeUnstageVolumeRequest req;
  req.set_volume_id(volume_id);
  req.set_staging_target_path(staging_path(volume_id));
  pb::NodeUnstageVolumeResponse resp;
  auto status = call([&](auto* ctx) { return node().NodeUnstageVolume(ctx, req, &resp); });
  if (status.ok())
    staged_.erase(std::remove(staged_.begin(), staged_.end(),
                              std::make_pair(volume_id, req.staging_target_path())),
                  staged_.end());
  return status;
}

grpc::Status csi_test::publish(const std::string& volume_id, const std::string& target,
                               const pb::VolumeCapability& cap, bool read_only) {
  pb::NodePublishVolumeRequest req;
  req.set_volume_id(volume_id);
  req.set_staging_target_path(staging_path(volume_id));
  req.set_target_path(target);
  *req.mutable_volume_capability() = cap;
  req.set_readonly(read_only);
  pb::NodePublishVolumeResponse resp;
  auto status = call([&](auto* ctx) { return node().NodePublishVolume(ctx, req, &resp); });
  std::pair<std::string, std::string> entry{volume_id, target};
  if (status.ok() && std::find(published_.begin(), published_.end(), entry) == published_.end())
    published_.push_back(entry);
  return status;
}

grpc::Status csi_test::unpublish(const std::string& volume_id, const std::string& target) {
  pb::NodeUnpublishVolumeRequest req;
  req.set_volume_id(volume_id);
  req.set_target_path(target);
  pb::NodeUnpublishVolumeResponse resp;
  auto status = call([&](auto* ctx) { return node().NodeUnpublishVolume(ctx, req, &resp); });
  if (status.ok())
    published_.erase(
      std::remove(published_.begin(), published_.end(), std::make_pair(volume_id, target)),
      published_.end());
  return status;
}

void csi_test::mount_volume(const std::string& volume_id, const std::string& tag,
                            std::string* target) {
  ASSERT_OK(stage(volume_id));
  *target = target_path(volume_id, tag);
  ASSERT_OK(publish(volume_id, *target));
  ASSERT_TRUE(find_mount(*target)) << volume_id << " is not mounted at " << *target;
}

} // namespace conformance
