#include "actors/backends/filesystem.hpp"

#include "actors/backends/process.hpp"
#include "actors/core/errc.hpp"
#include "tests/support/temp_dir.hpp"

#include <gtest/gtest.h>

#include <linux/capability.h>

#include <cerrno>
#include <climits>
#include <cstdlib>
#include <cstring>
#include <fcntl.h>
#include <filesystem>
#include <fstream>
#include <optional>
#include <sstream>
#include <string>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>
#include <vector>

namespace {

namespace fs_ops = olocal::fs_ops;
using olocal::code_of;
using olocal::errc;
using olocal::render;
using namespace std::chrono_literals;

// Values are checked only after their ok-ness; the message is built on
// failure only.
#define ASSERT_OK(x) ASSERT_TRUE(x) << render((x).error())
#define EXPECT_OK(x) EXPECT_TRUE(x) << render((x).error())

constexpr uint64_t mib = 1ull << 20;

bool contains(const std::string& text, const std::string& part) {
  return text.find(part) != std::string::npos;
}

/// The value, or `fallback` on error (caf::expected has no value_or).
template <class T, class U>
T value_or(const caf::expected<T>& x, U fallback) {
  return x ? *x : T(fallback);
}

// -- pure functions (no root needed) -----------------------------------------------

struct option_case {
  std::vector<std::string> input;
  uint64_t flags;
  std::string data;
};

TEST(mount_options, parses_flags_and_data) {
  const option_case cases[] = {
    {{}, 0, ""},
    {{"defaults"}, 0, ""},
    {{"ro"}, MS_RDONLY, ""},
    {{"rw"}, 0, ""},
    {{"ro", "rw"}, 0, ""},
    {{"rw", "ro"}, MS_RDONLY, ""},
    {{"noatime", "nodev", "nosuid", "noexec"}, MS_NOATIME | MS_NODEV | MS_NOSUID | MS_NOEXEC, ""},
    {{"sync", "dirsync"}, MS_SYNCHRONOUS | MS_DIRSYNC, ""},
    {{"sync", "async"}, 0, ""},
    {{"relatime"}, MS_RELATIME, ""},
    {{"strictatime"}, MS_STRICTATIME, ""},
    {{"noatime", "relatime"}, MS_RELATIME, ""},
    {{"relatime", "strictatime"}, MS_STRICTATIME, ""},
    {{"strictatime", "noatime"}, MS_NOATIME, ""},
    {{"nodiratime", "noatime"}, MS_NODIRATIME | MS_NOATIME, ""},
    {{"nodev", "dev"}, 0, ""},
    {{"discard"}, 0, "discard"},
    {{"nouuid"}, 0, "nouuid"},
    {{"prjquota", "nouuid"}, 0, "prjquota,nouuid"},
    {{"data=ordered"}, 0, "data=ordered"},
    {{"ro", "data=ordered", "noatime", "discard"}, MS_RDONLY | MS_NOATIME, "data=ordered,discard"},
    {{"some_future_option=1"}, 0, "some_future_option=1"},
  };
  for (auto& c : cases) {
    std::string name;
    for (auto& option : c.input)
      name += "[" + option + "]";
    auto parsed = fs_ops::parse_mount_options(c.input);
    ASSERT_OK(parsed) << " for " << name;
    EXPECT_EQ(parsed->flags, c.flags) << name;
    EXPECT_EQ(parsed->data, c.data) << name;
    EXPECT_EQ(parsed->read_only(), (c.flags & MS_RDONLY) != 0) << name;
  }
}

TEST(mount_options, rejects_empty_and_joined_entries) {
  const std::vector<std::vector<std::string>> bad = {
    {""}, {"ro", ""}, {"ro,noatime"}, {"nouuid,"}, {std::string{"ro\0x", 4}}};
  for (auto& input : bad) {
    auto parsed = fs_ops::parse_mount_options(input);
    ASSERT_FALSE(parsed);
    EXPECT_EQ(code_of(parsed.error()), errc::invalid_argument) << render(parsed.error());
  }
  auto joined = fs_ops::parse_mount_options({"ro,noatime"});
  ASSERT_FALSE(joined);
  EXPECT_TRUE(contains(render(joined.error()), "ro,noatime")) << render(joined.error());
}

TEST(mountinfo, parses_fields_escapes_and_optional_fields) {
  const std::string text =
    "22 27 0:21 / /proc rw,relatime - proc proc rw\n"
    "27 1 254:0 / / rw,relatime shared:1 master:2 - ext4 /dev/vda rw,discard\n"
    "90 27 7:3 / /mnt/with\\040space/in\\011tab rw,noatime shared:7 - ext4 /dev/loop3 "
    "rw,data=ordered\n"
    "91 90 7:3 /sub\\134dir /var/lib/kubelet/pods/p ro,relatime - xfs /dev/my\\040disk rw\n"
    "92 27 8:1 / /ro-super rw - ext4 /dev/sda1 ro,errors=remount-ro\n"
    "93 27 0:50 / /nosrc rw - tmpfs  rw\n";
  auto entries = fs_ops::parse_mountinfo(text);
  ASSERT_OK(entries);
  ASSERT_EQ(entries->size(), 6u);

  auto& root = (*entries)[1];
  EXPECT_EQ(root.mount_id, 27u);
  EXPECT_EQ(root.parent_id, 1u);
  EXPECT_EQ(root.major, 254u);
  EXPECT_EQ(root.minor, 0u);
  EXPECT_EQ(root.mount_point, "/");
  EXPECT_EQ(root.fstype, "ext4");
  EXPECT_EQ(root.source, "/dev/vda");
  EXPECT_EQ(root.super_options, "rw,discard");
  EXPECT_FALSE(root.read_only);

  auto& spaced = (*entries)[2];
  EXPECT_EQ(spaced.mount_point, "/mnt/with space/in\ttab");
  EXPECT_EQ(spaced.options, "rw,noatime");
  EXPECT_EQ(spaced.major, 7u);
  EXPECT_EQ(spaced.minor, 3u);
  EXPECT_EQ(spaced.source, "/dev/loop3");

  auto& bind = (*entries)[3];
  EXPECT_EQ(bind.root, "/sub\\dir");
  EXPECT_EQ(bind.source, "/dev/my disk");
  EXPECT_EQ(bind.fstype, "xfs");
  EXPECT_TRUE(bind.read_only); // per-mount ro

  EXPECT_TRUE((*entries)[4].read_only); // filesystem ro (after errors)
  EXPECT_EQ((*entries)[5].source, "");
  EXPECT_EQ((*entries)[5].fstype, "tmpfs");
}

TEST(mountinfo, rejects_malformed_lines) {
  for (std::string line : {"22 27 0:21 / /proc rw,relatime proc proc rw",
                           "x 27 0:21 / /p rw - a b c", "22 27 021 / /p rw - a b c", "22 27"}) {
    auto entries = fs_ops::parse_mountinfo("22 27 0:21 / /proc rw - proc proc rw\n" + line + "\n");
    ASSERT_FALSE(entries) << line;
    EXPECT_EQ(code_of(entries.error()), errc::parse_error);
    EXPECT_TRUE(contains(render(entries.error()), "line 2")) << render(entries.error());
  }
}

TEST(mkfs_argv, builds_the_documented_commands) {
  auto ext4 = fs_ops::mkfs_argv("/dev/sdz", "ext4", {});
  ASSERT_OK(ext4);
  EXPECT_EQ(*ext4,
            (std::vector<std::string>{"mkfs.ext4", "-F", "-q", "-E",
                                      "lazy_itable_init=1,lazy_journal_init=1", "/dev/sdz"}));
  fs_ops::format_options labelled;
  labelled.label = "data-1";
  auto ext3 = fs_ops::mkfs_argv("/dev/sdz", "ext3", labelled);
  ASSERT_OK(ext3);
  EXPECT_EQ(*ext3, (std::vector<std::string>{"mkfs.ext3", "-F", "-q", "-E", "lazy_journal_init=1",
                                             "-L", "data-1", "/dev/sdz"}));
  auto xfs = fs_ops::mkfs_argv("/dev/sdz", "xfs", labelled);
  ASSERT_OK(xfs);
  EXPECT_EQ(*xfs,
            (std::vector<std::string>{"mkfs.xfs", "-f", "-q", "-K", "-L", "data-1", "/dev/sdz"}));

  auto btrfs = fs_ops::mkfs_argv("/dev/sdz", "btrfs", {});
  ASSERT_FALSE(btrfs);
  EXPECT_EQ(code_of(btrfs.error()), errc::invalid_argument);
  EXPECT_TRUE(contains(render(btrfs.error()), "btrfs")) << render(btrfs.error());

  EXPECT_EQ(code_of(fs_ops::mkfs_argv("sdz", "ext4", {}).error()), errc::invalid_argument);
  fs_ops::format_options long_label;
  long_label.label = "thirteen-char"; // 13 > xfs's 12
  EXPECT_EQ(code_of(fs_ops::mkfs_argv("/dev/sdz", "xfs", long_label).error()),
            errc::invalid_argument);
  EXPECT_OK(fs_ops::mkfs_argv("/dev/sdz", "ext4", long_label));
  long_label.label = "bad\nlabel";
  EXPECT_EQ(code_of(fs_ops::mkfs_argv("/dev/sdz", "ext4", long_label).error()),
            errc::invalid_argument);
}

// -- real loop devices and mounts (root) -----------------------------------------

/// Runs a program; its trimmed stdout, or nullopt (with a test failure).
std::optional<std::string> run_ok(std::vector<std::string> argv) {
  olocal::command_spec spec;
  spec.argv = std::move(argv);
  spec.timeout = 120s;
  auto result = olocal::run_command(spec);
  if (!result) {
    ADD_FAILURE() << olocal::render_argv(spec.argv) << ": " << render(result.error());
    return std::nullopt;
  }
  if (result->exit_code != 0) {
    ADD_FAILURE() << olocal::render_argv(spec.argv) << ": exit " << result->exit_code << ": "
                  << result->err;
    return std::nullopt;
  }
  auto out = result->out;
  while (!out.empty() && (out.back() == '\n' || out.back() == ' '))
    out.pop_back();
  return out;
}

std::string real_path(const std::string& path) {
  char buffer[PATH_MAX];
  return ::realpath(path.c_str(), buffer) ? std::string{buffer} : path;
}

/// Whether capability `bit` is in this process's effective set.
bool has_capability(unsigned bit) {
  std::ifstream status{"/proc/self/status"};
  std::string line;
  while (std::getline(status, line))
    if (line.rfind("CapEff:", 0) == 0)
      return (std::stoull(line.substr(7), nullptr, 16) >> bit) & 1;
  return false;
}

/// Every test gets its own directory and its own loop devices, so that test
/// processes may run in parallel. Teardown unmounts everything below the
/// directory and detaches the devices, whatever the test left behind.
class fs_ops_loop : public ::testing::Test {
protected:
  void SetUp() override {
    if (::geteuid() != 0)
      GTEST_SKIP() << "needs root (loop devices and mounts)";
    dir_.emplace("olocal-fs");
    root_ = real_path(dir_->path().string());
  }

  void TearDown() override {
    if (!dir_)
      return;
    for (int round = 0; round < 16; ++round) {
      auto mounts = fs_ops::read_mounts();
      if (!mounts)
        break;
      bool any = false;
      for (auto entry = mounts->rbegin(); entry != mounts->rend(); ++entry) {
        if (entry->mount_point.rfind(root_ + "/", 0) != 0)
          continue;
        any = true;
        if (::umount2(entry->mount_point.c_str(), 0) != 0)
          ::umount2(entry->mount_point.c_str(), MNT_DETACH);
      }
      if (!any)
        break;
    }
    for (auto& device : loops_) {
      olocal::command_spec spec;
      spec.argv = {"losetup", "-d", device};
      spec.timeout = 30s;
      auto result = olocal::run_command(spec);
      if (!result || result->exit_code != 0)
        ADD_FAILURE() << "could not detach " << device;
    }
    loops_.clear();
    dir_.reset();
  }

  /// A sparse file of `size_mib` attached to a free loop device; "" on failure.
  std::string attach(uint64_t size_mib) {
    auto file = path("disk" + std::to_string(files_.size()) + ".img");
    std::ofstream{file}.close();
    std::error_code ec;
    std::filesystem::resize_file(file, size_mib * mib, ec);
    if (ec) {
      ADD_FAILURE() << "truncate " << file << ": " << ec.message();
      return {};
    }
    auto device = run_ok({"losetup", "-f", "--show", file});
    if (!device || device->rfind("/dev/loop", 0) != 0)
      return {};
    loops_.push_back(*device);
    files_.push_back(file);
    return *device;
  }

  /// Grows the backing file of loop `index` and tells the kernel (truncate +
  /// losetup -c).
  bool grow_backing(size_t index, uint64_t size_mib) {
    std::error_code ec;
    std::filesystem::resize_file(files_.at(index), size_mib * mib, ec);
    if (ec) {
      ADD_FAILURE() << "truncate: " << ec.message();
      return false;
    }
    return run_ok({"losetup", "-c", loops_.at(index)}).has_value();
  }

  std::string path(const std::string& name) const { return (dir_->path() / name).string(); }

  /// How many mounts sit at `target`.
  size_t mounts_at(const std::string& target) const {
    auto mounts = fs_ops::read_mounts();
    if (!mounts)
      return 0;
    auto resolved = real_path(target);
    size_t n = 0;
    for (auto& entry : *mounts)
      n += entry.mount_point == resolved;
    return n;
  }

  dev_t rdev(const std::string& device) const {
    struct stat st {};
    ::stat(device.c_str(), &st);
    return st.st_rdev;
  }

  std::optional<olocal::test::temp_dir> dir_;
  std::string root_;
  std::vector<std::string> loops_;
  std::vector<std::string> files_;
};

bool write_file(const std::string& file, size_t bytes) {
  int fd = ::open(file.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0)
    return false;
  std::string block(1 << 16, 'x');
  size_t done = 0;
  bool ok = true;
  while (ok && done < bytes) {
    auto n = ::write(fd, block.data(), std::min(block.size(), bytes - done));
    ok = n > 0;
    done += n > 0 ? static_cast<size_t>(n) : 0;
  }
  ok = ok && ::fsync(fd) == 0;
  ::close(fd);
  return ok;
}

// -- format ---------------------------------------------------------------------

TEST_F(fs_ops_loop, formats_ext4_lazily_with_a_label) {
  auto device = attach(64);
  ASSERT_FALSE(device.empty());
  auto before = fs_ops::detect_filesystem(device);
  ASSERT_OK(before);
  EXPECT_EQ(*before, "");

  fs_ops::format_options opts;
  opts.label = "vol-1";
  auto command = fs_ops::format(device, "ext4", opts);
  ASSERT_OK(command);
  EXPECT_TRUE(contains(*command, "mkfs.ext4 -F -q -E lazy_itable_init=1,lazy_journal_init=1"))
    << *command;
  EXPECT_TRUE(contains(*command, "-L vol-1 " + device)) << *command;
  auto found = fs_ops::detect_filesystem(device);
  ASSERT_OK(found);
  EXPECT_EQ(*found, "ext4");
  EXPECT_EQ(run_ok({"e2label", device}).value_or(""), "vol-1");
}

TEST_F(fs_ops_loop, formats_ext3) {
  auto device = attach(64);
  ASSERT_FALSE(device.empty());
  auto command = fs_ops::format(device, "ext3");
  ASSERT_OK(command);
  EXPECT_TRUE(contains(*command, "mkfs.ext3")) << *command;
  EXPECT_EQ(value_or(fs_ops::detect_filesystem(device), "?"), "ext3");
}

TEST_F(fs_ops_loop, formats_xfs_without_discard) {
  auto device = attach(320);
  ASSERT_FALSE(device.empty());
  fs_ops::format_options opts;
  opts.label = "xvol";
  auto command = fs_ops::format(device, "xfs", opts);
  ASSERT_OK(command);
  EXPECT_EQ(*command, "mkfs.xfs -f -q -K -L xvol " + device);
  EXPECT_EQ(value_or(fs_ops::detect_filesystem(device), "?"), "xfs");
}

TEST_F(fs_ops_loop, refuses_a_device_holding_data_unless_forced_and_never_when_mounted) {
  auto device = attach(320);
  ASSERT_FALSE(device.empty());
  ASSERT_OK(fs_ops::format(device, "ext4"));

  auto again = fs_ops::format(device, "xfs");
  ASSERT_FALSE(again);
  EXPECT_EQ(code_of(again.error()), errc::device_busy);
  EXPECT_TRUE(contains(render(again.error()), "ext4")) << render(again.error());
  EXPECT_TRUE(contains(render(again.error()), device)) << render(again.error());
  EXPECT_EQ(value_or(fs_ops::detect_filesystem(device), "?"), "ext4");

  fs_ops::format_options force;
  force.force = true;
  auto forced = fs_ops::format(device, "xfs", force);
  ASSERT_OK(forced);
  EXPECT_EQ(value_or(fs_ops::detect_filesystem(device), "?"), "xfs");

  auto target = path("mnt");
  ASSERT_OK(fs_ops::mount(device, target, "xfs"));
  auto mounted = fs_ops::format(device, "ext4", force);
  ASSERT_FALSE(mounted);
  EXPECT_EQ(code_of(mounted.error()), errc::device_busy);
  EXPECT_TRUE(contains(render(mounted.error()), "mounted at " + real_path(target)))
    << render(mounted.error());
  EXPECT_EQ(value_or(fs_ops::detect_filesystem(device), "?"), "xfs");
  EXPECT_TRUE(fs_ops::is_mountpoint(target));
}

TEST_F(fs_ops_loop, format_refuses_what_is_not_a_block_device) {
  auto plain = dir_->write("plain", "not a device").string();
  auto file = fs_ops::format(plain, "ext4");
  ASSERT_FALSE(file);
  EXPECT_EQ(code_of(file.error()), errc::invalid_argument);
  EXPECT_TRUE(contains(render(file.error()), plain)) << render(file.error());

  auto missing = fs_ops::format(path("no-such-device"), "ext4");
  ASSERT_FALSE(missing);
  EXPECT_EQ(code_of(missing.error()), errc::not_found) << render(missing.error());

  auto device = attach(64);
  ASSERT_FALSE(device.empty());
  auto btrfs = fs_ops::format(device, "btrfs");
  ASSERT_FALSE(btrfs);
  EXPECT_EQ(code_of(btrfs.error()), errc::invalid_argument);
  EXPECT_TRUE(contains(render(btrfs.error()), "btrfs"));
  EXPECT_EQ(value_or(fs_ops::detect_filesystem(device), "?"), "");
}

// -- mount and unmount ------------------------------------------------------------

TEST_F(fs_ops_loop, mount_and_unmount_are_idempotent) {
  auto device = attach(64);
  ASSERT_FALSE(device.empty());
  ASSERT_OK(fs_ops::format(device, "ext4"));
  auto target = path("staging/vol"); // parents created

  auto first = fs_ops::mount(device, target, "ext4", {"noatime", "data=ordered"});
  ASSERT_OK(first);
  EXPECT_TRUE(*first);
  auto second = fs_ops::mount(device, target, "ext4", {"noatime", "data=ordered"});
  ASSERT_OK(second);
  EXPECT_FALSE(*second);
  EXPECT_EQ(mounts_at(target), 1u);
  EXPECT_TRUE(fs_ops::is_mountpoint(target));

  auto entry = fs_ops::find_mount(target);
  ASSERT_OK(entry);
  ASSERT_TRUE(entry->has_value());
  EXPECT_EQ((*entry)->mount_point, real_path(target));
  EXPECT_EQ((*entry)->source, device);
  EXPECT_EQ((*entry)->fstype, "ext4");
  EXPECT_EQ((*entry)->major, major(rdev(device)));
  EXPECT_EQ((*entry)->minor, minor(rdev(device)));
  EXPECT_EQ((*entry)->root, "/");
  EXPECT_FALSE((*entry)->read_only);
  EXPECT_TRUE(contains((*entry)->options, "noatime")) << (*entry)->options;

  auto down = fs_ops::unmount(target);
  ASSERT_OK(down);
  EXPECT_TRUE(*down);
  auto again = fs_ops::unmount(target);
  ASSERT_OK(again);
  EXPECT_FALSE(*again);
  EXPECT_FALSE(fs_ops::is_mountpoint(target));
  auto nowhere = fs_ops::unmount(path("never/created"));
  ASSERT_OK(nowhere);
  EXPECT_FALSE(*nowhere);
  EXPECT_TRUE(std::filesystem::is_directory(target)); // unmount leaves the directory
}

TEST_F(fs_ops_loop, mount_refuses_another_source_or_other_parameters_at_the_target) {
  auto first = attach(64);
  auto second = attach(64);
  ASSERT_FALSE(first.empty());
  ASSERT_FALSE(second.empty());
  ASSERT_OK(fs_ops::format(first, "ext4"));
  ASSERT_OK(fs_ops::format(second, "ext4"));
  auto target = path("mnt");
  ASSERT_OK(fs_ops::mount(first, target, "ext4"));

  auto other = fs_ops::mount(second, target, "ext4");
  ASSERT_FALSE(other);
  EXPECT_EQ(code_of(other.error()), errc::already_exists);
  EXPECT_TRUE(contains(render(other.error()), first)) << render(other.error());
  EXPECT_TRUE(contains(render(other.error()), second)) << render(other.error());

  auto read_only = fs_ops::mount(first, target, "ext4", {"ro"});
  ASSERT_FALSE(read_only);
  EXPECT_EQ(code_of(read_only.error()), errc::already_exists) << render(read_only.error());
  auto fstype = fs_ops::mount(first, target, "xfs");
  ASSERT_FALSE(fstype);
  EXPECT_EQ(code_of(fstype.error()), errc::already_exists) << render(fstype.error());
  EXPECT_EQ(mounts_at(target), 1u);
}

TEST_F(fs_ops_loop, mount_reports_bad_options_missing_sources_and_busy_unmounts) {
  auto device = attach(64);
  ASSERT_FALSE(device.empty());
  ASSERT_OK(fs_ops::format(device, "ext4"));
  auto target = path("mnt");

  auto bogus = fs_ops::mount(device, target, "ext4", {"no_such_ext4_option"});
  ASSERT_FALSE(bogus);
  EXPECT_EQ(code_of(bogus.error()), errc::invalid_argument) << render(bogus.error());
  EXPECT_TRUE(contains(render(bogus.error()), target)) << render(bogus.error());
  EXPECT_FALSE(fs_ops::is_mountpoint(target));

  auto missing = fs_ops::mount(path("no-device"), target, "ext4");
  ASSERT_FALSE(missing);
  EXPECT_EQ(code_of(missing.error()), errc::not_found) << render(missing.error());

  auto wrong_type = fs_ops::mount(device, target, "xfs");
  ASSERT_FALSE(wrong_type);
  EXPECT_EQ(code_of(wrong_type.error()), errc::invalid_argument) << render(wrong_type.error());

  ASSERT_OK(fs_ops::mount(device, target, "ext4"));
  int fd = ::open((target + "/held").c_str(), O_WRONLY | O_CREAT | O_CLOEXEC, 0644);
  ASSERT_GE(fd, 0);
  auto busy = fs_ops::unmount(target);
  ::close(fd);
  ASSERT_FALSE(busy);
  EXPECT_EQ(code_of(busy.error()), errc::device_busy) << render(busy.error());
  EXPECT_TRUE(fs_ops::is_mountpoint(target));
  auto down = fs_ops::unmount(target);
  ASSERT_OK(down);
  EXPECT_TRUE(*down);
}

TEST_F(fs_ops_loop, read_only_mount_refuses_writes) {
  auto device = attach(64);
  ASSERT_FALSE(device.empty());
  ASSERT_OK(fs_ops::format(device, "ext4"));
  auto target = path("mnt");
  ASSERT_OK(fs_ops::mount(device, target, "ext4", {"ro", "noatime"}));
  auto entry = fs_ops::find_mount(target);
  ASSERT_OK(entry);
  ASSERT_TRUE(entry->has_value());
  EXPECT_TRUE((*entry)->read_only);
  int fd = ::open((target + "/new").c_str(), O_WRONLY | O_CREAT | O_CLOEXEC, 0644);
  EXPECT_EQ(fd, -1);
  EXPECT_EQ(errno, EROFS);
  auto same = fs_ops::mount(device, target, "ext4", {"ro"});
  ASSERT_OK(same);
  EXPECT_FALSE(*same);
}

TEST_F(fs_ops_loop, read_only_bind_mount_really_refuses_writes) {
  auto device = attach(64);
  ASSERT_FALSE(device.empty());
  ASSERT_OK(fs_ops::format(device, "ext4"));
  auto staging = path("staging");
  auto publish = path("pods/uid/volumes/vol");
  ASSERT_OK(fs_ops::mount(device, staging, "ext4", {"nosuid", "nodev"}));
  ASSERT_TRUE(write_file(staging + "/existing", 4096));

  auto bound = fs_ops::bind_mount(staging, publish, true);
  ASSERT_OK(bound);
  EXPECT_TRUE(*bound);
  auto entry = fs_ops::find_mount(publish);
  ASSERT_OK(entry);
  ASSERT_TRUE(entry->has_value());
  EXPECT_TRUE((*entry)->read_only);
  EXPECT_EQ((*entry)->major, major(rdev(device)));
  EXPECT_TRUE(contains((*entry)->options, "nosuid")) << (*entry)->options; // kept by the remount
  EXPECT_TRUE(contains((*entry)->options, "nodev")) << (*entry)->options;

  errno = 0;
  int fd = ::open((publish + "/existing").c_str(), O_WRONLY | O_CLOEXEC);
  EXPECT_EQ(fd, -1);
  EXPECT_EQ(errno, EROFS);
  errno = 0;
  fd = ::open((publish + "/new").c_str(), O_WRONLY | O_CREAT | O_CLOEXEC, 0644);
  EXPECT_EQ(fd, -1);
  EXPECT_EQ(errno, EROFS);
  fd = ::open((publish + "/existing").c_str(), O_RDONLY | O_CLOEXEC);
  EXPECT_GE(fd, 0);
  if (fd >= 0)
    ::close(fd);
  EXPECT_TRUE(write_file(staging + "/still-writable", 4096)); // the staging mount is not affected

  auto again = fs_ops::bind_mount(staging, publish, true);
  ASSERT_OK(again);
  EXPECT_FALSE(*again);
  EXPECT_EQ(mounts_at(publish), 1u);
  auto writable = fs_ops::bind_mount(staging, publish, false);
  ASSERT_FALSE(writable);
  EXPECT_EQ(code_of(writable.error()), errc::already_exists) << render(writable.error());
  ASSERT_TRUE(std::filesystem::create_directories(path("elsewhere")));
  auto other = fs_ops::bind_mount(path("elsewhere"), publish, true);
  ASSERT_FALSE(other);
  EXPECT_EQ(code_of(other.error()), errc::already_exists) << render(other.error());

  auto rw_target = path("pods/uid2/volumes/vol");
  auto rw = fs_ops::bind_mount(staging, rw_target, false);
  ASSERT_OK(rw);
  EXPECT_TRUE(*rw);
  EXPECT_TRUE(write_file(rw_target + "/via-bind", 4096));
  EXPECT_TRUE(std::filesystem::exists(staging + "/via-bind"));

  EXPECT_TRUE(value_or(fs_ops::unmount(publish), false));
  EXPECT_TRUE(value_or(fs_ops::unmount(rw_target), false));
  EXPECT_TRUE(value_or(fs_ops::unmount(staging), false));
}

TEST_F(fs_ops_loop, bind_mounts_a_raw_block_device_on_a_file) {
  auto device = attach(64);
  ASSERT_FALSE(device.empty());
  auto target = path("pods/uid/block/vol");
  auto bound = fs_ops::bind_mount(device, target, false);
  ASSERT_OK(bound);
  EXPECT_TRUE(*bound);
  struct stat st {};
  ASSERT_EQ(::stat(target.c_str(), &st), 0);
  EXPECT_TRUE(S_ISBLK(st.st_mode));
  EXPECT_EQ(st.st_rdev, rdev(device));
  auto size = fs_ops::block_device_size(target);
  ASSERT_OK(size);
  EXPECT_EQ(*size, 64 * mib);
  auto again = fs_ops::bind_mount(device, target, false);
  ASSERT_OK(again);
  EXPECT_FALSE(*again);

  ASSERT_TRUE(value_or(fs_ops::unmount(target), false));
  ASSERT_EQ(::stat(target.c_str(), &st), 0);
  EXPECT_TRUE(S_ISREG(st.st_mode)); // the placeholder file the bind sat on
}

TEST_F(fs_ops_loop, ensure_file_and_directory) {
  auto file = path("a/b/file");
  ASSERT_OK(fs_ops::ensure_file(file));
  EXPECT_TRUE(std::filesystem::is_regular_file(file));
  ASSERT_OK(fs_ops::ensure_file(file)); // exists: fine
  auto on_dir = fs_ops::ensure_file(path("a"));
  ASSERT_FALSE(on_dir);
  EXPECT_EQ(code_of(on_dir.error()), errc::invalid_argument);
  ASSERT_OK(fs_ops::ensure_directory(path("x/y/z")));
  ASSERT_OK(fs_ops::ensure_directory(path("x/y/z")));
  auto on_file = fs_ops::ensure_directory(file);
  ASSERT_FALSE(on_file);
  EXPECT_EQ(code_of(on_file.error()), errc::invalid_argument);
}

TEST_F(fs_ops_loop, finds_a_mount_whose_path_holds_a_space) {
  auto device = attach(64);
  ASSERT_FALSE(device.empty());
  ASSERT_OK(fs_ops::format(device, "ext4"));
  auto target = path("mnt with space/and\ttab");
  ASSERT_OK(fs_ops::mount(device, target, "ext4"));

  for (auto& spelling : {target, path("mnt with space/../mnt with space/and\ttab/")}) {
    auto entry = fs_ops::find_mount(spelling);
    ASSERT_OK(entry);
    ASSERT_TRUE(entry->has_value()) << spelling;
    EXPECT_EQ((*entry)->mount_point, real_path(target));
    EXPECT_EQ((*entry)->source, device);
  }
  EXPECT_TRUE(fs_ops::is_mountpoint(target));
  EXPECT_FALSE(fs_ops::is_mountpoint(path("mnt with space")));
  auto second = fs_ops::mount(device, target, "ext4");
  ASSERT_OK(second);
  EXPECT_FALSE(*second);
  EXPECT_TRUE(value_or(fs_ops::unmount(target), false));
  EXPECT_FALSE(fs_ops::is_mountpoint(target));
}

// -- grow -----------------------------------------------------------------------

TEST_F(fs_ops_loop, grows_ext4_offline) {
  auto device = attach(64);
  ASSERT_FALSE(device.empty());
  ASSERT_OK(fs_ops::format(device, "ext4"));
  // Mounted and unmounted once, so that resize2fs would demand a check.
  auto target = path("mnt");
  ASSERT_OK(fs_ops::mount(device, target, "ext4"));
  ASSERT_TRUE(write_file(target + "/data", 1 * mib));
  ASSERT_TRUE(value_or(fs_ops::unmount(target), false));

  ASSERT_TRUE(grow_backing(0, 160));
  EXPECT_EQ(value_or(fs_ops::block_device_size(device), 0), 160 * mib);
  auto command = fs_ops::grow(device, "", "ext4");
  ASSERT_OK(command);
  EXPECT_EQ(*command, "e2fsck -f -p " + device + " && resize2fs " + device);

  ASSERT_OK(fs_ops::mount(device, target, "ext4"));
  auto after = fs_ops::stats(target);
  ASSERT_OK(after);
  EXPECT_GT(after->total_bytes, 140 * mib);
  EXPECT_LE(after->total_bytes, 160 * mib);
  EXPECT_TRUE(std::filesystem::exists(target + "/data"));
}

TEST_F(fs_ops_loop, grows_ext4_while_mounted) {
  auto device = attach(64);
  ASSERT_FALSE(device.empty());
  ASSERT_OK(fs_ops::format(device, "ext4"));
  auto target = path("mnt");
  ASSERT_OK(fs_ops::mount(device, target, "ext4"));
  auto before = fs_ops::stats(target);
  ASSERT_OK(before);
  EXPECT_LE(before->total_bytes, 64 * mib);

  ASSERT_TRUE(grow_backing(0, 192));
  auto command = fs_ops::grow(device, target, "ext4");
  if (!has_capability(CAP_SYS_RESOURCE)) {
    // ext4's online resize ioctl demands CAP_SYS_RESOURCE. Without it the
    // online path (no e2fsck on a mounted filesystem) is all we can see.
    ASSERT_FALSE(command);
    EXPECT_EQ(code_of(command.error()), errc::command_failed);
    EXPECT_TRUE(contains(render(command.error()), ": resize2fs " + device + ": "))
      << render(command.error());
    EXPECT_FALSE(contains(render(command.error()), "e2fsck")) << render(command.error());
    GTEST_SKIP() << "online ext4 resize needs CAP_SYS_RESOURCE, which this process lacks";
  }
  ASSERT_OK(command);
  EXPECT_EQ(*command, "resize2fs " + device);
  auto after = fs_ops::stats(target);
  ASSERT_OK(after);
  EXPECT_GT(after->total_bytes, before->total_bytes + 100 * mib);
  EXPECT_LE(after->total_bytes, 192 * mib);
  // Already filling the device: nothing to do, still fine.
  ASSERT_OK(fs_ops::grow(device, target, "ext4"));
}

TEST_F(fs_ops_loop, grows_xfs_only_while_mounted) {
  auto device = attach(320);
  ASSERT_FALSE(device.empty());
  ASSERT_OK(fs_ops::format(device, "xfs"));
  auto target = path("mnt");

  ASSERT_TRUE(grow_backing(0, 512));
  auto offline = fs_ops::grow(device, target, "xfs");
  ASSERT_FALSE(offline);
  EXPECT_EQ(code_of(offline.error()), errc::failed_precondition) << render(offline.error());
  auto wrong = fs_ops::grow(device, "", "ext4");
  ASSERT_FALSE(wrong);
  EXPECT_EQ(code_of(wrong.error()), errc::failed_precondition) << render(wrong.error());
  EXPECT_TRUE(contains(render(wrong.error()), "xfs")) << render(wrong.error());

  ASSERT_OK(fs_ops::mount(device, target, "xfs"));
  auto before = fs_ops::stats(target);
  ASSERT_OK(before);
  auto command = fs_ops::grow(device, target, "xfs");
  ASSERT_OK(command);
  EXPECT_EQ(*command, "xfs_growfs -d " + real_path(target));
  auto after = fs_ops::stats(target);
  ASSERT_OK(after);
  EXPECT_GT(after->total_bytes, before->total_bytes + 150 * mib);
  EXPECT_LE(after->total_bytes, 512 * mib);
}

// -- stats ----------------------------------------------------------------------

/// The numbers df prints for `columns` (one line of headers, one of values).
std::vector<uint64_t> df(const std::string& columns, const std::string& target, bool inodes) {
  std::vector<std::string> argv{"df", "--output=" + columns};
  if (!inodes)
    argv.push_back("-B1");
  argv.push_back(target);
  auto out = run_ok(argv);
  std::vector<uint64_t> values;
  if (!out)
    return values;
  std::istringstream lines{*out};
  std::string header, row;
  std::getline(lines, header);
  std::getline(lines, row);
  std::istringstream numbers{row};
  uint64_t value = 0;
  while (numbers >> value)
    values.push_back(value);
  return values;
}

TEST_F(fs_ops_loop, stats_count_like_df) {
  auto device = attach(64);
  ASSERT_FALSE(device.empty());
  ASSERT_OK(fs_ops::format(device, "ext4"));
  auto target = path("mnt");
  ASSERT_OK(fs_ops::mount(device, target, "ext4"));

  auto empty = fs_ops::stats(target);
  ASSERT_OK(empty);
  EXPECT_EQ(df("size,used,avail", target, false),
            (std::vector<uint64_t>{empty->total_bytes, empty->used_bytes, empty->available_bytes}));
  EXPECT_EQ(df("itotal,iused,iavail", target, true),
            (std::vector<uint64_t>{empty->total_inodes, empty->used_inodes, empty->free_inodes}));
  EXPECT_GT(empty->total_bytes, 50 * mib);
  EXPECT_LE(empty->total_bytes, 64 * mib);
  EXPECT_LT(empty->available_bytes, empty->total_bytes);
  EXPECT_LE(empty->used_bytes + empty->available_bytes, empty->total_bytes);
  EXPECT_EQ(empty->used_inodes + empty->free_inodes, empty->total_inodes);

  ASSERT_TRUE(write_file(target + "/ten", 10 * mib));
  auto full = fs_ops::stats(target);
  ASSERT_OK(full);
  EXPECT_EQ(full->total_bytes, empty->total_bytes);
  EXPECT_GE(full->used_bytes, empty->used_bytes + 10 * mib);
  EXPECT_LE(full->used_bytes, empty->used_bytes + 11 * mib);
  EXPECT_LE(full->available_bytes, empty->available_bytes - 10 * mib);
  EXPECT_EQ(full->used_inodes, empty->used_inodes + 1);

  auto missing = fs_ops::stats(path("nowhere"));
  ASSERT_FALSE(missing);
  EXPECT_EQ(code_of(missing.error()), errc::not_found);
  EXPECT_TRUE(contains(render(missing.error()), path("nowhere")));
}

TEST_F(fs_ops_loop, block_device_size_reads_the_device) {
  auto device = attach(96);
  ASSERT_FALSE(device.empty());
  EXPECT_EQ(value_or(fs_ops::block_device_size(device), 0), 96 * mib);
  auto file = dir_->write("plain", "x").string();
  auto plain = fs_ops::block_device_size(file);
  ASSERT_FALSE(plain);
  EXPECT_EQ(code_of(plain.error()), errc::invalid_argument);
  auto missing = fs_ops::block_device_size(path("none"));
  ASSERT_FALSE(missing);
  EXPECT_EQ(code_of(missing.error()), errc::not_found);
}

// -- condition -------------------------------------------------------------------

TEST_F(fs_ops_loop, condition_is_normal_then_unmounted) {
  auto device = attach(64);
  ASSERT_FALSE(device.empty());
  ASSERT_OK(fs_ops::format(device, "ext4"));
  auto target = path("mnt");
  ASSERT_OK(fs_ops::mount(device, target, "ext4"));

  auto healthy = fs_ops::check(device, target);
  EXPECT_FALSE(healthy.abnormal) << healthy.message;
  EXPECT_EQ(healthy.message, "");

  ASSERT_TRUE(value_or(fs_ops::unmount(target), false));
  auto gone = fs_ops::check(device, target);
  EXPECT_TRUE(gone.abnormal);
  EXPECT_TRUE(contains(gone.message, "not mounted")) << gone.message;
}

TEST_F(fs_ops_loop, condition_sees_a_read_only_remount) {
  auto device = attach(64);
  ASSERT_FALSE(device.empty());
  ASSERT_OK(fs_ops::format(device, "ext4"));
  auto target = path("mnt");
  ASSERT_OK(fs_ops::mount(device, target, "ext4"));
  ASSERT_EQ(::mount(device.c_str(), target.c_str(), nullptr, MS_REMOUNT | MS_RDONLY, nullptr), 0)
    << std::strerror(errno);

  auto condition = fs_ops::check(device, target);
  EXPECT_TRUE(condition.abnormal);
  EXPECT_TRUE(contains(condition.message, "read-only")) << condition.message;
  auto read_only_expected = fs_ops::check(device, target, false);
  EXPECT_FALSE(read_only_expected.abnormal) << read_only_expected.message;
}

TEST_F(fs_ops_loop, condition_sees_a_missing_device_node) {
  auto device = attach(64);
  ASSERT_FALSE(device.empty());
  ASSERT_OK(fs_ops::format(device, "ext4"));
  // A private node for the same device, mounted, then removed: the volume
  // stays mounted while its device node is gone.
  auto node = path("node");
  ASSERT_EQ(::mknod(node.c_str(), S_IFBLK | 0600, rdev(device)), 0) << std::strerror(errno);
  auto target = path("mnt");
  ASSERT_OK(fs_ops::mount(node, target, "ext4"));
  ASSERT_EQ(::unlink(node.c_str()), 0);

  auto condition = fs_ops::check(node, target);
  EXPECT_TRUE(condition.abnormal);
  EXPECT_TRUE(contains(condition.message, "missing")) << condition.message;
  EXPECT_TRUE(contains(condition.message, node)) << condition.message;
  EXPECT_FALSE(fs_ops::check(device, target).abnormal); // the mount itself is fine
}

TEST_F(fs_ops_loop, condition_sees_another_device_at_the_mountpoint) {
  auto mine = attach(64);
  auto other = attach(64);
  ASSERT_FALSE(mine.empty());
  ASSERT_FALSE(other.empty());
  ASSERT_OK(fs_ops::format(other, "ext4"));
  auto target = path("mnt");
  ASSERT_OK(fs_ops::mount(other, target, "ext4"));
  auto condition = fs_ops::check(mine, target);
  EXPECT_TRUE(condition.abnormal);
  EXPECT_TRUE(contains(condition.message, "served by")) << condition.message;
  EXPECT_TRUE(contains(condition.message, other)) << condition.message;
}

} // namespace
