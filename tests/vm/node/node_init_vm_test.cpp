// spec.resourceToBeInited on the real kernel: VGs are made and grown from free
// loop devices, a device with a filesystem is never formatted (refused for a
// VG, mounted as it is for a mount point, as after a reboot), an empty device
// is formatted and mounted.

#include "actors/backends/filesystem.hpp"
#include "actors/backends/lvm.hpp"
#include "actors/backends/process.hpp"
#include "actors/backends/signatures.hpp"
#include "actors/core/errc.hpp"
#include "gateways/kube/node_init.hpp"

#include "tests/vm/node/vm_support.hpp"

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

using namespace olocal;
using namespace std::chrono_literals;

namespace {

void cleanup_vg(const std::string& vg, const std::vector<std::string>& pvs) {
  run_command({{"vgremove", "-ff", "-y", vg}, 120s, {"DM_DISABLE_UDEV=1"}});
  for (auto& pv : pvs)
    run_command({{"pvremove", "-ff", "-y", pv}, 60s, {"DM_DISABLE_UDEV=1"}});
}

/// The first `bytes` of a device, read around the page cache.
std::string head_of(const std::string& device, size_t bytes) {
  std::string out(bytes, '\0');
  int fd = ::open(device.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0)
    return {};
  ::posix_fadvise(fd, 0, 0, POSIX_FADV_DONTNEED);
  auto n = ::pread(fd, out.data(), bytes, 0);
  ::close(fd);
  out.resize(n < 0 ? 0 : static_cast<size_t>(n));
  return out;
}

std::vector<std::string> pvs_of(const std::string& vg) {
  auto out = lvm::run_lvm(*lvm::report_argv(lvm::report_kind::pvs), 60s);
  EXPECT_TRUE(out);
  std::vector<std::string> names;
  if (!out)
    return names;
  auto pvs = lvm::parse_pvs(*out);
  EXPECT_TRUE(pvs);
  if (!pvs)
    return names;
  for (auto& pv : *pvs)
    if (pv.vg_name == vg)
      names.push_back(pv.name);
  std::sort(names.begin(), names.end());
  return names;
}

/// True when an expected<bool> holds true.
bool yes(const caf::expected<bool>& r) {
  EXPECT_TRUE(r) << (r ? "" : render(r.error()));
  return r && *r;
}

const kube::init_outcome* outcome(const kube::init_report& r, const std::string& resource) {
  for (auto& o : r.outcomes)
    if (o.resource == resource)
      return &o;
  return nullptr;
}

} // namespace

TEST(node_init_vm, creates_a_vg_refuses_a_filesystem_and_grows_by_a_free_device) {
  if (!test::in_vm())
    GTEST_SKIP() << "needs device-mapper: run through tests/vm/run-in-vm.sh";
  test::loop_device first{"/run", "olocal-init-a.img", 64ull << 20},
    extra{"/run", "olocal-init-b.img", 64ull << 20},
    ext4_dev{"/run", "olocal-init-c.img", 64ull << 20};
  ASSERT_FALSE(first.path.empty());
  ASSERT_EQ(run_command({{"mkfs.ext4", "-q", "-F", ext4_dev.path}, 60s})->exit_code, 0);
  auto ext4_head = head_of(ext4_dev.path, 4 << 20);
  ASSERT_EQ(ext4_head.size(), 4u << 20);

  // Created from a free loop device.
  kube::resources_to_init spec;
  spec.vgs = {{"olocal_init", {first.path}}};
  auto made = kube::run_init(spec, false);
  ASSERT_EQ(made.outcomes.size(), 1u);
  EXPECT_TRUE(made.outcomes[0].ok) << made.outcomes[0].reason;
  EXPECT_TRUE(made.outcomes[0].changed);
  EXPECT_EQ(pvs_of("olocal_init"), std::vector<std::string>{first.path});

  // Again: nothing to do.
  auto again = kube::run_init(spec, false);
  ASSERT_EQ(again.outcomes.size(), 1u);
  EXPECT_TRUE(again.outcomes[0].ok) << again.outcomes[0].reason;
  EXPECT_FALSE(again.outcomes[0].changed);

  // A device with ext4 listed for a VG (new or existing) is refused, its bytes untouched.
  kube::resources_to_init with_fs;
  with_fs.vgs = {{"olocal_init", {first.path, ext4_dev.path}}, {"olocal_init_fs", {ext4_dev.path}}};
  auto refused = kube::run_init(with_fs, false);
  ASSERT_EQ(refused.outcomes.size(), 2u);
  for (auto& o : refused.outcomes) {
    EXPECT_FALSE(o.ok) << o.resource;
    EXPECT_NE(o.reason.find(ext4_dev.path), std::string::npos) << o.reason;
  }
  kube::resources_to_init fs_only;
  fs_only.vgs = {{"olocal_init_fs", {ext4_dev.path}}};
  auto refused_new = kube::run_init(fs_only, false);
  ASSERT_EQ(refused_new.outcomes.size(), 1u);
  EXPECT_FALSE(refused_new.outcomes[0].ok);
  EXPECT_NE(refused_new.outcomes[0].reason.find("ext4"), std::string::npos)
    << refused_new.outcomes[0].reason;
  EXPECT_EQ(probe_signatures(ext4_dev.path).value(), std::vector<std::string>{"ext4"});
  EXPECT_TRUE(head_of(ext4_dev.path, 4 << 20) == ext4_head) << "the ext4 device was written to";
  EXPECT_EQ(pvs_of("olocal_init"), std::vector<std::string>{first.path});

  // Listed with an extra free device, the VG grows by it.
  spec.vgs = {{"olocal_init", {first.path, extra.path}}};
  auto grown = kube::run_init(spec, false);
  ASSERT_EQ(grown.outcomes.size(), 1u);
  EXPECT_TRUE(grown.outcomes[0].ok) << grown.outcomes[0].reason;
  EXPECT_TRUE(grown.outcomes[0].changed);
  auto expected = std::vector<std::string>{first.path, extra.path};
  std::sort(expected.begin(), expected.end());
  EXPECT_EQ(pvs_of("olocal_init"), expected);

  // Listing only one of them never shrinks the VG.
  spec.vgs = {{"olocal_init", {extra.path}}};
  auto kept = kube::run_init(spec, false);
  ASSERT_EQ(kept.outcomes.size(), 1u);
  EXPECT_TRUE(kept.outcomes[0].ok) << kept.outcomes[0].reason;
  EXPECT_FALSE(kept.outcomes[0].changed);
  EXPECT_EQ(pvs_of("olocal_init"), expected);

  cleanup_vg("olocal_init", {first.path, extra.path});
}

TEST(node_init_vm, mounts_an_existing_filesystem_without_formatting_and_formats_an_empty_one) {
  if (!test::in_vm())
    GTEST_SKIP() << "needs device-mapper: run through tests/vm/run-in-vm.sh";
  const std::string dir = "/run/olocal-init-mnt";
  std::filesystem::create_directories(dir);
  test::loop_device with_fs{"/run", "olocal-init-fs.img", 64ull << 20},
    empty{"/run", "olocal-init-empty.img", 64ull << 20},
    xfs_dev{"/run", "olocal-init-xfs.img", 320ull << 20};
  test::unmount_all cleanup{dir};
  ASSERT_FALSE(with_fs.path.empty());

  // "Before the reboot": a filesystem with a file on it, then unmounted.
  ASSERT_EQ(run_command({{"mkfs.ext4", "-q", "-F", with_fs.path}, 60s})->exit_code, 0);
  ASSERT_EQ(run_command({{"mkfs.xfs", "-q", "-f", xfs_dev.path}, 60s})->exit_code, 0);
  ASSERT_TRUE(yes(fs_ops::mount(with_fs.path, dir + "/data", "ext4")));
  test::write_file(dir + "/data/precious", "keep me");
  ASSERT_TRUE(yes(fs_ops::unmount(dir + "/data")));
  ASSERT_FALSE(fs_ops::is_mountpoint(dir + "/data"));

  kube::resources_to_init spec;
  kube::mountpoint_to_init existing, fresh, wrong;
  existing.path = dir + "/data";
  existing.device = with_fs.path;
  fresh.path = dir + "/fresh";
  fresh.device = empty.path;
  fresh.options = {"noatime"};
  wrong.path = dir + "/wrong";
  wrong.device = xfs_dev.path; // asked ext4, holds xfs
  spec.mountpoints = {existing, fresh, wrong};
  auto xfs_head = head_of(xfs_dev.path, 1 << 20);

  auto report = kube::run_init(spec, false);
  ASSERT_EQ(report.outcomes.size(), 3u);
  auto* o = outcome(report, "mountpoint:" + existing.path);
  ASSERT_NE(o, nullptr);
  EXPECT_TRUE(o->ok) << o->reason;
  EXPECT_TRUE(o->changed);
  EXPECT_EQ(o->reason.find("formatted"), std::string::npos) << o->reason;
  EXPECT_TRUE(fs_ops::is_mountpoint(existing.path));
  EXPECT_EQ(test::read_file(existing.path + "/precious"), "keep me")
    << "the filesystem was formatted over";

  o = outcome(report, "mountpoint:" + fresh.path);
  ASSERT_NE(o, nullptr);
  EXPECT_TRUE(o->ok) << o->reason;
  EXPECT_TRUE(o->changed);
  EXPECT_EQ(fs_ops::detect_filesystem(empty.path).value(), "ext4");
  auto m = fs_ops::find_mount(fresh.path);
  ASSERT_TRUE(m && *m);
  EXPECT_EQ((*m)->fstype, "ext4");
  EXPECT_NE((*m)->options.find("noatime"), std::string::npos) << (*m)->options;

  o = outcome(report, "mountpoint:" + wrong.path);
  ASSERT_NE(o, nullptr);
  EXPECT_FALSE(o->ok);
  EXPECT_NE(o->reason.find("xfs"), std::string::npos) << o->reason;
  EXPECT_FALSE(fs_ops::is_mountpoint(wrong.path));
  EXPECT_TRUE(head_of(xfs_dev.path, 1 << 20) == xfs_head) << "the xfs device was written to";

  // Again: the mounted ones are left alone, the file is still there.
  spec.mountpoints = {existing, fresh};
  auto again = kube::run_init(spec, true);
  ASSERT_EQ(again.outcomes.size(), 2u);
  for (auto& oc : again.outcomes) {
    EXPECT_TRUE(oc.ok) << oc.resource << ": " << oc.reason;
    EXPECT_FALSE(oc.changed) << oc.resource;
  }
  EXPECT_EQ(test::read_file(existing.path + "/precious"), "keep me");

  // After another "reboot", even with force, the filesystem is mounted, not formatted.
  ASSERT_TRUE(yes(fs_ops::unmount(existing.path)));
  spec.mountpoints = {existing};
  auto forced = kube::run_init(spec, true);
  ASSERT_EQ(forced.outcomes.size(), 1u);
  EXPECT_TRUE(forced.outcomes[0].ok) << forced.outcomes[0].reason;
  EXPECT_EQ(test::read_file(existing.path + "/precious"), "keep me");
}
