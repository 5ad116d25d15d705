// Releasing a whole device through its disk actor on the real kernel: a loop
// device with a filesystem and a known pattern is wiped by the real runner
// (the data mover's secure wipe) and reads back as zeroes; a mounted device
// is refused and keeps its data.

#include "actors/backends/process.hpp"
#include "actors/backends/signatures.hpp"
#include "actors/core/errc.hpp"
#include "actors/core/runtime.hpp"
#include "actors/node/block_devices.hpp"
#include "actors/node/disk_actor.hpp"
#include "actors/node/lvm_runner.hpp"

#include "tests/vm/node/vm_support.hpp"
#include <caf/all.hpp>

#include <gtest/gtest.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <fcntl.h>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <memory>
#include <sys/mount.h>
#include <unistd.h>

using namespace olocal;
using namespace std::chrono_literals;
namespace fs = std::filesystem;

namespace {

constexpr uint64_t mib = 1ull << 20;
constexpr uint64_t device_bytes = 64 * mib;

using test::ask;
using test::run_ok;

/// A loop device over a sparse file in a fresh temporary directory.
struct loop_device {
  std::string dir;
  std::string image;
  std::string path;
  std::string name; ///< "loopN"

  loop_device() {
    std::string tmpl = (fs::temp_directory_path() / "olocal-release-XXXXXX").string();
    if (!::mkdtemp(tmpl.data())) {
      ADD_FAILURE() << "mkdtemp " << tmpl << ": " << std::strerror(errno);
      return;
    }
    dir = tmpl;
    image = dir + "/disk.img";
    std::ofstream{image};
    fs::resize_file(image, device_bytes);
    path = run_ok({"losetup", "-f", "--show", image});
    while (!path.empty() && path.back() == '\n')
      path.pop_back();
    name = fs::path{path}.filename().string();
  }

  ~loop_device() {
    if (!path.empty())
      run_command({{"losetup", "-d", path}, 60s});
    if (!dir.empty())
      fs::remove_all(dir);
  }
};

/// What discovery and the usage probe say about the device `name`.
block_device discover(const std::string& name) {
  for (auto& dev : discover_block_devices("/sys"))
    if (dev.name == name) {
      std::vector<block_device> one{dev};
      annotate_usage(one);
      return one.front();
    }
  ADD_FAILURE() << name << " not found under /sys/block";
  return {};
}

/// Fills the whole device with a pattern that holds no zero byte (so that
/// every byte a wipe misses shows), written around the page cache.
void write_pattern(const std::string& path, uint64_t bytes) {
  int fd = ::open(path.c_str(), O_WRONLY | O_DIRECT | O_CLOEXEC);
  ASSERT_GE(fd, 0) << path << ": " << std::strerror(errno);
  void* raw = nullptr;
  ASSERT_EQ(::posix_memalign(&raw, 4096, mib), 0);
  std::unique_ptr<unsigned char, decltype(&std::free)> buf{static_cast<unsigned char*>(raw),
                                                           &std::free};
  for (uint64_t off = 0; off < bytes; off += mib) {
    for (uint64_t i = 0; i < mib; ++i)
      buf.get()[i] = static_cast<unsigned char>(0x80 | ((off + i) * 131 >> 3));
    ASSERT_EQ(::pwrite(fd, buf.get(), mib, static_cast<off_t>(off)), static_cast<ssize_t>(mib))
      << "write " << path << " at " << off << ": " << std::strerror(errno);
  }
  ASSERT_EQ(::fsync(fd), 0);
  ::close(fd);
}

/// Reads the whole device around the page cache: the offset of the first
/// non-zero byte, or -1 when every byte is zero (-2 on a read error).
int64_t first_nonzero(const std::string& path, uint64_t bytes) {
  int fd = ::open(path.c_str(), O_RDONLY | O_DIRECT | O_CLOEXEC);
  if (fd < 0)
    return -2;
  void* raw = nullptr;
  if (::posix_memalign(&raw, 4096, mib) != 0) {
    ::close(fd);
    return -2;
  }
  std::unique_ptr<unsigned char, decltype(&std::free)> buf{static_cast<unsigned char*>(raw),
                                                           &std::free};
  int64_t found = -1;
  for (uint64_t off = 0; off < bytes && found == -1; off += mib) {
    if (::pread(fd, buf.get(), mib, static_cast<off_t>(off)) != static_cast<ssize_t>(mib)) {
      found = -2;
      break;
    }
    for (uint64_t i = 0; i < mib; ++i)
      if (buf.get()[i] != 0) {
        found = static_cast<int64_t>(off + i);
        break;
      }
  }
  ::close(fd);
  return found;
}

/// A disk actor with a real runner, torn down in the right order.
struct disk_session {
  runtime rt{runtime_options{2}};
  disk_actor disk;

  explicit disk_session(block_device facts) {
    disk = spawn_disk_actor(rt.system(), std::move(facts), spawn_lvm_runner(rt.system()));
  }
  ~disk_session() {
    caf::anon_send_exit(disk, caf::exit_reason::user_shutdown);
    disk = nullptr;
    rt.shutdown();
  }
};

struct device_release_vm : ::testing::Test {
  void SetUp() override {
    if (!test::in_vm())
      GTEST_SKIP() << "needs the VM's kernel: run through tests/vm/run-in-vm.sh";
  }
};

} // namespace

TEST_F(device_release_vm, release_wipes_every_byte_of_the_device) {
  loop_device dev;
  ASSERT_FALSE(dev.path.empty());
  write_pattern(dev.path, device_bytes);
  // nodiscard: mkfs must not zero the device itself, the pattern stays
  // everywhere the filesystem does not write.
  run_ok({"mkfs.ext4", "-q", "-F", "-E", "nodiscard", dev.path});
  ASSERT_NE(first_nonzero(dev.path, device_bytes), -1);

  auto facts = discover(dev.name);
  ASSERT_EQ(facts.path, dev.path);
  ASSERT_EQ(facts.size_bytes, device_bytes);
  ASSERT_EQ(facts.signatures, std::vector<std::string>{"ext4"}) << facts.probe_error;
  EXPECT_EQ(facts.in_use_reason(), "holds ext4");

  disk_session session{facts};
  auto method = ask<std::string>(session.rt, session.disk, release_device_req{});
  ASSERT_TRUE(method) << render(method.error());
  EXPECT_FALSE(method->empty());
  std::cout << "release of " << dev.path << " wiped with: " << *method << "\n";

  EXPECT_EQ(first_nonzero(dev.path, device_bytes), -1)
    << "a byte survived the wipe (-2: unreadable)";
  auto left = probe_signatures(dev.path);
  ASSERT_TRUE(left) << render(left.error());
  EXPECT_TRUE(left->empty());
  auto after = ask<block_device>(session.rt, session.disk, get_atom::value);
  ASSERT_TRUE(after) << render(after.error());
  EXPECT_TRUE(after->signatures.empty());
  EXPECT_EQ(after->in_use_reason(), "");
  EXPECT_TRUE(discover(dev.name).signatures.empty()) << "a rescan agrees";

  auto report = ask<actor_report>(session.rt, session.disk, inspect_atom::value);
  ASSERT_TRUE(report) << render(report.error());
  EXPECT_NE(report->state_json.find("\"lastMethod\":\"" + *method + "\""), std::string::npos)
    << report->state_json;
}

TEST_F(device_release_vm, release_of_a_mounted_device_is_refused_and_keeps_its_data) {
  loop_device dev;
  ASSERT_FALSE(dev.path.empty());
  run_ok({"mkfs.ext4", "-q", "-F", dev.path});
  auto mnt = dev.dir + "/mnt";
  fs::create_directory(mnt);
  ASSERT_EQ(::mount(dev.path.c_str(), mnt.c_str(), "ext4", 0, nullptr), 0) << std::strerror(errno);
  const std::string content = "precious data\n";
  {
    std::ofstream out{mnt + "/keep.txt"};
    out << content;
  }
  ::sync();

  auto facts = discover(dev.name);
  ASSERT_EQ(facts.mountpoints, std::vector<std::string>{mnt});
  {
    disk_session session{facts};
    for (bool wipe : {true, false}) {
      auto refused = ask<std::string>(session.rt, session.disk, release_device_req{wipe});
      ASSERT_FALSE(refused) << "released with " << *refused;
      EXPECT_EQ(code_of(refused.error()), errc::device_busy) << render(refused.error());
      EXPECT_NE(message_of(refused.error()).find("mounted at " + mnt), std::string::npos)
        << render(refused.error());
    }
  }
  {
    // Facts that missed the mount (a stale scan): the wipe itself claims the
    // device exclusively, and the kernel refuses that while it is mounted.
    auto stale = facts;
    stale.mountpoints.clear();
    disk_session session{stale};
    auto refused = ask<std::string>(session.rt, session.disk, release_device_req{});
    ASSERT_FALSE(refused) << "released with " << *refused;
    EXPECT_EQ(code_of(refused.error()), errc::device_busy) << render(refused.error());
  }

  std::string read_back;
  {
    std::ifstream in{mnt + "/keep.txt"};
    std::getline(in, read_back);
  }
  EXPECT_EQ(read_back + "\n", content);
  ASSERT_EQ(::umount(mnt.c_str()), 0) << std::strerror(errno);
  auto sigs = probe_signatures(dev.path);
  ASSERT_TRUE(sigs) << render(sigs.error());
  EXPECT_EQ(*sigs, std::vector<std::string>{"ext4"});
  run_ok({"e2fsck", "-f", "-n", dev.path});
  // The file again, after a fresh mount (not from the page cache of the first).
  ASSERT_EQ(::mount(dev.path.c_str(), mnt.c_str(), "ext4", MS_RDONLY, nullptr), 0)
    << std::strerror(errno);
  {
    std::ifstream in{mnt + "/keep.txt"};
    std::string again;
    std::getline(in, again);
    EXPECT_EQ(again + "\n", content);
  }
  ::umount(mnt.c_str());
}
