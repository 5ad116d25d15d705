// The volume-group actor against real LVM and device-mapper: run inside the VM
// harness (tests/vm/run-in-vm.sh), where every assertion is on kernel state.

#include "actors/backends/lvm.hpp"
#include "actors/backends/process.hpp"
#include "actors/core/errc.hpp"
#include "actors/core/runtime.hpp"
#include "actors/node/lvm_runner.hpp"
#include "actors/node/vg_actor.hpp"

#include "tests/vm/node/vm_support.hpp"
#include <caf/all.hpp>

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <thread>

using namespace olocal;
using namespace std::chrono_literals;
namespace fs = std::filesystem;
using test::ask;
using test::loop_vg;
using test::run_ok;

namespace {

constexpr uint64_t mib = 1ull << 20;

/// A VG on a loop device with its actor, torn down in the right order.
struct vg_session {
  loop_vg disk;
  vg_options opts;
  runtime rt{runtime_options{2}};
  vg_actor vg;

  vg_session(std::string name, uint64_t bytes, vg_options o)
    : disk(std::move(name), bytes), opts(std::move(o)) {
    vg = spawn_vg_actor(rt.system(), disk.vg, spawn_lvm_runner(rt.system()), opts);
  }
  ~vg_session() {
    caf::anon_send_exit(vg, caf::exit_reason::user_shutdown);
    vg = nullptr;
    rt.shutdown();
  }
};

/// No rescan timer: every scan in these tests is caused by the test.
vg_options manual_scans() {
  vg_options opts;
  opts.rescan_interval = std::chrono::milliseconds{0};
  return opts;
}

struct vg_actor_vm : ::testing::Test {
  void SetUp() override {
    if (!test::in_vm())
      GTEST_SKIP() << "needs device-mapper: run through tests/vm/run-in-vm.sh";
  }
};

std::string lvs_tags(const std::string& full_name) {
  auto out = run_ok({"lvs", "--noheadings", "-o", "lv_tags", full_name});
  out.erase(0, out.find_first_not_of(' '));
  while (!out.empty() && (out.back() == '\n' || out.back() == ' '))
    out.pop_back();
  return out;
}

} // namespace

TEST_F(vg_actor_vm, lifecycle_on_real_lvm_and_rebuild_after_restart) {
  auto options = manual_scans();
  options.thin_overprovision_ratio = 10; // 1 GiB of thin volume in a 128 MiB pool
  vg_session session{"olocal_vmt", 512 * mib, options};
  auto& [disk, opts, rt, vg] = session;

  auto view = ask<vg_view>(rt, vg, get_atom::value);
  ASSERT_TRUE(view) << render(view.error());
  EXPECT_EQ(view->vg.name, disk.vg);
  EXPECT_EQ(view->pvs.size(), 1u);
  EXPECT_EQ(view->pvs[0].name, disk.loop);

  // Create: a real, active device node with our tags.
  auto lv = ask<lvm::lv_info>(rt, vg, create_lv_req{"local-a", 64 * mib});
  ASSERT_TRUE(lv) << render(lv.error());
  EXPECT_EQ(lv->size_bytes, 64 * mib);
  EXPECT_TRUE(lv->active);
  struct stat st {};
  ASSERT_EQ(::stat(lv->path.c_str(), &st), 0) << lv->path;
  EXPECT_TRUE(S_ISBLK(st.st_mode));
  EXPECT_EQ(static_cast<int32_t>(major(st.st_rdev)), lv->kernel_major);
  EXPECT_EQ(static_cast<int32_t>(minor(st.st_rdev)), lv->kernel_minor);
  auto tags = lvs_tags(disk.vg + "/local-a");
  EXPECT_NE(tags.find("olocal/owner=standalone"), std::string::npos) << tags;
  EXPECT_NE(tags.find("olocal/kind=volume"), std::string::npos) << tags;

  // Idempotent create; incompatible duplicate.
  auto again = ask<lvm::lv_info>(rt, vg, create_lv_req{"local-a", 64 * mib});
  ASSERT_TRUE(again);
  EXPECT_EQ(again->uuid, lv->uuid);
  auto bigger = ask<lvm::lv_info>(rt, vg, create_lv_req{"local-a", 128 * mib});
  ASSERT_FALSE(bigger);
  EXPECT_EQ(code_of(bigger.error()), errc::already_exists);

  // Not enough space: a typed error from lvm2's own refusal.
  auto huge = ask<lvm::lv_info>(rt, vg, create_lv_req{"local-huge", 4096 * mib});
  ASSERT_FALSE(huge);
  EXPECT_EQ(code_of(huge.error()), errc::resource_exhausted) << render(huge.error());

  // CoW snapshot of it, then the origin cannot go while the snapshot exists.
  create_lv_req snap{"snap-a", 16 * mib, "snapshot", 0, "", "local-a", "snapshot"};
  auto s = ask<lvm::lv_info>(rt, vg, snap);
  ASSERT_TRUE(s) << render(s.error());
  EXPECT_TRUE(s->is_cow_snapshot());
  EXPECT_TRUE(s->read_only);
  EXPECT_EQ(s->origin, "local-a");
  auto refused = ask<bool>(rt, vg, delete_lv_req{"local-a"});
  ASSERT_FALSE(refused);
  EXPECT_EQ(code_of(refused.error()), errc::failed_precondition);

  // Thin pool (the operator's, made here by hand), thin volume, thin snapshot.
  run_ok(*lvm::lvcreate_thin_pool(disk.vg, "pool", 128 * mib, 0, {"olocal/owner=standalone"}));
  ASSERT_TRUE(ask<uint64_t>(rt, vg, rescan_atom::value));
  create_lv_req thin{"local-t", 1024 * mib, "thin", 0, "pool", "", "volume"};
  auto t = ask<lvm::lv_info>(rt, vg, thin);
  ASSERT_TRUE(t) << render(t.error());
  EXPECT_TRUE(t->is_thin_volume());
  EXPECT_EQ(t->size_bytes, 1024 * mib) << "over-provisioned beyond the 128 MiB pool";
  create_lv_req tsnap{"snap-t", 0, "thin-snapshot", 0, "", "local-t", "snapshot"};
  auto ts = ask<lvm::lv_info>(rt, vg, tsnap);
  ASSERT_TRUE(ts) << render(ts.error());
  EXPECT_EQ(ts->origin, "local-t");
  EXPECT_TRUE(ts->active) << "thin snapshots are activated (no activation skip)";

  // Extend a volume with a mounted ext4 on it, growing the filesystem online.
  run_ok({"mkfs.ext4", "-q", "-F", lv->path});
  fs::create_directories("/run/olocal-mnt");
  run_ok({"mount", lv->path, "/run/olocal-mnt"});
  auto grown = ask<lvm::lv_info>(rt, vg, extend_lv_req{"local-b-missing", 80 * mib, false});
  EXPECT_EQ(code_of(grown.error()), errc::not_found);
  ASSERT_TRUE(ask<bool>(rt, vg, delete_lv_req{"snap-a"}));
  grown = ask<lvm::lv_info>(rt, vg, extend_lv_req{"local-a", 96 * mib, true});
  ASSERT_TRUE(grown) << render(grown.error());
  EXPECT_EQ(grown->size_bytes, 96 * mib);
  auto df = run_ok({"df", "-B1", "--output=size", "/run/olocal-mnt"});
  auto fs_bytes = std::stoull(df.substr(df.find('\n') + 1));
  EXPECT_GT(fs_bytes, 80 * mib) << "the mounted filesystem grew with the volume";
  run_ok({"umount", "/run/olocal-mnt"});

  // Restart: a new actor rebuilds its view from LVM reports and tags alone.
  caf::anon_send_exit(vg, caf::exit_reason::user_shutdown);
  vg = spawn_vg_actor(rt.system(), disk.vg, spawn_lvm_runner(rt.system()), opts);
  auto rebuilt = ask<vg_view>(rt, vg, get_atom::value);
  ASSERT_TRUE(rebuilt) << render(rebuilt.error());
  for (auto name : {"local-a", "local-t", "snap-t", "pool"}) {
    auto found = rebuilt->find(name);
    ASSERT_NE(found, nullptr) << name;
    EXPECT_TRUE(owned_by_us(*found, opts)) << name;
  }
  EXPECT_EQ(lv_tags::value(*rebuilt->find("snap-t"), lv_tags::source), "local-t");
  EXPECT_EQ(rebuilt->find("local-a")->size_bytes, 96 * mib);

  // Delete in dependency order; deleting again is fine.
  for (auto name : {"snap-t", "local-t", "local-a"}) {
    auto removed = ask<bool>(rt, vg, delete_lv_req{name});
    ASSERT_TRUE(removed) << name << ": " << render(removed.error());
    EXPECT_TRUE(*removed) << name;
  }
  auto absent = ask<bool>(rt, vg, delete_lv_req{"local-a"});
  ASSERT_TRUE(absent);
  EXPECT_FALSE(*absent);
  EXPECT_FALSE(fs::exists("/dev/" + disk.vg + "/local-a"));
}

TEST_F(vg_actor_vm, thin_pool_policy_and_automatic_growth_on_real_lvm) {
  vg_session session{"olocal_vmpol", 512 * mib, manual_scans()};
  auto& [disk, opts, rt, vg] = session;

  create_lv_req pool{"pool", 64 * mib, "thin-pool", 0, "", "", "pool"};
  auto p = ask<lvm::lv_info>(rt, vg, pool);
  ASSERT_TRUE(p) << render(p.error());
  ASSERT_TRUE(p->is_thin_pool());
  // Over-provisioning ratio 2: 100 MiB fits in a 64 MiB pool, 140 MiB does not.
  create_lv_req thin{"local-t", 100 * mib, "thin", 0, "pool", "", "volume"};
  auto t = ask<lvm::lv_info>(rt, vg, thin);
  ASSERT_TRUE(t) << render(t.error());
  create_lv_req more{"local-u", 40 * mib, "thin", 0, "pool", "", "volume"};
  auto refused = ask<lvm::lv_info>(rt, vg, more);
  ASSERT_FALSE(refused);
  EXPECT_EQ(code_of(refused.error()), errc::resource_exhausted) << render(refused.error());

  // Fill the pool past 80 %: the next scan grows it from the VG's free space.
  run_ok(
    {"dd", "if=/dev/urandom", "of=" + t->path, "bs=1M", "count=56", "oflag=direct", "status=none"});
  ASSERT_TRUE(ask<uint64_t>(rt, vg, rescan_atom::value));
  auto after = ask<vg_view>(rt, vg, get_atom::value); // queued behind the extension
  ASSERT_TRUE(after);
  auto grown_pool = after->find("pool");
  ASSERT_NE(grown_pool, nullptr);
  EXPECT_GT(grown_pool->size_bytes, 64 * mib) << "pool grew automatically";
  EXPECT_LT(grown_pool->data_percent, 80) << grown_pool->data_percent;

  // A CoW snapshot with its own expansion settings grows before it overflows.
  auto origin = ask<lvm::lv_info>(rt, vg, create_lv_req{"local-o", 64 * mib});
  ASSERT_TRUE(origin) << render(origin.error());
  create_lv_req snap{"snap-o", 8 * mib, "snapshot", 0, "", "local-o", "snapshot"};
  snap.expand_bytes = 16 * mib;
  snap.expand_at_percent = 50;
  auto s = ask<lvm::lv_info>(rt, vg, snap);
  ASSERT_TRUE(s) << render(s.error());
  run_ok({"dd", "if=/dev/urandom", "of=" + origin->path, "bs=1M", "count=6", "oflag=direct",
          "status=none"});
  ASSERT_TRUE(ask<uint64_t>(rt, vg, rescan_atom::value));
  auto later = ask<vg_view>(rt, vg, get_atom::value);
  ASSERT_TRUE(later);
  auto grown_snap = later->find("snap-o");
  ASSERT_NE(grown_snap, nullptr);
  EXPECT_EQ(grown_snap->size_bytes, 24 * mib)
    << "8 MiB + its 16 MiB expansion; snap_percent " << grown_snap->snap_percent
    << ", data_percent " << grown_snap->data_percent << ", attr " << grown_snap->attr
    << ", segtype " << grown_snap->segtype;
  EXPECT_FALSE(grown_snap->invalid_snapshot);

  for (auto name : {"snap-o", "local-o", "local-t", "pool"})
    EXPECT_TRUE(ask<bool>(rt, vg, delete_lv_req{name})) << name;
}

namespace {

/// Bytes of `device` that are not zero (reads the whole device).
uint64_t nonzero_bytes(const std::string& device) {
  std::ifstream in{device, std::ios::binary};
  std::vector<char> buf(1 << 20);
  uint64_t count = 0;
  while (in) {
    in.read(buf.data(), static_cast<std::streamsize>(buf.size()));
    for (std::streamsize i = 0; i < in.gcount(); ++i)
      count += buf[static_cast<size_t>(i)] != 0;
  }
  return count;
}

} // namespace

TEST_F(vg_actor_vm, released_space_reads_as_zeroes) {
  vg_session session{"olocal_vmwipe", 256 * mib, manual_scans()};
  auto& [disk, opts, rt, vg] = session;
  auto fill = [&](const std::string& name) {
    auto lv = ask<lvm::lv_info>(rt, vg, create_lv_req{name, 32 * mib});
    EXPECT_TRUE(lv) << render(lv.error());
    run_ok({"dd", "if=/dev/urandom", "of=" + lv->path, "bs=1M", "count=32", "oflag=direct",
            "status=none"});
    EXPECT_GT(nonzero_bytes(lv->path), 30 * mib);
    return *lv;
  };

  // Without the wipe, the next volume on the same extents sees old data:
  // lvcreate zeroes only the first 4 KiB. This is what the wipe prevents.
  fill("local-w");
  ASSERT_TRUE(ask<bool>(rt, vg, delete_lv_req{"local-w", false}));
  auto reused = ask<lvm::lv_info>(rt, vg, create_lv_req{"local-w2", 32 * mib});
  ASSERT_TRUE(reused);
  EXPECT_GT(nonzero_bytes(reused->path), 30 * mib) << "old data visible without a wipe";
  ASSERT_TRUE(ask<bool>(rt, vg, delete_lv_req{"local-w2", false}));

  // With the default wipe the same extents come back as zeroes.
  fill("local-x");
  auto removed = ask<bool>(rt, vg, delete_lv_req{"local-x"});
  ASSERT_TRUE(removed) << render(removed.error());
  auto fresh = ask<lvm::lv_info>(rt, vg, create_lv_req{"local-x2", 32 * mib});
  ASSERT_TRUE(fresh);
  EXPECT_EQ(nonzero_bytes(fresh->path), 0u) << "released space reads as zeroes";
  ASSERT_TRUE(ask<bool>(rt, vg, delete_lv_req{"local-x2"}));
}

namespace {

/// FNV-1a over the first `bytes` of a device.
uint64_t checksum(const std::string& device, uint64_t bytes) {
  std::ifstream in{device, std::ios::binary};
  std::vector<char> buf(1 << 20);
  uint64_t h = 1469598103934665603ull;
  while (bytes > 0 && in) {
    auto want = static_cast<std::streamsize>(std::min<uint64_t>(bytes, buf.size()));
    in.read(buf.data(), want);
    for (std::streamsize i = 0; i < in.gcount(); ++i)
      h = (h ^ static_cast<unsigned char>(buf[static_cast<size_t>(i)])) * 1099511628211ull;
    bytes -= static_cast<uint64_t>(in.gcount());
    if (in.gcount() == 0)
      break;
  }
  return h;
}

} // namespace

TEST_F(vg_actor_vm, restore_and_clone_equal_their_source) {
  vg_session session{"olocal_vmcopy", 512 * mib, manual_scans()};
  auto& [disk, opts, rt, vg] = session;

  // Thick: snapshot, change the origin, restore the snapshot by copy.
  auto origin = ask<lvm::lv_info>(rt, vg, create_lv_req{"local-o", 32 * mib});
  ASSERT_TRUE(origin) << render(origin.error());
  run_ok({"dd", "if=/dev/urandom", "of=" + origin->path, "bs=1M", "count=32", "oflag=direct",
          "status=none"});
  create_lv_req snap{"snap-o", 16 * mib, "snapshot", 0, "", "local-o", "snapshot"};
  auto s = ask<lvm::lv_info>(rt, vg, snap);
  ASSERT_TRUE(s) << render(s.error());
  auto at_snapshot = checksum(s->path, 32 * mib);
  run_ok({"dd", "if=/dev/urandom", "of=" + origin->path, "bs=1M", "count=4", "oflag=direct",
          "status=none"});
  ASSERT_NE(checksum(origin->path, 32 * mib), at_snapshot) << "the origin moved on";
  auto restored =
    ask<lvm::lv_info>(rt, vg, create_lv_req{"local-r", 0, "copy", 0, "", "snap-o", "volume"});
  ASSERT_TRUE(restored) << render(restored.error());
  EXPECT_EQ(restored->size_bytes, 32 * mib);
  EXPECT_EQ(checksum(restored->path, 32 * mib), at_snapshot)
    << "the restored volume holds the snapshot's data";
  EXPECT_FALSE(restored->has_tag(lv_tags::copying));
  // Independent: the snapshot and its origin can go, the restore stays.
  ASSERT_TRUE(ask<bool>(rt, vg, delete_lv_req{"snap-o"}));
  ASSERT_TRUE(ask<bool>(rt, vg, delete_lv_req{"local-o"}));
  EXPECT_EQ(checksum(restored->path, 32 * mib), at_snapshot);

  // Thin: a thin snapshot of a thin snapshot is a writable, independent clone.
  create_lv_req pool{"pool", 96 * mib, "thin-pool", 0, "", "", "pool"};
  ASSERT_TRUE(ask<lvm::lv_info>(rt, vg, pool));
  create_lv_req thin{"local-t", 32 * mib, "thin", 0, "pool", "", "volume"};
  auto t = ask<lvm::lv_info>(rt, vg, thin);
  ASSERT_TRUE(t) << render(t.error());
  run_ok(
    {"dd", "if=/dev/urandom", "of=" + t->path, "bs=1M", "count=32", "oflag=direct", "status=none"});
  create_lv_req tsnap{"snap-t", 0, "thin-snapshot", 0, "", "local-t", "snapshot"};
  auto ts = ask<lvm::lv_info>(rt, vg, tsnap);
  ASSERT_TRUE(ts) << render(ts.error());
  auto thin_at_snapshot = checksum(ts->path, 32 * mib);
  create_lv_req tclone{"local-tc", 0, "thin-snapshot", 0, "", "snap-t", "clone"};
  auto tc = ask<lvm::lv_info>(rt, vg, tclone);
  ASSERT_TRUE(tc) << render(tc.error());
  EXPECT_EQ(checksum(tc->path, 32 * mib), thin_at_snapshot);
  run_ok(
    {"dd", "if=/dev/zero", "of=" + tc->path, "bs=1M", "count=1", "oflag=direct", "status=none"});
  EXPECT_NE(checksum(tc->path, 32 * mib), thin_at_snapshot) << "the clone is writable";
  EXPECT_EQ(checksum(ts->path, 32 * mib), thin_at_snapshot) << "and does not change its source";

  for (auto name : {"local-tc", "snap-t", "local-t", "pool", "local-r"})
    EXPECT_TRUE(ask<bool>(rt, vg, delete_lv_req{name})) << name;
}

TEST_F(vg_actor_vm, a_restart_in_the_middle_of_changes_leaves_a_consistent_state) {
  loop_vg disk{"olocal_vmcrash", 512 * mib};
  vg_options opts;
  opts.rescan_interval = 0ms;
  {
    // The node process dies while a create and a snapshot are in flight: the
    // actor is killed right after the requests are queued, as a crash would.
    runtime rt{runtime_options{2}};
    auto vg = spawn_vg_actor(rt.system(), disk.vg, spawn_lvm_runner(rt.system()), opts);
    ASSERT_TRUE(ask<lvm::lv_info>(rt, vg, create_lv_req{"local-base", 32 * mib}));
    caf::anon_send(vg, create_lv_req{"local-crash", 64 * mib});
    caf::anon_send(
      vg, create_lv_req{"snap-crash", 16 * mib, "snapshot", 0, "", "local-base", "snapshot"});
    std::this_thread::sleep_for(300ms); // the first lvcreate is running now
    caf::anon_send_exit(vg, caf::exit_reason::kill);
    vg = nullptr;
    rt.shutdown();
  }
  // Whatever finished is whole and tagged; whatever did not is absent. A new
  // actor rebuilds from LVM, and repeating the requests converges.
  runtime rt{runtime_options{2}};
  auto vg = spawn_vg_actor(rt.system(), disk.vg, spawn_lvm_runner(rt.system()), opts);
  auto view = ask<vg_view>(rt, vg, get_atom::value);
  ASSERT_TRUE(view) << render(view.error());
  for (auto& lv : view->lvs) {
    EXPECT_TRUE(owned_by_us(lv, opts)) << lv.name << " exists without our tags";
    EXPECT_EQ(lv_tags::value(lv, lv_tags::id), lv.name);
  }
  auto crash = ask<lvm::lv_info>(rt, vg, create_lv_req{"local-crash", 64 * mib});
  ASSERT_TRUE(crash) << render(crash.error());
  EXPECT_EQ(crash->size_bytes, 64 * mib);
  auto snap = ask<lvm::lv_info>(
    rt, vg, create_lv_req{"snap-crash", 16 * mib, "snapshot", 0, "", "local-base", "snapshot"});
  ASSERT_TRUE(snap) << render(snap.error());
  EXPECT_EQ(snap->origin, "local-base");
  auto after = ask<vg_view>(rt, vg, get_atom::value);
  ASSERT_TRUE(after);
  EXPECT_EQ(after->lvs.size(), 3u);
  for (auto name : {"snap-crash", "local-crash", "local-base"})
    EXPECT_TRUE(ask<bool>(rt, vg, delete_lv_req{name})) << name;
  caf::anon_send_exit(vg, caf::exit_reason::user_shutdown);
  vg = nullptr;
  rt.shutdown();
}

TEST_F(vg_actor_vm, the_device_mapper_watch_grows_a_filling_pool_between_scans) {
  auto options = manual_scans(); // no lvm scans on a timer at all
  options.watch_interval = 1s;
  vg_session session{"olocal_vmwatch", 512 * mib, options};
  auto& [disk, opts, rt, vg] = session;
  ASSERT_TRUE(
    ask<lvm::lv_info>(rt, vg, create_lv_req{"pool", 64 * mib, "thin-pool", 0, "", "", "pool"}));
  auto t =
    ask<lvm::lv_info>(rt, vg, create_lv_req{"local-t", 100 * mib, "thin", 0, "pool", "", "volume"});
  ASSERT_TRUE(t) << render(t.error());
  run_ok(
    {"dd", "if=/dev/urandom", "of=" + t->path, "bs=1M", "count=56", "oflag=direct", "status=none"});
  uint64_t pool_size = 0;
  for (int i = 0; i < 60 && pool_size <= 64 * mib; ++i) {
    std::this_thread::sleep_for(500ms);
    auto v = ask<vg_view>(rt, vg, get_atom::value);
    ASSERT_TRUE(v);
    pool_size = v->find("pool")->size_bytes;
  }
  EXPECT_GT(pool_size, 64 * mib)
    << "the watch saw the fill through device-mapper and grew the pool";
  for (auto name : {"local-t", "pool"})
    EXPECT_TRUE(ask<bool>(rt, vg, delete_lv_req{name})) << name;
}
