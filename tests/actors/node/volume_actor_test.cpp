#include "actors/node/volume_actor.hpp"

#include "actors/core/errc.hpp"
#include "actors/node/vg_actor.hpp"
#include "tests/support/actor_fixture.hpp"
#include "tests/support/fake_fs.hpp"
#include "tests/support/fake_lvm.hpp"

using namespace olocal;
using namespace std::chrono_literals;
using test::fs_command;

namespace {

constexpr uint64_t mib = 1ull << 20;

// -- the pure parts --------------------------------------------------------------

fs_ops::mount_entry entry(uint32_t id, std::string point, std::string fstype, bool ro = false) {
  fs_ops::mount_entry m;
  m.mount_id = id;
  m.mount_point = std::move(point);
  m.fstype = std::move(fstype);
  m.read_only = ro;
  return m;
}

TEST(volume_phase, follows_the_most_significant_fact) {
  volume_state st;
  EXPECT_EQ(phase_of(st, false, false), "ready");
  st.staging_path = "/s";
  EXPECT_EQ(phase_of(st, false, false), "staged");
  st.targets.push_back({"/t", false});
  EXPECT_EQ(phase_of(st, false, false), "published");
  EXPECT_EQ(phase_of(st, true, false), "expanding");
  st.lv_present = false;
  EXPECT_EQ(phase_of(st, true, false), "lost");
  EXPECT_EQ(phase_of(st, true, true), "deleting");
}

TEST(volume_adopt_mounts, first_filesystem_mount_is_the_staging_one) {
  volume_state st;
  adopt_mounts(st, {entry(30, "/var/lib/kubelet/g/globalmount", "xfs"),
                    entry(31, "/var/lib/kubelet/pods/p1/mount", "xfs", true),
                    entry(40, "/var/lib/kubelet/pods/p2/mount", "xfs")});
  EXPECT_FALSE(st.block);
  EXPECT_EQ(st.fstype, "xfs");
  EXPECT_EQ(st.staging_path, "/var/lib/kubelet/g/globalmount");
  ASSERT_EQ(st.targets.size(), 2u);
  EXPECT_EQ(st.targets[0].path, "/var/lib/kubelet/pods/p1/mount");
  EXPECT_TRUE(st.targets[0].read_only);
  EXPECT_FALSE(st.targets[1].read_only);
}

TEST(volume_adopt_mounts, device_node_binds_make_a_published_block_volume) {
  volume_state st;
  st.staging_path = "/stale";
  adopt_mounts(st, {entry(50, "/pods/p1/dev", "devtmpfs")});
  EXPECT_TRUE(st.block);
  EXPECT_EQ(st.staging_path, "") << "block staging leaves no mount; the next stage records it";
  ASSERT_EQ(st.targets.size(), 1u);
  EXPECT_EQ(st.targets[0].path, "/pods/p1/dev");
  volume_state none;
  adopt_mounts(none, {});
  EXPECT_EQ(none.staging_path, "");
  EXPECT_TRUE(none.targets.empty());
}

TEST(volume_validate, names_what_is_wrong) {
  EXPECT_EQ(validate(stage_req{"/s", false, "ext4", {}}), "");
  EXPECT_EQ(validate(stage_req{"/s", true, "whatever", {}}), "") << "block ignores the fstype";
  EXPECT_NE(validate(stage_req{"", false, "ext4", {}}).find("staging path is empty"),
            std::string::npos);
  EXPECT_NE(validate(stage_req{"rel/s", false, "ext4", {}}).find("not absolute"),
            std::string::npos);
  EXPECT_NE(validate(stage_req{"/a/../b", false, "ext4", {}}).find("\"..\""), std::string::npos);
  EXPECT_EQ(validate(stage_req{"/a/..b", false, "ext4", {}}), "") << "only whole components";
  EXPECT_NE(validate(stage_req{"/s", false, "btrfs", {}}).find("btrfs"), std::string::npos);
  EXPECT_NE(validate(publish_req{"x", false, {}}).find("target path"), std::string::npos);
}

// -- the actor -------------------------------------------------------------------

struct volume_actor_test : test::actor_fixture {
  std::shared_ptr<test::fake_lvm_state> lvm = std::make_shared<test::fake_lvm_state>();
  std::shared_ptr<test::fake_fs_state> fs = std::make_shared<test::fake_fs_state>();
  test::fake_lvm_actor fake_lvm = test::spawn_fake_lvm(sys, lvm);
  test::fake_fs_actor fake_fs = test::spawn_fake_fs(sys, fs);
  vg_actor vg;
  volume_actor vol;
  const std::string dev = "/dev/vg0/local-1";

  volume_actor_test() {
    vg_options opts;
    opts.rescan_interval = 0ms;
    opts.watch_interval = 0ms;
    vg = spawn_vg_actor(sys, "vg0", fake_lvm, opts);
    run();
  }

  ~volume_actor_test() override {
    for (auto h : {caf::actor_cast<caf::actor>(vol), caf::actor_cast<caf::actor>(vg),
                   caf::actor_cast<caf::actor>(fake_lvm), caf::actor_cast<caf::actor>(fake_fs)})
      if (h)
        anon_send_exit(h, caf::exit_reason::user_shutdown);
    run();
  }

  /// Creates the LV through the VG actor, registers its device with the
  /// fake filesystem and starts the volume actor.
  lvm::lv_info start(uint64_t bytes = 64 * mib, std::string fstype = {}) {
    create_lv_req req;
    req.name = "local-1";
    req.size_bytes = bytes;
    auto lv = request<lvm::lv_info>(vg, req);
    EXPECT_TRUE(lv) << render(lv.error());
    if (!lv)
      return {};
    fs->add_device(dev, lv->size_bytes, static_cast<uint32_t>(lv->kernel_major),
                   static_cast<uint32_t>(lv->kernel_minor), std::move(fstype));
    vol = spawn_volume_actor(sys, *lv, vg, fake_fs);
    run();
    return *lv;
  }

  caf::expected<volume_state> stage(std::string path = "/stage", std::string fstype = "ext4") {
    return request<volume_state>(vol, stage_req{std::move(path), false, std::move(fstype), {}});
  }

  caf::expected<volume_state> publish(std::string target, bool ro = false) {
    return request<volume_state>(vol, publish_req{std::move(target), ro, {}});
  }

  caf::expected<volume_state> unpublish(std::string target) {
    return request<volume_state>(vol, unpublish_req{std::move(target)});
  }

  volume_state get() {
    auto st = request<volume_state>(vol, get_atom::value);
    EXPECT_TRUE(st) << render(st.error());
    return st ? *st : volume_state{};
  }
};

void expect_code(const caf::error& err, errc code) {
  EXPECT_EQ(code_of(err), code) << render(err);
}

} // namespace

TEST_F(volume_actor_test, starts_ready_and_reads_the_mount_table_once) {
  start();
  auto st = get();
  EXPECT_EQ(st.id, "local-1");
  EXPECT_EQ(st.vg, "vg0");
  EXPECT_EQ(st.device, dev);
  EXPECT_EQ(st.size_bytes, 64 * mib);
  EXPECT_EQ(st.kind, "volume");
  EXPECT_EQ(st.phase, "ready");
  EXPECT_EQ(fs->count(fs_command::mounts), 1u);
}

TEST_F(volume_actor_test, stage_formats_an_empty_volume_once_and_mounts_it) {
  start();
  auto st = stage("/stage", "xfs");
  ASSERT_TRUE(st) << render(st.error());
  EXPECT_EQ(st->phase, "staged");
  EXPECT_EQ(st->fstype, "xfs");
  EXPECT_EQ(fs->devices[dev].fstype, "xfs");
  auto m = fs->mount_at("/stage");
  ASSERT_NE(m, nullptr);
  EXPECT_EQ(m->fstype, "xfs");
  // A repeated stage (kubelet retries) formats nothing and mounts nothing new.
  auto again = stage("/stage", "xfs");
  ASSERT_TRUE(again) << render(again.error());
  EXPECT_EQ(again->phase, "staged");
  EXPECT_EQ(fs->mounts.size(), 1u);
}

TEST_F(volume_actor_test, stage_never_reformats_a_volume_holding_another_filesystem) {
  start(64 * mib, "xfs");
  auto st = stage("/stage", "ext4");
  ASSERT_FALSE(st);
  expect_code(st.error(), errc::failed_precondition);
  EXPECT_EQ(fs->devices[dev].fstype, "xfs") << "the data stays";
  EXPECT_EQ(fs->mount_at("/stage"), nullptr);
  EXPECT_EQ(get().phase, "ready");
}

TEST_F(volume_actor_test, stage_elsewhere_or_differently_is_refused_while_staged) {
  start();
  ASSERT_TRUE(stage("/stage", "ext4"));
  auto other = stage("/other", "ext4");
  ASSERT_FALSE(other);
  expect_code(other.error(), errc::failed_precondition);
  auto other_fs = stage("/stage", "xfs");
  ASSERT_FALSE(other_fs);
  expect_code(other_fs.error(), errc::failed_precondition);
  auto as_block = request<volume_state>(vol, stage_req{"/stage", true, "", {}});
  ASSERT_FALSE(as_block);
  expect_code(as_block.error(), errc::failed_precondition);
  EXPECT_EQ(fs->mount_at("/other"), nullptr);
}

TEST_F(volume_actor_test, bad_paths_are_refused_before_any_work) {
  start();
  auto before = fs->total();
  auto st = stage("relative", "ext4");
  ASSERT_FALSE(st);
  expect_code(st.error(), errc::invalid_argument);
  auto p = publish("/a/../etc");
  ASSERT_FALSE(p);
  expect_code(p.error(), errc::invalid_argument);
  EXPECT_EQ(fs->total(), before);
}

TEST_F(volume_actor_test, publish_binds_the_staging_mount_and_is_idempotent) {
  start();
  auto early = publish("/pods/a");
  ASSERT_FALSE(early);
  expect_code(early.error(), errc::failed_precondition);
  ASSERT_TRUE(stage());
  auto st = publish("/pods/a");
  ASSERT_TRUE(st) << render(st.error());
  EXPECT_EQ(st->phase, "published");
  auto m = fs->mount_at("/pods/a");
  ASSERT_NE(m, nullptr);
  EXPECT_FALSE(m->read_only);
  ASSERT_TRUE(publish("/pods/a"));
  EXPECT_EQ(get().targets.size(), 1u);
  auto flipped = publish("/pods/a", true);
  ASSERT_FALSE(flipped);
  expect_code(flipped.error(), errc::already_exists);
  auto ro = publish("/pods/b", true);
  ASSERT_TRUE(ro) << render(ro.error());
  ASSERT_NE(fs->mount_at("/pods/b"), nullptr);
  EXPECT_TRUE(fs->mount_at("/pods/b")->read_only);
  EXPECT_EQ(ro->targets.size(), 2u);
}

TEST_F(volume_actor_test, unstage_waits_for_every_unpublish) {
  start();
  ASSERT_TRUE(stage());
  ASSERT_TRUE(publish("/pods/a"));
  auto busy = request<volume_state>(vol, unstage_req{"/stage"});
  ASSERT_FALSE(busy);
  expect_code(busy.error(), errc::failed_precondition);
  EXPECT_NE(fs->mount_at("/stage"), nullptr);
  auto st = unpublish("/pods/a");
  ASSERT_TRUE(st) << render(st.error());
  EXPECT_EQ(st->phase, "staged");
  EXPECT_EQ(fs->mount_at("/pods/a"), nullptr);
  EXPECT_FALSE(fs->exists("/pods/a")) << "the target the driver created is removed";
  ASSERT_TRUE(unpublish("/pods/a")) << "unpublish twice is fine";
  auto done = request<volume_state>(vol, unstage_req{"/stage"});
  ASSERT_TRUE(done) << render(done.error());
  EXPECT_EQ(done->phase, "ready");
  EXPECT_EQ(fs->mount_at("/stage"), nullptr);
  EXPECT_TRUE(fs->exists("/stage")) << "the staging directory is the caller's";
  ASSERT_TRUE(request<volume_state>(vol, unstage_req{"/stage"})) << "unstage twice is fine";
}

TEST_F(volume_actor_test, block_volumes_bind_the_device_node) {
  start();
  auto st = request<volume_state>(vol, stage_req{"/stage", true, "", {}});
  ASSERT_TRUE(st) << render(st.error());
  EXPECT_TRUE(st->block);
  EXPECT_EQ(st->phase, "staged");
  EXPECT_EQ(fs->count(fs_command::ensure_fs), 0u) << "no filesystem on a block volume";
  EXPECT_EQ(fs->mount_at("/stage"), nullptr);
  auto p = publish("/pods/a/dev");
  ASSERT_TRUE(p) << render(p.error());
  auto m = fs->mount_at("/pods/a/dev");
  ASSERT_NE(m, nullptr);
  EXPECT_EQ(m->fstype, "devtmpfs");
  ASSERT_TRUE(unpublish("/pods/a/dev"));
  EXPECT_EQ(fs->mount_at("/pods/a/dev"), nullptr);
  auto done = request<volume_state>(vol, unstage_req{"/stage"});
  ASSERT_TRUE(done);
  EXPECT_EQ(done->phase, "ready");
}

TEST_F(volume_actor_test, expand_grows_the_lv_then_the_mounted_filesystem) {
  start();
  ASSERT_TRUE(stage());
  auto before = lvm->commands.size();
  auto st = request<volume_state>(vol, expand_req{128 * mib});
  ASSERT_TRUE(st) << render(st.error());
  EXPECT_EQ(st->size_bytes, 128 * mib);
  EXPECT_EQ(st->phase, "staged");
  EXPECT_EQ(lvm->lvs["local-1"].size_bytes, 128 * mib);
  ASSERT_GT(lvm->commands.size(), before);
  EXPECT_EQ(lvm->commands[before][0], "lvextend");
  EXPECT_EQ(fs->count(fs_command::grow), 1u);
}

TEST_F(volume_actor_test, expand_to_the_current_size_still_finishes_the_filesystem) {
  start();
  ASSERT_TRUE(stage());
  auto lv_commands = lvm->changes();
  // After a crash between lvextend and resize2fs the LV is already large.
  auto st = request<volume_state>(vol, expand_req{64 * mib});
  ASSERT_TRUE(st) << render(st.error());
  EXPECT_EQ(lvm->changes(), lv_commands) << "no lvm change for a size already reached";
  EXPECT_EQ(fs->count(fs_command::grow), 1u);
}

TEST_F(volume_actor_test, a_failed_extension_is_reported_and_leaves_the_volume_usable) {
  start();
  ASSERT_TRUE(stage());
  lvm->failures.push_back({"lvextend", 5, "  Insufficient free space: 100 extents needed"});
  auto st = request<volume_state>(vol, expand_req{128 * mib});
  ASSERT_FALSE(st);
  EXPECT_EQ(fs->count(fs_command::grow), 0u);
  auto now = get();
  EXPECT_EQ(now.phase, "staged");
  EXPECT_EQ(now.size_bytes, 64 * mib);
  ASSERT_TRUE(publish("/pods/a")) << "the next operation runs normally";
}

TEST_F(volume_actor_test, operations_run_one_at_a_time_in_order) {
  start();
  fs->hold(fs_command::ensure_fs);
  std::vector<std::string> order;
  auto client = sys.spawn([&](caf::event_based_actor* self) {
    self->request(vol, caf::infinite, stage_req{"/stage", false, "ext4", {}})
      .then([&](volume_state&) { order.push_back("stage"); },
            [&](caf::error& e) { order.push_back("stage failed: " + render(e)); });
    self->request(vol, caf::infinite, publish_req{"/pods/a", false, {}})
      .then([&](volume_state&) { order.push_back("publish"); },
            [&](caf::error& e) { order.push_back("publish failed: " + render(e)); });
  });
  run();
  EXPECT_TRUE(order.empty());
  EXPECT_EQ(fs->count(fs_command::mount), 0u) << "publish waits behind the held stage";
  EXPECT_EQ(get().phase, "ready") << "reads are answered while an operation runs";
  fs->unhold();
  anon_send(fake_fs, test::release_atom::value);
  run();
  ASSERT_EQ(order.size(), 2u);
  EXPECT_EQ(order[0], "stage");
  EXPECT_EQ(order[1], "publish");
}

TEST_F(volume_actor_test, a_restarted_actor_rebuilds_stage_and_publish_from_the_mounts) {
  auto lv = start();
  ASSERT_TRUE(stage("/stage", "xfs"));
  ASSERT_TRUE(publish("/pods/a", true));
  anon_send_exit(vol, caf::exit_reason::kill);
  run();
  vol = spawn_volume_actor(sys, lv, vg, fake_fs);
  run();
  auto st = get();
  EXPECT_EQ(st.phase, "published");
  EXPECT_EQ(st.fstype, "xfs");
  EXPECT_EQ(st.staging_path, "/stage");
  ASSERT_EQ(st.targets.size(), 1u);
  EXPECT_EQ(st.targets[0].path, "/pods/a");
  EXPECT_TRUE(st.targets[0].read_only);
  ASSERT_TRUE(publish("/pods/a", true)) << "the kubelet's retry is recognised";
  ASSERT_TRUE(unpublish("/pods/a"));
  ASSERT_TRUE(request<volume_state>(vol, unstage_req{"/stage"}));
}

TEST_F(volume_actor_test, stats_measure_the_filesystem_and_report_its_condition) {
  start();
  ASSERT_TRUE(stage());
  fs->set_used_bytes(dev, 10 * mib);
  auto s = request<volume_stats>(vol, stats_atom::value);
  ASSERT_TRUE(s) << render(s.error());
  EXPECT_EQ(s->usage.stats.total_bytes, 64 * mib);
  EXPECT_EQ(s->usage.stats.used_bytes, 10 * mib);
  EXPECT_FALSE(s->usage.condition.abnormal) << s->usage.condition.message;

  fs->set_read_only("/stage");
  s = request<volume_stats>(vol, stats_atom::value);
  ASSERT_TRUE(s);
  EXPECT_TRUE(s->usage.condition.abnormal);

  auto lv = lvm::lv_info{};
  anon_send(vol, lv_update{lv, false});
  run();
  s = request<volume_stats>(vol, stats_atom::value);
  ASSERT_TRUE(s);
  EXPECT_TRUE(s->usage.condition.abnormal);
  EXPECT_NE(s->usage.condition.message.find("vg0/local-1 is missing"), std::string::npos)
    << s->usage.condition.message;
  EXPECT_EQ(s->state.phase, "lost");
}

TEST_F(volume_actor_test, a_vanished_mount_makes_the_condition_abnormal) {
  start();
  ASSERT_TRUE(stage());
  fs->mounts.clear(); // unmounted behind our back
  auto s = request<volume_stats>(vol, stats_atom::value);
  ASSERT_TRUE(s);
  EXPECT_TRUE(s->usage.condition.abnormal);
}

TEST_F(volume_actor_test, block_stats_report_the_device_size) {
  start();
  ASSERT_TRUE(request<volume_state>(vol, stage_req{"/stage", true, "", {}}));
  auto s = request<volume_stats>(vol, stats_atom::value);
  ASSERT_TRUE(s) << render(s.error());
  EXPECT_EQ(s->usage.stats.total_bytes, 64 * mib);
  EXPECT_FALSE(s->usage.condition.abnormal) << s->usage.condition.message;
}

TEST_F(volume_actor_test, delete_is_refused_while_in_use_then_removes_the_lv_and_exits) {
  start();
  ASSERT_TRUE(stage());
  auto busy = request<bool>(vol, delete_volume_req{"local-1", true});
  ASSERT_FALSE(busy);
  expect_code(busy.error(), errc::failed_precondition);
  EXPECT_TRUE(lvm->lvs.count("local-1"));
  ASSERT_TRUE(request<volume_state>(vol, unstage_req{"/stage"}));
  auto gone = request<bool>(vol, delete_volume_req{"local-1", true});
  ASSERT_TRUE(gone) << render(gone.error());
  EXPECT_TRUE(*gone);
  EXPECT_FALSE(lvm->lvs.count("local-1"));
  EXPECT_EQ(lvm->wipes.size(), 1u) << "released space is wiped by default";
  auto after = request<volume_state>(vol, get_atom::value);
  EXPECT_FALSE(after) << "the actor exited after the delete";
  vol = volume_actor{};
}
