#include "actors/node/host_probe.hpp"

#include "tests/support/temp_dir.hpp"

#include <boost/json/parse.hpp>
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

using namespace olocal;
namespace fs = std::filesystem;

namespace {

struct fake_host : ::testing::Test {
  test::temp_dir dir{"olocal-host"};
  fs::path root = dir.path();
  void put(const std::string& rel, const std::string& text) { dir.write(rel, text); }
};

} // namespace

TEST_F(fake_host, device_mapper_and_cgroup_v2) {
  put("proc/misc", "236 device-mapper\n 58 loop-control\n");
  put("proc/self/mounts", "cgroup2 /sys/fs/cgroup cgroup2 rw 0 0\n");
  put("cgroup/cgroup.controllers", "cpuset cpu io memory pids\n");
  auto facts = probe_host(root / "proc", root / "cgroup");
  EXPECT_TRUE(facts.device_mapper);
  EXPECT_EQ(facts.cgroup_mode, "v2");
  EXPECT_TRUE(facts.cgroup_v2_io);
  EXPECT_FALSE(facts.cgroup_v1_blkio);
}

TEST_F(fake_host, no_device_mapper_and_cgroup_v1_blkio) {
  put("proc/misc", " 58 loop-control\n");
  put("proc/self/mounts", "cgroup /sys/fs/cgroup/blkio cgroup rw,blkio 0 0\n");
  put("cgroup/blkio/blkio.throttle.read_bps_device", "");
  auto facts = probe_host(root / "proc", root / "cgroup");
  EXPECT_FALSE(facts.device_mapper);
  EXPECT_EQ(facts.cgroup_mode, "v1");
  EXPECT_TRUE(facts.cgroup_v1_blkio);
  EXPECT_FALSE(facts.cgroup_v2_io);
}

TEST_F(fake_host, v2_without_io_controller) {
  put("proc/misc", "");
  put("cgroup/cgroup.controllers", "cpu memory pids\n");
  auto facts = probe_host(root / "proc", root / "cgroup");
  EXPECT_EQ(facts.cgroup_mode, "v2");
  EXPECT_FALSE(facts.cgroup_v2_io) << "'pids' must not be mistaken for 'io'";
}

TEST(real_host, lvm_is_installed_and_reported) {
  // lvm2 is a dependency the installer provides on every machine we build on.
  auto facts = probe_host();
  EXPECT_FALSE(facts.lvm_version.empty()) << facts.lvm_error;
  EXPECT_FALSE(facts.kernel.empty());
  auto doc = boost::json::parse(to_json(facts)).as_object();
  EXPECT_EQ(doc.at("lvmVersion").as_string(), facts.lvm_version);
}
