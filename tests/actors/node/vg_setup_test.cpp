#include "actors/node/vg_setup.hpp"

#include "actors/core/errc.hpp"

#include <gtest/gtest.h>

using namespace olocal;

namespace {

block_device dev(std::string name) {
  block_device d;
  d.name = name;
  d.path = "/dev/" + name;
  d.kind = "disk";
  d.size_bytes = 1ull << 30;
  return d;
}

lvm::pv_info pv(std::string path, std::string vg) {
  lvm::pv_info p;
  p.name = std::move(path);
  p.vg_name = std::move(vg);
  return p;
}

vg_setup_facts facts() {
  vg_setup_facts f;
  f.devices = {dev("sdb"), dev("sdc"), dev("sdd"), dev("sde"), dev("sdf"), dev("sdg")};
  f.devices[1].signatures = {"ext4"};        // sdc: a filesystem
  f.devices[2].mountpoints = {"/data"};      // sdd: mounted
  f.devices[3].signatures = {"LVM2_member"}; // sde: PV of vg-other
  f.devices[4].signatures = {"LVM2_member"}; // sdf: orphan PV
  f.devices[5].holders = {"dm-0"};           // sdg: held
  f.pvs = {pv("/dev/sde", "vg-other"), pv("/dev/sdf", "")};
  return f;
}

} // namespace

TEST(vg_setup, free_devices_become_a_volume_group) {
  auto plan = plan_create_vg({"pool0", {"/dev/sdb", "/dev/sdf"}}, facts());
  ASSERT_TRUE(plan) << render(plan.error());
  ASSERT_EQ(plan->size(), 2u);
  EXPECT_EQ((*plan)[0][0], "pvcreate");
  EXPECT_EQ((*plan)[1][0], "vgcreate");
  EXPECT_EQ(std::count((*plan)[1].begin(), (*plan)[1].end(), "pool0"), 1);
  EXPECT_EQ(std::find((*plan)[0].begin(), (*plan)[0].end(), "-f"), (*plan)[0].end())
    << "no force unless asked";
}

TEST(vg_setup, devices_in_use_are_refused_with_the_reason) {
  struct row {
    std::string device;
    bool force;
    errc expected;
    std::string text;
  } rows[] = {
    {"/dev/sdc", false, errc::device_busy, "(holds ext4); set force"},
    {"/dev/sdd", false, errc::device_busy, "mounted at /data"},
    {"/dev/sdd", true, errc::device_busy, "mounted at /data"}, // force never covers use
    {"/dev/sdg", true, errc::device_busy, "held by dm-0"},
    {"/dev/sde", true, errc::already_exists, "volume group vg-other"},
    {"/dev/nope", false, errc::not_found, "/dev/nope not found"},
  };
  for (auto& r : rows) {
    SCOPED_TRACE(r.device + (r.force ? " forced" : ""));
    auto plan = plan_create_vg({"pool0", {"/dev/sdb", r.device}, r.force}, facts());
    ASSERT_FALSE(plan);
    EXPECT_EQ(code_of(plan.error()), r.expected);
    EXPECT_NE(render(plan.error()).find(r.text), std::string::npos) << render(plan.error());
  }
}

TEST(vg_setup, force_takes_a_device_with_content) {
  auto plan = plan_create_vg({"pool0", {"/dev/sdc"}, true}, facts());
  ASSERT_TRUE(plan) << render(plan.error());
  EXPECT_NE(std::find((*plan)[0].begin(), (*plan)[0].end(), "-f"), (*plan)[0].end());
}

TEST(vg_setup, existing_group_is_idempotent_or_refused) {
  auto f = facts();
  f.pvs.push_back(pv("/dev/sdb", "pool0"));
  auto same = plan_create_vg({"pool0", {"/dev/sdb"}}, f);
  ASSERT_TRUE(same);
  EXPECT_TRUE(same->empty()) << "already there: nothing to run";
  auto other = plan_create_vg({"pool0", {"/dev/sdb", "/dev/sdf"}}, f);
  ASSERT_FALSE(other);
  EXPECT_EQ(code_of(other.error()), errc::already_exists);
}

TEST(vg_setup, bad_requests) {
  EXPECT_EQ(code_of(plan_create_vg({"", {"/dev/sdb"}}, facts()).error()), errc::invalid_argument);
  EXPECT_EQ(code_of(plan_create_vg({"pool0", {}}, facts()).error()), errc::invalid_argument);
  EXPECT_EQ(code_of(plan_create_vg({"pool0", {"/dev/sdb", "/dev/sdb"}}, facts()).error()),
            errc::invalid_argument);
}
