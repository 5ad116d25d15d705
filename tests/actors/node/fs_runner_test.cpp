#include "actors/node/fs_runner.hpp"

#include "actors/backends/filesystem.hpp"
#include "actors/core/errc.hpp"
#include "actors/core/runtime.hpp"
#include "tests/support/actor_fixture.hpp"
#include "tests/support/fake_fs.hpp"
#include "tests/support/temp_dir.hpp"

#include <caf/all.hpp>

#include <gtest/gtest.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <string>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <vector>

using namespace olocal;
using namespace std::chrono_literals;

namespace {

constexpr uint64_t mib = 1ull << 20;

#define ASSERT_OK(x) ASSERT_TRUE(x) << render((x).error())

bool contains(const std::string& text, const std::string& part) {
  return text.find(part) != std::string::npos;
}

std::vector<uint32_t> ids(const std::vector<fs_ops::mount_entry>& entries) {
  std::vector<uint32_t> out;
  for (auto& e : entries)
    out.push_back(e.mount_id);
  return out;
}

std::vector<std::string> points(const std::vector<fs_ops::mount_entry>& entries) {
  std::vector<std::string> out;
  for (auto& e : entries)
    out.push_back(e.mount_point);
  return out;
}

} // namespace

// -- the pure selection ----------------------------------------------------------

namespace {

// Device 253:3 is dm-3: staged at .../globalmount (id 120), bound into a pod
// (id 118: an id freed earlier and reused, listed later), and its node bound
// for a raw block pod (id 131). Look-alikes must not match: dm-30's node, the
// devtmpfs at /dev itself, another device, a tmpfs with minor 3.
const std::string mountinfo_text =
  "22 1 254:0 / / rw,relatime shared:1 - ext4 /dev/vda rw\n"
  "25 22 0:5 / /dev rw,nosuid shared:2 - devtmpfs udev rw,size=4000k\n"
  "120 22 253:3 / /var/lib/kubelet/plugins/csi/pv/pv1/globalmount rw,relatime shared:50 - "
  "ext4 /dev/mapper/vg0-local--1 rw\n"
  "121 22 253:4 / /var/lib/kubelet/plugins/csi/pv/pv2/globalmount rw,relatime - xfs "
  "/dev/mapper/vg0-local--2 rw\n"
  "118 22 253:3 / /var/lib/kubelet/pods/p1/volumes/csi/pv1/mount ro,relatime shared:50 - "
  "ext4 /dev/mapper/vg0-local--1 rw\n"
  "130 22 0:5 /dm-30 /var/lib/kubelet/pods/p2/volumeDevices/csi/pv30 rw,nosuid - devtmpfs udev "
  "rw\n"
  "131 22 0:5 /dm-3 /var/lib/kubelet/pods/p3/volumeDevices/csi/pv1 rw,nosuid - devtmpfs udev "
  "rw\n"
  "132 22 0:3 / /run/secrets rw - tmpfs tmpfs rw\n";

} // namespace

TEST(fs_runner_mounts_of, selects_filesystem_mounts_and_node_binds_in_mount_order) {
  auto all = fs_ops::parse_mountinfo(mountinfo_text);
  ASSERT_OK(all);
  auto found = mounts_of(*all, 253, 3, "dm-3");
  EXPECT_EQ(ids(found), (std::vector<uint32_t>{120, 118, 131}))
    << "the staging mount first although the pod's bind got a lower, reused id";
  ASSERT_EQ(found.size(), 3u);
  EXPECT_EQ(found[0].mount_point, "/var/lib/kubelet/plugins/csi/pv/pv1/globalmount");
  EXPECT_TRUE(found[1].read_only);
  EXPECT_EQ(found[1].fstype, "ext4");
  EXPECT_EQ(found[2].fstype, "devtmpfs");
  EXPECT_EQ(found[2].root, "/dm-3");
}

TEST(fs_runner_mounts_of, without_a_kernel_name_only_filesystem_mounts) {
  auto all = fs_ops::parse_mountinfo(mountinfo_text);
  ASSERT_OK(all);
  EXPECT_EQ(ids(mounts_of(*all, 253, 3, "")), (std::vector<uint32_t>{120, 118}));
  EXPECT_EQ(ids(mounts_of(*all, 253, 4, "dm-4")), (std::vector<uint32_t>{121}));
  EXPECT_TRUE(mounts_of(*all, 253, 9, "dm-9").empty());
  // The devtmpfs itself is 0:5, but a query for a block device never is.
  EXPECT_EQ(ids(mounts_of(*all, 253, 30, "dm-30")), (std::vector<uint32_t>{130}));
}

TEST(fs_runner_mounts_of, node_binds_under_another_name_are_found_by_the_caller_check) {
  // Without udev the bind's root is the /dev/mapper node, not /dm-3.
  auto all =
    fs_ops::parse_mountinfo("25 22 0:5 / /dev rw - devtmpfs udev rw\n"
                            "140 22 0:5 /mapper/vg0-local--1 /pods/p5/dev rw - devtmpfs udev rw\n"
                            "141 22 0:5 /mapper/vg0-local--2 /pods/p6/dev rw - devtmpfs udev rw\n");
  ASSERT_OK(all);
  auto is_ours = [](const fs_ops::mount_entry& e) { return e.mount_point == "/pods/p5/dev"; };
  EXPECT_EQ(ids(mounts_of(*all, 253, 3, "dm-3", is_ours)), (std::vector<uint32_t>{140}));
  EXPECT_TRUE(mounts_of(*all, 253, 3, "dm-3").empty());
  auto everything = [](const fs_ops::mount_entry&) { return true; };
  EXPECT_EQ(ids(mounts_of(*all, 253, 3, "", everything)), (std::vector<uint32_t>{140, 141}))
    << "never /dev itself";
}

TEST(fs_runner_kernel_name, reads_devname_then_the_symlink) {
  test::temp_dir sys{"olocal-sysfs"};
  auto block = sys.path() / "dev" / "block";
  std::filesystem::create_directories(block);
  // 253:3 has a uevent (as in sysfs, a directory reached through the link).
  sys.write("devices/virtual/block/dm-3/uevent",
            "MAJOR=253\nMINOR=3\nDEVNAME=dm-3\nDEVTYPE=disk\n");
  std::filesystem::create_directory_symlink("../../devices/virtual/block/dm-3", block / "253:3");
  // 8:1 has a link but no readable uevent.
  std::filesystem::create_directory_symlink("../../devices/pci/block/sda/sda1", block / "8:1");
  EXPECT_EQ(kernel_name_of(253, 3, sys.path().string()), "dm-3");
  EXPECT_EQ(kernel_name_of(8, 1, sys.path().string()), "sda1");
  EXPECT_EQ(kernel_name_of(7, 9, sys.path().string()), "");
}

// -- the fake ----------------------------------------------------------------------

namespace {

struct fake_fs_test : test::actor_fixture {
  std::shared_ptr<test::fake_fs_state> fs = std::make_shared<test::fake_fs_state>();
  test::fake_fs_actor fake = test::spawn_fake_fs(sys, fs);
  fs_runner_actor runner = fake;
  const std::string dev = "/dev/vg0/local-1";
  const std::string staging = "/kubelet/pv1/globalmount";
  const std::string target = "/kubelet/pods/p1/mount";

  fake_fs_test() { fs->add_device(dev, 64 * mib, 254, 1); }

  ~fake_fs_test() override {
    anon_send_exit(fake, caf::exit_reason::user_shutdown);
    run();
  }

  template <class T, class Req>
  caf::expected<T> ask(Req req) {
    return request<T>(runner, std::move(req));
  }

  void stage(const std::string& fstype = "ext4") {
    auto made = ask<std::string>(ensure_fs_command{dev, fstype});
    ASSERT_OK(made);
    auto mounted = ask<bool>(mount_command{dev, staging, fstype, {}, false});
    ASSERT_OK(mounted);
  }
};

} // namespace

TEST_F(fake_fs_test, ensure_fs_formats_once_and_never_reformats) {
  auto made = ask<std::string>(ensure_fs_command{dev, "ext4"});
  ASSERT_OK(made);
  EXPECT_TRUE(contains(*made, "mkfs.ext4")) << *made;
  EXPECT_TRUE(contains(*made, dev)) << *made;
  EXPECT_EQ(fs->devices[dev].fstype, "ext4");
  EXPECT_EQ(fs->devices[dev].fs_size_bytes, 64 * mib);

  auto again = ask<std::string>(ensure_fs_command{dev, "ext4"});
  ASSERT_OK(again);
  EXPECT_EQ(*again, "") << "the filesystem is there already";

  auto other = ask<std::string>(ensure_fs_command{dev, "xfs"});
  ASSERT_FALSE(other);
  EXPECT_EQ(code_of(other.error()), errc::failed_precondition);
  EXPECT_EQ(message_of(other.error()), dev + " holds ext4, not xfs; a volume is never reformatted");
  EXPECT_EQ(fs->devices[dev].fstype, "ext4");
}

TEST_F(fake_fs_test, ensure_fs_refuses_other_content_bad_types_and_missing_devices) {
  fs->add_device("/dev/vg0/pv", 8 * mib, 254, 2).signature = "LVM2_member";
  auto labelled = ask<std::string>(ensure_fs_command{"/dev/vg0/pv", "ext4"});
  ASSERT_FALSE(labelled);
  EXPECT_EQ(code_of(labelled.error()), errc::failed_precondition);
  EXPECT_TRUE(contains(render(labelled.error()), "LVM2_member"));

  auto btrfs = ask<std::string>(ensure_fs_command{dev, "btrfs"});
  ASSERT_FALSE(btrfs);
  EXPECT_EQ(code_of(btrfs.error()), errc::invalid_argument);
  EXPECT_EQ(fs->devices[dev].fstype, "");

  auto missing = ask<std::string>(ensure_fs_command{"/dev/vg0/nothing", "ext4"});
  ASSERT_FALSE(missing);
  EXPECT_EQ(code_of(missing.error()), errc::not_found);
}

TEST_F(fake_fs_test, mounts_are_idempotent_and_refuse_something_else_at_the_target) {
  stage();
  auto* entry = fs->mount_at(staging);
  ASSERT_NE(entry, nullptr);
  EXPECT_EQ(entry->major, 254u);
  EXPECT_EQ(entry->minor, 1u);
  EXPECT_EQ(entry->fstype, "ext4");
  EXPECT_TRUE(fs->exists(staging));

  auto same = ask<bool>(mount_command{dev, staging, "ext4", {}, false});
  ASSERT_OK(same);
  EXPECT_FALSE(*same) << "the same thing is already mounted there";

  auto ro = ask<bool>(mount_command{dev, staging, "ext4", {}, true});
  ASSERT_FALSE(ro);
  EXPECT_EQ(code_of(ro.error()), errc::already_exists);

  fs->add_device("/dev/vg0/local-2", 8 * mib, 254, 2, "ext4");
  auto other = ask<bool>(mount_command{"/dev/vg0/local-2", staging, "ext4", {}, false});
  ASSERT_FALSE(other);
  EXPECT_EQ(code_of(other.error()), errc::already_exists);
  EXPECT_TRUE(contains(render(other.error()), "254:1")) << render(other.error());

  fs->add_device("/dev/vg0/blank", 8 * mib, 254, 3);
  auto blank = ask<bool>(mount_command{"/dev/vg0/blank", "/elsewhere", "ext4", {}, false});
  ASSERT_FALSE(blank);
  EXPECT_EQ(code_of(blank.error()), errc::invalid_argument) << "no filesystem on it";
  auto missing = ask<bool>(mount_command{"/dev/vg0/none", "/elsewhere", "ext4", {}, false});
  ASSERT_FALSE(missing);
  EXPECT_EQ(code_of(missing.error()), errc::not_found);
  EXPECT_EQ(fs->mounts.size(), 1u);
}

TEST_F(fake_fs_test, bind_mounts_of_a_mount_and_of_the_device_node) {
  stage();
  auto bound = ask<bool>(mount_command{staging, target, "", {}, true});
  ASSERT_OK(bound);
  EXPECT_TRUE(*bound);
  auto* entry = fs->mount_at(target);
  ASSERT_NE(entry, nullptr);
  EXPECT_EQ(entry->minor, 1u) << "a bind of the staging mount shows the device";
  EXPECT_TRUE(entry->read_only);
  auto again = ask<bool>(mount_command{staging, target, "", {}, true});
  ASSERT_OK(again);
  EXPECT_FALSE(*again);
  auto writable = ask<bool>(mount_command{staging, target, "", {}, false});
  ASSERT_FALSE(writable);
  EXPECT_EQ(code_of(writable.error()), errc::already_exists);

  auto node = ask<bool>(mount_command{dev, "/kubelet/pods/p2/dev", "", {}, false});
  ASSERT_OK(node);
  EXPECT_TRUE(*node);
  auto* node_entry = fs->mount_at("/kubelet/pods/p2/dev");
  ASSERT_NE(node_entry, nullptr);
  EXPECT_EQ(node_entry->fstype, "devtmpfs");
  EXPECT_EQ(node_entry->root, "/dm-1");

  auto nowhere = ask<bool>(mount_command{"/not/mounted", "/x", "", {}, false});
  ASSERT_FALSE(nowhere);
  EXPECT_EQ(code_of(nowhere.error()), errc::not_found);

  auto mounts = ask<std::vector<fs_ops::mount_entry>>(mounts_query{254, 1});
  ASSERT_OK(mounts);
  EXPECT_EQ(points(*mounts), (std::vector<std::string>{staging, target, "/kubelet/pods/p2/dev"}));
  auto none = ask<std::vector<fs_ops::mount_entry>>(mounts_query{254, 9});
  ASSERT_OK(none);
  EXPECT_TRUE(none->empty());
}

TEST_F(fake_fs_test, unmount_answers_what_it_did_and_removes_targets_on_request) {
  stage();
  ASSERT_OK(ask<bool>(mount_command{staging, target, "", {}, false}));
  auto gone = ask<bool>(unmount_command{target, true});
  ASSERT_OK(gone);
  EXPECT_TRUE(*gone);
  EXPECT_FALSE(fs->exists(target));
  EXPECT_EQ(fs->removed_targets, (std::vector<std::string>{target}));
  auto again = ask<bool>(unmount_command{target, true});
  ASSERT_OK(again);
  EXPECT_FALSE(*again) << "nothing mounted there any more";

  auto kept = ask<bool>(unmount_command{staging, false});
  ASSERT_OK(kept);
  EXPECT_TRUE(*kept);
  EXPECT_TRUE(fs->exists(staging)) << "the staging directory belongs to the caller";
  EXPECT_TRUE(fs->mounts.empty());

  // Stacked mounts: one unmount takes the top one; the target stays.
  ASSERT_OK(ask<bool>(mount_command{dev, staging, "ext4", {}, false}));
  fs->mounts.push_back(fs->mounts.back());
  fs->mounts.back().mount_id = fs->next_mount_id++;
  auto top = ask<bool>(unmount_command{staging, true});
  ASSERT_OK(top);
  EXPECT_TRUE(*top);
  EXPECT_TRUE(fs->exists(staging)) << "still mounted: not removed";
  EXPECT_NE(fs->mount_at(staging), nullptr);
}

TEST_F(fake_fs_test, grow_follows_the_device_and_needs_xfs_mounted) {
  fs->add_device("/dev/vg0/x", 32 * mib, 254, 5, "xfs");
  fs->resize_device("/dev/vg0/x", 48 * mib);
  auto offline = ask<std::string>(grow_command{"/dev/vg0/x", "/mnt/x", "xfs"});
  ASSERT_FALSE(offline);
  EXPECT_EQ(code_of(offline.error()), errc::failed_precondition);
  EXPECT_EQ(fs->devices["/dev/vg0/x"].fs_size_bytes, 32 * mib);
  ASSERT_OK(ask<bool>(mount_command{"/dev/vg0/x", "/mnt/x", "xfs", {}, false}));
  auto online = ask<std::string>(grow_command{"/dev/vg0/x", "/mnt/x", "xfs"});
  ASSERT_OK(online);
  EXPECT_EQ(*online, "xfs_growfs -d /mnt/x");
  EXPECT_EQ(fs->devices["/dev/vg0/x"].fs_size_bytes, 48 * mib);

  ASSERT_OK(ask<std::string>(ensure_fs_command{dev, "ext4"}));
  fs->resize_device(dev, 96 * mib);
  auto ext = ask<std::string>(grow_command{dev, "", "ext4"});
  ASSERT_OK(ext);
  EXPECT_EQ(*ext, "e2fsck -f -p " + dev + " && resize2fs " + dev) << "offline";
  EXPECT_EQ(fs->devices[dev].fs_size_bytes, 96 * mib);

  auto wrong = ask<std::string>(grow_command{dev, "/mnt/x", "ext4"});
  ASSERT_FALSE(wrong);
  EXPECT_EQ(code_of(wrong.error()), errc::failed_precondition) << "served by another device";
  auto type = ask<std::string>(grow_command{dev, "", "xfs"});
  ASSERT_FALSE(type);
  EXPECT_EQ(code_of(type.error()), errc::failed_precondition) << "holds ext4";
}

TEST_F(fake_fs_test, probe_reports_usage_and_the_volume_condition) {
  stage();
  fs->set_used_bytes(dev, 10 * mib);
  auto usage = ask<volume_usage>(probe_command{dev, staging, true});
  ASSERT_OK(usage);
  EXPECT_FALSE(usage->condition.abnormal) << usage->condition.message;
  EXPECT_EQ(usage->stats.total_bytes, 64 * mib);
  EXPECT_EQ(usage->stats.used_bytes, 10 * mib);
  EXPECT_EQ(usage->stats.available_bytes, 54 * mib);
  EXPECT_GT(usage->stats.total_inodes, 0u);

  fs->set_read_only(staging);
  auto ro = ask<volume_usage>(probe_command{dev, staging, true});
  ASSERT_OK(ro);
  EXPECT_TRUE(ro->condition.abnormal);
  EXPECT_TRUE(contains(ro->condition.message, "read-only")) << ro->condition.message;
  auto ro_ok = ask<volume_usage>(probe_command{dev, staging, false});
  ASSERT_OK(ro_ok);
  EXPECT_FALSE(ro_ok->condition.abnormal) << "read-only was expected";

  ASSERT_OK(ask<bool>(unmount_command{staging, false}));
  auto unmounted = ask<volume_usage>(probe_command{dev, staging, true});
  ASSERT_OK(unmounted) << "a vanished mount is a condition, not an error";
  EXPECT_TRUE(unmounted->condition.abnormal);
  EXPECT_TRUE(contains(unmounted->condition.message, "not mounted"));
  EXPECT_EQ(unmounted->stats.total_bytes, 0u);

  auto block = ask<volume_usage>(probe_command{dev, "", true});
  ASSERT_OK(block);
  EXPECT_FALSE(block->condition.abnormal);
  EXPECT_EQ(block->stats.total_bytes, 64 * mib);
  fs->remove_device(dev);
  auto removed = ask<volume_usage>(probe_command{dev, "", true});
  ASSERT_OK(removed);
  EXPECT_TRUE(removed->condition.abnormal);
  EXPECT_TRUE(contains(removed->condition.message, "missing"));
  auto again = ask<std::string>(ensure_fs_command{dev, "ext4"});
  ASSERT_FALSE(again);
  EXPECT_EQ(code_of(again.error()), errc::not_found);
}

TEST_F(fake_fs_test, injected_failures_hit_only_their_kind_and_commands_are_counted) {
  fs->fail_next(test::fs_command::mount, errc::device_busy);
  ASSERT_OK(ask<std::string>(ensure_fs_command{dev, "ext4"}));
  auto busy = ask<bool>(mount_command{dev, staging, "ext4", {}, false});
  ASSERT_FALSE(busy);
  EXPECT_EQ(code_of(busy.error()), errc::device_busy);
  EXPECT_EQ(fs->mount_at(staging), nullptr) << "a failed command changes nothing";
  auto retried = ask<bool>(mount_command{dev, staging, "ext4", {}, false});
  ASSERT_OK(retried);
  EXPECT_TRUE(*retried) << "one failure, consumed";

  fs->fail_next(test::fs_command::probe, errc::timeout, "statvfs hung");
  auto probe = ask<volume_usage>(probe_command{dev, staging, true});
  ASSERT_FALSE(probe);
  EXPECT_EQ(render(probe.error()), "timeout: statvfs hung");

  EXPECT_EQ(fs->count(test::fs_command::ensure_fs), 1u);
  EXPECT_EQ(fs->count(test::fs_command::mount), 2u);
  EXPECT_EQ(fs->count(test::fs_command::probe), 1u);
  EXPECT_EQ(fs->count(test::fs_command::unmount), 0u);
  EXPECT_EQ(fs->total(), 4u);
  EXPECT_EQ(fs->log.front(), test::fs_command::ensure_fs);
}

TEST_F(fake_fs_test, held_commands_wait_for_release_in_order) {
  fs->hold(test::fs_command::ensure_fs);
  auto answered = std::make_shared<std::vector<std::string>>();
  for (auto fstype : {"ext4", "xfs"})
    sys.spawn([=, this](caf::event_based_actor* self) {
      self->request(runner, caf::infinite, ensure_fs_command{dev, fstype})
        .then([answered](std::string& ran) { answered->push_back(ran.empty() ? "=" : "mkfs"); },
              [answered](caf::error& err) {
                answered->push_back(std::string{to_string(code_of(err))});
              });
    });
  run();
  EXPECT_TRUE(answered->empty());
  EXPECT_EQ(fs->held.size(), 2u);
  EXPECT_EQ(fs->count(test::fs_command::ensure_fs), 2u) << "counted on arrival";
  auto probe = ask<volume_usage>(probe_command{dev, "", true});
  ASSERT_OK(probe) << "other kinds are not held";

  anon_send(fake, test::release_atom::value);
  run();
  EXPECT_EQ(*answered, (std::vector<std::string>{"mkfs"}));
  anon_send(fake, test::release_atom::value);
  run();
  EXPECT_EQ(*answered, (std::vector<std::string>{"mkfs", "failed_precondition"}));
  EXPECT_TRUE(fs->held.empty());
}

// -- the real runner (host, no device-mapper) ----------------------------------------

namespace {

struct fs_runner_host : ::testing::Test {
  runtime rt{runtime_options{1}};
  fs_runner_actor runner = spawn_fs_runner(rt.system());
  test::temp_dir dir{"olocal-fsrunner"};
  std::string root = std::filesystem::canonical(dir.path()).string();

  ~fs_runner_host() override {
    // Whatever a failed test left mounted below the directory goes first.
    if (auto mounts = fs_ops::read_mounts())
      for (auto e = mounts->rbegin(); e != mounts->rend(); ++e)
        if (e->mount_point.rfind(root + "/", 0) == 0)
          ::umount2(e->mount_point.c_str(), MNT_DETACH);
    caf::anon_send_exit(runner, caf::exit_reason::user_shutdown);
    runner = nullptr;
    rt.shutdown();
  }

  template <class T, class Req>
  caf::expected<T> ask(Req req) {
    caf::scoped_actor self{rt.system()};
    caf::expected<T> result{caf::error{}};
    self->request(runner, 30s, std::move(req))
      .receive([&](T& x) { result = std::move(x); }, [&](caf::error& e) { result = std::move(e); });
    return result;
  }

  std::string path(const std::string& name) const { return root + "/" + name; }
};

} // namespace

TEST_F(fs_runner_host, probe_of_a_missing_or_fake_block_device_is_abnormal_not_an_error) {
  auto missing = ask<volume_usage>(probe_command{path("no-such-device"), "", true});
  ASSERT_OK(missing);
  EXPECT_TRUE(missing->condition.abnormal);
  EXPECT_TRUE(contains(missing->condition.message, "missing")) << missing->condition.message;
  EXPECT_EQ(missing->stats.total_bytes, 0u);

  auto file = dir.write("plain-file", "not a device");
  auto plain = ask<volume_usage>(probe_command{file.string(), "", true});
  ASSERT_OK(plain);
  EXPECT_TRUE(plain->condition.abnormal);
  EXPECT_TRUE(contains(plain->condition.message, "not a block device")) << plain->condition.message;

  auto unmounted =
    ask<volume_usage>(probe_command{path("no-such-device"), path("not-a-mount"), true});
  ASSERT_OK(unmounted) << "a mount that is gone is a condition";
  EXPECT_TRUE(unmounted->condition.abnormal);
  EXPECT_EQ(unmounted->stats.total_bytes, 0u) << "never the numbers of the filesystem underneath";
}

TEST_F(fs_runner_host, ensure_fs_refuses_existing_content_without_touching_it) {
  std::string xfs_head(4096, '\0');
  xfs_head.replace(0, 4, "XFSB");
  auto xfs = dir.write("xfs-image", xfs_head);
  auto refused = ask<std::string>(ensure_fs_command{xfs.string(), "ext4"});
  ASSERT_FALSE(refused);
  EXPECT_EQ(code_of(refused.error()), errc::failed_precondition) << render(refused.error());
  EXPECT_EQ(message_of(refused.error()),
            xfs.string() + " holds xfs, not ext4; a volume is never reformatted");

  auto same = ask<std::string>(ensure_fs_command{xfs.string(), "xfs"});
  ASSERT_OK(same);
  EXPECT_EQ(*same, "") << "already holds the filesystem asked for";

  std::string lvm_head(4096, '\0');
  lvm_head.replace(512, 8, "LABELONE");
  lvm_head.replace(512 + 24, 8, "LVM2 001");
  auto label = dir.write("lvm-image", lvm_head);
  auto labelled = ask<std::string>(ensure_fs_command{label.string(), "ext4"});
  ASSERT_FALSE(labelled);
  EXPECT_EQ(code_of(labelled.error()), errc::failed_precondition) << render(labelled.error());
  EXPECT_TRUE(contains(message_of(labelled.error()), "holds LVM2_member, not ext4"))
    << render(labelled.error());

  auto blank = dir.write("blank-image", std::string(4096, '\0'));
  auto not_block = ask<std::string>(ensure_fs_command{blank.string(), "ext4"});
  ASSERT_FALSE(not_block) << "format() itself refuses a regular file";
  EXPECT_EQ(code_of(not_block.error()), errc::invalid_argument) << render(not_block.error());
}

TEST_F(fs_runner_host, bind_mount_then_unmount_removes_the_target) {
  auto source = path("source");
  auto target = path("target/inner");
  std::filesystem::create_directories(source);
  dir.write("source/hello", "hi");

  auto bound = ask<bool>(mount_command{source, target, "", {}, false});
  if (!bound && code_of(bound.error()) == errc::permission_denied)
    GTEST_SKIP() << "bind mounts are not permitted here: " << render(bound.error());
  ASSERT_OK(bound);
  EXPECT_TRUE(*bound);
  EXPECT_TRUE(std::filesystem::exists(target + "/hello")) << "the source shows at the target";
  EXPECT_TRUE(fs_ops::is_mountpoint(target));
  auto again = ask<bool>(mount_command{source, target, "", {}, false});
  ASSERT_OK(again);
  EXPECT_FALSE(*again) << "already bound there";

  // The bind shows among the mounts of the filesystem under the temp directory.
  struct stat st {};
  ASSERT_EQ(::stat(source.c_str(), &st), 0);
  auto mounts =
    ask<std::vector<fs_ops::mount_entry>>(mounts_query{::major(st.st_dev), ::minor(st.st_dev)});
  ASSERT_OK(mounts);
  EXPECT_TRUE(
    std::any_of(mounts->begin(), mounts->end(), [&](auto& e) { return e.mount_point == target; }));
  EXPECT_TRUE(std::is_sorted(mounts->begin(), mounts->end(),
                             [](auto& a, auto& b) { return a.mount_id < b.mount_id; }));

  auto unmounted = ask<bool>(unmount_command{target, true});
  ASSERT_OK(unmounted);
  EXPECT_TRUE(*unmounted);
  EXPECT_FALSE(std::filesystem::exists(target)) << "remove_target removed the empty directory";
  EXPECT_TRUE(std::filesystem::exists(source + "/hello")) << "the source is untouched";

  auto twice = ask<bool>(unmount_command{target, true});
  ASSERT_OK(twice) << "a missing target is fine";
  EXPECT_FALSE(*twice);
}

TEST_F(fs_runner_host, unmount_keeps_a_target_that_holds_files) {
  auto target = path("kept");
  dir.write("kept/data", "written while nothing was mounted");
  auto removed = ask<bool>(unmount_command{target, true});
  ASSERT_FALSE(removed) << "rmdir refuses a non-empty directory";
  EXPECT_EQ(code_of(removed.error()), errc::failed_precondition) << render(removed.error());
  EXPECT_TRUE(std::filesystem::exists(target + "/data"));

  auto file = dir.write("placeholder", "");
  auto unlinked = ask<bool>(unmount_command{file.string(), true});
  ASSERT_OK(unlinked);
  EXPECT_FALSE(*unlinked) << "nothing was mounted";
  EXPECT_FALSE(std::filesystem::exists(file)) << "a regular file target is unlinked";
}
