#include "actors/node/block_devices.hpp"

#include "tests/support/temp_dir.hpp"

#include <boost/json/parse.hpp>
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

using namespace olocal;
namespace fs = std::filesystem;

namespace {

// A fake sysfs tree shaped like the kernel's: /block/<dev>/{dev,size,ro,...}.
struct fake_sysfs : ::testing::Test {
  test::temp_dir dir{"olocal-sysfs"};
  fs::path root = dir.path();

  static void put(const fs::path& file, const std::string& text) {
    fs::create_directories(file.parent_path());
    std::ofstream{file} << text << "\n";
  }

  fs::path disk(const std::string& name, const std::string& devnum, uint64_t sectors,
                bool rotational, bool ro = false) {
    auto dir = root / "block" / name;
    put(dir / "dev", devnum);
    put(dir / "size", std::to_string(sectors));
    put(dir / "ro", ro ? "1" : "0");
    put(dir / "removable", "0");
    put(dir / "queue" / "rotational", rotational ? "1" : "0");
    fs::create_directories(dir / "holders");
    return dir;
  }

  void partition(const fs::path& disk_dir, const std::string& name, const std::string& devnum,
                 uint64_t sectors) {
    auto dir = disk_dir / name;
    put(dir / "partition", "1");
    put(dir / "dev", devnum);
    put(dir / "size", std::to_string(sectors));
    put(dir / "ro", "0");
    fs::create_directories(dir / "holders");
  }
};

} // namespace

TEST_F(fake_sysfs, disks_partitions_holders_and_kinds) {
  auto sda = disk("sda", "8:0", 2097152, true);
  partition(sda, "sda1", "8:1", 1024);
  partition(sda, "sda2", "8:2", 2048);
  fs::create_directories(sda / "sda2" / "holders" / "dm-0");
  auto nvme = disk("nvme0n1", "259:0", 4194304, false);
  fs::create_directories(nvme / "holders" / "md0");
  auto dm = disk("dm-0", "253:0", 2048, false);
  put(dm / "dm" / "name", "pool0-local--1");
  disk("loop7", "7:7", 0, false, true);
  // A directory that is not a partition (no "partition" file) is ignored.
  fs::create_directories(sda / "queue" / "iosched");

  auto devs = discover_block_devices(root);
  ASSERT_EQ(devs.size(), 6u);
  std::vector<std::string> names;
  for (auto& d : devs)
    names.push_back(d.name);
  EXPECT_EQ(names, (std::vector<std::string>{"dm-0", "loop7", "nvme0n1", "sda", "sda1", "sda2"}));

  auto& s = devs[3];
  EXPECT_EQ(s.kind, "disk");
  EXPECT_EQ(s.path, "/dev/sda");
  EXPECT_EQ(s.size_bytes, 2097152ull * 512);
  EXPECT_EQ(s.media_type(), "hdd");
  EXPECT_EQ(s.major, 8u);
  EXPECT_EQ(s.minor, 0u);
  EXPECT_EQ(s.partitions, (std::vector<std::string>{"sda1", "sda2"}));

  auto& p2 = devs[5];
  EXPECT_EQ(p2.kind, "partition");
  EXPECT_EQ(p2.parent, "sda");
  EXPECT_EQ(p2.media_type(), "hdd") << "partitions inherit the parent's medium";
  EXPECT_EQ(p2.holders, std::vector<std::string>{"dm-0"});
  EXPECT_EQ(p2.size_bytes, 2048u * 512);

  EXPECT_EQ(devs[2].kind, "nvme") << "NVMe devices are discovered (open-local skipped them)";
  EXPECT_EQ(devs[2].media_type(), "ssd");
  EXPECT_EQ(devs[2].holders, std::vector<std::string>{"md0"});
  EXPECT_EQ(devs[0].kind, "dm");
  EXPECT_EQ(devs[0].dm_name, "pool0-local--1");
  EXPECT_EQ(devs[1].kind, "loop");
  EXPECT_TRUE(devs[1].read_only);
}

TEST_F(fake_sysfs, large_minor_numbers_are_read_exactly) {
  disk("sdq", "65:256", 8, false);
  auto devs = discover_block_devices(root);
  ASSERT_EQ(devs.size(), 1u);
  EXPECT_EQ(devs[0].major, 65u);
  EXPECT_EQ(devs[0].minor, 256u);
}

TEST_F(fake_sysfs, missing_tree_and_missing_attributes) {
  EXPECT_TRUE(discover_block_devices(root / "nowhere").empty());
  fs::create_directories(root / "block" / "sdz");
  auto devs = discover_block_devices(root);
  ASSERT_EQ(devs.size(), 1u);
  EXPECT_EQ(devs[0].size_bytes, 0u);
  EXPECT_FALSE(devs[0].read_only);
}

TEST_F(fake_sysfs, json_form) {
  auto dir = disk("sdb", "8:16", 4, false);
  put(dir / "dm" / "name", "ignored-for-non-dm");
  auto devs = discover_block_devices(root);
  ASSERT_EQ(devs.size(), 1u);
  auto doc = boost::json::parse(to_json(devs[0])).as_object();
  EXPECT_EQ(doc.at("name").as_string(), "sdb");
  EXPECT_EQ(doc.at("sizeBytes").as_int64(), 2048);
  EXPECT_EQ(doc.at("mediaType").as_string(), "ssd");
  EXPECT_EQ(doc.at("minor").as_int64(), 16);
  EXPECT_FALSE(doc.contains("dmName"));
}

TEST(real_sysfs, this_host_has_block_devices) {
  // The machines we run on have at least one block device (the root disk or
  // loop devices); a parse that finds none would be a regression.
  auto devs = discover_block_devices("/sys");
  EXPECT_FALSE(devs.empty());
  for (auto& d : devs) {
    EXPECT_FALSE(d.name.empty());
    EXPECT_TRUE(d.major > 0 || d.minor > 0) << d.name;
  }
}

TEST_F(fake_sysfs, usage_from_mountinfo_and_signatures) {
  disk("sda", "8:0", 2048, false);
  disk("sdb", "8:16", 2048, false);
  disk("sdc", "8:32", 2048, false);
  disk("sdd", "8:48", 2048, false);
  auto devs = discover_block_devices(root);
  auto dev_root = root / "dev";
  fs::create_directories(dev_root);
  // sda: mounted; sdb: an xfs superblock; sdc: all zeroes; sdd: no device node.
  put(root / "mountinfo", "22 1 8:0 / /var/lib/data rw,relatime shared:1 - ext4 /dev/sda rw\n"
                          "23 1 0:21 / /proc rw - proc proc rw\n"
                          "garbage line\n");
  {
    std::ofstream xfs{dev_root / "sdb"};
    xfs << "XFSB";
    xfs << std::string(8192, '\0');
  }
  std::ofstream{dev_root / "sda"} << std::string(8192, '\0');
  std::ofstream{dev_root / "sdc"} << std::string(8192, '\0');
  annotate_usage(devs, root / "mountinfo", dev_root);
  ASSERT_EQ(devs.size(), 4u);
  EXPECT_EQ(devs[0].mountpoints, std::vector<std::string>{"/var/lib/data"});
  EXPECT_EQ(devs[0].in_use_reason(), "mounted at /var/lib/data");
  EXPECT_EQ(devs[1].signatures, std::vector<std::string>{"xfs"});
  EXPECT_EQ(devs[1].in_use_reason(), "holds xfs");
  EXPECT_EQ(devs[2].in_use_reason(), "") << "a zeroed, unmounted, unheld disk is free";
  EXPECT_NE(devs[3].probe_error.find("sdd"), std::string::npos);
  EXPECT_EQ(devs[3].in_use_reason().rfind("content unknown", 0), 0u)
    << "a device that cannot be read is never free";
  auto doc = boost::json::parse(to_json(devs[2])).as_object();
  EXPECT_TRUE(doc.at("free").as_bool());
  doc = boost::json::parse(to_json(devs[1])).as_object();
  EXPECT_FALSE(doc.at("free").as_bool());
  EXPECT_EQ(doc.at("inUse").as_string(), "holds xfs");
}

TEST(in_use, every_reason_in_order) {
  block_device d;
  EXPECT_EQ(d.in_use_reason(), "");
  d.probe_error = "x";
  EXPECT_EQ(d.in_use_reason(), "content unknown: x");
  d.signatures = {"LVM2_member"};
  EXPECT_EQ(d.in_use_reason(), "holds LVM2_member");
  d.partitions = {"sda1"};
  EXPECT_EQ(d.in_use_reason(), "has partitions");
  d.holders = {"dm-3"};
  EXPECT_EQ(d.in_use_reason(), "held by dm-3");
  d.mountpoints = {"/"};
  EXPECT_EQ(d.in_use_reason(), "mounted at /");
  d.read_only = true;
  EXPECT_EQ(d.in_use_reason(), "read-only");
}
