// Volume actors and the node supervisor on real LVM, real filesystems and
// real mounts: run inside the VM harness (tests/vm/run-in-vm.sh). Every
// assertion is on kernel state (the mount table, statvfs, device contents).

#include "actors/backends/filesystem.hpp"
#include "actors/core/errc.hpp"
#include "actors/core/runtime.hpp"
#include "actors/node/node_supervisor.hpp"

#include "tests/vm/node/vm_support.hpp"
#include <caf/all.hpp>

#include <gtest/gtest.h>

#include <fcntl.h>
#include <filesystem>
#include <fstream>
#include <map>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <unistd.h>

using namespace olocal;
using namespace std::chrono_literals;
using test::ask;
using test::loop_vg;
using test::read_file;
using test::run_ok;
using test::write_file;
namespace fs = std::filesystem;

namespace {

constexpr uint64_t mib = 1ull << 20;

/// A node supervisor managing one loop-backed VG. Members go in reverse:
/// the actors stop, then everything below root is unmounted, then the VG.
struct node_session {
  loop_vg disk;
  std::string root; ///< where stage and publish paths live
  test::unmount_all guard;
  test::node_harness harness;
  runtime& rt = harness.rt;
  node_supervisor_actor& node = harness.node;

  node_session(std::string vg, uint64_t bytes)
    : disk(std::move(vg), bytes), root("/run/" + disk.vg + "-mnt"), guard{root} {
    fs::create_directories(root);
    harness.setup.volume_groups = {disk.vg};
    harness.setup.vg.rescan_interval = 0ms;
    harness.setup.reconcile_interval = 0ms;
    start();
  }

  void start() { harness.start(); }
  void stop() { harness.stop(); }
  volume_actor volume(const std::string& id) { return harness.volume(id); }
};

struct volume_vm : ::testing::Test {
  void SetUp() override {
    if (!test::in_vm())
      GTEST_SKIP() << "needs device-mapper: run through tests/vm/run-in-vm.sh";
  }
};

uint64_t statvfs_total(const std::string& path) {
  struct statvfs s {};
  EXPECT_EQ(::statvfs(path.c_str(), &s), 0) << path;
  return static_cast<uint64_t>(s.f_blocks) * s.f_frsize;
}

create_volume_req volume_req(const std::string& vg, std::string name, uint64_t bytes) {
  create_volume_req req{vg, {}};
  req.lv.name = std::move(name);
  req.lv.size_bytes = bytes;
  return req;
}

} // namespace

TEST_F(volume_vm, filesystem_volume_stage_publish_expand_and_delete) {
  for (std::string fstype : {"ext4", "xfs"}) {
    SCOPED_TRACE(fstype);
    node_session s{"olocal_vol_" + fstype, 512 * mib};
    auto created = ask<volume_state>(s.rt, s.node, volume_req(s.disk.vg, "local-v", 320 * mib));
    ASSERT_TRUE(created) << render(created.error());
    EXPECT_EQ(created->phase, "ready");
    auto vol = s.volume("local-v");
    auto staging = s.root + "/staging";
    auto target = s.root + "/pods/p1/mount";
    fs::create_directories(staging);

    // Stage: formatted (the kernel sees the filesystem) and mounted.
    auto st = ask<volume_state>(s.rt, vol, stage_req{staging, false, fstype, {"noatime"}});
    ASSERT_TRUE(st) << render(st.error());
    auto m = fs_ops::find_mount(staging);
    ASSERT_TRUE(m && *m) << "mounted at the staging path";
    EXPECT_EQ((*m)->fstype, fstype);
    EXPECT_NE((*m)->options.find("noatime"), std::string::npos) << (*m)->options;
    EXPECT_EQ(fs_ops::detect_filesystem(created->device).value(), fstype);

    // Publish: a bind of the staging mount; data written through the target
    // is in the volume.
    st = ask<volume_state>(s.rt, vol, publish_req{target, false, {}});
    ASSERT_TRUE(st) << render(st.error());
    EXPECT_EQ(st->phase, "published");
    write_file(target + "/data", "hello " + fstype);
    EXPECT_EQ(read_file(staging + "/data"), "hello " + fstype);
    // A read-only publish refuses writes (the kernel says EROFS).
    auto ro_target = s.root + "/pods/p2/mount";
    ASSERT_TRUE(ask<volume_state>(s.rt, vol, publish_req{ro_target, true, {}}));
    EXPECT_EQ(::open((ro_target + "/other").c_str(), O_CREAT | O_WRONLY, 0644), -1);
    EXPECT_EQ(errno, EROFS);
    EXPECT_EQ(read_file(ro_target + "/data"), "hello " + fstype);

    // Stats from statvfs; condition normal.
    auto stats = ask<volume_stats>(s.rt, vol, stats_atom::value);
    ASSERT_TRUE(stats) << render(stats.error());
    EXPECT_EQ(stats->usage.stats.total_bytes, statvfs_total(staging));
    EXPECT_GT(stats->usage.stats.total_inodes, 0u);
    EXPECT_FALSE(stats->usage.condition.abnormal) << stats->usage.condition.message;

    // Online expansion: the LV and the mounted filesystem grow, data stays.
    auto before = statvfs_total(staging);
    st = ask<volume_state>(s.rt, vol, expand_req{448 * mib});
    ASSERT_TRUE(st) << render(st.error());
    EXPECT_EQ(st->size_bytes, 448 * mib);
    auto after = statvfs_total(staging);
    EXPECT_GT(after, before + 100 * mib) << before << " -> " << after;
    EXPECT_EQ(read_file(target + "/data"), "hello " + fstype);

    // Teardown in CSI order; delete is refused while mounted.
    auto busy = ask<bool>(s.rt, s.node, delete_volume_req{"local-v", true});
    ASSERT_FALSE(busy);
    EXPECT_EQ(code_of(busy.error()), errc::failed_precondition);
    ASSERT_TRUE(ask<volume_state>(s.rt, vol, unpublish_req{ro_target}));
    ASSERT_TRUE(ask<volume_state>(s.rt, vol, unpublish_req{target}));
    EXPECT_FALSE(fs::exists(target)) << "the target the driver created is removed";
    ASSERT_TRUE(ask<volume_state>(s.rt, vol, unstage_req{staging}));
    EXPECT_FALSE(fs_ops::is_mountpoint(staging));
    EXPECT_TRUE(fs::exists(staging)) << "the staging directory is the caller's";
    auto gone = ask<bool>(s.rt, s.node, delete_volume_req{"local-v", true});
    ASSERT_TRUE(gone) << render(gone.error());
    EXPECT_TRUE(*gone);
    EXPECT_FALSE(fs::exists(created->device));
  }
}

TEST_F(volume_vm, restaging_never_reformats_and_keeps_the_data) {
  node_session s{"olocal_vol_keep", 256 * mib};
  ASSERT_TRUE(ask<volume_state>(s.rt, s.node, volume_req(s.disk.vg, "local-k", 64 * mib)));
  auto vol = s.volume("local-k");
  auto staging = s.root + "/staging";
  fs::create_directories(staging);
  ASSERT_TRUE(ask<volume_state>(s.rt, vol, stage_req{staging, false, "ext4", {}}));
  write_file(staging + "/keep", "precious");
  ASSERT_TRUE(ask<volume_state>(s.rt, vol, unstage_req{staging}));
  // Asking for another filesystem is refused; the data is untouched.
  auto other = ask<volume_state>(s.rt, vol, stage_req{staging, false, "xfs", {}});
  ASSERT_FALSE(other);
  EXPECT_EQ(code_of(other.error()), errc::failed_precondition) << render(other.error());
  EXPECT_FALSE(fs_ops::is_mountpoint(staging));
  ASSERT_TRUE(ask<volume_state>(s.rt, vol, stage_req{staging, false, "ext4", {}}));
  EXPECT_EQ(read_file(staging + "/keep"), "precious");
}

TEST_F(volume_vm, raw_block_volume_is_published_as_its_device_node) {
  node_session s{"olocal_vol_blk", 256 * mib};
  auto created = ask<volume_state>(s.rt, s.node, volume_req(s.disk.vg, "local-b", 32 * mib));
  ASSERT_TRUE(created) << render(created.error());
  auto vol = s.volume("local-b");
  auto target = s.root + "/pods/p1/volumeDevices/local-b";
  ASSERT_TRUE(ask<volume_state>(s.rt, vol, stage_req{s.root + "/staging", true, "", {}}));
  auto st = ask<volume_state>(s.rt, vol, publish_req{target, false, {}});
  ASSERT_TRUE(st) << render(st.error());
  struct stat t {};
  struct stat d {};
  ASSERT_EQ(::stat(target.c_str(), &t), 0);
  ASSERT_EQ(::stat(created->device.c_str(), &d), 0);
  EXPECT_TRUE(S_ISBLK(t.st_mode));
  EXPECT_EQ(t.st_rdev, d.st_rdev) << "the target is the volume's device node";
  // Bytes written through the target are on the LV.
  {
    int fd = ::open(target.c_str(), O_WRONLY);
    ASSERT_GE(fd, 0);
    std::string block(4096, 'B');
    EXPECT_EQ(::pwrite(fd, block.data(), block.size(), 1 * mib), 4096);
    ::fsync(fd);
    ::close(fd);
  }
  {
    int fd = ::open(created->device.c_str(), O_RDONLY);
    ASSERT_GE(fd, 0);
    std::string back(4096, '\0');
    EXPECT_EQ(::pread(fd, back.data(), back.size(), 1 * mib), 4096);
    ::close(fd);
    EXPECT_EQ(back, std::string(4096, 'B'));
  }
  auto stats = ask<volume_stats>(s.rt, vol, stats_atom::value);
  ASSERT_TRUE(stats) << render(stats.error());
  EXPECT_EQ(stats->usage.stats.total_bytes, 32 * mib);
  // Expansion of a block volume: the device grows, nothing to resize.
  st = ask<volume_state>(s.rt, vol, expand_req{64 * mib});
  ASSERT_TRUE(st) << render(st.error());
  EXPECT_EQ(fs_ops::block_device_size(target).value(), 64 * mib);
  ASSERT_TRUE(ask<volume_state>(s.rt, vol, unpublish_req{target}));
  EXPECT_FALSE(fs::exists(target));
}

TEST_F(volume_vm, condition_turns_abnormal_when_the_mount_goes_or_turns_read_only) {
  node_session s{"olocal_vol_cond", 256 * mib};
  ASSERT_TRUE(ask<volume_state>(s.rt, s.node, volume_req(s.disk.vg, "local-c", 64 * mib)));
  auto vol = s.volume("local-c");
  auto staging = s.root + "/staging";
  fs::create_directories(staging);
  ASSERT_TRUE(ask<volume_state>(s.rt, vol, stage_req{staging, false, "ext4", {}}));
  // Read-only remount behind our back (as errors=remount-ro does).
  run_ok({"mount", "-o", "remount,ro", staging});
  auto stats = ask<volume_stats>(s.rt, vol, stats_atom::value);
  ASSERT_TRUE(stats) << render(stats.error());
  EXPECT_TRUE(stats->usage.condition.abnormal);
  EXPECT_FALSE(stats->usage.condition.message.empty());
  // Unmounted behind our back.
  auto unmounted = fs_ops::unmount(staging);
  ASSERT_TRUE(unmounted && *unmounted);
  stats = ask<volume_stats>(s.rt, vol, stats_atom::value);
  ASSERT_TRUE(stats) << render(stats.error());
  EXPECT_TRUE(stats->usage.condition.abnormal);
  // The LV removed behind our back: the next rescan reports it lost.
  run_ok({"lvremove", "-y", s.disk.vg + "/local-c"});
  ASSERT_TRUE(ask<uint64_t>(s.rt, s.node, rescan_atom::value));
  stats = ask<volume_stats>(s.rt, vol, stats_atom::value);
  ASSERT_TRUE(stats) << render(stats.error());
  EXPECT_EQ(stats->state.phase, "lost");
  EXPECT_TRUE(stats->usage.condition.abnormal);
  EXPECT_NE(stats->usage.condition.message.find("missing"), std::string::npos)
    << stats->usage.condition.message;
}

TEST_F(volume_vm, a_restarted_node_rebuilds_every_volume_from_lvm_and_the_mounts) {
  node_session s{"olocal_vol_rst", 512 * mib};
  ASSERT_TRUE(ask<volume_state>(s.rt, s.node,
                                volume_req(s.disk.vg, "local-1", 320 * mib))); // xfs needs 300 MB
  ASSERT_TRUE(ask<volume_state>(s.rt, s.node, volume_req(s.disk.vg, "local-2", 64 * mib)));
  ASSERT_TRUE(ask<volume_state>(s.rt, s.node, volume_req(s.disk.vg, "local-3", 32 * mib)));
  auto staging = s.root + "/staging1";
  auto target = s.root + "/pods/p1/mount";
  auto block_target = s.root + "/pods/p3/dev";
  fs::create_directories(staging);
  auto v1 = s.volume("local-1");
  ASSERT_TRUE(ask<volume_state>(s.rt, v1, stage_req{staging, false, "xfs", {}}));
  ASSERT_TRUE(ask<volume_state>(s.rt, v1, publish_req{target, true, {}}));
  auto v3 = s.volume("local-3");
  ASSERT_TRUE(ask<volume_state>(s.rt, v3, stage_req{s.root + "/staging3", true, "", {}}));
  ASSERT_TRUE(ask<volume_state>(s.rt, v3, publish_req{block_target, false, {}}));

  s.stop(); // the node process goes; LVs and mounts stay
  s.start();

  auto view = ask<node_view>(s.rt, s.node, get_atom::value);
  ASSERT_TRUE(view) << render(view.error());
  ASSERT_EQ(view->volumes.size(), 3u);
  std::map<std::string, volume_state> by_id;
  for (auto& v : view->volumes)
    by_id[v.id] = v;
  EXPECT_EQ(by_id["local-1"].phase, "published");
  EXPECT_EQ(by_id["local-1"].staging_path, staging);
  EXPECT_EQ(by_id["local-1"].fstype, "xfs");
  ASSERT_EQ(by_id["local-1"].targets.size(), 1u);
  EXPECT_EQ(by_id["local-1"].targets[0].path, target);
  EXPECT_TRUE(by_id["local-1"].targets[0].read_only);
  EXPECT_EQ(by_id["local-2"].phase, "ready");
  EXPECT_EQ(by_id["local-3"].phase, "published");
  EXPECT_TRUE(by_id["local-3"].block);
  ASSERT_EQ(by_id["local-3"].targets.size(), 1u);
  EXPECT_EQ(by_id["local-3"].targets[0].path, block_target);

  // The rebuilt actors finish the CSI teardown.
  v1 = s.volume("local-1");
  ASSERT_TRUE(ask<volume_state>(s.rt, v1, unpublish_req{target}));
  ASSERT_TRUE(ask<volume_state>(s.rt, v1, unstage_req{staging}));
  EXPECT_FALSE(fs_ops::is_mountpoint(staging));
  v3 = s.volume("local-3");
  ASSERT_TRUE(ask<volume_state>(s.rt, v3, unpublish_req{block_target}));
  EXPECT_FALSE(fs::exists(block_target));
  for (auto id : {"local-1", "local-2", "local-3"}) {
    auto gone = ask<bool>(s.rt, s.node, delete_volume_req{id, true});
    ASSERT_TRUE(gone) << id << ": " << render(gone.error());
  }
}
