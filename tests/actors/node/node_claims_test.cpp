// Device and MountPoint volumes through the node supervisor, with fakes:
// which device or mount point a claim gets, idempotency, the volume actor's
// stage/publish/expand/delete on them, the release (secure wipe, clearing
// the directory), the claims file (written, read back at restart, corrupt)
// and what happens when claimed storage goes away.

#include "actors/node/device_volumes.hpp"
#include "actors/node/node_supervisor.hpp"

#include "actors/core/errc.hpp"
#include "tests/support/actor_fixture.hpp"
#include "tests/support/fake_fs.hpp"
#include "tests/support/fake_lvm.hpp"
#include "tests/support/fake_node.hpp"
#include "tests/support/temp_dir.hpp"

#include <algorithm>
#include <fstream>

using namespace olocal;
using namespace std::chrono_literals;
using test::fs_command;

namespace {

constexpr uint64_t mib = 1ull << 20;
constexpr uint64_t gib = 1ull << 30;

void expect_code(const caf::error& err, errc code) {
  EXPECT_EQ(code_of(err), code) << render(err);
}

void expect_text(const caf::error& err, const std::string& part) {
  EXPECT_NE(render(err).find(part), std::string::npos) << render(err);
}

struct node_claims_test : test::actor_fixture {
  std::shared_ptr<test::fake_lvm_state> lvm = std::make_shared<test::fake_lvm_state>();
  std::shared_ptr<test::fake_fs_state> fs = std::make_shared<test::fake_fs_state>();
  test::temp_dir dir{"olocal-claims"};
  std::vector<caf::actor> fakes;
  node_supervisor_actor node;
  std::vector<std::string> include = {"vd[b-z]"};
  std::vector<std::string> exclude;
  std::string mount_path = "/mnt/ol";
  std::string state_dir = dir.path().string();

  node_claims_test() {
    // The claims file is real: the fake runner reads and writes it with the
    // real functions, in a temporary directory.
    fs->load_claims_fn = [](const std::string& path) { return load_claims(path); };
    fs->save_claims_fn = [](const std::string& path, const std::vector<claim_record>& claims) {
      return save_claims(path, claims);
    };
  }

  ~node_claims_test() override {
    stop();
    for (auto& f : fakes)
      anon_send_exit(f, caf::exit_reason::user_shutdown);
    run();
  }

  /// A whole disk the device scan reports (and whose node the fake fs knows).
  block_device& add_disk(std::string name, uint64_t bytes, uint32_t minor, bool hdd = false) {
    block_device d;
    d.name = name;
    d.path = "/dev/" + name;
    d.kind = "disk";
    d.major = 252;
    d.minor = minor;
    d.size_bytes = bytes;
    d.rotational = hdd;
    auto& dev = fs->add_device(d.path, bytes, 252, minor);
    dev.kernel_name = name;
    fs->block_devices.push_back(d);
    return fs->block_devices.back();
  }

  /// A filesystem mounted under the mount-point root by the operator.
  std::string add_mount_point(std::string name, uint64_t bytes, uint32_t minor,
                              std::string fstype = "ext4") {
    auto device = "/dev/sd" + name;
    fs->add_device(device, bytes, 8, minor, fstype);
    auto path = mount_path + "/" + name;
    EXPECT_TRUE(fs->mount({device, path, fstype, {}, false}));
    return path;
  }

  void start() {
    node_setup setup;
    setup.devices = fs->block_devices;
    setup.volume_groups = {"vg0"};
    setup.vg.rescan_interval = 0ms;
    setup.vg.watch_interval = 0ms;
    setup.reconcile_interval = 0ms;
    setup.fs_runners = 1;
    setup.device_include = include;
    setup.device_exclude = exclude;
    setup.mount_path = mount_path;
    setup.state_dir = state_dir;
    test::use_fakes(setup, lvm, fs, fakes);
    node = spawn_node_supervisor(sys, setup);
    run();
    auto n = request<uint64_t>(node, rescan_atom::value);
    ASSERT_TRUE(n) << render(n.error());
  }

  /// The node process going away (the kernel's mounts stay, as the fakes' do).
  void stop() {
    if (node)
      anon_send_exit(node, caf::exit_reason::user_shutdown);
    run();
    node = node_supervisor_actor{};
  }

  caf::expected<volume_state> claim(std::string id, std::string kind, uint64_t min,
                                    std::string media = {}) {
    return request<volume_state>(
      node, claim_req{std::move(id), std::move(kind), min, 0, std::move(media), true});
  }

  caf::expected<volume_actor> lookup(std::string id) {
    return request<volume_actor>(node, volume_lookup{std::move(id)});
  }

  caf::expected<bool> remove(std::string id) {
    return request<bool>(node, delete_volume_req{std::move(id), true});
  }

  std::vector<claim_record> claims_on_disk() {
    auto c = load_claims(claims_path(state_dir));
    EXPECT_TRUE(c) << render(c.error());
    return c ? *c : std::vector<claim_record>{};
  }

  node_view view() {
    auto v = request<node_view>(node, get_atom::value);
    EXPECT_TRUE(v) << render(v.error());
    return v ? *v : node_view{};
  }

  const claim_candidate* candidate(const node_view& v, const std::string& name) {
    for (auto& c : v.claimables)
      if (c.name == name)
        return &c;
    return nullptr;
  }
};

} // namespace

TEST_F(node_claims_test, a_device_claim_takes_the_smallest_free_included_device) {
  add_disk("vdb", 4 * gib, 1);
  add_disk("vdc", gib, 2);
  add_disk("vdd", 2 * gib, 3);
  add_disk("vde", 3 * gib, 4).signatures = {"ext4"};
  add_disk("sda", 3 * gib, 5); // not included
  start();
  auto st = claim("local-1", "Device", gib + 1);
  ASSERT_TRUE(st) << render(st.error());
  EXPECT_EQ(st->id, "local-1");
  EXPECT_EQ(st->device, "/dev/vdd");
  EXPECT_EQ(st->size_bytes, 2 * gib);
  EXPECT_EQ(st->kind, "device");
  EXPECT_EQ(st->vg, "");
  EXPECT_EQ(st->phase, "ready");
  auto on_disk = claims_on_disk();
  ASSERT_EQ(on_disk.size(), 1u);
  EXPECT_EQ(on_disk[0].id, "local-1");
  EXPECT_EQ(on_disk[0].path, "/dev/vdd");
  EXPECT_EQ(on_disk[0].size_bytes, 2 * gib);
  ASSERT_TRUE(lookup("local-1"));
  EXPECT_GE(fs->count(fs_command::device_scan), 2u) << "fresh facts before choosing";

  auto big = claim("local-2", "Device", 3 * gib);
  ASSERT_TRUE(big) << render(big.error());
  EXPECT_EQ(big->device, "/dev/vdb") << "vde holds a filesystem: never handed out";
  auto none = claim("local-3", "Device", 2 * gib);
  ASSERT_FALSE(none);
  expect_code(none.error(), errc::resource_exhausted);
  expect_text(none.error(), "vdb (claimed by local-2)");
  expect_text(none.error(), "vdc (1073741824 bytes, too small)");
  expect_text(none.error(), "vde (holds ext4)");
  EXPECT_EQ(render(none.error()).find("sda"), std::string::npos) << "not included: not looked at";

  auto v = view();
  auto* vdd = candidate(v, "vdd");
  ASSERT_NE(vdd, nullptr);
  EXPECT_EQ(vdd->claimed_by, "local-1");
  auto* vdc = candidate(v, "vdc");
  ASSERT_NE(vdc, nullptr);
  EXPECT_TRUE(vdc->free());
  EXPECT_EQ(candidate(v, "sda"), nullptr);
  EXPECT_EQ(claim_capacity(v.claimables, "Device", ""), gib);
}

TEST_F(node_claims_test, a_repeated_claim_answers_the_same_device_while_it_fits) {
  add_disk("vdb", 2 * gib, 1);
  add_disk("vdc", 4 * gib, 2);
  start();
  auto first = claim("local-1", "Device", gib);
  ASSERT_TRUE(first) << render(first.error());
  EXPECT_EQ(first->device, "/dev/vdb");
  auto again = claim("local-1", "Device", gib);
  ASSERT_TRUE(again) << render(again.error());
  EXPECT_EQ(again->device, "/dev/vdb");
  auto smaller = claim("local-1", "Device", mib);
  ASSERT_TRUE(smaller) << "a different size the claimed device satisfies is fine";
  EXPECT_EQ(smaller->device, "/dev/vdb");
  auto bigger = claim("local-1", "Device", 3 * gib);
  ASSERT_FALSE(bigger);
  expect_code(bigger.error(), errc::already_exists);
  auto other_kind = claim("local-1", "MountPoint", 0);
  ASSERT_FALSE(other_kind);
  expect_code(other_kind.error(), errc::already_exists);
  EXPECT_EQ(claims_on_disk().size(), 1u);
}

TEST_F(node_claims_test, media_type_hdd_takes_a_rotational_device) {
  add_disk("vdb", gib, 1);
  add_disk("vdc", 2 * gib, 2, true);
  start();
  auto hdd = claim("local-h", "Device", 0, "hdd");
  ASSERT_TRUE(hdd) << render(hdd.error());
  EXPECT_EQ(hdd->device, "/dev/vdc");
  auto ssd = claim("local-s", "Device", 0, "ssd");
  ASSERT_TRUE(ssd) << render(ssd.error());
  EXPECT_EQ(ssd->device, "/dev/vdb");
  auto bad = claim("local-x", "Device", 0, "nvme");
  ASSERT_FALSE(bad);
  expect_code(bad.error(), errc::invalid_argument);
}

TEST_F(node_claims_test, nothing_is_eligible_without_the_operators_say_so) {
  include.clear();
  mount_path.clear();
  add_disk("vdb", gib, 1);
  start();
  auto scans = fs->count(fs_command::device_scan); // the start's explicit rescan
  auto dev = claim("local-1", "Device", 0);
  ASSERT_FALSE(dev);
  expect_code(dev.error(), errc::resource_exhausted);
  expect_text(dev.error(), "included none");
  auto mp = claim("local-2", "MountPoint", 0);
  ASSERT_FALSE(mp);
  expect_code(mp.error(), errc::resource_exhausted);
  EXPECT_TRUE(claims_on_disk().empty());
  EXPECT_EQ(fs->count(fs_command::device_scan), scans) << "claims of nothing scan nothing";
}

TEST_F(node_claims_test, a_device_that_appears_gets_its_disk_actor_at_the_next_rescan) {
  include.clear();
  add_disk("vdb", gib, 1);
  start();
  auto names = [&] {
    std::vector<std::string> out;
    auto v = request<node_view>(node, get_atom::value);
    if (v)
      for (auto& d : v->devices)
        out.push_back(d.name);
    std::sort(out.begin(), out.end());
    return out;
  };
  EXPECT_EQ(names(), std::vector<std::string>{"vdb"});
  add_disk("vdc", 2 * gib, 2);
  ASSERT_TRUE(request<uint64_t>(node, rescan_atom::value));
  EXPECT_EQ(names(), (std::vector<std::string>{"vdb", "vdc"}))
    << "reported by the node (its NodeLocalStorage) though no claim may take it";
}

TEST_F(node_claims_test, no_state_directory_no_claims) {
  state_dir.clear();
  add_disk("vdb", gib, 1);
  start();
  auto dev = claim("local-1", "Device", 0);
  ASSERT_FALSE(dev);
  expect_code(dev.error(), errc::failed_precondition);
  expect_text(dev.error(), "no state directory");
}

TEST_F(node_claims_test, a_device_volume_is_formatted_published_refused_growth_and_wiped) {
  add_disk("vdb", gib, 1);
  start();
  ASSERT_TRUE(claim("local-1", "Device", 0));
  auto vol = lookup("local-1");
  ASSERT_TRUE(vol);
  auto staged = request<volume_state>(*vol, stage_req{"/stage/1", false, "ext4", {}});
  ASSERT_TRUE(staged) << render(staged.error());
  EXPECT_EQ(fs->devices["/dev/vdb"].fstype, "ext4") << "the empty device was formatted";
  EXPECT_EQ(fs->count(fs_command::ensure_fs), 1u);
  auto published = request<volume_state>(*vol, publish_req{"/pods/p1/vol", false, {}});
  ASSERT_TRUE(published) << render(published.error());
  EXPECT_EQ(published->phase, "published");
  ASSERT_NE(fs->mount_at("/pods/p1/vol"), nullptr);

  auto grow = request<volume_state>(*vol, expand_req{2 * gib});
  ASSERT_FALSE(grow);
  expect_code(grow.error(), errc::failed_precondition);
  expect_text(grow.error(), "cannot be expanded");
  auto same = request<volume_state>(*vol, expand_req{gib});
  ASSERT_TRUE(same) << "its own size is what it has";

  auto busy = remove("local-1");
  ASSERT_FALSE(busy);
  expect_code(busy.error(), errc::failed_precondition);
  EXPECT_EQ(claims_on_disk().size(), 1u) << "a refused delete keeps the claim";
  EXPECT_TRUE(lvm->wipes.empty());

  ASSERT_TRUE(request<volume_state>(*vol, unpublish_req{"/pods/p1/vol"}));
  ASSERT_TRUE(request<volume_state>(*vol, unstage_req{"/stage/1"}));
  auto gone = remove("local-1");
  ASSERT_TRUE(gone) << render(gone.error());
  EXPECT_TRUE(*gone);
  ASSERT_EQ(lvm->wipes.size(), 1u) << "the secure wipe through the disk actor";
  EXPECT_EQ(lvm->wipes[0].device, "/dev/vdb");
  EXPECT_EQ(lvm->wipes[0].bytes, gib);
  EXPECT_TRUE(claims_on_disk().empty());
  auto l = lookup("local-1");
  ASSERT_FALSE(l);
  expect_code(l.error(), errc::not_found);
  auto again = remove("local-1");
  ASSERT_TRUE(again);
  EXPECT_FALSE(*again) << "deleting twice is fine";

  auto next = claim("local-2", "Device", 0);
  ASSERT_TRUE(next) << render(next.error());
  EXPECT_EQ(next->device, "/dev/vdb") << "free again after the release";
}

TEST_F(node_claims_test, wipe_false_releases_without_wiping) {
  add_disk("vdb", gib, 1);
  start();
  ASSERT_TRUE(request<volume_state>(node, claim_req{"local-1", "Device", 0, 0, "", false}));
  EXPECT_FALSE(claims_on_disk().at(0).wipe);
  auto gone = remove("local-1");
  ASSERT_TRUE(gone) << render(gone.error());
  EXPECT_TRUE(lvm->wipes.empty());
  EXPECT_TRUE(claims_on_disk().empty());
}

TEST_F(node_claims_test, a_failed_wipe_keeps_the_claim_and_a_retry_finishes) {
  add_disk("vdb", gib, 1);
  start();
  ASSERT_TRUE(claim("local-1", "Device", 0));
  lvm->fail_wipes = true;
  auto failed = remove("local-1");
  ASSERT_FALSE(failed);
  expect_code(failed.error(), errc::io_error);
  EXPECT_EQ(claims_on_disk().size(), 1u) << "the device is still held";
  auto taken = claim("local-2", "Device", 0);
  ASSERT_FALSE(taken) << "nobody else gets an unwiped device";
  lvm->fail_wipes = false;
  auto retry = remove("local-1");
  ASSERT_TRUE(retry) << render(retry.error());
  EXPECT_TRUE(*retry);
  EXPECT_EQ(lvm->wipes.size(), 2u);
  EXPECT_TRUE(claims_on_disk().empty());
}

TEST_F(node_claims_test, a_mount_point_volume_binds_its_directory_and_is_cleared_on_delete) {
  auto d1 = add_mount_point("d1", gib, 33);
  add_mount_point("d2", 512 * mib, 34, "btrfs");
  auto d3 = add_mount_point("d3", 256 * mib, 35);
  fs->dir_entries[d3] = {"someone's-data"};
  fs->add_device("/dev/sdq", 8 * gib, 8, 36, "ext4");
  ASSERT_TRUE(fs->mount({"/dev/sdq", "/elsewhere/d4", "ext4", {}, false}));
  start();
  auto none = claim("local-m", "MountPoint", 2 * gib);
  ASSERT_FALSE(none);
  expect_code(none.error(), errc::resource_exhausted);
  expect_text(none.error(), "d2 (holds btrfs");
  expect_text(none.error(), "d3 (not empty");
  EXPECT_EQ(render(none.error()).find("d4"), std::string::npos);

  auto st = claim("local-m", "MountPoint", 100 * mib);
  ASSERT_TRUE(st) << render(st.error());
  EXPECT_EQ(st->device, d1);
  EXPECT_EQ(st->kind, "mountpoint");
  EXPECT_EQ(st->size_bytes, gib);
  auto vol = lookup("local-m");
  ASSERT_TRUE(vol);
  auto block = request<volume_state>(*vol, stage_req{"/stage/m", true, "", {}});
  ASSERT_FALSE(block);
  expect_code(block.error(), errc::failed_precondition);
  auto staged = request<volume_state>(*vol, stage_req{"/stage/m", false, "xfs", {}});
  ASSERT_TRUE(staged) << render(staged.error());
  EXPECT_EQ(staged->fstype, "ext4") << "the directory's own filesystem, nothing made";
  EXPECT_EQ(fs->count(fs_command::ensure_fs), 0u);
  auto* bind = fs->mount_at("/stage/m");
  ASSERT_NE(bind, nullptr);
  EXPECT_EQ(bind->minor, 33u);
  ASSERT_TRUE(request<volume_state>(*vol, publish_req{"/pods/p1/m", false, {}}));
  auto stats = request<volume_stats>(*vol, stats_atom::value);
  ASSERT_TRUE(stats) << render(stats.error());
  EXPECT_EQ(stats->usage.stats.total_bytes, gib);
  EXPECT_FALSE(stats->usage.condition.abnormal) << stats->usage.condition.message;
  auto grow = request<volume_state>(*vol, expand_req{2 * gib});
  ASSERT_FALSE(grow);
  expect_code(grow.error(), errc::failed_precondition);

  auto busy = remove("local-m");
  ASSERT_FALSE(busy);
  expect_code(busy.error(), errc::failed_precondition);
  ASSERT_TRUE(request<volume_state>(*vol, unpublish_req{"/pods/p1/m"}));
  ASSERT_TRUE(request<volume_state>(*vol, unstage_req{"/stage/m"}));
  fs->dir_entries[d1] = {"lost+found", "db", "logs"}; // what the pod wrote
  auto gone = remove("local-m");
  ASSERT_TRUE(gone) << render(gone.error());
  EXPECT_TRUE(*gone);
  ASSERT_EQ(fs->cleared.size(), 1u);
  EXPECT_EQ(fs->cleared[0].path, d1);
  EXPECT_EQ(fs->cleared[0].minor, 33u);
  EXPECT_TRUE(fs->dir_entries[d1].empty());
  EXPECT_NE(fs->mount_at(d1), nullptr) << "the operator's mount stays";
  EXPECT_TRUE(claims_on_disk().empty());
  EXPECT_TRUE(lvm->wipes.empty());
}

TEST_F(node_claims_test, a_restarted_node_rebuilds_its_claimed_volumes_and_their_mounts) {
  add_disk("vdb", gib, 1);
  add_disk("vdc", 2 * gib, 2);
  auto d1 = add_mount_point("d1", gib, 33);
  start();
  ASSERT_TRUE(claim("local-d", "Device", 0));
  ASSERT_TRUE(claim("local-b", "Device", 2 * gib));
  ASSERT_TRUE(claim("local-m", "MountPoint", 0));
  auto d = lookup("local-d");
  auto b = lookup("local-b");
  auto m = lookup("local-m");
  ASSERT_TRUE(d && b && m);
  ASSERT_TRUE(request<volume_state>(*d, stage_req{"/stage/d", false, "xfs", {}}));
  ASSERT_TRUE(request<volume_state>(*d, publish_req{"/pods/p/d", false, {}}));
  ASSERT_TRUE(request<volume_state>(*b, stage_req{"/stage/b", true, "", {}}));
  ASSERT_TRUE(request<volume_state>(*b, publish_req{"/pods/p/b", true, {}}));
  ASSERT_TRUE(request<volume_state>(*m, stage_req{"/stage/m", false, "ext4", {}}));
  ASSERT_TRUE(request<volume_state>(*m, publish_req{"/pods/p/m", false, {}}));

  stop();
  start();
  std::vector<std::string> ids;
  for (auto& v : view().volumes)
    ids.push_back(v.id);
  std::sort(ids.begin(), ids.end());
  EXPECT_EQ(ids, (std::vector<std::string>{"local-b", "local-d", "local-m"}));
  auto d2 = lookup("local-d");
  ASSERT_TRUE(d2);
  auto ds = request<volume_state>(*d2, get_atom::value);
  ASSERT_TRUE(ds);
  EXPECT_EQ(ds->phase, "published");
  EXPECT_EQ(ds->staging_path, "/stage/d");
  EXPECT_EQ(ds->fstype, "xfs");
  EXPECT_EQ(ds->device, "/dev/vdb");
  auto bs = request<volume_state>(*lookup("local-b"), get_atom::value);
  ASSERT_TRUE(bs);
  EXPECT_EQ(bs->phase, "published");
  EXPECT_TRUE(bs->block);
  ASSERT_EQ(bs->targets.size(), 1u);
  EXPECT_EQ(bs->targets[0].path, "/pods/p/b");
  auto ms = request<volume_state>(*lookup("local-m"), get_atom::value);
  ASSERT_TRUE(ms);
  EXPECT_EQ(ms->phase, "published");
  EXPECT_EQ(ms->staging_path, "/stage/m") << "the operator's mount of " << d1 << " is not ours";
  ASSERT_EQ(ms->targets.size(), 1u);
  EXPECT_EQ(ms->targets[0].path, "/pods/p/m");
  auto busy = remove("local-m");
  ASSERT_FALSE(busy) << "rebuilt as in use";
  auto again = claim("local-d", "Device", 0);
  ASSERT_TRUE(again) << render(again.error());
  EXPECT_EQ(again->device, "/dev/vdb") << "the claims came back from the file";
  auto taken = claim("local-x", "Device", 0);
  ASSERT_FALSE(taken);
  expect_code(taken.error(), errc::resource_exhausted);
}

TEST_F(node_claims_test, claimed_storage_that_went_away_is_lost_and_released_without_a_wipe) {
  add_disk("vdb", gib, 1);
  add_disk("vdc", 2 * gib, 2);
  auto d1 = add_mount_point("d1", gib, 33);
  start();
  ASSERT_TRUE(claim("local-b", "Device", 0));
  ASSERT_TRUE(claim("local-c", "Device", 2 * gib));
  ASSERT_TRUE(claim("local-m", "MountPoint", 0));
  stop();
  // After a reboot: vdb is gone, another (smaller) disk took the name vdc,
  // and the filesystem is not mounted at d1 any more.
  fs->block_devices.clear();
  add_disk("vdc", gib, 7);
  ASSERT_TRUE(fs->unmount({d1, false}));
  start();
  for (std::string id : {"local-b", "local-c", "local-m"}) {
    auto vol = lookup(id);
    ASSERT_TRUE(vol) << id;
    auto st = request<volume_state>(*vol, get_atom::value);
    ASSERT_TRUE(st);
    EXPECT_EQ(st->phase, "lost") << id;
    auto stage = request<volume_state>(*vol, stage_req{"/stage/" + id, false, "ext4", {}});
    ASSERT_FALSE(stage) << id;
    expect_code(stage.error(), errc::not_found);
  }
  auto stats = request<volume_stats>(*lookup("local-m"), stats_atom::value);
  ASSERT_TRUE(stats);
  EXPECT_TRUE(stats->usage.condition.abnormal);
  EXPECT_NE(stats->usage.condition.message.find("not mounted"), std::string::npos);
  auto taken = claim("local-x", "Device", 0);
  ASSERT_FALSE(taken) << "the new vdc is not the claimed one, but its path is held";
  for (std::string id : {"local-b", "local-c", "local-m"}) {
    auto gone = remove(id);
    ASSERT_TRUE(gone) << id << ": " << render(gone.error());
  }
  EXPECT_TRUE(lvm->wipes.empty()) << "a device that is not the claimed one is never wiped";
  EXPECT_TRUE(fs->cleared.empty());
  EXPECT_TRUE(claims_on_disk().empty());
  auto now = claim("local-x", "Device", 0);
  ASSERT_TRUE(now) << render(now.error());
  EXPECT_EQ(now->device, "/dev/vdc");
}

TEST_F(node_claims_test, a_disk_of_the_same_size_under_the_claimed_name_is_not_the_claimed_one) {
  add_disk("vdb", gib, 1).stable_id = "serial:DISK-A";
  start();
  ASSERT_TRUE(claim("local-1", "Device", 0));
  EXPECT_EQ(claims_on_disk().at(0).stable_id, "serial:DISK-A");
  stop();
  // After a reboot another disk of the same size is called vdb.
  fs->block_devices.back().stable_id = "serial:DISK-B";
  start();
  auto st = request<volume_state>(*lookup("local-1"), get_atom::value);
  ASSERT_TRUE(st);
  EXPECT_EQ(st->phase, "lost");
  auto taken = claim("local-2", "Device", 0);
  ASSERT_FALSE(taken) << "its path stays held while the claim lives";
  auto gone = remove("local-1");
  ASSERT_TRUE(gone) << render(gone.error());
  EXPECT_TRUE(lvm->wipes.empty()) << "another disk is never wiped";
  // The new disk is free: a new claim records who it is.
  auto next = claim("local-3", "Device", 0);
  ASSERT_TRUE(next) << render(next.error());
  EXPECT_EQ(next->phase, "ready");
  EXPECT_EQ(claims_on_disk().at(0).stable_id, "serial:DISK-B");
}

TEST_F(node_claims_test, a_corrupt_claims_file_refuses_claims_and_is_never_overwritten) {
  add_disk("vdb", gib, 1);
  auto text = std::string{"{\"version\":1,\"claims\":[{\"id\":\"local-1\""};
  dir.write("claims.json", text);
  start();
  auto refused = claim("local-2", "Device", 0);
  ASSERT_FALSE(refused);
  expect_code(refused.error(), errc::failed_precondition);
  expect_text(refused.error(), claims_path(state_dir));
  auto del = remove("local-1");
  ASSERT_FALSE(del) << "it may be one of the claims that could not be read";
  expect_code(del.error(), errc::failed_precondition);
  create_volume_req lvm_req{"vg0", {}};
  lvm_req.lv.name = "local-lvm";
  lvm_req.lv.size_bytes = 8 * mib;
  auto made = request<volume_state>(node, lvm_req);
  ASSERT_TRUE(made) << "LVM volumes work on: " << render(made.error());
  std::ifstream in{claims_path(state_dir)};
  EXPECT_EQ(std::string(std::istreambuf_iterator<char>{in}, {}), text);
  EXPECT_EQ(fs->count(fs_command::save_claims), 0u);
  auto report = request<actor_report>(node, inspect_atom::value);
  ASSERT_TRUE(report);
  EXPECT_NE(report->last_error.find("claims.json"), std::string::npos) << report->last_error;
}

TEST_F(node_claims_test, a_failed_write_of_the_claims_file_claims_nothing) {
  add_disk("vdb", gib, 1);
  start();
  fs->fail_next(fs_command::save_claims, errc::io_error, "disk full");
  auto failed = claim("local-1", "Device", 0);
  ASSERT_FALSE(failed);
  expect_code(failed.error(), errc::io_error);
  EXPECT_FALSE(lookup("local-1")) << "no actor for an unrecorded claim";
  EXPECT_TRUE(claims_on_disk().empty());
  auto retry = claim("local-1", "Device", 0);
  ASSERT_TRUE(retry) << render(retry.error());
  EXPECT_EQ(claims_on_disk().size(), 1u);
}

TEST_F(node_claims_test, requests_wait_for_the_claims_file) {
  add_disk("vdb", gib, 1);
  fs->hold(fs_command::load_claims);
  node_setup setup;
  setup.state_dir = state_dir;
  setup.device_include = include;
  setup.fs_runners = 1;
  setup.reconcile_interval = 0ms;
  test::use_fakes(setup, lvm, fs, fakes);
  caf::actor runner;
  setup.make_claim_runner = [&](caf::actor_system& sys) -> claim_runner_actor {
    auto a = test::spawn_fake_claim_runner(sys, fs);
    runner = caf::actor_cast<caf::actor>(a);
    fakes.push_back(runner);
    return a;
  };
  ASSERT_TRUE(save_claims(claims_path(state_dir),
                          {{"local-1", "Device", "/dev/vdb", "vdb", gib, "ssd", "", true, 0}}));
  setup.devices = fs->block_devices;
  node = spawn_node_supervisor(sys, setup);
  run();
  std::optional<std::string> answer;
  auto client = sys.spawn([&](caf::event_based_actor* self) {
    self->request(node, caf::infinite, volume_lookup{"local-1"})
      .then([&](volume_actor&) { answer = "found"; },
            [&](caf::error& err) { answer = render(err); });
  });
  run();
  EXPECT_FALSE(answer) << "a lookup before the claims are read would miss them";
  anon_send(runner, test::release_atom::value);
  run();
  ASSERT_TRUE(answer);
  EXPECT_EQ(*answer, "found");
}

TEST_F(node_claims_test, claim_ids_and_lvm_names_never_collide) {
  add_disk("vdb", gib, 1);
  add_disk("vdc", gib, 2);
  start();
  create_volume_req lvm_req{"vg0", {}};
  lvm_req.lv.name = "local-lvm";
  lvm_req.lv.size_bytes = 8 * mib;
  ASSERT_TRUE(request<volume_state>(node, lvm_req));
  auto on_lvm = claim("local-lvm", "Device", 0);
  ASSERT_FALSE(on_lvm);
  expect_code(on_lvm.error(), errc::already_exists);
  ASSERT_TRUE(claim("local-dev", "Device", 0));
  lvm_req.lv.name = "local-dev";
  auto on_claim = request<volume_state>(node, lvm_req);
  ASSERT_FALSE(on_claim);
  expect_code(on_claim.error(), errc::already_exists);
  EXPECT_FALSE(lvm->lvs.count("local-dev"));
  auto bad = request<volume_state>(node, claim_req{"", "Device", 0, 0, "", true});
  ASSERT_FALSE(bad);
  expect_code(bad.error(), errc::invalid_argument);
  auto bad_kind = request<volume_state>(node, claim_req{"x", "Quota", 0, 0, "", true});
  ASSERT_FALSE(bad_kind);
  expect_code(bad_kind.error(), errc::invalid_argument);
}

TEST_F(node_claims_test, a_bad_device_expression_is_reported_and_claims_nothing) {
  include = {"vd[b-"};
  add_disk("vdb", gib, 1);
  start();
  auto c = claim("local-1", "Device", 0);
  ASSERT_FALSE(c);
  expect_code(c.error(), errc::config_invalid);
  expect_text(c.error(), "vd[b-");
}

TEST_F(node_claims_test, excluded_devices_are_never_claimed) {
  include = {"vd.*"};
  exclude = {"vdb", "/dev/vdc"};
  add_disk("vdb", gib, 1);
  add_disk("vdc", gib, 2);
  add_disk("vdd", 4 * gib, 3);
  start();
  auto c = claim("local-1", "Device", 0);
  ASSERT_TRUE(c) << render(c.error());
  EXPECT_EQ(c->device, "/dev/vdd");
}
