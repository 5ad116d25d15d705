#include "actors/node/node_supervisor.hpp"

#include "actors/core/errc.hpp"
#include "actors/core/registry.hpp"
#include "tests/support/actor_fixture.hpp"
#include "tests/support/fake_fs.hpp"
#include "tests/support/fake_lvm.hpp"
#include "tests/support/fake_node.hpp"

#include <algorithm>

using namespace olocal;
using namespace std::chrono_literals;
using test::fs_command;

namespace {

constexpr uint64_t mib = 1ull << 20;

lvm::lv_info lv_named(std::string name, std::vector<std::string> tags,
                      std::string attr = "-wi-a-----") {
  lvm::lv_info lv;
  lv.name = std::move(name);
  lv.vg_name = "vg0";
  lv.tags = std::move(tags);
  lv.attr = std::move(attr);
  lv.segtype = "linear";
  return lv;
}

TEST(node_volume_lvs, only_our_volumes_clones_and_ephemerals_get_actors) {
  vg_options opts;
  EXPECT_TRUE(is_volume_lv(lv_named("a", {"olocal/owner=standalone", "olocal/kind=volume"}), opts));
  EXPECT_TRUE(is_volume_lv(lv_named("a", {"olocal/owner=standalone", "olocal/kind=clone"}), opts));
  EXPECT_TRUE(
    is_volume_lv(lv_named("a", {"olocal/owner=standalone", "olocal/kind=ephemeral"}), opts));
  EXPECT_FALSE(
    is_volume_lv(lv_named("a", {"olocal/owner=standalone", "olocal/kind=snapshot"}), opts));
  EXPECT_FALSE(is_volume_lv(lv_named("a", {"olocal/owner=other", "olocal/kind=volume"}), opts));
  EXPECT_FALSE(is_volume_lv(lv_named("mine", {}), opts)) << "no owner tag, no legacy prefix";
  EXPECT_TRUE(is_volume_lv(lv_named("local-7", {}), opts)) << "open-local's volumes stay managed";
  EXPECT_FALSE(is_volume_lv(lv_named("local-snap", {}, "swi-a-s---"), opts))
    << "open-local's CoW snapshots are not volumes";
  auto pool = lv_named("pool", {"olocal/owner=standalone", "olocal/kind=pool"}, "twi-a-tz--");
  pool.segtype = "thin-pool";
  EXPECT_FALSE(is_volume_lv(pool, opts));
}

struct node_supervisor_test : test::actor_fixture {
  std::shared_ptr<test::fake_lvm_state> lvm = std::make_shared<test::fake_lvm_state>();
  std::shared_ptr<test::fake_fs_state> fs = std::make_shared<test::fake_fs_state>();
  std::vector<caf::actor> fakes;
  node_supervisor_actor node;
  registry_actor registry;

  /// An LV that exists before the node starts (as after a restart).
  void existing(std::string name, std::string kind, uint32_t minor,
                std::string owner = "standalone") {
    test::fake_lv lv;
    lv.size_bytes = 64 * mib;
    lv.minor = minor;
    lv.tags = {"olocal/owner=" + owner, "olocal/kind=" + kind, "olocal/id=" + name};
    lvm->lvs[name] = lv;
    lvm->next_minor = std::max(lvm->next_minor, minor + 1);
    fs->add_device("/dev/vg0/" + name, lv.size_bytes, 254, minor);
  }

  /// With `running`, the supervisor behaves as in a node process (a scan and
  /// reconcile at start, then a reconcile timer); otherwise the test drives it.
  void start(bool running = false, std::vector<std::string> groups = {"vg0"}) {
    node_setup setup;
    block_device d;
    d.name = "vdb";
    d.path = "/dev/vdb";
    d.kind = "disk";
    setup.devices = {d};
    setup.volume_groups = std::move(groups);
    setup.vg.rescan_interval = 0ms;
    setup.vg.watch_interval = 0ms;
    setup.reconcile_interval = running ? 10s : 0ms;
    setup.fs_runners = 2;
    setup.registry = registry;
    test::use_fakes(setup, lvm, fs, fakes);
    node = spawn_node_supervisor(sys, setup);
    run();
    auto n = request<uint64_t>(node, rescan_atom::value);
    ASSERT_TRUE(n) << render(n.error());
  }

  ~node_supervisor_test() override {
    if (node)
      anon_send_exit(node, caf::exit_reason::user_shutdown);
    run();
    for (auto& f : fakes)
      anon_send_exit(f, caf::exit_reason::user_shutdown);
    if (registry)
      anon_send_exit(registry, caf::exit_reason::user_shutdown);
    run();
  }

  node_view view() {
    auto v = request<node_view>(node, get_atom::value);
    EXPECT_TRUE(v) << render(v.error());
    return v ? *v : node_view{};
  }

  std::vector<std::string> volume_ids() {
    std::vector<std::string> ids;
    for (auto& v : view().volumes)
      ids.push_back(v.id);
    std::sort(ids.begin(), ids.end());
    return ids;
  }

  caf::expected<volume_actor> lookup(std::string id) {
    return request<volume_actor>(node, volume_lookup{std::move(id)});
  }
};

void expect_code(const caf::error& err, errc code) {
  EXPECT_EQ(code_of(err), code) << render(err);
}

} // namespace

TEST_F(node_supervisor_test, rebuilds_one_actor_per_volume_from_lvm_tags_and_mounts) {
  existing("local-a", "volume", 1);
  existing("local-b", "clone", 2);
  existing("local-snap", "snapshot", 3);
  existing("theirs", "volume", 4, "cluster-x");
  // local-a was staged and published before the node went down.
  fs->devices["/dev/vg0/local-a"].fstype = "ext4";
  ASSERT_TRUE(fs->mount({"/dev/vg0/local-a", "/stage/a", "ext4", {}, false}));
  ASSERT_TRUE(fs->mount({"/stage/a", "/pods/1/a", "", {}, false}));
  start();
  EXPECT_EQ(volume_ids(), (std::vector<std::string>{"local-a", "local-b"}));
  auto a = lookup("local-a");
  ASSERT_TRUE(a) << render(a.error());
  auto st = request<volume_state>(*a, get_atom::value);
  ASSERT_TRUE(st);
  EXPECT_EQ(st->phase, "published");
  EXPECT_EQ(st->staging_path, "/stage/a");
  auto snap = lookup("local-snap");
  ASSERT_FALSE(snap);
  expect_code(snap.error(), errc::not_found);
  auto v = view();
  EXPECT_EQ(v.devices.size(), 1u);
  ASSERT_EQ(v.vgs.size(), 1u);
  EXPECT_EQ(v.vgs[0].vg.name, "vg0");
}

TEST_F(node_supervisor_test, groups_added_later_get_their_actors_and_volumes) {
  existing("local-a", "volume", 1);
  start(false, {});
  EXPECT_TRUE(view().vgs.empty());
  EXPECT_TRUE(volume_ids().empty());
  auto n = request<uint64_t>(node, manage_vgs_req{{"vg0"}});
  ASSERT_TRUE(n) << render(n.error());
  EXPECT_EQ(*n, 1u);
  ASSERT_EQ(view().vgs.size(), 1u);
  EXPECT_EQ(volume_ids(), std::vector<std::string>{"local-a"}) << "rebuilt from the group's LVs";
  auto again = request<uint64_t>(node, manage_vgs_req{{"vg0"}});
  ASSERT_TRUE(again);
  EXPECT_EQ(*again, 1u) << "idempotent";
  auto bad = request<uint64_t>(node, manage_vgs_req{{"-bad"}});
  ASSERT_FALSE(bad);
  expect_code(bad.error(), errc::invalid_argument);
}

TEST_F(node_supervisor_test, create_spawns_a_volume_actor_and_is_idempotent) {
  start();
  create_volume_req req{"vg0", {}};
  req.lv.name = "local-new";
  req.lv.size_bytes = 32 * mib;
  auto st = request<volume_state>(node, req);
  ASSERT_TRUE(st) << render(st.error());
  EXPECT_EQ(st->id, "local-new");
  EXPECT_EQ(st->phase, "ready");
  EXPECT_EQ(st->size_bytes, 32 * mib);
  auto again = request<volume_state>(node, req);
  ASSERT_TRUE(again) << render(again.error());
  EXPECT_EQ(volume_ids(), std::vector<std::string>{"local-new"});
  req.lv.size_bytes = 64 * mib;
  auto bigger = request<volume_state>(node, req);
  ASSERT_FALSE(bigger);
  expect_code(bigger.error(), errc::already_exists);
  auto nowhere = request<volume_state>(node, create_volume_req{"vg9", req.lv});
  ASSERT_FALSE(nowhere);
  expect_code(nowhere.error(), errc::not_found);
}

TEST_F(node_supervisor_test, delete_removes_the_lv_and_forgets_the_actor) {
  existing("local-a", "volume", 1);
  existing("local-snap", "snapshot", 2);
  start();
  auto gone = request<bool>(node, delete_volume_req{"local-a", true});
  ASSERT_TRUE(gone) << render(gone.error());
  EXPECT_TRUE(*gone);
  EXPECT_FALSE(lvm->lvs.count("local-a"));
  auto l = lookup("local-a");
  ASSERT_FALSE(l);
  expect_code(l.error(), errc::not_found);
  EXPECT_TRUE(volume_ids().empty());
  auto again = request<bool>(node, delete_volume_req{"local-a", true});
  ASSERT_TRUE(again);
  EXPECT_FALSE(*again) << "deleting a missing volume succeeds";
  auto snap = request<bool>(node, delete_volume_req{"local-snap", true});
  ASSERT_TRUE(snap) << render(snap.error());
  EXPECT_TRUE(*snap) << "snapshots have no actor but are deleted through their group";
  EXPECT_FALSE(lvm->lvs.count("local-snap"));
}

TEST_F(node_supervisor_test, a_crashed_volume_actor_is_restarted_and_rebuilt) {
  existing("local-a", "volume", 1);
  start();
  auto first = lookup("local-a");
  ASSERT_TRUE(first);
  ASSERT_TRUE(request<volume_state>(*first, stage_req{"/stage/a", false, "ext4", {}}));
  anon_send_exit(*first, caf::exit_reason::kill);
  run();
  auto second = lookup("local-a");
  ASSERT_TRUE(second) << render(second.error());
  EXPECT_NE(caf::actor_cast<caf::actor_addr>(*first), caf::actor_cast<caf::actor_addr>(*second));
  auto st = request<volume_state>(*second, get_atom::value);
  ASSERT_TRUE(st) << render(st.error());
  EXPECT_EQ(st->phase, "staged") << "rebuilt from the mount table";
  EXPECT_EQ(st->staging_path, "/stage/a");
}

TEST_F(node_supervisor_test, a_crashed_vg_actor_is_restarted_with_its_volumes) {
  existing("local-a", "volume", 1);
  registry = spawn_registry(sys);
  start();
  auto find = [&](const std::string& name) {
    caf::actor found;
    auto all = request<std::vector<actor_entry>>(registry, list_atom::value);
    EXPECT_TRUE(all);
    for (auto& e : all ? *all : std::vector<actor_entry>{})
      if (e.name == name)
        found = e.handle;
    return found;
  };
  auto old_vg = find("vg/vg0");
  ASSERT_TRUE(old_vg) << "children are registered for the admin endpoint";
  ASSERT_TRUE(find("volume/local-a"));
  ASSERT_TRUE(find("disk/vdb"));
  anon_send_exit(old_vg, caf::exit_reason::kill);
  run();
  auto new_vg = find("vg/vg0");
  ASSERT_TRUE(new_vg) << "restarted";
  EXPECT_NE(old_vg.address(), new_vg.address());
  // The volume actor was restarted too and talks to the new group actor:
  // an expansion (an lvextend through the group) works.
  auto a = lookup("local-a");
  ASSERT_TRUE(a) << render(a.error());
  auto st = request<volume_state>(*a, expand_req{128 * mib});
  ASSERT_TRUE(st) << render(st.error());
  EXPECT_EQ(lvm->lvs["local-a"].size_bytes, 128 * mib);
  auto report = request<actor_report>(node, inspect_atom::value);
  ASSERT_TRUE(report);
  EXPECT_NE(report->state_json.find("\"restarts\":1}"), std::string::npos) << report->state_json;
}

TEST_F(node_supervisor_test, a_volume_whose_lv_vanished_is_reported_lost) {
  existing("local-a", "volume", 1);
  start();
  lvm->lvs.erase("local-a"); // removed behind our back (lvremove by hand)
  auto n = request<uint64_t>(node, rescan_atom::value);
  ASSERT_TRUE(n);
  auto a = lookup("local-a");
  ASSERT_TRUE(a);
  auto s = request<volume_stats>(*a, stats_atom::value);
  ASSERT_TRUE(s) << render(s.error());
  EXPECT_EQ(s->state.phase, "lost");
  EXPECT_TRUE(s->usage.condition.abnormal);
}

TEST_F(node_supervisor_test, exiting_takes_every_child_along) {
  existing("local-a", "volume", 1);
  start();
  auto a = lookup("local-a");
  ASSERT_TRUE(a);
  anon_send_exit(node, caf::exit_reason::user_shutdown);
  run();
  node = node_supervisor_actor{};
  auto st = request<volume_state>(*a, get_atom::value);
  EXPECT_FALSE(st) << "the volume actor exited with its supervisor";
}

TEST_F(node_supervisor_test, a_starting_node_collects_ephemeral_volumes_a_crash_left_behind) {
  existing("csi-orphan", "ephemeral", 1);
  existing("csi-in-use", "ephemeral", 2);
  existing("local-keep", "volume", 3);
  // The orphan was staged for a pod that is gone; the other is still published.
  fs->devices["/dev/vg0/csi-orphan"].fstype = "ext4";
  fs->devices["/dev/vg0/csi-in-use"].fstype = "ext4";
  ASSERT_TRUE(fs->mount({"/dev/vg0/csi-orphan", "/state/ephemeral/csi-orphan", "ext4", {}, false}));
  ASSERT_TRUE(fs->mount({"/dev/vg0/csi-in-use", "/state/ephemeral/csi-in-use", "ext4", {}, false}));
  ASSERT_TRUE(fs->mount({"/state/ephemeral/csi-in-use", "/pods/p1/vol", "", {}, false}));
  start(true);
  EXPECT_FALSE(lvm->lvs.count("csi-orphan")) << "collected at start";
  EXPECT_EQ(fs->mount_at("/state/ephemeral/csi-orphan"), nullptr) << "unstaged first";
  EXPECT_TRUE(lvm->lvs.count("csi-in-use")) << "still published: kept";
  EXPECT_TRUE(lvm->lvs.count("local-keep")) << "only ephemeral volumes are collected";
  EXPECT_EQ(volume_ids(), (std::vector<std::string>{"csi-in-use", "local-keep"}));
}
