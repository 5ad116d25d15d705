// Device and MountPoint volumes on the real kernel (run inside the VM
// harness, tests/vm/run-in-vm.sh): the node supervisor with its real runners
// claims included loop devices and mounted directories, the volume actors
// format, mount and bind them, and a delete wipes the device (every byte
// reads back as zero) or clears the directory (which stays mounted). The
// claims file brings everything back after a restart.

#include "actors/backends/filesystem.hpp"
#include "actors/backends/signatures.hpp"
#include "actors/core/errc.hpp"
#include "actors/core/runtime.hpp"
#include "actors/node/block_devices.hpp"
#include "actors/node/device_volumes.hpp"
#include "actors/node/node_supervisor.hpp"

#include "tests/vm/node/vm_support.hpp"
#include <caf/all.hpp>

#include <gtest/gtest.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <fcntl.h>
#include <filesystem>
#include <fstream>
#include <memory>
#include <sys/mount.h>
#include <unistd.h>

using namespace olocal;
using namespace std::chrono_literals;
using test::ask;
using test::first_nonzero;
using test::loop_device;
using test::read_file;
using test::run_ok;
using test::unmount_all;
using test::write_file;
using test::write_pattern;
namespace fs = std::filesystem;

namespace {

constexpr uint64_t mib = 1ull << 20;

/// Discovery as the service runs it: sysfs, the mount table, signatures.
std::vector<block_device> discover() {
  auto devices = discover_block_devices("/sys");
  annotate_usage(devices);
  return devices;
}

block_device facts_of(const std::string& name) {
  for (auto& d : discover())
    if (d.name == name)
      return d;
  ADD_FAILURE() << name << " not found under /sys/block";
  return {};
}

size_t entries_of(const std::string& dir) {
  size_t n = 0;
  for ([[maybe_unused]] auto& e : fs::directory_iterator{dir})
    ++n;
  return n;
}

/// A scratch area under /run (the guest's tmpfs): images, the state
/// directory, the mount-point root, staging and target paths. Removed at
/// the end (after unmount_all).
struct scratch {
  std::string dir;

  scratch() {
    std::string tmpl = "/run/olocal-claim-XXXXXX";
    if (::mkdtemp(tmpl.data()) == nullptr)
      ADD_FAILURE() << "mkdtemp: " << std::strerror(errno);
    dir = tmpl;
  }

  ~scratch() {
    std::error_code ignored;
    fs::remove_all(dir, ignored);
  }

  std::string path(const std::string& rel) const { return dir + "/" + rel; }
};

/// A node supervisor with the real runners, claims only (no volume group).
struct node_session : test::node_harness {
  node_session(std::string state_dir, std::vector<std::string> include, std::string mount_path) {
    setup.devices = discover();
    setup.reconcile_interval = 0ms;
    setup.device_include = std::move(include);
    setup.mount_path = std::move(mount_path);
    setup.state_dir = std::move(state_dir);
    start();
  }

  caf::expected<volume_state> claim(std::string id, std::string kind, uint64_t min = 0) {
    return ask<volume_state>(rt, node, claim_req{std::move(id), std::move(kind), min, 0, "", true});
  }

  caf::expected<bool> remove(const std::string& id) {
    return ask<bool>(rt, node, delete_volume_req{id, true});
  }
};

struct claim_vm : ::testing::Test {
  void SetUp() override {
    if (!test::in_vm())
      GTEST_SKIP() << "needs the VM's kernel: run through tests/vm/run-in-vm.sh";
  }
};

} // namespace

TEST_F(claim_vm, a_device_volume_is_formatted_published_and_wiped_to_zeroes_on_delete) {
  scratch s;
  loop_device free_disk{s.dir, "free.img", 64 * mib};
  loop_device used_disk{s.dir, "used.img", 32 * mib}; // smaller: the better fit, if it were free
  unmount_all guard{s.dir};
  ASSERT_FALSE(free_disk.path.empty());
  ASSERT_FALSE(used_disk.path.empty());
  write_pattern(free_disk.path, free_disk.bytes);
  run_ok({"mkfs.ext4", "-q", "-F", used_disk.path});
  ASSERT_EQ(facts_of(free_disk.name).in_use_reason(), "");
  ASSERT_EQ(facts_of(used_disk.name).in_use_reason(), "holds ext4");

  node_session n{s.path("state"), {free_disk.name, used_disk.name}, ""};
  auto st = n.claim("local-dev", "Device");
  ASSERT_TRUE(st) << render(st.error());
  EXPECT_EQ(st->device, free_disk.path) << "a device holding a filesystem is never chosen";
  EXPECT_EQ(st->size_bytes, free_disk.bytes);
  EXPECT_EQ(st->kind, "device");
  auto none = n.claim("local-other", "Device");
  ASSERT_FALSE(none);
  EXPECT_EQ(code_of(none.error()), errc::resource_exhausted);
  EXPECT_NE(render(none.error()).find(used_disk.name + " (holds ext4)"), std::string::npos)
    << render(none.error());
  auto claims = load_claims(claims_path(s.path("state")));
  ASSERT_TRUE(claims) << render(claims.error());
  ASSERT_EQ(claims->size(), 1u);
  EXPECT_EQ((*claims)[0].path, free_disk.path);

  auto vol = n.volume("local-dev");
  auto staging = s.path("staging/dev");
  auto target = s.path("pods/p1/dev");
  fs::create_directories(staging);
  auto staged = ask<volume_state>(n.rt, vol, stage_req{staging, false, "ext4", {}});
  ASSERT_TRUE(staged) << render(staged.error());
  auto sigs = probe_signatures(free_disk.path);
  ASSERT_TRUE(sigs);
  EXPECT_EQ(*sigs, std::vector<std::string>{"ext4"}) << "formatted: it was empty";
  auto published = ask<volume_state>(n.rt, vol, publish_req{target, false, {}});
  ASSERT_TRUE(published) << render(published.error());
  EXPECT_EQ(published->phase, "published");
  write_file(target + "/data", "the tenant's secret");
  ::sync();
  EXPECT_EQ(read_file(staging + "/data"), "the tenant's secret");
  auto grow = ask<volume_state>(n.rt, vol, expand_req{2 * free_disk.bytes});
  ASSERT_FALSE(grow);
  EXPECT_EQ(code_of(grow.error()), errc::failed_precondition);
  auto busy = n.remove("local-dev");
  ASSERT_FALSE(busy);
  EXPECT_EQ(code_of(busy.error()), errc::failed_precondition);

  ASSERT_TRUE(ask<volume_state>(n.rt, vol, unpublish_req{target}));
  ASSERT_TRUE(ask<volume_state>(n.rt, vol, unstage_req{staging}));
  auto gone = n.remove("local-dev");
  ASSERT_TRUE(gone) << render(gone.error());
  EXPECT_TRUE(*gone);
  EXPECT_EQ(first_nonzero(free_disk.path, free_disk.bytes), -1)
    << "a byte survived the wipe (-2: unreadable)";
  EXPECT_EQ(facts_of(free_disk.name).in_use_reason(), "") << "free again";
  auto left = load_claims(claims_path(s.path("state")));
  ASSERT_TRUE(left);
  EXPECT_TRUE(left->empty());
  auto used = probe_signatures(used_disk.path);
  ASSERT_TRUE(used);
  EXPECT_EQ(*used, std::vector<std::string>{"ext4"}) << "the other device was never touched";
  auto again = n.claim("local-next", "Device");
  ASSERT_TRUE(again) << render(again.error());
  EXPECT_EQ(again->device, free_disk.path);
}

TEST_F(claim_vm, a_mount_point_volume_is_bound_and_its_directory_cleared_but_kept_mounted) {
  scratch s;
  loop_device disk{s.dir, "mp.img", 64 * mib};
  unmount_all guard{s.dir};
  ASSERT_FALSE(disk.path.empty());
  run_ok({"mkfs.ext4", "-q", "-F", disk.path});
  auto root = s.path("mnt");
  auto dir = root + "/d1";
  fs::create_directories(dir);
  ASSERT_TRUE(fs_ops::mount(disk.path, dir, "ext4")) << "the operator's mount";
  auto outside = s.path("outside");
  fs::create_directories(outside);
  write_file(outside + "/keep", "not the volume's");

  node_session n{s.path("state"), {}, root};
  auto st = n.claim("local-mp", "MountPoint", 16 * mib);
  ASSERT_TRUE(st) << render(st.error());
  EXPECT_EQ(st->device, dir);
  EXPECT_EQ(st->kind, "mountpoint");
  EXPECT_GT(st->size_bytes, 32 * mib);
  auto vol = n.volume("local-mp");
  auto staging = s.path("staging/mp");
  auto target = s.path("pods/p1/mp");
  fs::create_directories(staging);
  auto staged = ask<volume_state>(n.rt, vol, stage_req{staging, false, "ext4", {}});
  ASSERT_TRUE(staged) << render(staged.error());
  EXPECT_EQ(staged->fstype, "ext4");
  ASSERT_TRUE(fs_ops::is_mountpoint(staging));
  auto published = ask<volume_state>(n.rt, vol, publish_req{target, false, {}});
  ASSERT_TRUE(published) << render(published.error());
  // What a pod leaves behind: files, nested directories, a symlink out.
  write_file(target + "/data", "written by the pod");
  fs::create_directories(target + "/a/b/c");
  write_file(target + "/a/b/c/deep", "deep");
  fs::create_directory_symlink(outside, target + "/a/link-out");
  EXPECT_EQ(read_file(dir + "/data"), "written by the pod") << "the bind reaches the directory";
  auto stats = ask<volume_stats>(n.rt, vol, stats_atom::value);
  ASSERT_TRUE(stats) << render(stats.error());
  EXPECT_FALSE(stats->usage.condition.abnormal) << stats->usage.condition.message;
  EXPECT_GT(stats->usage.stats.total_bytes, 32 * mib);

  ASSERT_TRUE(ask<volume_state>(n.rt, vol, unpublish_req{target}));
  ASSERT_TRUE(ask<volume_state>(n.rt, vol, unstage_req{staging}));
  // Another filesystem mounted inside is never entered: the delete stops.
  auto inner = dir + "/a/inner";
  fs::create_directories(inner);
  ASSERT_EQ(::mount("tmpfs", inner.c_str(), "tmpfs", 0, nullptr), 0) << std::strerror(errno);
  write_file(inner + "/other-fs", "x");
  auto blocked = n.remove("local-mp");
  ASSERT_FALSE(blocked);
  EXPECT_EQ(code_of(blocked.error()), errc::device_busy) << render(blocked.error());
  EXPECT_TRUE(fs::exists(inner + "/other-fs"));
  ASSERT_EQ(::umount(inner.c_str()), 0);

  auto gone = n.remove("local-mp");
  ASSERT_TRUE(gone) << render(gone.error());
  EXPECT_TRUE(*gone);
  EXPECT_TRUE(fs::is_directory(dir)) << "the directory itself stays";
  EXPECT_TRUE(fs_ops::is_mountpoint(dir)) << "and stays mounted";
  EXPECT_EQ(entries_of(dir), 0u) << "every entry is gone";
  EXPECT_EQ(read_file(outside + "/keep"), "not the volume's") << "symlinks are not followed";
  auto left = load_claims(claims_path(s.path("state")));
  ASSERT_TRUE(left);
  EXPECT_TRUE(left->empty());
  auto again = n.claim("local-mp2", "MountPoint");
  ASSERT_TRUE(again) << render(again.error());
  EXPECT_EQ(again->device, dir) << "an emptied mount point is offered again";
}

TEST_F(claim_vm, a_restarted_node_rebuilds_its_claims_from_the_file) {
  scratch s;
  loop_device dev_disk{s.dir, "dev.img", 48 * mib};
  loop_device mp_disk{s.dir, "mp.img", 320 * mib}; // mkfs.xfs wants 300 MiB at least
  unmount_all guard{s.dir};
  ASSERT_FALSE(dev_disk.path.empty());
  ASSERT_FALSE(mp_disk.path.empty());
  run_ok({"mkfs.xfs", "-q", "-f", mp_disk.path});
  auto root = s.path("mnt");
  auto dir = root + "/x1";
  fs::create_directories(dir);
  ASSERT_TRUE(fs_ops::mount(mp_disk.path, dir, "xfs"));

  node_session n{s.path("state"), {dev_disk.name}, root};
  ASSERT_TRUE(n.claim("local-dev", "Device"));
  ASSERT_TRUE(n.claim("local-mp", "MountPoint"));
  auto dev = n.volume("local-dev");
  auto mp = n.volume("local-mp");
  auto stage_dev = s.path("staging/dev");
  auto stage_mp = s.path("staging/mp");
  auto target_dev = s.path("pods/p1/dev");
  auto target_mp = s.path("pods/p1/mp");
  fs::create_directories(stage_dev);
  fs::create_directories(stage_mp);
  ASSERT_TRUE(ask<volume_state>(n.rt, dev, stage_req{stage_dev, false, "ext4", {}}));
  ASSERT_TRUE(ask<volume_state>(n.rt, dev, publish_req{target_dev, false, {}}));
  ASSERT_TRUE(ask<volume_state>(n.rt, mp, stage_req{stage_mp, false, "ext4", {}}));
  ASSERT_TRUE(ask<volume_state>(n.rt, mp, publish_req{target_mp, true, {}}));
  write_file(target_dev + "/data", "survives the restart");

  n.stop();
  auto text = read_file(claims_path(s.path("state")));
  EXPECT_NE(text.find("\"local-dev\""), std::string::npos) << text;
  EXPECT_NE(text.find("\"local-mp\""), std::string::npos) << text;
  EXPECT_NE(text.find("\"stableId\":\"loop:" + dev_disk.image + "\""), std::string::npos)
    << "a loop device is known by its backing file: " << text;
  n.start();

  auto dev2 = n.volume("local-dev");
  auto ds = ask<volume_state>(n.rt, dev2, get_atom::value);
  ASSERT_TRUE(ds) << render(ds.error());
  EXPECT_EQ(ds->phase, "published");
  EXPECT_EQ(ds->device, dev_disk.path);
  EXPECT_EQ(ds->staging_path, stage_dev);
  EXPECT_EQ(ds->fstype, "ext4");
  ASSERT_EQ(ds->targets.size(), 1u);
  EXPECT_EQ(ds->targets[0].path, target_dev);
  auto mp2 = n.volume("local-mp");
  auto ms = ask<volume_state>(n.rt, mp2, get_atom::value);
  ASSERT_TRUE(ms) << render(ms.error());
  EXPECT_EQ(ms->phase, "published");
  EXPECT_EQ(ms->device, dir);
  EXPECT_EQ(ms->staging_path, stage_mp) << "the operator's mount is not the staging one";
  EXPECT_EQ(ms->fstype, "xfs");
  EXPECT_EQ(read_file(stage_dev + "/data"), "survives the restart");
  ASSERT_EQ(ms->targets.size(), 1u);
  EXPECT_EQ(ms->targets[0].path, target_mp);
  EXPECT_TRUE(ms->targets[0].read_only);
  auto taken = n.claim("local-x", "Device");
  ASSERT_FALSE(taken) << "the claimed device stays claimed";

  for (auto [vol, stage, target] :
       {std::tuple{dev2, stage_dev, target_dev}, std::tuple{mp2, stage_mp, target_mp}}) {
    ASSERT_TRUE(ask<volume_state>(n.rt, vol, unpublish_req{target}));
    ASSERT_TRUE(ask<volume_state>(n.rt, vol, unstage_req{stage}));
  }
  auto d = n.remove("local-dev");
  ASSERT_TRUE(d) << render(d.error());
  auto m = n.remove("local-mp");
  ASSERT_TRUE(m) << render(m.error());
  EXPECT_EQ(first_nonzero(dev_disk.path, dev_disk.bytes), -1);
  EXPECT_EQ(entries_of(dir), 0u);
  EXPECT_TRUE(fs_ops::is_mountpoint(dir));
  auto left = load_claims(claims_path(s.path("state")));
  ASSERT_TRUE(left);
  EXPECT_TRUE(left->empty());
}
