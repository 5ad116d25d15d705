// Live device-mapper state (olocal::dm) against the real kernel: run inside
// the VM harness (tests/vm/run-in-vm.sh), where thin pools, thin volumes and
// CoW snapshots are real device-mapper targets on a loop device.

#include "actors/backends/devmapper.hpp"
#include "actors/backends/lvm.hpp"
#include "actors/backends/process.hpp"
#include "actors/core/errc.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <fcntl.h>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <memory>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

using namespace olocal;
using namespace std::chrono_literals;
namespace fs = std::filesystem;

namespace {

constexpr uint64_t mib = 1ull << 20;
constexpr uint64_t sector = 512;

std::string trimmed(std::string text) {
  auto first = text.find_first_not_of(" \n\t");
  if (first == std::string::npos)
    return {};
  auto last = text.find_last_not_of(" \n\t");
  return text.substr(first, last - first + 1);
}

/// Runs an lvm2 argv (from the lvm:: builders or written here); "" on success,
/// the rendered error otherwise.
std::string lvm_run(const caf::expected<std::vector<std::string>>& argv) {
  if (!argv)
    return render(argv.error());
  auto out = lvm::run_lvm(*argv, 120s);
  return out ? std::string{} : render(out.error());
}

/// A scratch VG on a loop device backed by a sparse file on the guest's
/// tmpfs. Everything it made is removed in the destructor, in reverse order,
/// whatever the test did or failed to do in between.
struct scratch_vg {
  std::string vg;
  std::string image;
  std::string loop;
  bool pv_made = false;
  bool vg_made = false;
  std::string setup_error; ///< "" when the VG is ready

  scratch_vg(std::string name, uint64_t bytes) : vg(std::move(name)) {
    image = "/run/" + vg + ".img";
    std::error_code ec;
    { std::ofstream{image}; }
    fs::resize_file(image, bytes, ec);
    if (ec) {
      setup_error = "cannot size " + image + ": " + ec.message();
      return;
    }
    auto attached = run_command({{"losetup", "-f", "--show", image}, 60s});
    if (!attached || attached->exit_code != 0) {
      setup_error = "losetup: " + (attached ? attached->err : render(attached.error()));
      return;
    }
    loop = trimmed(attached->out);
    if (auto err = lvm_run(lvm::pvcreate({loop})); !err.empty()) {
      setup_error = err;
      return;
    }
    pv_made = true;
    if (auto err = lvm_run(lvm::vgcreate(vg, {loop})); !err.empty()) {
      setup_error = err;
      return;
    }
    vg_made = true;
  }

  ~scratch_vg() {
    std::vector<std::string> env{"DM_DISABLE_UDEV=1", "LC_ALL=C"};
    if (vg_made) {
      run_command({{"lvremove", "-ff", "-y", vg}, 120s, env});
      run_command({{"vgremove", "-ff", "-y", vg}, 120s, env});
    }
    if (pv_made)
      run_command({{"pvremove", "-ff", "-y", loop}, 60s, env});
    if (!loop.empty())
      run_command({{"losetup", "-d", loop}, 60s});
    std::error_code ignored;
    fs::remove(image, ignored);
  }

  scratch_vg(const scratch_vg&) = delete;
  scratch_vg& operator=(const scratch_vg&) = delete;

  std::string path(const std::string& lv) const { return "/dev/" + vg + "/" + lv; }
  std::string dm(const std::string& lv) const { return dm::dm_name(vg, lv); }
};

/// Writes `bytes` of non-zero data at `offset` with O_DIRECT (past the page
/// cache, so the target sees the writes before this returns), then fsync.
/// "" on success, the failing step otherwise.
std::string write_direct(const std::string& path, uint64_t offset, uint64_t bytes) {
  constexpr size_t chunk = 1 << 20;
  void* raw = nullptr;
  if (::posix_memalign(&raw, 4096, chunk) != 0)
    return "posix_memalign failed";
  std::unique_ptr<void, decltype(&std::free)> buffer{raw, &std::free};
  std::memset(raw, 0x5a, chunk);
  int fd = ::open(path.c_str(), O_WRONLY | O_DIRECT | O_CLOEXEC);
  if (fd < 0)
    return "open " + path + ": " + std::strerror(errno);
  std::string failure;
  for (uint64_t done = 0; done < bytes && failure.empty();) {
    size_t n = static_cast<size_t>(std::min<uint64_t>(chunk, bytes - done));
    auto written = ::pwrite(fd, raw, n, static_cast<off_t>(offset + done));
    if (written < 0)
      failure = "pwrite " + path + ": " + std::strerror(errno);
    else
      done += static_cast<uint64_t>(written);
  }
  if (failure.empty() && ::fsync(fd) != 0)
    failure = "fsync " + path + ": " + std::strerror(errno);
  ::close(fd);
  return failure;
}

/// The chunk size of a thin pool, from lvm2's report.
uint64_t pool_chunk_bytes(const std::string& vg, const std::string& pool) {
  auto out = lvm::run_lvm(
    {"lvs", "--noheadings", "--units", "b", "--nosuffix", "-o", "chunk_size", vg + "/" + pool},
    120s);
  if (!out)
    return 0;
  return std::strtoull(trimmed(*out).c_str(), nullptr, 10);
}

/// Prints a target's raw status line (kept in the test log: real lines for
/// the parsers' host tests).
void show_status(const std::string& name) {
  auto targets = dm::status(name);
  if (!targets) {
    std::cout << "[dm status] " << name << ": " << render(targets.error()) << "\n";
    return;
  }
  for (auto& t : *targets)
    std::cout << "[dm status] " << name << ": " << t.start << " " << t.length << " " << t.type
              << " '" << t.params << "'\n";
}

struct devmapper_vm : ::testing::Test {
  void SetUp() override {
    if (!dm::available())
      GTEST_SKIP() << "needs device-mapper: run through tests/vm/run-in-vm.sh";
    dm::route_log_once();
  }
};

} // namespace

TEST_F(devmapper_vm, thin_pool_and_thin_volume_usage_follow_writes) {
  // Dashes in both names: the device-mapper names are mangled.
  scratch_vg disk{"olocal-dmt", 256 * mib};
  ASSERT_EQ(disk.setup_error, "");

  ASSERT_EQ(lvm_run(lvm::lvcreate_thin_pool(disk.vg, "pool", 64 * mib)), "");
  auto chunk = pool_chunk_bytes(disk.vg, "pool");
  ASSERT_GT(chunk, 0u);

  // A pool without thin volumes carries the thin-pool target itself.
  show_status(disk.dm("pool"));
  auto bare = dm::thin_pool(disk.dm("pool"));
  ASSERT_TRUE(bare) << render(bare.error());
  EXPECT_EQ(bare->used_data_blocks, 0u);
  EXPECT_EQ(bare->total_data_blocks * chunk, 64 * mib);
  EXPECT_FALSE(bare->fail);
  EXPECT_FALSE(bare->read_only);
  EXPECT_FALSE(bare->needs_check);
  EXPECT_GT(bare->used_metadata_blocks, 0u);
  auto via_lvm = dm::lvm_thin_pool(disk.vg, "pool");
  ASSERT_TRUE(via_lvm) << render(via_lvm.error());
  EXPECT_EQ(via_lvm->total_data_blocks, bare->total_data_blocks);

  ASSERT_EQ(lvm_run(lvm::lvcreate_thin(disk.vg, "pool", "thin-a", 128 * mib)), "");
  auto thin_dm = disk.dm("thin-a");
  ASSERT_EQ(thin_dm, "olocal--dmt-thin--a");

  // With a thin volume, LVM moves the target to the "-tpool" layer.
  auto layered = dm::thin_pool(disk.dm("pool"));
  ASSERT_FALSE(layered);
  EXPECT_EQ(code_of(layered.error()), errc::failed_precondition) << render(layered.error());
  show_status(dm::dm_name(disk.vg, "pool", "tpool"));
  show_status(thin_dm);
  auto before = dm::lvm_thin_pool(disk.vg, "pool");
  ASSERT_TRUE(before) << render(before.error());
  auto thin_before = dm::thin(thin_dm);
  ASSERT_TRUE(thin_before) << render(thin_before.error());
  EXPECT_EQ(thin_before->mapped_sectors, 0u);

  ASSERT_EQ(write_direct(disk.path("thin-a"), 0, 8 * mib), "");

  show_status(dm::dm_name(disk.vg, "pool", "tpool"));
  show_status(thin_dm);
  auto after = dm::lvm_thin_pool(disk.vg, "pool");
  ASSERT_TRUE(after) << render(after.error());
  auto provisioned = (after->used_data_blocks - before->used_data_blocks) * chunk;
  EXPECT_GE(provisioned, 8 * mib);
  EXPECT_LE(provisioned, 8 * mib + chunk);
  EXPECT_EQ(after->total_data_blocks * chunk, 64 * mib);
  EXPECT_DOUBLE_EQ(after->data_fill, static_cast<double>(after->used_data_blocks) /
                                       static_cast<double>(after->total_data_blocks));
  EXPECT_GT(after->data_fill, 0.12);
  EXPECT_GE(after->transaction_id, 1u) << "creating the thin volume was a transaction";
  EXPECT_FALSE(after->out_of_space);

  auto thin_after = dm::thin(thin_dm);
  ASSERT_TRUE(thin_after) << render(thin_after.error());
  EXPECT_FALSE(thin_after->fail);
  EXPECT_GE(thin_after->mapped_sectors, 8 * mib / sector);
  EXPECT_GE(thin_after->highest_mapped_sector, 8 * mib / sector - 1);

  // info() agrees with the device node LVM made.
  auto inf = dm::info(thin_dm);
  ASSERT_TRUE(inf) << render(inf.error());
  EXPECT_TRUE(inf->exists);
  struct stat st {};
  ASSERT_EQ(::stat(disk.path("thin-a").c_str(), &st), 0) << std::strerror(errno);
  ASSERT_TRUE(S_ISBLK(st.st_mode));
  EXPECT_EQ(inf->major, major(st.st_rdev));
  EXPECT_EQ(inf->minor, minor(st.st_rdev));
  EXPECT_EQ(inf->target_count, 1);
  EXPECT_EQ(inf->open_count, 0);
  EXPECT_FALSE(inf->suspended);
  EXPECT_FALSE(inf->read_only);

  auto targets = dm::status(thin_dm);
  ASSERT_TRUE(targets) << render(targets.error());
  ASSERT_EQ(targets->size(), 1u);
  EXPECT_EQ(targets->front().type, "thin");
  EXPECT_EQ(targets->front().start, 0u);
  EXPECT_EQ(targets->front().length, 128 * mib / sector);

  // Wrong target types and missing devices.
  auto not_snapshot = dm::snapshot(thin_dm);
  ASSERT_FALSE(not_snapshot);
  EXPECT_EQ(code_of(not_snapshot.error()), errc::failed_precondition);
  EXPECT_NE(message_of(not_snapshot.error()).find(thin_dm), std::string::npos);
  auto missing_info = dm::info("olocal--dmt-missing");
  ASSERT_TRUE(missing_info) << render(missing_info.error());
  EXPECT_FALSE(missing_info->exists);
  auto missing_status = dm::status("olocal--dmt-missing");
  ASSERT_FALSE(missing_status);
  EXPECT_EQ(code_of(missing_status.error()), errc::not_found) << render(missing_status.error());
  EXPECT_NE(message_of(missing_status.error()).find("olocal--dmt-missing"), std::string::npos);
  auto missing_thin = dm::thin("olocal--dmt-missing");
  ASSERT_FALSE(missing_thin);
  EXPECT_EQ(code_of(missing_thin.error()), errc::not_found) << render(missing_thin.error());
  auto missing_pool = dm::lvm_thin_pool(disk.vg, "nopool");
  ASSERT_FALSE(missing_pool);
  EXPECT_EQ(code_of(missing_pool.error()), errc::not_found) << render(missing_pool.error());
  EXPECT_NE(message_of(missing_pool.error()).find("nopool"), std::string::npos);
}

TEST_F(devmapper_vm, cow_snapshot_overfilled_by_origin_writes_turns_invalid) {
  scratch_vg disk{"olocal-dms", 128 * mib};
  ASSERT_EQ(disk.setup_error, "");
  ASSERT_EQ(lvm_run(lvm::lvcreate_linear(disk.vg, "lin-a", 32 * mib)), "");
  // The smallest COW area lvm2 gives: one 4 MiB extent.
  ASSERT_EQ(lvm_run(lvm::lvcreate_cow_snapshot(disk.vg, "lin-a", "snap-a", 4 * mib)), "");
  auto snap_dm = disk.dm("snap-a");

  show_status(snap_dm);
  auto fresh = dm::snapshot(snap_dm);
  ASSERT_TRUE(fresh) << render(fresh.error());
  EXPECT_FALSE(fresh->invalid);
  EXPECT_FALSE(fresh->overflow);
  EXPECT_EQ(fresh->total_sectors, 4 * mib / sector);
  EXPECT_LT(fresh->fill, 0.05);

  auto snap_info = dm::info(snap_dm);
  ASSERT_TRUE(snap_info) << render(snap_info.error());
  EXPECT_TRUE(snap_info->read_only) << "lvcreate -p r";

  // The origin device carries a snapshot-origin target, not a snapshot.
  auto origin = dm::snapshot(disk.dm("lin-a"));
  ASSERT_FALSE(origin);
  EXPECT_EQ(code_of(origin.error()), errc::failed_precondition) << render(origin.error());

  // 1 MiB of origin writes: copied into the COW area, still valid.
  ASSERT_EQ(write_direct(disk.path("lin-a"), 0, 1 * mib), "");
  show_status(snap_dm);
  auto some = dm::snapshot(snap_dm);
  ASSERT_TRUE(some) << render(some.error());
  EXPECT_FALSE(some->invalid);
  EXPECT_GT(some->allocated_sectors, fresh->allocated_sectors + 1 * mib / sector - 1);
  EXPECT_GT(some->fill, fresh->fill);

  // 16 MiB more than the 4 MiB area holds: the kernel drops the snapshot.
  ASSERT_EQ(write_direct(disk.path("lin-a"), 1 * mib, 16 * mib), "");
  show_status(snap_dm);
  auto overfilled = dm::snapshot(snap_dm);
  ASSERT_TRUE(overfilled) << render(overfilled.error());
  EXPECT_TRUE(overfilled->invalid);
}
