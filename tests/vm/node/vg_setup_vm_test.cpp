// Creating volume groups from the node's devices on the real kernel: free
// devices are taken, devices with data are refused and left untouched.

#include "actors/backends/lvm.hpp"
#include "actors/backends/process.hpp"
#include "actors/backends/signatures.hpp"
#include "actors/core/errc.hpp"
#include "actors/node/vg_setup.hpp"

#include "tests/vm/node/vm_support.hpp"

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

using namespace olocal;
using namespace std::chrono_literals;
namespace fs = std::filesystem;

namespace {

void cleanup_vg(const std::string& vg, const std::vector<std::string>& pvs) {
  run_command({{"vgremove", "-ff", "-y", vg}, 120s, {"DM_DISABLE_UDEV=1"}});
  for (auto& pv : pvs)
    run_command({{"pvremove", "-ff", "-y", pv}, 60s, {"DM_DISABLE_UDEV=1"}});
}

} // namespace

TEST(vg_setup_vm, takes_free_devices_and_leaves_data_alone) {
  if (!test::in_vm())
    GTEST_SKIP() << "needs device-mapper: run through tests/vm/run-in-vm.sh";
  test::loop_device free_dev{"/run", "olocal-free.img", 64ull << 20},
    ext4_dev{"/run", "olocal-ext4.img", 64ull << 20},
    other_dev{"/run", "olocal-other.img", 64ull << 20};
  ASSERT_FALSE(free_dev.path.empty());
  ASSERT_EQ(run_command({{"mkfs.ext4", "-q", "-F", ext4_dev.path}, 60s})->exit_code, 0);
  ASSERT_TRUE(lvm::run_lvm(*lvm::pvcreate({other_dev.path}), 60s));
  ASSERT_TRUE(lvm::run_lvm(*lvm::vgcreate("olocal_other", {other_dev.path}), 60s));

  // A device holding a filesystem is refused and keeps its filesystem.
  auto refused = create_volume_group({"olocal_new", {free_dev.path, ext4_dev.path}});
  ASSERT_FALSE(refused);
  EXPECT_EQ(code_of(refused.error()), errc::device_busy) << render(refused.error());
  EXPECT_EQ(probe_signatures(ext4_dev.path).value(), std::vector<std::string>{"ext4"});
  EXPECT_EQ(probe_signatures(free_dev.path).value(), std::vector<std::string>{})
    << "nothing was done to the free device either";

  // A PV of another group is never taken, not even forced.
  auto foreign = create_volume_group({"olocal_new", {other_dev.path}, true});
  ASSERT_FALSE(foreign);
  EXPECT_EQ(code_of(foreign.error()), errc::already_exists) << render(foreign.error());

  // The free device makes the group; asking again changes nothing.
  auto made = create_volume_group({"olocal_new", {free_dev.path}});
  ASSERT_TRUE(made) << render(made.error());
  EXPECT_EQ(made->size(), 2u);
  auto again = create_volume_group({"olocal_new", {free_dev.path}});
  ASSERT_TRUE(again) << render(again.error());
  EXPECT_TRUE(again->empty());
  auto vgs = lvm::run_lvm(*lvm::report_argv(lvm::report_kind::vgs, "olocal_new"), 60s);
  ASSERT_TRUE(vgs) << render(vgs.error());
  EXPECT_EQ(lvm::parse_vgs(*vgs)->front().pv_count, 1u);

  // Forced, the ext4 device is taken for a second group.
  auto forced = create_volume_group({"olocal_forced", {ext4_dev.path}, true});
  ASSERT_TRUE(forced) << render(forced.error());
  EXPECT_EQ(probe_signatures(ext4_dev.path).value(), std::vector<std::string>{"LVM2_member"});

  cleanup_vg("olocal_new", {free_dev.path});
  cleanup_vg("olocal_forced", {ext4_dev.path});
  cleanup_vg("olocal_other", {other_dev.path});
}
