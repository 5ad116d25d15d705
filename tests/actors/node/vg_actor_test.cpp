#include "actors/node/vg_actor.hpp"

#include "actors/core/errc.hpp"
#include "tests/support/actor_fixture.hpp"
#include "tests/support/fake_lvm.hpp"

#include <boost/json/parse.hpp>

using namespace olocal;
using namespace std::chrono_literals;

namespace {

constexpr uint64_t mib = 1ull << 20;
constexpr uint64_t gib = 1ull << 30;

struct vg_actor_test : test::actor_fixture {
  std::shared_ptr<test::fake_lvm_state> lvm = std::make_shared<test::fake_lvm_state>();
  test::fake_lvm_actor fake = test::spawn_fake_lvm(sys, lvm);
  lvm_runner_actor runner = fake;
  vg_options opts;
  vg_actor vg;

  vg_actor_test() { opts.rescan_interval = 60s; }

  void start() {
    vg = spawn_vg_actor(sys, "vg0", runner, opts);
    run();
  }

  ~vg_actor_test() override {
    if (vg)
      anon_send_exit(vg, caf::exit_reason::user_shutdown);
    anon_send_exit(fake, caf::exit_reason::user_shutdown);
    run();
  }

  vg_view view() {
    auto v = request<vg_view>(vg, get_atom::value);
    EXPECT_TRUE(v) << render(v.error());
    return v ? *v : vg_view{};
  }

  caf::expected<lvm::lv_info> create(std::string name, uint64_t bytes,
                                     std::string layout = "linear") {
    create_lv_req req;
    req.name = std::move(name);
    req.size_bytes = bytes;
    req.layout = std::move(layout);
    return request<lvm::lv_info>(vg, req);
  }

  size_t count(const std::string& program) {
    return static_cast<size_t>(std::count_if(lvm->commands.begin(), lvm->commands.end(),
                                             [&](auto& argv) { return argv[0] == program; }));
  }
};

} // namespace

TEST_F(vg_actor_test, scans_at_start_and_serves_reads_from_the_cache) {
  start();
  auto v = view();
  EXPECT_EQ(v.vg.name, "vg0");
  EXPECT_EQ(v.vg.size_bytes, gib);
  EXPECT_EQ(v.vg.free_bytes, gib);
  EXPECT_EQ(v.pvs.size(), 1u);
  EXPECT_EQ(v.generation, 1u);
  EXPECT_EQ(lvm->commands.size(), 1u) << "one process per scan: lvm fullreport";
  for (int i = 0; i < 10; ++i)
    view();
  EXPECT_EQ(lvm->commands.size(), 1u) << "reads must not start lvm processes";
}

TEST_F(vg_actor_test, creates_a_tagged_linear_volume_rounded_to_extents) {
  start();
  auto lv = create("local-1", 10 * mib + 1);
  ASSERT_TRUE(lv) << render(lv.error());
  EXPECT_EQ(lv->name, "local-1");
  EXPECT_EQ(lv->size_bytes, 12 * mib) << "rounded up to 4 MiB extents";
  EXPECT_EQ(lv_tags::value(*lv, lv_tags::owner), "standalone");
  EXPECT_EQ(lv_tags::value(*lv, lv_tags::id), "local-1");
  EXPECT_EQ(lv_tags::value(*lv, lv_tags::kind), "volume");
  EXPECT_FALSE(lv_tags::value(*lv, lv_tags::created).empty());
  auto v = view();
  EXPECT_EQ(v.vg.free_bytes, gib - 12 * mib) << "the view is refreshed after the change";
  EXPECT_EQ(v.generation, 2u);
  ASSERT_NE(v.find("local-1"), nullptr);
}

TEST_F(vg_actor_test, create_is_idempotent_and_refuses_incompatible_duplicates) {
  start();
  ASSERT_TRUE(create("local-1", 64 * mib));
  auto changes = lvm->changes();
  auto again = create("local-1", 64 * mib);
  ASSERT_TRUE(again) << render(again.error());
  EXPECT_EQ(again->size_bytes, 64 * mib);
  auto rounded = create("local-1", 64 * mib - 100);
  EXPECT_TRUE(rounded) << "a size that rounds to the same extents is the same volume";
  EXPECT_EQ(lvm->changes(), changes) << "an existing volume runs no command";

  auto bigger = create("local-1", 128 * mib);
  ASSERT_FALSE(bigger);
  EXPECT_EQ(code_of(bigger.error()), errc::already_exists);
  EXPECT_NE(render(bigger.error()).find("67108864 bytes"), std::string::npos)
    << render(bigger.error());

  create_lv_req as_snapshot{"local-1", 64 * mib, "linear", 0, "", "", "snapshot"};
  auto kind = request<lvm::lv_info>(vg, as_snapshot);
  ASSERT_FALSE(kind);
  EXPECT_NE(render(kind.error()).find("exists as a volume"), std::string::npos);

  lvm->lvs["data"] = test::fake_lv{8 * mib};
  request<uint64_t>(vg, rescan_atom::value);
  auto foreign = create("data", 8 * mib);
  ASSERT_FALSE(foreign);
  EXPECT_EQ(code_of(foreign.error()), errc::already_exists);
  EXPECT_NE(render(foreign.error()).find("not managed by open-local"), std::string::npos);
}

TEST_F(vg_actor_test, not_enough_space_is_resource_exhausted_and_changes_nothing) {
  start();
  auto lv = create("local-big", 2 * gib);
  ASSERT_FALSE(lv);
  EXPECT_EQ(code_of(lv.error()), errc::resource_exhausted) << render(lv.error());
  EXPECT_NE(render(lv.error()).find("lvcreate"), std::string::npos) << "names the command";
  auto v = view();
  EXPECT_EQ(v.vg.free_bytes, gib);
  EXPECT_TRUE(v.lvs.empty());
  auto report = request<actor_report>(vg, inspect_atom::value);
  ASSERT_TRUE(report);
  EXPECT_NE(report->last_error.find("resource_exhausted"), std::string::npos);
}

TEST_F(vg_actor_test, bad_requests_are_refused_before_any_command) {
  start();
  auto changes = lvm->changes();
  auto bad_name = create("-rf", 4 * mib);
  ASSERT_FALSE(bad_name);
  EXPECT_EQ(code_of(bad_name.error()), errc::invalid_argument);
  auto bad_layout = create("local-1", 4 * mib, "raid5");
  ASSERT_FALSE(bad_layout);
  EXPECT_NE(render(bad_layout.error()).find("layout"), std::string::npos);
  auto zero = create("local-2", 0);
  ASSERT_FALSE(zero);
  EXPECT_EQ(code_of(zero.error()), errc::invalid_argument);
  EXPECT_EQ(lvm->changes(), changes);
}

TEST_F(vg_actor_test, delete_is_idempotent_and_safe) {
  start();
  ASSERT_TRUE(create("local-1", 8 * mib));
  auto removed = request<bool>(vg, delete_lv_req{"local-1"});
  ASSERT_TRUE(removed);
  EXPECT_TRUE(*removed);
  auto again = request<bool>(vg, delete_lv_req{"local-1"});
  ASSERT_TRUE(again);
  EXPECT_FALSE(*again) << "deleting a missing volume succeeds";
  EXPECT_EQ(view().vg.free_bytes, gib);

  lvm->lvs["system-root"] = test::fake_lv{8 * mib};
  request<uint64_t>(vg, rescan_atom::value);
  auto foreign = request<bool>(vg, delete_lv_req{"system-root"});
  ASSERT_FALSE(foreign);
  EXPECT_EQ(code_of(foreign.error()), errc::permission_denied);
  EXPECT_TRUE(lvm->lvs.count("system-root")) << "a volume that is not ours is never removed";
}

TEST_F(vg_actor_test, legacy_open_local_volumes_are_ours) {
  lvm->lvs["local-6f1c"] = test::fake_lv{8 * mib}; // created by open-local: no tags
  start();
  auto removed = request<bool>(vg, delete_lv_req{"local-6f1c"});
  ASSERT_TRUE(removed) << render(removed.error());
  EXPECT_TRUE(*removed);
}

TEST_F(vg_actor_test, origin_with_snapshots_cannot_be_deleted) {
  start();
  ASSERT_TRUE(create("local-1", 16 * mib));
  create_lv_req snap{"snap-1", 8 * mib, "snapshot", 0, "", "local-1", "snapshot"};
  auto s = request<lvm::lv_info>(vg, snap);
  ASSERT_TRUE(s) << render(s.error());
  EXPECT_EQ(s->origin, "local-1");
  EXPECT_TRUE(s->is_cow_snapshot());
  EXPECT_EQ(lv_tags::value(*s, lv_tags::source), "local-1");
  auto refused = request<bool>(vg, delete_lv_req{"local-1"});
  ASSERT_FALSE(refused);
  EXPECT_EQ(code_of(refused.error()), errc::failed_precondition);
  EXPECT_NE(render(refused.error()).find("snap-1"), std::string::npos);
  EXPECT_TRUE(*request<bool>(vg, delete_lv_req{"snap-1"}));
  EXPECT_TRUE(*request<bool>(vg, delete_lv_req{"local-1"}));
}

TEST_F(vg_actor_test, thin_pool_volumes_and_snapshots) {
  lvm->lvs["pool"] = test::fake_lv{256 * mib, "thin-pool"};
  lvm->lvs["pool"].tags = {"olocal/owner=standalone", "olocal/kind=pool"};
  opts.thin_overprovision_ratio = 10;
  start();
  create_lv_req thin{"local-t", 1 * gib, "thin", 0, "pool", "", "volume"};
  auto t = request<lvm::lv_info>(vg, thin);
  ASSERT_TRUE(t) << render(t.error());
  EXPECT_TRUE(t->is_thin_volume());
  EXPECT_EQ(t->pool_lv, "pool");
  EXPECT_EQ(t->size_bytes, gib) << "thin volumes may exceed the pool (over-provisioning)";
  create_lv_req tsnap{"snap-t", 0, "thin-snapshot", 0, "", "local-t", "snapshot"};
  auto s = request<lvm::lv_info>(vg, tsnap);
  ASSERT_TRUE(s) << render(s.error());
  EXPECT_EQ(s->origin, "local-t");
  EXPECT_EQ(s->size_bytes, gib);
  auto again = request<lvm::lv_info>(vg, tsnap);
  EXPECT_TRUE(again) << "thin snapshots are idempotent too";
  auto pool_delete = request<bool>(vg, delete_lv_req{"pool"});
  ASSERT_FALSE(pool_delete);
  EXPECT_EQ(code_of(pool_delete.error()), errc::failed_precondition);
}

TEST_F(vg_actor_test, extend_grows_never_shrinks) {
  start();
  ASSERT_TRUE(create("local-1", 8 * mib));
  auto grown = request<lvm::lv_info>(vg, extend_lv_req{"local-1", 20 * mib, true});
  ASSERT_TRUE(grown) << render(grown.error());
  EXPECT_EQ(grown->size_bytes, 20 * mib);
  EXPECT_EQ(lvm->commands.back()[1], "fullreport") << "every change ends with a rescan";
  auto extend_argv = std::find_if(lvm->commands.rbegin(), lvm->commands.rend(),
                                  [](auto& argv) { return argv[0] == "lvextend"; });
  ASSERT_NE(extend_argv, lvm->commands.rend());
  EXPECT_NE(std::find(extend_argv->begin(), extend_argv->end(), "-r"), extend_argv->end())
    << "resize_fs passes -r";
  auto changes = lvm->changes();
  auto same = request<lvm::lv_info>(vg, extend_lv_req{"local-1", 20 * mib - 1, false});
  ASSERT_TRUE(same);
  EXPECT_EQ(lvm->changes(), changes);
  auto shrink = request<lvm::lv_info>(vg, extend_lv_req{"local-1", 4 * mib, false});
  ASSERT_FALSE(shrink);
  EXPECT_EQ(code_of(shrink.error()), errc::out_of_range);
  auto missing = request<lvm::lv_info>(vg, extend_lv_req{"nope", 4 * mib, false});
  ASSERT_FALSE(missing);
  EXPECT_EQ(code_of(missing.error()), errc::not_found);
  auto too_big = request<lvm::lv_info>(vg, extend_lv_req{"local-1", 2 * gib, false});
  ASSERT_FALSE(too_big);
  EXPECT_EQ(code_of(too_big.error()), errc::resource_exhausted) << render(too_big.error());
}

TEST_F(vg_actor_test, tags_are_added_and_removed) {
  start();
  ASSERT_TRUE(create("local-1", 8 * mib));
  auto lv = request<lvm::lv_info>(vg, tag_lv_req{"local-1", {"pvc=default/data-0"}, {}});
  ASSERT_TRUE(lv);
  EXPECT_TRUE(lv->has_tag("pvc=default/data-0"));
  lv = request<lvm::lv_info>(vg, tag_lv_req{"local-1", {}, {"pvc=default/data-0"}});
  ASSERT_TRUE(lv);
  EXPECT_FALSE(lv->has_tag("pvc=default/data-0"));
  auto bad = request<lvm::lv_info>(vg, tag_lv_req{"local-1", {"no spaces allowed"}, {}});
  ASSERT_FALSE(bad);
  EXPECT_EQ(code_of(bad.error()), errc::invalid_argument);
}

TEST_F(vg_actor_test, changes_run_one_at_a_time_while_reads_stay_answered) {
  start();
  lvm->hold = true;
  auto first = std::make_shared<std::optional<caf::expected<lvm::lv_info>>>();
  auto second = std::make_shared<std::optional<caf::expected<lvm::lv_info>>>();
  sys.spawn([=, this](caf::event_based_actor* self) {
    for (auto [name, slot] : {std::pair{"local-a", first}, std::pair{"local-b", second}}) {
      self->request(vg, caf::infinite, create_lv_req{name, 8 * mib})
        .then([slot](lvm::lv_info& lv) { *slot = lv; },
              [slot](caf::error& err) { *slot = caf::expected<lvm::lv_info>{err}; });
    }
  });
  run();
  ASSERT_EQ(lvm->held.size(), 1u) << "only the first change is in flight";
  EXPECT_EQ(lvm->held.front().first.argv[0], "lvcreate");
  // A read while a change runs is answered at once from the cache.
  auto v = view();
  EXPECT_TRUE(v.lvs.empty());
  // Release the first lvcreate and its rescan; only then does the second start.
  while (!first->has_value()) {
    ASSERT_FALSE(lvm->held.empty());
    anon_send(fake, test::release_atom::value);
    run();
  }
  ASSERT_TRUE(**first);
  ASSERT_EQ(lvm->held.size(), 1u);
  EXPECT_EQ(lvm->held.front().first.argv[0], "lvcreate");
  EXPECT_EQ(lvm->held.front().first.argv[std::find(lvm->held.front().first.argv.begin(),
                                                   lvm->held.front().first.argv.end(), "-n") -
                                         lvm->held.front().first.argv.begin() + 1],
            "local-b");
  while (!second->has_value()) {
    ASSERT_FALSE(lvm->held.empty());
    anon_send(fake, test::release_atom::value);
    run();
  }
  ASSERT_TRUE(**second);
  lvm->hold = false;
}

TEST_F(vg_actor_test, rescans_on_a_timer_and_sees_outside_changes) {
  start();
  EXPECT_EQ(view().generation, 1u);
  lvm->lvs["made-by-hand"] = test::fake_lv{4 * mib};
  advance(60s);
  auto v = view();
  EXPECT_EQ(v.generation, 2u);
  EXPECT_NE(v.find("made-by-hand"), nullptr);
  advance(60s);
  EXPECT_EQ(view().generation, 3u) << "the timer re-arms";
}

TEST_F(vg_actor_test, missing_volume_group_is_reported_not_hidden) {
  lvm->vg_exists = false;
  start();
  auto v = request<vg_view>(vg, get_atom::value);
  ASSERT_FALSE(v);
  EXPECT_EQ(code_of(v.error()), errc::unavailable);
  EXPECT_NE(render(v.error()).find("not found"), std::string::npos) << render(v.error());
  auto report = request<actor_report>(vg, inspect_atom::value);
  ASSERT_TRUE(report);
  EXPECT_EQ(report->summary.rfind("not scanned yet", 0), 0u) << report->summary;
  // The group appears later (created by the operator): the next scan finds it.
  lvm->vg_exists = true;
  auto gen = request<uint64_t>(vg, rescan_atom::value);
  ASSERT_TRUE(gen);
  EXPECT_EQ(view().vg.name, "vg0");
}

TEST_F(vg_actor_test, inspection_shows_the_view) {
  start();
  ASSERT_TRUE(create("local-1", 8 * mib));
  auto report = request<actor_report>(vg, inspect_atom::value);
  ASSERT_TRUE(report);
  EXPECT_NE(report->summary.find("1 LVs, idle"), std::string::npos) << report->summary;
  auto doc = boost::json::parse(report->state_json).as_object();
  EXPECT_EQ(doc.at("vg").as_string(), "vg0");
  EXPECT_EQ(doc.at("lvs").as_array().size(), 1u);
  EXPECT_TRUE(doc.at("lvs").as_array()[0].as_object().at("owned").as_bool());
  EXPECT_EQ(doc.at("commandsRun").as_int64(), 3) << "scan, lvcreate, scan";
}

TEST_F(vg_actor_test, volumes_of_others_are_never_changed) {
  lvm->lvs["db"] = test::fake_lv{8 * mib};
  lvm->lvs["db"].tags = {"olocal/owner=cluster-b"}; // another installation's
  start();
  auto changes = lvm->changes();
  auto extend = request<lvm::lv_info>(vg, extend_lv_req{"db", 16 * mib, false});
  ASSERT_FALSE(extend);
  EXPECT_EQ(code_of(extend.error()), errc::permission_denied);
  auto tag = request<lvm::lv_info>(vg, tag_lv_req{"db", {"x"}, {}});
  ASSERT_FALSE(tag);
  EXPECT_EQ(code_of(tag.error()), errc::permission_denied);
  auto del = request<bool>(vg, delete_lv_req{"db"});
  ASSERT_FALSE(del);
  EXPECT_EQ(code_of(del.error()), errc::permission_denied);
  EXPECT_EQ(lvm->changes(), changes);
}

TEST_F(vg_actor_test, thin_volumes_respect_the_overprovisioning_ratio_and_pool_fill) {
  opts.thin_extend_at_percent = 99.5; // keep automatic growth out of this test
  start();
  create_lv_req pool{"pool", 100 * mib, "thin-pool", 0, "", "", "pool"};
  auto p = request<lvm::lv_info>(vg, pool);
  ASSERT_TRUE(p) << render(p.error());
  EXPECT_TRUE(p->is_thin_pool());
  EXPECT_EQ(p->size_bytes, 100 * mib);
  // Ratio 2: up to 200 MiB of thin volumes in a 100 MiB pool.
  create_lv_req a{"local-a", 120 * mib, "thin", 0, "pool", "", "volume"};
  ASSERT_TRUE(request<lvm::lv_info>(vg, a));
  create_lv_req b{"local-b", 80 * mib, "thin", 0, "pool", "", "volume"};
  ASSERT_TRUE(request<lvm::lv_info>(vg, b));
  create_lv_req c{"local-c", 4 * mib, "thin", 0, "pool", "", "volume"};
  auto refused = request<lvm::lv_info>(vg, c);
  ASSERT_FALSE(refused);
  EXPECT_EQ(code_of(refused.error()), errc::resource_exhausted);
  EXPECT_NE(render(refused.error()).find("over-provisioning ratio"), std::string::npos)
    << render(refused.error());
  EXPECT_EQ(lvm->lvs.count("local-c"), 0u) << "refused before any command";

  // A pool that is nearly full refuses new volumes even within the ratio.
  ASSERT_TRUE(request<bool>(vg, delete_lv_req{"local-b"}));
  lvm->lvs["pool"].used_bytes = 97 * mib;
  request<uint64_t>(vg, rescan_atom::value);
  auto full = request<lvm::lv_info>(vg, c);
  ASSERT_FALSE(full);
  EXPECT_EQ(code_of(full.error()), errc::resource_exhausted);
  auto layout = create("local-x", 4 * mib, "thin");
  ASSERT_FALSE(layout) << "a thin volume needs a pool";
  EXPECT_EQ(code_of(layout.error()), errc::not_found);
}

TEST_F(vg_actor_test, full_thin_pools_grow_from_free_space) {
  lvm->lvs["pool"] = test::fake_lv{100 * mib, "thin-pool"};
  lvm->lvs["pool"].tags = {"olocal/owner=standalone", "olocal/kind=pool"};
  lvm->lvs["pool"].used_bytes = 85 * mib; // above the 80 % default
  start();
  // The first scan saw the fill and queued the extension, which ran.
  EXPECT_EQ(lvm->lvs["pool"].size_bytes, 120 * mib) << "grown by 20 %";
  auto v = view();
  auto pool = v.find("pool");
  ASSERT_NE(pool, nullptr);
  EXPECT_LT(pool->data_percent, 80);
  auto report = request<actor_report>(vg, inspect_atom::value);
  EXPECT_NE(report->state_json.find("\"autoExtensions\":1"), std::string::npos);
  // No second extension while below the threshold.
  advance(60s);
  EXPECT_EQ(lvm->lvs["pool"].size_bytes, 120 * mib);
}

TEST_F(vg_actor_test, cow_snapshots_grow_before_they_overflow) {
  start();
  ASSERT_TRUE(create("local-1", 64 * mib));
  create_lv_req snap{"snap-1", 8 * mib, "snapshot", 0, "", "local-1", "snapshot"};
  snap.expand_bytes = 16 * mib;
  snap.expand_at_percent = 60;
  auto s = request<lvm::lv_info>(vg, snap);
  ASSERT_TRUE(s) << render(s.error());
  EXPECT_EQ(lv_tags::value(*s, lv_tags::expand_bytes), std::to_string(16 * mib));
  lvm->lvs["snap-1"].used_bytes = 4 * mib; // 50 %: below its own 60 %
  advance(60s);
  EXPECT_EQ(lvm->lvs["snap-1"].size_bytes, 8 * mib);
  lvm->lvs["snap-1"].used_bytes = 5 * mib; // 62.5 %
  advance(60s);
  EXPECT_EQ(lvm->lvs["snap-1"].size_bytes, 24 * mib) << "grown by its own expansion size";
}

TEST_F(vg_actor_test, growth_without_free_space_is_reported) {
  lvm->pvs = {{"/dev/loop0", 128 * mib}};
  lvm->lvs["pool"] = test::fake_lv{128 * mib, "thin-pool"};
  lvm->lvs["pool"].tags = {"olocal/owner=standalone"};
  lvm->lvs["pool"].used_bytes = 120 * mib;
  start();
  EXPECT_EQ(lvm->lvs["pool"].size_bytes, 128 * mib);
  auto report = request<actor_report>(vg, inspect_atom::value);
  ASSERT_TRUE(report);
  EXPECT_NE(report->last_error.find("has no free space"), std::string::npos) << report->last_error;
}

TEST_F(vg_actor_test, deleting_a_thick_volume_wipes_it_first) {
  start();
  ASSERT_TRUE(create("local-1", 8 * mib));
  ASSERT_TRUE(*request<bool>(vg, delete_lv_req{"local-1"}));
  ASSERT_EQ(lvm->wipes.size(), 1u);
  EXPECT_EQ(lvm->wipes[0].device, "/dev/vg0/local-1");
  EXPECT_EQ(lvm->wipes[0].bytes, 8 * mib);
  EXPECT_EQ(lvm->wipes[0].sysfs_dir.rfind("/sys/block/dm-", 0), 0u);
  // Opt-out (StorageClass wipe policy) and thin volumes skip the wipe.
  ASSERT_TRUE(create("local-2", 8 * mib));
  ASSERT_TRUE(*request<bool>(vg, delete_lv_req{"local-2", false}));
  EXPECT_EQ(lvm->wipes.size(), 1u);
}

TEST_F(vg_actor_test, a_failed_wipe_keeps_the_volume) {
  start();
  ASSERT_TRUE(create("local-1", 8 * mib));
  lvm->fail_wipes = true;
  auto refused = request<bool>(vg, delete_lv_req{"local-1"});
  ASSERT_FALSE(refused);
  EXPECT_EQ(code_of(refused.error()), errc::io_error);
  EXPECT_NE(render(refused.error()).find("volume kept"), std::string::npos);
  EXPECT_TRUE(lvm->lvs.count("local-1")) << "no lvremove after a failed wipe";
  lvm->fail_wipes = false;
  EXPECT_TRUE(*request<bool>(vg, delete_lv_req{"local-1"})) << "a retry succeeds";
}

TEST_F(vg_actor_test, restore_copies_a_snapshot_into_an_independent_volume) {
  start();
  ASSERT_TRUE(create("local-1", 64 * mib));
  create_lv_req snap{"snap-1", 8 * mib, "snapshot", 0, "", "local-1", "snapshot"};
  ASSERT_TRUE(request<lvm::lv_info>(vg, snap));
  create_lv_req restore{"local-r", 0, "copy", 0, "", "snap-1", "volume"};
  auto r = request<lvm::lv_info>(vg, restore);
  ASSERT_TRUE(r) << render(r.error());
  EXPECT_EQ(r->size_bytes, 64 * mib) << "sized by the origin's data, not the COW area";
  EXPECT_FALSE(r->has_tag(lv_tags::copying));
  EXPECT_EQ(lv_tags::value(*r, lv_tags::source), "snap-1");
  ASSERT_EQ(lvm->copies.size(), 1u);
  EXPECT_EQ(lvm->copies[0].source, "/dev/vg0/snap-1");
  EXPECT_EQ(lvm->copies[0].destination, "/dev/vg0/local-r");
  EXPECT_EQ(lvm->copies[0].bytes, 64 * mib);
  auto again = request<lvm::lv_info>(vg, restore);
  ASSERT_TRUE(again);
  EXPECT_EQ(lvm->copies.size(), 1u) << "a finished copy is not redone";
  create_lv_req missing{"local-m", 0, "copy", 0, "", "nope", "volume"};
  auto m = request<lvm::lv_info>(vg, missing);
  ASSERT_FALSE(m);
  EXPECT_EQ(code_of(m.error()), errc::not_found);
}

TEST_F(vg_actor_test, an_interrupted_copy_is_redone_not_trusted) {
  start();
  ASSERT_TRUE(create("local-1", 16 * mib));
  lvm->fail_copies = true;
  create_lv_req clone{"local-c", 0, "copy", 0, "", "local-1", "clone"};
  auto failed = request<lvm::lv_info>(vg, clone);
  ASSERT_FALSE(failed);
  EXPECT_EQ(code_of(failed.error()), errc::io_error);
  ASSERT_TRUE(lvm->lvs.count("local-c"));
  auto& tags = lvm->lvs["local-c"].tags;
  EXPECT_NE(std::find(tags.begin(), tags.end(), "olocal/state=copying"), tags.end());
  lvm->fail_copies = false;
  auto done = request<lvm::lv_info>(vg, clone);
  ASSERT_TRUE(done) << render(done.error());
  EXPECT_EQ(lvm->copies.size(), 2u);
  EXPECT_FALSE(done->has_tag(lv_tags::copying));
}

TEST_F(vg_actor_test, the_fill_watch_grows_pools_between_scans_without_lvm) {
  lvm->lvs["pool"] = test::fake_lv{100 * mib, "thin-pool"};
  lvm->lvs["pool"].tags = {"olocal/owner=standalone"};
  start();
  auto commands = lvm->commands.size();
  advance(10s); // a watch tick: the pool is empty, nothing to do
  EXPECT_EQ(lvm->fill_queries, 1u);
  EXPECT_EQ(lvm->commands.size(), commands) << "watching starts no lvm process";
  lvm->lvs["pool"].used_bytes = 90 * mib; // filled up between scans
  advance(10s);
  EXPECT_EQ(lvm->lvs["pool"].size_bytes, 120 * mib) << "grown from the watch, before the scan";
  auto changed =
    std::count_if(lvm->commands.begin() + static_cast<long>(commands), lvm->commands.end(),
                  [](auto& argv) { return argv[0] == "lvextend"; });
  EXPECT_EQ(changed, 1);
}
