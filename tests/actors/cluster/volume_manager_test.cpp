#include "actors/cluster/volume_manager.hpp"

#include "actors/core/errc.hpp"
#include "actors/node/node_supervisor.hpp"
#include "tests/support/actor_fixture.hpp"
#include "tests/support/fake_fs.hpp"
#include "tests/support/fake_lvm.hpp"
#include "tests/support/fake_node.hpp"

#include <algorithm>

using namespace olocal;
using namespace std::chrono_literals;

namespace {

constexpr uint64_t mib = 1ull << 20;
constexpr uint64_t gib = 1ull << 30;

vg_view vg_with(std::string name, uint64_t free, std::vector<std::string> pools = {}) {
  vg_view v;
  v.vg.name = std::move(name);
  v.vg.free_bytes = free;
  v.vg.extent_size_bytes = 4 * mib;
  for (auto& p : pools) {
    lvm::lv_info lv;
    lv.name = p;
    lv.segtype = "thin-pool";
    lv.attr = "twi-a-tz--";
    v.lvs.push_back(lv);
  }
  return v;
}

} // namespace

TEST(choose_size, rounds_to_extents_within_the_range) {
  EXPECT_EQ(*choose_size(0, 0, 4 * mib, gib), gib) << "the default";
  EXPECT_EQ(*choose_size(0, 100 * mib, 4 * mib, gib), 100 * mib) << "the default capped";
  EXPECT_EQ(*choose_size(10 * mib + 1, 0, 4 * mib, gib), 12 * mib);
  EXPECT_EQ(*choose_size(10 * mib, 12 * mib, 4 * mib, gib), 12 * mib);
  auto tight = choose_size(10 * mib, 11 * mib, 4 * mib, gib);
  ASSERT_FALSE(tight);
  EXPECT_EQ(code_of(tight.error()), errc::out_of_range);
  auto inverted = choose_size(20 * mib, 10 * mib, 4 * mib, gib);
  ASSERT_FALSE(inverted);
  EXPECT_EQ(code_of(inverted.error()), errc::invalid_argument);
  EXPECT_NE(render(inverted.error()).find("limit_bytes"), std::string::npos);
  EXPECT_FALSE(choose_size(~0ull, 0, 4 * mib, gib));
}

TEST(choose_vg, binpacks_and_honours_the_parameters) {
  std::vector<vg_view> vgs = {vg_with("big", 10 * gib), vg_with("small", 2 * gib, {"thinpool"}),
                              vg_with("tiny", 100 * mib)};
  volume_params p;
  EXPECT_EQ(*choose_vg(vgs, p, gib), "small") << "the fullest group that fits";
  EXPECT_EQ(*choose_vg(vgs, p, 5 * gib), "big");
  EXPECT_EQ(*choose_vg(vgs, p, 50 * mib), "tiny");
  auto none = choose_vg(vgs, p, 20 * gib);
  ASSERT_FALSE(none);
  EXPECT_EQ(code_of(none.error()), errc::resource_exhausted);
  p.vg_name = "big";
  EXPECT_EQ(*choose_vg(vgs, p, gib), "big");
  p.vg_name = "nope";
  auto unknown = choose_vg(vgs, p, gib);
  ASSERT_FALSE(unknown);
  EXPECT_EQ(code_of(unknown.error()), errc::invalid_argument);
  EXPECT_NE(render(unknown.error()).find("vgName"), std::string::npos);
  p.vg_name = "tiny";
  auto full = choose_vg(vgs, p, gib);
  ASSERT_FALSE(full);
  EXPECT_EQ(code_of(full.error()), errc::resource_exhausted);
  volume_params thin;
  thin.lvm_type = "thin";
  EXPECT_EQ(*choose_vg(vgs, thin, 100 * gib), "small") << "thin volumes go where the pool is";
  thin.vg_name = "big";
  auto no_pool = choose_vg(vgs, thin, gib);
  ASSERT_FALSE(no_pool);
  EXPECT_EQ(code_of(no_pool.error()), errc::failed_precondition);
}

TEST(page_range, pages_by_index_tokens) {
  EXPECT_EQ(*page_range(10, 0, ""), std::make_pair(size_t{0}, size_t{10}));
  EXPECT_EQ(*page_range(10, 4, ""), std::make_pair(size_t{0}, size_t{4}));
  EXPECT_EQ(*page_range(10, 4, "8"), std::make_pair(size_t{8}, size_t{10}));
  EXPECT_EQ(*page_range(10, 4, "10"), std::make_pair(size_t{10}, size_t{10}));
  for (std::string bad : {"11", "x", "-1", "1x", " 1"}) {
    auto r = page_range(10, 4, bad);
    ASSERT_FALSE(r) << bad;
    EXPECT_EQ(code_of(r.error()), errc::aborted);
  }
}

namespace {

struct volume_manager_test : test::actor_fixture {
  std::shared_ptr<test::fake_lvm_state> lvm = std::make_shared<test::fake_lvm_state>();
  std::shared_ptr<test::fake_fs_state> fs = std::make_shared<test::fake_fs_state>();
  std::vector<caf::actor> fakes;
  node_supervisor_actor node;
  volume_manager_actor manager;

  volume_manager_test() {
    node_setup setup;
    setup.volume_groups = {"vg0"};
    setup.vg.rescan_interval = 0ms;
    setup.vg.watch_interval = 0ms;
    setup.reconcile_interval = 0ms;
    setup.fs_runners = 1;
    test::use_fakes(setup, lvm, fs, fakes);
    node = spawn_node_supervisor(sys, setup);
    run();
    manager = spawn_volume_manager(sys, manager_setup{"node-1", node});
    run();
  }

  ~volume_manager_test() override {
    anon_send_exit(manager, caf::exit_reason::user_shutdown);
    anon_send_exit(node, caf::exit_reason::user_shutdown);
    run();
    for (auto& f : fakes)
      anon_send_exit(f, caf::exit_reason::user_shutdown);
    run();
  }

  caf::expected<volume_record> provision(std::string name, uint64_t bytes, param_map params = {}) {
    provision_req req;
    req.name = std::move(name);
    req.required_bytes = bytes;
    req.params = std::move(params);
    return request<volume_record>(manager, req);
  }

  size_t creates() {
    return static_cast<size_t>(std::count_if(lvm->commands.begin(), lvm->commands.end(),
                                             [](auto& a) { return a[0] == "lvcreate"; }));
  }
};

} // namespace

TEST_F(volume_manager_test, creates_a_volume_and_answers_repeats_with_it) {
  auto v = provision("pvc-1", 100 * mib, {{"csi.storage.k8s.io/pvc/name", "data"}});
  ASSERT_TRUE(v) << render(v.error());
  EXPECT_EQ(v->id, "pvc-1");
  EXPECT_EQ(v->capacity_bytes, 100 * mib);
  EXPECT_EQ(v->node, "node-1");
  EXPECT_EQ(v->vg, "vg0");
  EXPECT_EQ(v->context["vgName"], "vg0");
  EXPECT_EQ(v->context["csi.storage.k8s.io/pvc/name"], "data");
  ASSERT_TRUE(lvm->lvs.count("pvc-1"));
  auto again = provision("pvc-1", 100 * mib);
  ASSERT_TRUE(again) << render(again.error());
  EXPECT_EQ(again->capacity_bytes, 100 * mib);
  EXPECT_EQ(creates(), 1u);
  auto smaller_request = provision("pvc-1", 50 * mib);
  ASSERT_TRUE(smaller_request) << "an existing volume inside the range answers";
  auto bigger = provision("pvc-1", 200 * mib);
  ASSERT_FALSE(bigger);
  EXPECT_EQ(code_of(bigger.error()), errc::already_exists);
}

TEST_F(volume_manager_test, bad_requests_name_what_is_wrong) {
  auto no_name = provision("", mib);
  ASSERT_FALSE(no_name);
  EXPECT_EQ(code_of(no_name.error()), errc::invalid_argument);
  auto bad_param = provision("pvc-x", mib, {{"lvmType", "raid5"}});
  ASSERT_FALSE(bad_param);
  EXPECT_NE(render(bad_param.error()).find("lvmType"), std::string::npos);
  auto too_big = provision("pvc-x", 100 * gib);
  ASSERT_FALSE(too_big);
  EXPECT_EQ(code_of(too_big.error()), errc::resource_exhausted);
  provision_req elsewhere;
  elsewhere.name = "pvc-x";
  elsewhere.nodes = {"node-2"};
  auto wrong_node = request<volume_record>(manager, elsewhere);
  ASSERT_FALSE(wrong_node);
  EXPECT_EQ(code_of(wrong_node.error()), errc::resource_exhausted);
  EXPECT_EQ(creates(), 0u) << "nothing created by a refused request";
}

TEST_F(volume_manager_test, requests_for_one_name_run_one_at_a_time) {
  lvm->hold = true;
  std::vector<std::string> answers;
  auto client = sys.spawn([&](caf::event_based_actor* self) {
    for (int i = 0; i < 3; ++i) {
      provision_req req;
      req.name = "pvc-same";
      req.required_bytes = 8 * mib;
      self->request(manager, caf::infinite, req)
        .then([&](volume_record& r) { answers.push_back(r.id); },
              [&](caf::error& e) { answers.push_back(render(e)); });
    }
  });
  run();
  EXPECT_TRUE(answers.empty());
  lvm->hold = false;
  while (!lvm->held.empty()) {
    anon_send(fakes.front(), test::release_atom::value);
    run();
  }
  run();
  ASSERT_EQ(answers.size(), 3u);
  for (auto& a : answers)
    EXPECT_EQ(a, "pvc-same");
  EXPECT_EQ(creates(), 1u) << "the later requests found the volume the first one made";
}

TEST_F(volume_manager_test, delete_is_idempotent_and_keeps_the_wipe_policy) {
  ASSERT_TRUE(provision("pvc-w", 8 * mib));
  ASSERT_TRUE(provision("pvc-nw", 8 * mib, {{"wipe", "false"}}));
  auto a = request<bool>(manager, unprovision_req{"pvc-w"});
  ASSERT_TRUE(a) << render(a.error());
  EXPECT_TRUE(*a);
  EXPECT_EQ(lvm->wipes.size(), 1u);
  auto b = request<bool>(manager, unprovision_req{"pvc-nw"});
  ASSERT_TRUE(b) << render(b.error());
  EXPECT_EQ(lvm->wipes.size(), 1u) << "wipe=false skips the secure release";
  auto again = request<bool>(manager, unprovision_req{"pvc-w"});
  ASSERT_TRUE(again);
  EXPECT_FALSE(*again);
  EXPECT_TRUE(lvm->lvs.empty());
}

TEST_F(volume_manager_test, long_names_map_to_hashed_lv_names_that_keep_the_name) {
  auto name = "pvc-" + std::string(124, 'x'); // CSI's 128-byte maximum
  auto v = provision(name, 64 * mib);
  ASSERT_TRUE(v) << render(v.error());
  EXPECT_EQ(v->id, lv_name_for(name)) << "the id is the LV name";
  ASSERT_TRUE(lvm->lvs.count(v->id));
  auto& tags = lvm->lvs[v->id].tags;
  EXPECT_NE(std::find(tags.begin(), tags.end(), "olocal/name=" + name), tags.end());
  auto again = provision(name, 64 * mib);
  ASSERT_TRUE(again) << render(again.error());
  EXPECT_EQ(again->id, v->id);
  EXPECT_EQ(creates(), 1u) << "a retry finds the LV it made";

  auto snap_name = "snap-" + std::string(123, 'y');
  auto s = request<snapshot_record>(manager, snapshot_req{snap_name, v->id, {}});
  ASSERT_TRUE(s) << render(s.error());
  EXPECT_EQ(s->id, lv_name_for(snap_name));
  EXPECT_EQ(s->source_volume, v->id);
  auto s_again = request<snapshot_record>(manager, snapshot_req{snap_name, v->id, {}});
  ASSERT_TRUE(s_again) << render(s_again.error());
  EXPECT_EQ(s_again->id, s->id);
  EXPECT_TRUE(request<bool>(manager, delete_snapshot_req{s->id}));
  EXPECT_TRUE(request<bool>(manager, unprovision_req{v->id}));
  EXPECT_FALSE(lvm->lvs.count(v->id));
}

TEST_F(volume_manager_test, snapshots_are_created_listed_paged_and_deleted) {
  ASSERT_TRUE(provision("pvc-a", 64 * mib));
  ASSERT_TRUE(provision("pvc-b", 64 * mib));
  for (auto [snap, src] :
       {std::pair{"snap-1", "pvc-a"}, {"snap-2", "pvc-a"}, {"snap-3", "pvc-b"}}) {
    auto s = request<snapshot_record>(
      manager, snapshot_req{snap, src, {{"csi.aliyun.com/snapshot-initial-size", "16Mi"}}});
    ASSERT_TRUE(s) << render(s.error());
    EXPECT_EQ(s->source_volume, src);
    EXPECT_EQ(s->size_bytes, 64 * mib) << "a snapshot restores to its source's size";
    EXPECT_TRUE(s->ready);
  }
  EXPECT_EQ(lvm->lvs["snap-1"].size_bytes, 16 * mib);
  auto again = request<snapshot_record>(manager, snapshot_req{"snap-1", "pvc-a", {}});
  ASSERT_TRUE(again);
  auto clash = request<snapshot_record>(manager, snapshot_req{"snap-1", "pvc-b", {}});
  ASSERT_FALSE(clash);
  EXPECT_EQ(code_of(clash.error()), errc::already_exists);
  auto missing = request<snapshot_record>(manager, snapshot_req{"snap-9", "pvc-zz", {}});
  ASSERT_FALSE(missing);
  EXPECT_EQ(code_of(missing.error()), errc::not_found);

  auto page1 = request<snapshot_page>(manager, list_snapshots_req{2, "", "", ""});
  ASSERT_TRUE(page1) << render(page1.error());
  ASSERT_EQ(page1->entries.size(), 2u);
  EXPECT_EQ(page1->entries[0].id, "snap-1");
  ASSERT_FALSE(page1->next_token.empty());
  auto page2 = request<snapshot_page>(manager, list_snapshots_req{2, page1->next_token, "", ""});
  ASSERT_TRUE(page2);
  ASSERT_EQ(page2->entries.size(), 1u);
  EXPECT_EQ(page2->entries[0].id, "snap-3");
  EXPECT_TRUE(page2->next_token.empty());
  auto of_a = request<snapshot_page>(manager, list_snapshots_req{0, "", "", "pvc-a"});
  ASSERT_TRUE(of_a);
  EXPECT_EQ(of_a->entries.size(), 2u);
  auto one = request<snapshot_page>(manager, list_snapshots_req{0, "", "snap-3", ""});
  ASSERT_TRUE(one);
  ASSERT_EQ(one->entries.size(), 1u);
  EXPECT_EQ(one->entries[0].source_volume, "pvc-b");
  auto bad = request<snapshot_page>(manager, list_snapshots_req{2, "99", "", ""});
  ASSERT_FALSE(bad);
  EXPECT_EQ(code_of(bad.error()), errc::aborted);

  auto origin_busy = request<bool>(manager, unprovision_req{"pvc-b"});
  ASSERT_FALSE(origin_busy) << "a volume with snapshots is not deleted";
  EXPECT_EQ(code_of(origin_busy.error()), errc::failed_precondition);
  auto del = request<bool>(manager, delete_snapshot_req{"snap-3"});
  ASSERT_TRUE(del) << render(del.error());
  EXPECT_TRUE(*del);
  auto del_again = request<bool>(manager, delete_snapshot_req{"snap-3"});
  ASSERT_TRUE(del_again);
  EXPECT_FALSE(*del_again);
  auto not_a_snapshot = request<bool>(manager, delete_snapshot_req{"pvc-a"});
  ASSERT_TRUE(not_a_snapshot);
  EXPECT_FALSE(*not_a_snapshot);
  EXPECT_TRUE(lvm->lvs.count("pvc-a")) << "DeleteSnapshot never removes a volume";
}

TEST_F(volume_manager_test, restores_and_clones_are_independent_copies) {
  ASSERT_TRUE(provision("pvc-a", 64 * mib));
  ASSERT_TRUE(request<snapshot_record>(manager, snapshot_req{"snap-1", "pvc-a", {}}));
  provision_req restore;
  restore.name = "pvc-r";
  restore.required_bytes = 32 * mib; // smaller than the source: grown to it
  restore.source_snapshot = "snap-1";
  auto r = request<volume_record>(manager, restore);
  ASSERT_TRUE(r) << render(r.error());
  EXPECT_GE(r->capacity_bytes, 64 * mib);
  EXPECT_EQ(r->source_snapshot, "snap-1");
  ASSERT_EQ(lvm->copies.size(), 1u);
  EXPECT_NE(lvm->copies[0].source.find("snap-1"), std::string::npos);
  provision_req clone;
  clone.name = "pvc-c";
  clone.source_volume = "pvc-a";
  auto c = request<volume_record>(manager, clone);
  ASSERT_TRUE(c) << render(c.error());
  EXPECT_EQ(lvm->copies.size(), 2u);
  auto again = request<volume_record>(manager, clone);
  ASSERT_TRUE(again) << render(again.error());
  clone.source_volume = "pvc-r";
  auto other_source = request<volume_record>(manager, clone);
  ASSERT_FALSE(other_source);
  EXPECT_EQ(code_of(other_source.error()), errc::already_exists);
  provision_req ghost;
  ghost.name = "pvc-g";
  ghost.source_snapshot = "snap-404";
  auto g = request<volume_record>(manager, ghost);
  ASSERT_FALSE(g);
  EXPECT_EQ(code_of(g.error()), errc::not_found);
}

TEST_F(volume_manager_test, expands_lists_and_reports_capacity) {
  ASSERT_TRUE(provision("pvc-a", 64 * mib));
  ASSERT_TRUE(provision("pvc-b", 64 * mib));
  auto grown = request<volume_record>(manager, resize_req{"pvc-a", 100 * mib, 0});
  ASSERT_TRUE(grown) << render(grown.error());
  EXPECT_EQ(grown->capacity_bytes, 100 * mib);
  EXPECT_EQ(lvm->lvs["pvc-a"].size_bytes, 100 * mib);
  auto same = request<volume_record>(manager, resize_req{"pvc-a", 80 * mib, 0});
  ASSERT_TRUE(same);
  EXPECT_EQ(same->capacity_bytes, 100 * mib) << "never shrinks";
  auto missing = request<volume_record>(manager, resize_req{"pvc-z", 80 * mib, 0});
  ASSERT_FALSE(missing);
  EXPECT_EQ(code_of(missing.error()), errc::not_found);

  auto page = request<volume_page>(manager, list_volumes_req{1, ""});
  ASSERT_TRUE(page) << render(page.error());
  ASSERT_EQ(page->entries.size(), 1u);
  EXPECT_EQ(page->entries[0].id, "pvc-a");
  auto rest = request<volume_page>(manager, list_volumes_req{1, page->next_token});
  ASSERT_TRUE(rest);
  ASSERT_EQ(rest->entries.size(), 1u);
  EXPECT_EQ(rest->entries[0].id, "pvc-b");
  EXPECT_TRUE(rest->next_token.empty());

  auto got = request<volume_record>(manager, volume_query{"pvc-b"});
  ASSERT_TRUE(got) << render(got.error());
  EXPECT_FALSE(got->abnormal);
  auto gone = request<volume_record>(manager, volume_query{"pvc-zz"});
  ASSERT_FALSE(gone);
  EXPECT_EQ(code_of(gone.error()), errc::not_found);

  auto cap = request<uint64_t>(manager, capacity_req{{}, {}});
  ASSERT_TRUE(cap) << render(cap.error());
  EXPECT_EQ(*cap, lvm->free());
  auto elsewhere = request<uint64_t>(manager, capacity_req{{}, {"node-9"}});
  ASSERT_TRUE(elsewhere);
  EXPECT_EQ(*elsewhere, 0u);
}

// -- Device and MountPoint volumes ------------------------------------------------------

namespace {

constexpr uint64_t kib = 1ull << 10;

/// A node that offers whole devices (vd*) and mount points under /mnt/ol,
/// with its claims file kept by the fake runner.
struct claim_manager_test : test::actor_fixture {
  std::shared_ptr<test::fake_lvm_state> lvm = std::make_shared<test::fake_lvm_state>();
  std::shared_ptr<test::fake_fs_state> fs = std::make_shared<test::fake_fs_state>();
  std::vector<caf::actor> fakes;
  node_supervisor_actor node;
  volume_manager_actor manager;

  void add_disk(std::string name, uint64_t bytes, uint32_t minor, bool hdd) {
    block_device d;
    d.name = name;
    d.path = "/dev/" + name;
    d.kind = "disk";
    d.major = 252;
    d.minor = minor;
    d.size_bytes = bytes;
    d.rotational = hdd;
    fs->add_device(d.path, bytes, 252, minor).kernel_name = name;
    fs->block_devices.push_back(d);
  }

  claim_manager_test() {
    add_disk("vdb", gib, 1, false);
    add_disk("vdc", 4 * gib, 2, true);
    add_disk("vdd", 2 * gib, 3, false);
    add_disk("sda", 8 * gib, 4, false); // not included
    fs->add_device("/dev/sdm1", 512 * mib, 8, 33, "ext4");
    EXPECT_TRUE(fs->mount({"/dev/sdm1", "/mnt/ol/d1", "ext4", {}, false}));
    node_setup setup;
    setup.devices = fs->block_devices;
    setup.volume_groups = {"vg0"};
    setup.vg.rescan_interval = 0ms;
    setup.vg.watch_interval = 0ms;
    setup.reconcile_interval = 0ms;
    setup.fs_runners = 1;
    setup.device_include = {"vd.*"};
    setup.mount_path = "/mnt/ol";
    setup.state_dir = "/state";
    test::use_fakes(setup, lvm, fs, fakes);
    node = spawn_node_supervisor(sys, setup);
    run();
    EXPECT_TRUE(request<uint64_t>(node, rescan_atom::value));
    manager = spawn_volume_manager(sys, manager_setup{"node-1", node});
    run();
  }

  ~claim_manager_test() override {
    anon_send_exit(manager, caf::exit_reason::user_shutdown);
    anon_send_exit(node, caf::exit_reason::user_shutdown);
    run();
    for (auto& f : fakes)
      anon_send_exit(f, caf::exit_reason::user_shutdown);
    run();
  }

  caf::expected<volume_record> provision(std::string name, uint64_t bytes, param_map params,
                                         uint64_t limit = 0) {
    provision_req req;
    req.name = std::move(name);
    req.required_bytes = bytes;
    req.limit_bytes = limit;
    req.params = std::move(params);
    return request<volume_record>(manager, req);
  }

  std::vector<claim_record> claims() { return fs->claim_files["/state/claims.json"]; }
};

const param_map device_ssd = {{"volumeType", "Device"}, {"mediaType", "ssd"}};
const param_map device_any = {{"volumeType", "Device"}};
const param_map mount_point_any = {{"volumeType", "MountPoint"}};

} // namespace

TEST_F(claim_manager_test, creates_device_volumes_with_open_locals_volume_context) {
  auto v = provision("pvc-d", gib + 1, device_ssd);
  ASSERT_TRUE(v) << render(v.error());
  EXPECT_EQ(v->id, "pvc-d");
  EXPECT_EQ(v->capacity_bytes, 2 * gib) << "the whole (smallest fitting) device";
  EXPECT_EQ(v->node, "node-1");
  EXPECT_EQ(v->vg, "");
  EXPECT_EQ(v->context["volumeType"], "Device");
  EXPECT_EQ(v->context["Device"], "/dev/vdd");
  EXPECT_EQ(v->context["mediaType"], "ssd") << "the parameters are kept";
  ASSERT_EQ(claims().size(), 1u);
  EXPECT_EQ(claims()[0].path, "/dev/vdd");
  auto again = provision("pvc-d", gib, device_ssd);
  ASSERT_TRUE(again) << render(again.error());
  EXPECT_EQ(again->context["Device"], "/dev/vdd");
  auto bigger = provision("pvc-d", 3 * gib, device_ssd);
  ASSERT_FALSE(bigger);
  EXPECT_EQ(code_of(bigger.error()), errc::already_exists);
  auto as_lvm = provision("pvc-d", gib, {});
  ASSERT_FALSE(as_lvm);
  EXPECT_EQ(code_of(as_lvm.error()), errc::already_exists);
  EXPECT_TRUE(lvm->lvs.empty());

  auto hdd = provision("pvc-h", 0, {{"volumeType", "Device"}, {"mediaType", "hdd"}});
  ASSERT_TRUE(hdd) << render(hdd.error());
  EXPECT_EQ(hdd->context["Device"], "/dev/vdc");
  auto limited = provision("pvc-l", 0, device_any, 512 * mib);
  ASSERT_FALSE(limited) << "vdb is 1 GiB: above the limit";
  EXPECT_EQ(code_of(limited.error()), errc::resource_exhausted);
  auto small = provision("pvc-s", 0, device_any, gib);
  ASSERT_TRUE(small) << render(small.error());
  EXPECT_EQ(small->context["Device"], "/dev/vdb");
  auto none = provision("pvc-n", 0, device_any);
  ASSERT_FALSE(none);
  EXPECT_EQ(code_of(none.error()), errc::resource_exhausted);
  EXPECT_NE(render(none.error()).find("claimed by"), std::string::npos) << render(none.error());
  auto lvm_name = provision("pvc-lvm", 8 * mib, {});
  ASSERT_TRUE(lvm_name) << render(lvm_name.error());
  auto on_lvm = provision("pvc-lvm", 0, device_any);
  ASSERT_FALSE(on_lvm);
  EXPECT_EQ(code_of(on_lvm.error()), errc::already_exists);
}

TEST_F(claim_manager_test, capacity_is_the_largest_free_device_or_mount_point) {
  auto cap = [&](param_map p) {
    auto c = request<uint64_t>(manager, capacity_req{std::move(p), {}});
    EXPECT_TRUE(c) << render(c.error());
    return c ? *c : 0;
  };
  EXPECT_EQ(cap(device_any), 4 * gib);
  EXPECT_EQ(cap(device_ssd), 2 * gib);
  EXPECT_EQ(cap({{"volumeType", "Device"}, {"mediaType", "hdd"}}), 4 * gib);
  EXPECT_EQ(cap(mount_point_any), 512 * mib);
  ASSERT_TRUE(provision("pvc-d", gib + 1, device_ssd));
  EXPECT_EQ(cap(device_ssd), gib) << "vdd is taken";
  ASSERT_TRUE(provision("pvc-m", 0, mount_point_any));
  EXPECT_EQ(cap(mount_point_any), 0u);
  EXPECT_EQ(cap({}), lvm->free()) << "LVM capacity as before";
}

TEST_F(claim_manager_test, mount_point_volumes_carry_their_directory) {
  auto v = provision("pvc-m", 100 * mib, mount_point_any);
  ASSERT_TRUE(v) << render(v.error());
  EXPECT_EQ(v->context["volumeType"], "MountPoint");
  EXPECT_EQ(v->context["MountPoint"], "/mnt/ol/d1");
  EXPECT_EQ(v->capacity_bytes, 512 * mib);
  auto too_big = provision("pvc-m2", gib, mount_point_any);
  ASSERT_FALSE(too_big);
  EXPECT_EQ(code_of(too_big.error()), errc::resource_exhausted);
}

TEST_F(claim_manager_test, lists_and_gets_claimed_volumes) {
  ASSERT_TRUE(provision("pvc-d", 0, device_ssd));
  ASSERT_TRUE(provision("pvc-lvm", 8 * mib, {}));
  ASSERT_TRUE(provision("pvc-m", 0, mount_point_any));
  auto page = request<volume_page>(manager, list_volumes_req{0, ""});
  ASSERT_TRUE(page) << render(page.error());
  ASSERT_EQ(page->entries.size(), 3u);
  auto& d = page->entries[0];
  EXPECT_EQ(d.id, "pvc-d");
  EXPECT_EQ(d.context["volumeType"], "Device");
  EXPECT_EQ(d.context["Device"], "/dev/vdb");
  EXPECT_EQ(d.capacity_bytes, gib);
  EXPECT_EQ(page->entries[1].context["volumeType"], "LVM");
  EXPECT_EQ(page->entries[2].context["MountPoint"], "/mnt/ol/d1");
  auto vol = request<volume_actor>(node, volume_lookup{"pvc-d"});
  ASSERT_TRUE(vol);
  ASSERT_TRUE(request<volume_state>(*vol, stage_req{"/stage/d", false, "ext4", {}}));
  ASSERT_TRUE(request<volume_state>(*vol, publish_req{"/pods/p/d", false, {}}));
  auto got = request<volume_record>(manager, volume_query{"pvc-d"});
  ASSERT_TRUE(got) << render(got.error());
  EXPECT_EQ(got->published_nodes, std::vector<std::string>{"node-1"});
  EXPECT_FALSE(got->abnormal);
  auto in_use = request<bool>(manager, unprovision_req{"pvc-d"});
  ASSERT_FALSE(in_use);
  EXPECT_EQ(code_of(in_use.error()), errc::failed_precondition);
}

TEST_F(claim_manager_test, no_snapshots_clones_or_growth_for_claimed_volumes) {
  ASSERT_TRUE(provision("pvc-d", 0, device_ssd));
  auto snap = request<snapshot_record>(manager, snapshot_req{"snap-1", "pvc-d", {}});
  ASSERT_FALSE(snap);
  EXPECT_EQ(code_of(snap.error()), errc::invalid_argument);
  EXPECT_NE(render(snap.error()).find("only LVM volumes have snapshots"), std::string::npos);
  provision_req clone;
  clone.name = "pvc-c";
  clone.source_volume = "pvc-d";
  auto c = request<volume_record>(manager, clone);
  ASSERT_FALSE(c);
  EXPECT_EQ(code_of(c.error()), errc::invalid_argument);
  provision_req restore_device;
  restore_device.name = "pvc-r";
  restore_device.params = device_any;
  restore_device.source_snapshot = "snap-x";
  auto r = request<volume_record>(manager, restore_device);
  ASSERT_FALSE(r);
  EXPECT_EQ(code_of(r.error()), errc::invalid_argument);
  auto grow = request<volume_record>(manager, resize_req{"pvc-d", 2 * gib, 0});
  ASSERT_FALSE(grow);
  EXPECT_EQ(code_of(grow.error()), errc::failed_precondition);
  EXPECT_NE(render(grow.error()).find("cannot be expanded"), std::string::npos);
  auto same = request<volume_record>(manager, resize_req{"pvc-d", 512 * kib, 0});
  ASSERT_TRUE(same) << "a size it already has: " << render(same.error());
  EXPECT_EQ(same->capacity_bytes, gib);
}

TEST_F(claim_manager_test, delete_wipes_the_device_and_drops_the_claim) {
  ASSERT_TRUE(provision("pvc-d", 0, device_ssd));
  ASSERT_TRUE(provision("pvc-nw", 0, {{"volumeType", "Device"}, {"wipe", "false"}}));
  ASSERT_TRUE(provision("pvc-m", 0, mount_point_any));
  auto d = request<bool>(manager, unprovision_req{"pvc-d"});
  ASSERT_TRUE(d) << render(d.error());
  EXPECT_TRUE(*d);
  ASSERT_EQ(lvm->wipes.size(), 1u);
  EXPECT_EQ(lvm->wipes[0].device, "/dev/vdb");
  auto nw = request<bool>(manager, unprovision_req{"pvc-nw"});
  ASSERT_TRUE(nw) << render(nw.error());
  EXPECT_EQ(lvm->wipes.size(), 1u) << "wipe=false is kept with the claim";
  fs->dir_entries["/mnt/ol/d1"] = {"data"};
  auto m = request<bool>(manager, unprovision_req{"pvc-m"});
  ASSERT_TRUE(m) << render(m.error());
  EXPECT_TRUE(fs->dir_entries["/mnt/ol/d1"].empty());
  EXPECT_TRUE(claims().empty());
  auto again = request<bool>(manager, unprovision_req{"pvc-d"});
  ASSERT_TRUE(again);
  EXPECT_FALSE(*again);
  auto reuse = provision("pvc-2", 0, device_ssd);
  ASSERT_TRUE(reuse) << render(reuse.error());
  EXPECT_EQ(reuse->context["Device"], "/dev/vdb");
}
