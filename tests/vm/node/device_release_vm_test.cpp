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

#include "tests/support/temp_dir.hpp"
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
using test::first_nonzero;
using test::run_ok;
using test::write_pattern;

/// A loop device of device_bytes over a sparse file in a fresh temporary
/// directory.
struct scratch_device {
  test::temp_dir dir{"olocal-release"};
  test::loop_device dev{dir.path().string(), "disk.img", device_bytes};
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
  scratch_device scratch;
  auto& dev = scratch.dev;
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
  scratch_device scratch;
  auto& dev = scratch.dev;
  ASSERT_FALSE(dev.path.empty());
  run_ok({"mkfs.ext4", "-q", "-F", dev.path});
  auto mnt = scratch.dir.path().string() + "/mnt";
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
