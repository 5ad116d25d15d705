// Snapshots: CreateSnapshot, ListSnapshots, DeleteSnapshot, and volumes made
// from snapshots and from other volumes, with the data checked through real
// mounts.

#include "tests/conformance/conformance.hpp"

#include <set>

namespace conformance {
namespace {

// -- CreateSnapshot ------------------------------------------------------------------------

using CreateSnapshot = csi_test;

TEST_F(CreateSnapshot, FailsWithoutName) {
  pb::CreateSnapshotResponse resp;
  EXPECT_CODE(create_snapshot("", "testId", &resp), INVALID_ARGUMENT);
}

TEST_F(CreateSnapshot, FailsWithoutSourceVolumeId) {
  pb::CreateSnapshotResponse resp;
  EXPECT_CODE(create_snapshot(unique("nosource"), "", &resp), INVALID_ARGUMENT);
}

TEST_F(CreateSnapshot, UnknownSourceVolumeIsNotFound) {
  pb::CreateSnapshotResponse resp;
  auto name = unique("snapofnothing");
  EXPECT_CODE(create_snapshot(name, unique("nosuchvolume"), &resp), NOT_FOUND);
  EXPECT_FALSE(find_lv(name));
}

TEST_F(CreateSnapshot, TakesASnapshotOfTheVolume) {
  pb::Volume vol;
  ASSERT_NO_FATAL_FAILURE(shared(&vol));
  pb::Snapshot snap;
  ASSERT_NO_FATAL_FAILURE(make_snapshot("snap", vol.volume_id(), &snap));
  EXPECT_FALSE(snap.snapshot_id().empty());
  EXPECT_EQ(snap.source_volume_id(), vol.volume_id());
  EXPECT_GT(snap.creation_time().seconds(), 0);
  EXPECT_TRUE(snap.ready_to_use());
  EXPECT_EQ(snap.size_bytes(), vol.capacity_bytes());
  auto lv = find_lv(snap.snapshot_id());
  ASSERT_TRUE(lv) << "no LV for snapshot " << snap.snapshot_id();
  EXPECT_EQ(lv->origin, vol.volume_id());
  EXPECT_TRUE(lv->has_tag("olocal/kind=snapshot")) << lv->tags;
}

TEST_F(CreateSnapshot, IsIdempotentForTheSameNameAndSource) {
  pb::Volume vol;
  ASSERT_NO_FATAL_FAILURE(shared(&vol));
  auto name = unique("snaptwice");
  pb::CreateSnapshotResponse first, second;
  ASSERT_OK(create_snapshot(name, vol.volume_id(), &first));
  ASSERT_OK(create_snapshot(name, vol.volume_id(), &second));
  EXPECT_EQ(first.snapshot().snapshot_id(), second.snapshot().snapshot_id());
  EXPECT_EQ(first.snapshot().source_volume_id(), second.snapshot().source_volume_id());
  EXPECT_EQ(first.snapshot().size_bytes(), second.snapshot().size_bytes());
  EXPECT_TRUE(second.snapshot().ready_to_use());
  int named = 0;
  for (auto& lv : list_lvs())
    named += lv.name == first.snapshot().snapshot_id();
  EXPECT_EQ(named, 1);
}

// One snapshot, one creation_time: the first answer, repeats and ListSnapshots
// agree (external-snapshotter stores the first).
TEST_F(CreateSnapshot, ReportsOneCreationTime) {
  pb::Volume vol;
  ASSERT_NO_FATAL_FAILURE(shared(&vol));
  auto name = unique("snaptime");
  pb::CreateSnapshotResponse first, second;
  ASSERT_OK(create_snapshot(name, vol.volume_id(), &first));
  ASSERT_OK(create_snapshot(name, vol.volume_id(), &second));
  EXPECT_EQ(first.snapshot().creation_time().seconds(),
            second.snapshot().creation_time().seconds());
  pb::ListSnapshotsRequest req;
  req.set_snapshot_id(name);
  pb::ListSnapshotsResponse listed;
  ASSERT_OK(list_snapshots(req, &listed));
  ASSERT_EQ(listed.entries_size(), 1);
  EXPECT_EQ(first.snapshot().creation_time().seconds(),
            listed.entries(0).snapshot().creation_time().seconds());
}

// csi-sanity's "should succeed when creating snapshot with maximum-length
// name" (128 bytes), twice: the retry finds the snapshot by its hashed LV name.
TEST_F(CreateSnapshot, AcceptsAMaximumLengthName) {
  pb::Volume vol;
  ASSERT_NO_FATAL_FAILURE(shared(&vol));
  auto name = unique("snapmaxlen");
  name += std::string(128 - name.size(), 'x');
  pb::CreateSnapshotResponse resp;
  ASSERT_OK(create_snapshot(name, vol.volume_id(), &resp));
  ASSERT_OK(create_snapshot(name, vol.volume_id(), &resp));
  EXPECT_TRUE(find_lv(resp.snapshot().snapshot_id()));
}

TEST_F(CreateSnapshot, SameNameWithAnotherSourceAlreadyExists) {
  pb::Volume a, b;
  ASSERT_NO_FATAL_FAILURE(shared(&a));
  ASSERT_NO_FATAL_FAILURE(make_volume("snapsrcb", 16 * mib, &b));
  auto name = unique("snapclash");
  pb::CreateSnapshotResponse resp;
  ASSERT_OK(create_snapshot(name, a.volume_id(), &resp));
  EXPECT_CODE(create_snapshot(name, b.volume_id(), &resp), ALREADY_EXISTS);
  auto lv = find_lv(name);
  ASSERT_TRUE(lv);
  EXPECT_EQ(lv->origin, a.volume_id());
}

TEST_F(CreateSnapshot, NameOfAVolumeAlreadyExists) {
  pb::Volume vol;
  ASSERT_NO_FATAL_FAILURE(shared(&vol));
  pb::CreateSnapshotResponse resp;
  EXPECT_CODE(create_snapshot(vol.volume_id(), vol.volume_id(), &resp), ALREADY_EXISTS);
  auto lv = find_lv(vol.volume_id());
  ASSERT_TRUE(lv);
  EXPECT_TRUE(lv->has_tag("olocal/kind=volume"));
}

// -- ListSnapshots -------------------------------------------------------------------------

using ListSnapshots = csi_test;

void verify(const pb::Snapshot& s) {
  EXPECT_FALSE(s.snapshot_id().empty());
  EXPECT_FALSE(s.source_volume_id().empty());
  EXPECT_GT(s.creation_time().seconds(), 0) << s.snapshot_id();
}

TEST_F(ListSnapshots, ListsEverySnapshot) {
  pb::Volume vol;
  ASSERT_NO_FATAL_FAILURE(shared(&vol));
  pb::Snapshot snap;
  ASSERT_NO_FATAL_FAILURE(make_snapshot("listsnap", vol.volume_id(), &snap));
  pb::ListSnapshotsResponse resp;
  ASSERT_OK(list_snapshots({}, &resp));
  EXPECT_TRUE(resp.next_token().empty());
  std::set<std::string> listed;
  for (auto& e : resp.entries()) {
    verify(e.snapshot());
    listed.insert(e.snapshot().snapshot_id());
    if (e.snapshot().snapshot_id() == snap.snapshot_id()) {
      EXPECT_EQ(e.snapshot().source_volume_id(), vol.volume_id());
      EXPECT_EQ(e.snapshot().size_bytes(), snap.size_bytes());
      EXPECT_TRUE(e.snapshot().ready_to_use());
    }
  }
  std::set<std::string> lvs;
  for (auto& lv : list_lvs())
    if (lv.has_tag("olocal/kind=snapshot"))
      lvs.insert(lv.name);
  EXPECT_EQ(listed, lvs);
  // Snapshots are no volumes.
  std::vector<std::string> volumes;
  ASSERT_NO_FATAL_FAILURE(all_volume_ids(0, &volumes));
  EXPECT_EQ(std::count(volumes.begin(), volumes.end(), snap.snapshot_id()), 0);
}

TEST_F(ListSnapshots, FiltersBySnapshotIdAndBySourceVolumeId) {
  // csi-sanity's filter scenario: three snapshots of three volumes, one to
  // find, two unrelated ones.
  std::vector<pb::Snapshot> snaps;
  for (int i = 0; i < 3; ++i) {
    pb::Volume vol;
    if (i == 0) {
      ASSERT_NO_FATAL_FAILURE(shared(&vol));
    } else {
      ASSERT_NO_FATAL_FAILURE(make_volume("filtersrc", 8 * mib, &vol));
    }
    pb::Snapshot snap;
    ASSERT_NO_FATAL_FAILURE(make_snapshot("filtersnap", vol.volume_id(), &snap));
    snaps.push_back(snap);
  }
  auto& target = snaps[1];
  {
    pb::ListSnapshotsRequest req;
    req.set_snapshot_id(target.snapshot_id());
    pb::ListSnapshotsResponse resp;
    ASSERT_OK(list_snapshots(req, &resp));
    ASSERT_EQ(resp.entries_size(), 1);
    verify(resp.entries(0).snapshot());
    EXPECT_EQ(resp.entries(0).snapshot().snapshot_id(), target.snapshot_id());
    EXPECT_EQ(resp.entries(0).snapshot().source_volume_id(), target.source_volume_id());
  }
  {
    pb::ListSnapshotsRequest req;
    req.set_source_volume_id(target.source_volume_id());
    pb::ListSnapshotsResponse resp;
    ASSERT_OK(list_snapshots(req, &resp));
    ASSERT_EQ(resp.entries_size(), 1);
    verify(resp.entries(0).snapshot());
    EXPECT_EQ(resp.entries(0).snapshot().snapshot_id(), target.snapshot_id());
  }
}

TEST_F(ListSnapshots, UnknownSnapshotIdGivesAnEmptyList) {
  pb::ListSnapshotsRequest req;
  req.set_snapshot_id("none-exist-id");
  pb::ListSnapshotsResponse resp;
  ASSERT_OK(list_snapshots(req, &resp));
  EXPECT_EQ(resp.entries_size(), 0);
}

TEST_F(ListSnapshots, UnknownSourceVolumeGivesAnEmptyList) {
  pb::ListSnapshotsRequest req;
  req.set_source_volume_id(unique("nosuchvolume"));
  pb::ListSnapshotsResponse resp;
  ASSERT_OK(list_snapshots(req, &resp));
  EXPECT_EQ(resp.entries_size(), 0);
}

TEST_F(ListSnapshots, ShowsNewSnapshotsAndForgetsDeletedOnes) {
  pb::ListSnapshotsResponse before;
  ASSERT_OK(list_snapshots({}, &before));
  pb::Volume vol;
  ASSERT_NO_FATAL_FAILURE(shared(&vol));
  pb::Snapshot snap;
  ASSERT_NO_FATAL_FAILURE(make_snapshot("presence", vol.volume_id(), &snap));
  pb::ListSnapshotsResponse with;
  ASSERT_OK(list_snapshots({}, &with));
  EXPECT_EQ(with.entries_size(), before.entries_size() + 1);
  ASSERT_OK(delete_snapshot(snap.snapshot_id()));
  pb::ListSnapshotsResponse after;
  ASSERT_OK(list_snapshots({}, &after));
  EXPECT_EQ(after.entries_size(), before.entries_size());
  for (auto& e : after.entries())
    EXPECT_NE(e.snapshot().snapshot_id(), snap.snapshot_id());
}

TEST_F(ListSnapshots, PaginatesWithMaxEntriesAndNextToken) {
  // csi-sanity: at least five snapshots, a page of two, then the rest at once.
  pb::ListSnapshotsResponse initial;
  ASSERT_OK(list_snapshots({}, &initial));
  pb::Volume vol;
  ASSERT_NO_FATAL_FAILURE(shared(&vol));
  for (int i = initial.entries_size(); i < 5; ++i) {
    pb::Snapshot snap;
    ASSERT_NO_FATAL_FAILURE(make_snapshot("page", vol.volume_id(), &snap));
  }
  pb::ListSnapshotsResponse all;
  ASSERT_OK(list_snapshots({}, &all));
  ASSERT_GE(all.entries_size(), 5);
  pb::ListSnapshotsRequest req;
  req.set_max_entries(2);
  pb::ListSnapshotsResponse first;
  ASSERT_OK(list_snapshots(req, &first));
  ASSERT_EQ(first.entries_size(), 2);
  ASSERT_FALSE(first.next_token().empty());
  pb::ListSnapshotsRequest rest_req;
  rest_req.set_starting_token(first.next_token());
  pb::ListSnapshotsResponse rest;
  ASSERT_OK(list_snapshots(rest_req, &rest));
  EXPECT_EQ(rest.entries_size(), all.entries_size() - 2);
  EXPECT_TRUE(rest.next_token().empty());
  // Walking pages of two gives every snapshot once, in the same order.
  std::vector<std::string> walked;
  std::string token;
  for (int pages = 0; pages < 100; ++pages) {
    pb::ListSnapshotsRequest p;
    p.set_max_entries(2);
    p.set_starting_token(token);
    pb::ListSnapshotsResponse page;
    ASSERT_OK(list_snapshots(p, &page));
    ASSERT_LE(page.entries_size(), 2);
    for (auto& e : page.entries())
      walked.push_back(e.snapshot().snapshot_id());
    token = page.next_token();
    if (token.empty())
      break;
  }
  std::vector<std::string> expected;
  for (auto& e : all.entries())
    expected.push_back(e.snapshot().snapshot_id());
  EXPECT_EQ(walked, expected);
}

TEST_F(ListSnapshots, FailsWithAnInvalidStartingToken) {
  pb::ListSnapshotsRequest req;
  req.set_starting_token("invalid-token");
  pb::ListSnapshotsResponse resp;
  EXPECT_CODE(list_snapshots(req, &resp), ABORTED);
}

// -- DeleteSnapshot ------------------------------------------------------------------------

using DeleteSnapshot = csi_test;

TEST_F(DeleteSnapshot, FailsWithoutSnapshotId) {
  EXPECT_CODE(delete_snapshot(""), INVALID_ARGUMENT);
}

TEST_F(DeleteSnapshot, SucceedsForAnUnknownId) {
  EXPECT_OK(delete_snapshot("reallyfakesnapshotid"));
}

TEST_F(DeleteSnapshot, RemovesTheSnapshotAndIsIdempotent) {
  pb::Volume vol;
  ASSERT_NO_FATAL_FAILURE(shared(&vol));
  pb::Snapshot snap;
  ASSERT_NO_FATAL_FAILURE(make_snapshot("delsnap", vol.volume_id(), &snap));
  ASSERT_OK(delete_snapshot(snap.snapshot_id()));
  EXPECT_FALSE(find_lv(snap.snapshot_id()));
  EXPECT_TRUE(find_lv(vol.volume_id())) << "the source must stay";
  EXPECT_OK(delete_snapshot(snap.snapshot_id()));
}

TEST_F(DeleteSnapshot, NeverDeletesAVolume) {
  pb::Volume vol;
  ASSERT_NO_FATAL_FAILURE(shared(&vol));
  EXPECT_OK(delete_snapshot(vol.volume_id()));
  EXPECT_TRUE(find_lv(vol.volume_id())) << "DeleteSnapshot removed a volume";
}

TEST_F(DeleteSnapshot, AVolumeWithSnapshotsCannotBeDeletedNorItsSnapshotsByDeleteVolume) {
  // Spec: a volume that "has snapshots and the plugin doesn't treat them as
  // independent entities" is FAILED_PRECONDITION (LVM CoW snapshots live
  // and die with their origin).
  pb::Volume vol;
  ASSERT_NO_FATAL_FAILURE(make_volume("hassnap", 8 * mib, &vol));
  pb::Snapshot snap;
  ASSERT_NO_FATAL_FAILURE(make_snapshot("hassnapsnap", vol.volume_id(), &snap));
  EXPECT_CODE(delete_volume(vol.volume_id()), FAILED_PRECONDITION);
  EXPECT_TRUE(find_lv(vol.volume_id()));
  EXPECT_TRUE(find_lv(snap.snapshot_id()));
  // DeleteVolume never deletes a snapshot: an id of one is no volume (OK).
  EXPECT_OK(delete_volume(snap.snapshot_id()));
  EXPECT_TRUE(find_lv(snap.snapshot_id())) << "DeleteVolume removed a snapshot";
}

// -- CreateVolume from a snapshot or a volume ----------------------------------------------

using VolumeContentSource = csi_test;

constexpr size_t data_bytes = 4 * mib;

TEST_F(VolumeContentSource, RestoreHoldsTheDataOfTheSnapshot) {
  pb::Volume src;
  ASSERT_NO_FATAL_FAILURE(make_volume("restoresrc", 32 * mib, &src));
  std::string src_target;
  ASSERT_NO_FATAL_FAILURE(mount_volume(src.volume_id(), "restorepod", &src_target));
  auto before = pattern(data_bytes, 1);
  ASSERT_EQ(write_file(src_target + "/data", before), "");
  pb::Snapshot snap;
  ASSERT_NO_FATAL_FAILURE(make_snapshot("restoresnap", src.volume_id(), &snap));
  auto after = pattern(data_bytes, 2);
  ASSERT_EQ(write_file(src_target + "/data", after), "");

  auto req = volume_request(unique("restored"), 0);
  req.mutable_volume_content_source()->mutable_snapshot()->set_snapshot_id(snap.snapshot_id());
  pb::CreateVolumeResponse resp;
  ASSERT_OK(create_volume(req, &resp));
  auto& vol = resp.volume();
  ASSERT_TRUE(vol.content_source().has_snapshot());
  EXPECT_EQ(vol.content_source().snapshot().snapshot_id(), snap.snapshot_id());
  EXPECT_GE(vol.capacity_bytes(), src.capacity_bytes());
  auto lv = find_lv(vol.volume_id());
  ASSERT_TRUE(lv);
  EXPECT_TRUE(lv->has_tag("olocal/source=" + snap.snapshot_id())) << lv->tags;

  std::string target;
  ASSERT_NO_FATAL_FAILURE(mount_volume(vol.volume_id(), "restoredpod", &target));
  auto restored = read_file(target + "/data");
  ASSERT_TRUE(restored);
  EXPECT_TRUE(*restored == before) << "the restore does not hold the data of the snapshot";
  // Independent of its source.
  ASSERT_EQ(write_file(target + "/only-in-restore", "x"), "");
  EXPECT_FALSE(exists(src_target + "/only-in-restore"));
  auto src_now = read_file(src_target + "/data");
  ASSERT_TRUE(src_now);
  EXPECT_TRUE(*src_now == after);
}

TEST_F(VolumeContentSource, CloneHoldsTheDataOfItsSource) {
  pb::Volume src;
  ASSERT_NO_FATAL_FAILURE(make_volume("clonesrc", 32 * mib, &src));
  std::string src_target;
  ASSERT_NO_FATAL_FAILURE(mount_volume(src.volume_id(), "clonepod", &src_target));
  auto data = pattern(data_bytes, 3);
  ASSERT_EQ(write_file(src_target + "/data", data), "");

  auto req = volume_request(unique("clone"), 0);
  req.mutable_volume_content_source()->mutable_volume()->set_volume_id(src.volume_id());
  pb::CreateVolumeResponse resp;
  ASSERT_OK(create_volume(req, &resp));
  auto& vol = resp.volume();
  ASSERT_TRUE(vol.content_source().has_volume());
  EXPECT_EQ(vol.content_source().volume().volume_id(), src.volume_id());
  EXPECT_GE(vol.capacity_bytes(), src.capacity_bytes());
  auto lv = find_lv(vol.volume_id());
  ASSERT_TRUE(lv);
  EXPECT_TRUE(lv->has_tag("olocal/kind=clone")) << lv->tags;

  // Repeating the request is idempotent; another source for the name is not.
  pb::CreateVolumeResponse again;
  ASSERT_OK(create_volume(req, &again));
  EXPECT_EQ(again.volume().volume_id(), vol.volume_id());
  auto other = req;
  other.mutable_volume_content_source()->mutable_snapshot()->set_snapshot_id(unique("othersnap"));
  EXPECT_CODE(create_volume(other, &again), ALREADY_EXISTS);

  std::string target;
  ASSERT_NO_FATAL_FAILURE(mount_volume(vol.volume_id(), "clonedpod", &target));
  auto cloned = read_file(target + "/data");
  ASSERT_TRUE(cloned);
  EXPECT_TRUE(*cloned == data) << "the clone does not hold the data of its source";
  ASSERT_EQ(write_file(target + "/only-in-clone", "x"), "");
  EXPECT_FALSE(exists(src_target + "/only-in-clone"));
}

// A restore or clone smaller than its source is OUT_OF_RANGE (the spec names
// this case).
TEST_F(VolumeContentSource, SmallerThanTheSourceIsOutOfRange) {
  pb::Volume src;
  ASSERT_NO_FATAL_FAILURE(shared(&src));
  pb::Snapshot snap;
  ASSERT_NO_FATAL_FAILURE(make_snapshot("smallsnap", src.volume_id(), &snap));
  auto half = static_cast<uint64_t>(src.capacity_bytes()) / 2;
  auto req = volume_request(unique("toosmall"), half);
  req.mutable_capacity_range()->set_limit_bytes(static_cast<int64_t>(half));
  req.mutable_volume_content_source()->mutable_snapshot()->set_snapshot_id(snap.snapshot_id());
  pb::CreateVolumeResponse resp;
  EXPECT_CODE(create_volume(req, &resp), OUT_OF_RANGE);
  auto clone = volume_request(unique("toosmallclone"), half);
  clone.mutable_capacity_range()->set_limit_bytes(static_cast<int64_t>(half));
  clone.mutable_volume_content_source()->mutable_volume()->set_volume_id(src.volume_id());
  EXPECT_CODE(create_volume(clone, &resp), OUT_OF_RANGE);
}

TEST_F(VolumeContentSource, ASourceOfTheWrongKindIsNotFound) {
  pb::Volume src;
  ASSERT_NO_FATAL_FAILURE(shared(&src));
  pb::Snapshot snap;
  ASSERT_NO_FATAL_FAILURE(make_snapshot("kindsnap", src.volume_id(), &snap));
  auto from_volume_as_snapshot = volume_request(unique("kinda"), 0);
  from_volume_as_snapshot.mutable_volume_content_source()->mutable_snapshot()->set_snapshot_id(
    src.volume_id());
  pb::CreateVolumeResponse resp;
  EXPECT_CODE(create_volume(from_volume_as_snapshot, &resp), NOT_FOUND);
  auto from_snapshot_as_volume = volume_request(unique("kindb"), 0);
  from_snapshot_as_volume.mutable_volume_content_source()->mutable_volume()->set_volume_id(
    snap.snapshot_id());
  EXPECT_CODE(create_volume(from_snapshot_as_volume, &resp), NOT_FOUND);
}

} // namespace
} // namespace conformance
