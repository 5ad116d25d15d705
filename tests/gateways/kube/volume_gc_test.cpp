#include "gateways/kube/volume_gc.hpp"

#include "actors/core/errc.hpp"
#include "gateways/kube/client.hpp"
#include "gateways/metrics/metrics.hpp"
#include "tests/support/eventually.hpp"
#include "tests/support/fake_apiserver.hpp"
#include "tests/support/stub_actors.hpp"

#include <caf/all.hpp>

#include <gtest/gtest.h>

#include <boost/json.hpp>

#include <algorithm>
#include <atomic>
#include <mutex>

using namespace olocal;
using namespace olocal::kube;
using namespace std::chrono_literals;
using olocal::test::eventually;

namespace {

namespace json = boost::json;
using clock_type = std::chrono::system_clock;

/// A fixed "now" for the plan tests.
const clock_type::time_point t0{std::chrono::seconds{1'800'000'000}};

int64_t unix_s(clock_type::time_point t) {
  return std::chrono::duration_cast<std::chrono::seconds>(t.time_since_epoch()).count();
}

/// An LV of ours: owner tag, kind tag (none when kind is ""), created a day before t0.
lvm::lv_info lv(std::string name, std::string kind = "volume", std::vector<std::string> more = {}) {
  lvm::lv_info l;
  l.name = std::move(name);
  l.vg_name = "pool0";
  l.size_bytes = 1ull << 30;
  l.attr = "-wi-a-----";
  l.segtype = "linear";
  l.tags = {"olocal/owner=cluster-1", "olocal/created=" + std::to_string(unix_s(t0 - 24h))};
  if (!kind.empty())
    l.tags.push_back("olocal/kind=" + kind);
  for (auto& t : more)
    l.tags.push_back(t);
  return l;
}

node_view view_of(std::vector<lvm::lv_info> lvs, std::vector<volume_state> volumes = {}) {
  node_view v;
  vg_view g;
  g.vg.name = "pool0";
  g.lvs = std::move(lvs);
  v.vgs.push_back(std::move(g));
  v.volumes = std::move(volumes);
  return v;
}

volume_state state_of(std::string id, std::string kind, std::string staging = {},
                      std::vector<std::string> targets = {}, std::string phase = "ready") {
  volume_state s;
  s.id = std::move(id);
  s.vg = "pool0";
  s.kind = std::move(kind);
  s.staging_path = std::move(staging);
  for (auto& t : targets)
    s.targets.push_back(publish_target{t, false});
  s.phase = std::move(phase);
  return s;
}

std::string target_of(const std::string& uid) {
  return "/var/lib/kubelet/pods/" + uid + "/volumes/kubernetes.io~csi/data/mount";
}

volume_gc_options remove_opts() {
  volume_gc_options o;
  o.node_name = "node-1";
  o.policy = gc_policy::remove;
  o.grace = 600s;
  o.max_removals_per_pass = 5;
  return o;
}

/// Memory saying every id was seen unreferenced an hour before t0.
gc_memory seen_long_ago(std::vector<std::string> ids) {
  gc_memory m;
  for (auto& id : ids)
    m[id].unreferenced_since = t0 - 1h;
  return m;
}

std::vector<std::string> ids(const std::vector<gc_removal>& rs) {
  std::vector<std::string> out;
  for (auto& r : rs)
    out.push_back(r.id);
  return out;
}

using strings = std::vector<std::string>;

} // namespace

// -- options ---------------------------------------------------------------------

TEST(gc_policy, parses_the_three_names_and_names_a_bad_one) {
  EXPECT_EQ(*parse_gc_policy("off"), gc_policy::off);
  EXPECT_EQ(*parse_gc_policy("dry-run"), gc_policy::dry_run);
  EXPECT_EQ(*parse_gc_policy("delete"), gc_policy::remove);
  for (auto p : {gc_policy::off, gc_policy::dry_run, gc_policy::remove})
    EXPECT_EQ(*parse_gc_policy(to_string(p)), p);
  auto bad = parse_gc_policy("dryrun");
  ASSERT_FALSE(bad);
  EXPECT_EQ(code_of(bad.error()), errc::config_invalid);
  EXPECT_NE(render(bad.error()).find("\"dryrun\""), std::string::npos) << render(bad.error());
}

TEST(gc_policy, defaults_are_safe) {
  volume_gc_options o;
  EXPECT_EQ(o.policy, gc_policy::dry_run);
  EXPECT_EQ(o.grace, 600s);
  EXPECT_EQ(o.interval, 60s);
  EXPECT_EQ(o.max_removals_per_pass, 5u);
  ASSERT_TRUE(o.now);
  EXPECT_LE(clock_type::now() - o.now(), 1h);
}

TEST(pod_uid_of_target, takes_the_segment_after_pods) {
  EXPECT_EQ(pod_uid_of_target(target_of("1234-abcd")), "1234-abcd");
  EXPECT_EQ(pod_uid_of_target("/var/lib/kubelet/pods/u1/volumeDevices/kubernetes.io~csi/x"), "u1");
  EXPECT_EQ(pod_uid_of_target("/mnt/elsewhere/target"), "");
  EXPECT_EQ(pod_uid_of_target("/var/lib/kubelet/pods/"), "");
  EXPECT_EQ(pod_uid_of_target("/var/lib/kubelet/pods//x"), "");
}

// -- the plan: volumes ---------------------------------------------------------------

TEST(plan_gc, an_orphan_volume_waits_out_the_grace_then_goes) {
  auto view = view_of({lv("local-a")});
  auto first = plan_gc(view, {}, {}, t0, remove_opts());
  EXPECT_EQ(first.waiting, strings{"local-a"}) << "first seen now";
  EXPECT_TRUE(first.remove.empty());
  ASSERT_EQ(first.memory.count("local-a"), 1u);
  EXPECT_EQ(first.memory.at("local-a").unreferenced_since, t0);
  EXPECT_EQ(first.orphans.at("volume"), 1u);

  auto early = plan_gc(view, {}, first.memory, t0 + 599s, remove_opts());
  EXPECT_EQ(early.waiting, strings{"local-a"});
  EXPECT_TRUE(early.remove.empty());

  auto due = plan_gc(view, {}, early.memory, t0 + 600s, remove_opts());
  ASSERT_EQ(ids(due.remove), strings{"local-a"});
  EXPECT_EQ(due.remove[0].vg, "pool0");
  EXPECT_EQ(due.remove[0].kind, "volume");
  EXPECT_NE(due.remove[0].reason.find("PersistentVolume"), std::string::npos);
  EXPECT_TRUE(due.waiting.empty());
  EXPECT_EQ(due.orphans.count("volume"), 0u) << "a volume removed now is no longer an orphan";
}

TEST(plan_gc, clones_and_untyped_volumes_need_a_pv_too) {
  auto view = view_of({lv("local-clone", "clone"), lv("local-old", "")});
  auto plan = plan_gc(view, {}, seen_long_ago({"local-clone", "local-old"}), t0, remove_opts());
  EXPECT_EQ(ids(plan.remove), (strings{"local-clone", "local-old"}));
  for (auto& r : plan.remove)
    EXPECT_EQ(r.kind, "volume");
}

TEST(plan_gc, a_referenced_volume_is_kept_and_forgotten) {
  auto view = view_of({lv("local-a")});
  gc_references refs;
  refs.volumes["local-a"] = "Delete";
  auto plan = plan_gc(view, refs, seen_long_ago({"local-a"}), t0, remove_opts());
  EXPECT_TRUE(plan.remove.empty());
  EXPECT_TRUE(plan.waiting.empty());
  EXPECT_TRUE(plan.tag.empty());
  EXPECT_TRUE(plan.untag.empty());
  EXPECT_TRUE(plan.memory.empty()) << "a referenced LV is forgotten";
  EXPECT_TRUE(plan.orphans.empty());
}

TEST(plan_gc, a_pv_naming_the_csi_name_of_a_hashed_lv_references_it) {
  auto view = view_of({lv("olocal-0123abcd", "volume", {"olocal/name=pvc-long-name"})});
  gc_references refs;
  refs.volumes["pvc-long-name"] = "Delete";
  auto plan = plan_gc(view, refs, seen_long_ago({"olocal-0123abcd"}), t0, remove_opts());
  EXPECT_TRUE(plan.remove.empty());
  EXPECT_TRUE(plan.memory.empty());
}

TEST(plan_gc, the_clock_restarts_when_a_pv_reappears) {
  auto view = view_of({lv("local-a")});
  gc_references with_pv;
  with_pv.volumes["local-a"] = "Delete";
  auto p1 = plan_gc(view, {}, {}, t0, remove_opts());
  auto p2 = plan_gc(view, with_pv, p1.memory, t0 + 5min, remove_opts());
  EXPECT_TRUE(p2.memory.empty());
  auto p3 = plan_gc(view, {}, p2.memory, t0 + 11min, remove_opts());
  EXPECT_EQ(p3.waiting, strings{"local-a"}) << "11 min after the first sighting, 0 unreferenced";
  EXPECT_TRUE(p3.remove.empty());
  auto p4 = plan_gc(view, {}, p3.memory, t0 + 21min, remove_opts());
  EXPECT_EQ(ids(p4.remove), strings{"local-a"});
}

TEST(plan_gc, a_volume_created_within_the_grace_is_in_flight) {
  auto young = lv("local-new", "volume");
  young.tags[1] = "olocal/created=" + std::to_string(unix_s(t0 - 5min));
  auto view = view_of({young});
  auto plan = plan_gc(view, {}, seen_long_ago({"local-new"}), t0, remove_opts());
  EXPECT_EQ(plan.waiting, strings{"local-new"}) << "its PV may not exist yet";
  EXPECT_TRUE(plan.remove.empty());
  auto later = plan_gc(view, {}, plan.memory, t0 + 5min, remove_opts());
  EXPECT_EQ(ids(later.remove), strings{"local-new"});
}

TEST(plan_gc, without_a_created_tag_the_grace_counts_from_the_first_sighting) {
  auto untimed = lv("local-x");
  untimed.tags[1] = "olocal/created=garbage";
  auto view = view_of({untimed});
  auto p1 = plan_gc(view, {}, {}, t0, remove_opts());
  EXPECT_EQ(p1.waiting, strings{"local-x"});
  auto p2 = plan_gc(view, {}, p1.memory, t0 + 10min, remove_opts());
  EXPECT_EQ(ids(p2.remove), strings{"local-x"});
}

// -- the plan: Retain ------------------------------------------------------------------

TEST(plan_gc, a_retain_pv_tags_its_volume_and_another_policy_untags_it) {
  std::string tag{reclaim_retain_tag};
  EXPECT_EQ(tag, "olocal/reclaim=Retain");
  auto view =
    view_of({lv("local-r"), lv("local-d", "volume", {tag}), lv("local-ok", "volume", {tag})});
  gc_references refs;
  refs.volumes["local-r"] = "Retain";
  refs.volumes["local-d"] = "Delete";
  refs.volumes["local-ok"] = "Retain";
  auto plan = plan_gc(view, refs, {}, t0, remove_opts());
  EXPECT_EQ(plan.tag, strings{"local-r"});
  EXPECT_EQ(plan.untag, strings{"local-d"});
  EXPECT_TRUE(plan.remove.empty());

  auto opts = remove_opts();
  opts.policy = gc_policy::dry_run;
  auto dry = plan_gc(view, refs, {}, t0, opts);
  EXPECT_TRUE(dry.tag.empty()) << "dry-run changes nothing";
  EXPECT_TRUE(dry.untag.empty());
}

TEST(plan_gc, a_retained_volume_is_never_removed_even_without_its_pv) {
  auto view = view_of({lv("local-r", "volume", {std::string{reclaim_retain_tag}})});
  auto plan = plan_gc(view, {}, seen_long_ago({"local-r"}), t0 + 365 * 24h, remove_opts());
  EXPECT_TRUE(plan.remove.empty());
  EXPECT_EQ(plan.retained, strings{"local-r"});
  EXPECT_EQ(plan.orphans.at("volume"), 1u);
}

// -- the plan: snapshots -------------------------------------------------------------

TEST(plan_gc, a_snapshot_needs_a_volume_snapshot_content) {
  auto view = view_of(
    {lv("snap-status", "snapshot"), lv("snap-source", "snapshot"), lv("snap-gone", "snapshot")});
  gc_references refs;
  refs.snapshots = {"snap-status", "snap-source"}; // one per handle field, collected by the actor
  refs.volumes["snap-gone"] = "Delete";            // a PV does not keep a snapshot
  auto plan = plan_gc(view, refs, seen_long_ago({"snap-status", "snap-source", "snap-gone"}), t0,
                      remove_opts());
  ASSERT_EQ(ids(plan.remove), strings{"snap-gone"});
  EXPECT_EQ(plan.remove[0].kind, "snapshot");
  EXPECT_NE(plan.remove[0].reason.find("VolumeSnapshotContent"), std::string::npos);
  EXPECT_EQ(plan.memory.count("snap-status"), 0u);
}

TEST(plan_gc, an_untyped_cow_snapshot_is_a_snapshot) {
  auto snap = lv("snap-old", "");
  snap.attr = "swi-a-s---";
  gc_references refs;
  refs.snapshots = {"snap-old"};
  auto plan = plan_gc(view_of({snap}), refs, seen_long_ago({"snap-old"}), t0, remove_opts());
  EXPECT_TRUE(plan.remove.empty());
}

// -- the plan: ephemeral volumes -----------------------------------------------------------

TEST(plan_gc, an_ephemeral_volume_lives_as_long_as_its_pod) {
  auto view =
    view_of({lv("eph-live", "ephemeral"), lv("eph-gone", "ephemeral"), lv("eph-bare", "ephemeral")},
            {state_of("eph-live", "ephemeral", "", {target_of("pod-live")}, "published"),
             state_of("eph-gone", "ephemeral", "/staging/eph-gone",
                      {target_of("pod-dead"), target_of("pod-dead2")}, "published"),
             state_of("eph-bare", "ephemeral")});
  gc_references refs;
  refs.pod_uids = {"pod-live", "pod-other"};
  auto plan =
    plan_gc(view, refs, seen_long_ago({"eph-live", "eph-gone", "eph-bare"}), t0, remove_opts());
  ASSERT_EQ(ids(plan.remove), (strings{"eph-gone", "eph-bare"}));
  auto& gone = plan.remove[0];
  EXPECT_EQ(gone.kind, "ephemeral");
  EXPECT_EQ(gone.unpublish_targets, (strings{target_of("pod-dead"), target_of("pod-dead2")}));
  EXPECT_EQ(gone.unstage_path, "/staging/eph-gone");
  EXPECT_TRUE(plan.remove[1].unpublish_targets.empty()) << "no targets: removed as well";
  EXPECT_EQ(plan.memory.count("eph-live"), 0u);
  EXPECT_TRUE(plan.in_use.empty()) << "an ephemeral volume's mounts are released, not kept";
}

// -- the plan: in use, not ours, limits ------------------------------------------------------

TEST(plan_gc, a_staged_published_or_busy_volume_is_never_removed) {
  auto view = view_of(
    {lv("v-staged"), lv("v-published"), lv("v-deleting"), lv("v-expanding"), lv("v-ready")},
    {state_of("v-staged", "volume", "/staging/v"),
     state_of("v-published", "volume", "", {"/target/v"}),
     state_of("v-deleting", "volume", "", {}, "deleting"),
     state_of("v-expanding", "volume", "", {}, "expanding"), state_of("v-ready", "volume")});
  auto plan = plan_gc(
    view, {}, seen_long_ago({"v-staged", "v-published", "v-deleting", "v-expanding", "v-ready"}),
    t0, remove_opts());
  EXPECT_EQ(plan.in_use, (strings{"v-staged", "v-published", "v-deleting", "v-expanding"}));
  EXPECT_EQ(ids(plan.remove), strings{"v-ready"});
  EXPECT_EQ(plan.orphans.at("volume"), 4u);
}

TEST(plan_gc, lvs_without_our_owner_tag_and_pools_are_never_touched) {
  auto foreign = lv("home", "volume");
  foreign.tags = {"olocal/kind=volume"};
  auto pool = lv("tp0", "pool");
  auto thin_pool = lv("tp1", "");
  thin_pool.segtype = "thin-pool";
  thin_pool.attr = "twi-a-tz--";
  auto other = lv("x", "cache");
  auto hidden = lv("tp1_tdata", "volume");
  hidden.hidden = true;
  auto view = view_of({foreign, pool, thin_pool, other, hidden});
  auto plan =
    plan_gc(view, {}, seen_long_ago({"home", "tp0", "tp1", "x", "tp1_tdata"}), t0, remove_opts());
  EXPECT_TRUE(plan.remove.empty());
  EXPECT_TRUE(plan.waiting.empty());
  EXPECT_TRUE(plan.retained.empty());
  EXPECT_TRUE(plan.in_use.empty());
  EXPECT_TRUE(plan.memory.empty());
  EXPECT_TRUE(plan.orphans.empty());
}

TEST(plan_gc, at_most_max_removals_per_pass) {
  std::vector<lvm::lv_info> lvs;
  strings names;
  for (int i = 0; i < 7; ++i) {
    names.push_back("local-" + std::to_string(i));
    lvs.push_back(lv(names.back()));
  }
  auto view = view_of(lvs);
  auto plan = plan_gc(view, {}, seen_long_ago(names), t0, remove_opts());
  EXPECT_EQ(ids(plan.remove), (strings{names.begin(), names.begin() + 5}));
  EXPECT_EQ(plan.deferred, (strings{"local-5", "local-6"}));
  EXPECT_EQ(plan.orphans.at("volume"), 2u);
  EXPECT_EQ(plan.memory.size(), 7u) << "the deferred keep their clock";
}

TEST(plan_gc, dry_run_changes_nothing_and_reports_once) {
  auto opts = remove_opts();
  opts.policy = gc_policy::dry_run;
  auto view = view_of({lv("local-a"), lv("local-b")});
  auto p1 = plan_gc(view, {}, seen_long_ago({"local-a", "local-b"}), t0, opts);
  EXPECT_TRUE(p1.remove.empty());
  EXPECT_TRUE(p1.deferred.empty());
  ASSERT_EQ(ids(p1.would_remove), (strings{"local-a", "local-b"}));
  EXPECT_TRUE(p1.would_remove[0].first_report);
  EXPECT_EQ(p1.orphans.at("volume"), 2u) << "still there";
  auto p2 = plan_gc(view, {}, p1.memory, t0 + 1min, opts);
  ASSERT_EQ(ids(p2.would_remove), (strings{"local-a", "local-b"}));
  EXPECT_FALSE(p2.would_remove[0].first_report) << "reported once";
  EXPECT_FALSE(p2.would_remove[1].first_report);
}

TEST(plan_gc, policy_off_plans_nothing) {
  auto opts = remove_opts();
  opts.policy = gc_policy::off;
  auto plan = plan_gc(view_of({lv("local-a")}), {}, seen_long_ago({"local-a"}), t0, opts);
  EXPECT_TRUE(plan.remove.empty());
  EXPECT_TRUE(plan.would_remove.empty());
  EXPECT_TRUE(plan.waiting.empty());
}

// -- the actor ------------------------------------------------------------------------------

namespace {

/// A node supervisor over a node_view the test controls; records what the GC asks.
struct stub_node {
  std::mutex mu;
  node_view view;
  std::vector<std::pair<std::string, bool>> deletes; ///< id, wipe
  std::vector<tag_lv_req> tags;
  strings unpublished, unstaged;

  lvm::lv_info* find(const std::string& id) {
    for (auto& g : view.vgs)
      for (auto& l : g.lvs)
        if (l.name == id)
          return &l;
    return nullptr;
  }
};

volume_actor spawn_volume(caf::actor_system& sys, std::shared_ptr<stub_node> stub, std::string id) {
  auto state = [stub, id] {
    for (auto& v : stub->view.volumes)
      if (v.id == id)
        return v;
    return volume_state{};
  };
  test::stub_volume_handlers h;
  h.unstage = [stub, id, state](unstage_req& req) -> caf::result<volume_state> {
    std::lock_guard<std::mutex> lock{stub->mu};
    stub->unstaged.push_back(req.staging_path);
    for (auto& v : stub->view.volumes)
      if (v.id == id)
        v.staging_path.clear();
    return state();
  };
  h.unpublish = [stub, id, state](unpublish_req& req) -> caf::result<volume_state> {
    std::lock_guard<std::mutex> lock{stub->mu};
    stub->unpublished.push_back(req.target_path);
    for (auto& v : stub->view.volumes)
      if (v.id == id)
        v.targets.erase(std::remove_if(v.targets.begin(), v.targets.end(),
                                       [&](auto& t) { return t.path == req.target_path; }),
                        v.targets.end());
    return state();
  };
  return test::spawn_stub_volume(sys, std::move(h));
}

node_supervisor_actor spawn_stub(caf::actor_system& sys, std::shared_ptr<stub_node> stub) {
  test::stub_node_handlers h;
  h.remove = [stub](delete_volume_req& req) -> caf::result<bool> {
    std::lock_guard<std::mutex> lock{stub->mu};
    for (auto& v : stub->view.volumes)
      if (v.id == req.id && (!v.staging_path.empty() || !v.targets.empty()))
        return make_error(errc::failed_precondition, req.id + " is in use");
    stub->deletes.emplace_back(req.id, req.wipe);
    bool existed = stub->find(req.id) != nullptr;
    for (auto& g : stub->view.vgs)
      g.lvs.erase(
        std::remove_if(g.lvs.begin(), g.lvs.end(), [&](auto& l) { return l.name == req.id; }),
        g.lvs.end());
    auto& vs = stub->view.volumes;
    vs.erase(std::remove_if(vs.begin(), vs.end(), [&](auto& v) { return v.id == req.id; }),
             vs.end());
    return existed;
  };
  h.lookup = [stub](node_supervisor_actor::pointer self,
                    volume_lookup& req) -> caf::result<volume_actor> {
    return spawn_volume(self->system(), stub, req.id);
  };
  h.tag = [stub](tag_lv_req& req) -> caf::result<lvm::lv_info> {
    std::lock_guard<std::mutex> lock{stub->mu};
    stub->tags.push_back(req);
    auto* l = stub->find(req.name);
    if (l == nullptr)
      return make_error(errc::not_found, req.name);
    for (auto& t : req.remove)
      l->tags.erase(std::remove(l->tags.begin(), l->tags.end(), t), l->tags.end());
    for (auto& t : req.add)
      l->tags.push_back(t);
    return *l;
  };
  h.view = [stub]() -> caf::result<node_view> {
    std::lock_guard<std::mutex> lock{stub->mu};
    return stub->view;
  };
  h.rescan = []() -> caf::result<uint64_t> { return uint64_t{0}; };
  return test::spawn_stub_node(sys, std::move(h));
}

class volume_gc_test : public ::testing::Test {
public:
  volume_gc_test() : sys(cfg) {}

  ~volume_gc_test() override {
    for (auto& a : actors)
      caf::anon_send_exit(a, caf::exit_reason::user_shutdown);
  }

  void start(gc_policy policy) {
    connection c;
    c.server = server.base_url();
    c.qps = 0;
    c.retry_base = 5ms;
    auto api = std::make_shared<client>(c);
    auto node = spawn_stub(sys, stub);
    actors.push_back(caf::actor_cast<caf::actor>(node));
    volume_gc_options opts;
    opts.node_name = "node-1";
    opts.policy = policy;
    opts.grace = 600s;
    opts.interval = 0ms; // passes only on tick
    opts.metrics = &metrics;
    opts.now = [clock = fake_now] { return clock_type::time_point{std::chrono::seconds{*clock}}; };
    gc = spawn_volume_gc(sys, api, node, opts);
    actors.push_back(caf::actor_cast<caf::actor>(gc));
  }

  void advance(std::chrono::seconds by) { *fake_now += by.count(); }

  gc_report tick() {
    gc_report out;
    caf::scoped_actor self{sys};
    self->request(gc, 30s, tick_atom::value)
      .receive([&](gc_report& r) { out = std::move(r); },
               [&](caf::error& err) {
                 ADD_FAILURE() << render(err);
                 out.skipped = "error";
               });
    return out;
  }

  /// Ticks until `pred` holds for a report (the informers follow the server
  /// asynchronously); returns the report it held for.
  template <class Pred>
  std::optional<gc_report> tick_until(Pred pred) {
    std::optional<gc_report> hit;
    eventually([&] {
      auto r = tick();
      if (!pred(r))
        return false;
      hit = std::move(r);
      return true;
    });
    return hit;
  }

  void put_pv(const std::string& name, const std::string& handle, const std::string& policy) {
    server.put(
      "persistentvolumes",
      json::object{{"apiVersion", "v1"},
                   {"kind", "PersistentVolume"},
                   {"metadata", {{"name", name}}},
                   {"spec",
                    {{"persistentVolumeReclaimPolicy", policy},
                     {"csi", {{"driver", "local.csi.aliyun.com"}, {"volumeHandle", handle}}}}}});
  }

  void put_pod(const std::string& name, const std::string& uid, const std::string& node) {
    server.put("pods",
               json::object{{"apiVersion", "v1"},
                            {"kind", "Pod"},
                            {"metadata", {{"name", name}, {"namespace", "default"}, {"uid", uid}}},
                            {"spec", {{"nodeName", node}}}});
  }

  void put_content(const std::string& name, const std::string& status_handle,
                   const std::string& source_handle) {
    json::object spec{{"driver", "local.csi.aliyun.com"}, {"deletionPolicy", "Delete"}};
    if (!source_handle.empty())
      spec["source"] = json::object{{"snapshotHandle", source_handle}};
    json::object o{{"apiVersion", "snapshot.storage.k8s.io/v1"},
                   {"kind", "VolumeSnapshotContent"},
                   {"metadata", {{"name", name}}},
                   {"spec", spec}};
    if (!status_handle.empty())
      o["status"] = json::object{{"snapshotHandle", status_handle}};
    server.put("volumesnapshotcontents", o);
  }

  void set_lvs(std::vector<lvm::lv_info> lvs, std::vector<volume_state> volumes = {}) {
    std::lock_guard<std::mutex> lock{stub->mu};
    stub->view = view_of(std::move(lvs), std::move(volumes));
  }

  /// An LV of ours created a day before the fake clock's start.
  lvm::lv_info our_lv(std::string name, std::string kind = "volume") {
    auto l = lv(std::move(name), std::move(kind));
    l.tags[1] = "olocal/created=" + std::to_string(*fake_now - 24 * 3600);
    return l;
  }

  double volumes_total(const std::string& kind, const std::string& outcome) {
    return metrics.gc_volumes.Add({{"kind", kind}, {"outcome", outcome}}).Value();
  }

  static bool has(const strings& list, const std::string& id) {
    return std::find(list.begin(), list.end(), id) != list.end();
  }

  test::fake_apiserver server;
  std::shared_ptr<stub_node> stub = std::make_shared<stub_node>();
  std::shared_ptr<std::atomic<int64_t>> fake_now =
    std::make_shared<std::atomic<int64_t>>(unix_s(clock_type::now()));
  metrics::registry metrics;
  caf::actor_system_config cfg;
  caf::actor_system sys;
  std::vector<caf::actor> actors;
  volume_gc_actor gc;
};

} // namespace

TEST_F(volume_gc_test, skips_passes_until_every_informer_has_synced) {
  // Every PersistentVolume list fails for the whole test: that informer never syncs.
  server.fail_next(100'000, 503, "/persistentvolumes");
  set_lvs({our_lv("local-a")});
  advance(24h);
  start(gc_policy::remove);
  auto r = tick();
  EXPECT_NE(r.skipped.find("informers not synced"), std::string::npos) << r.skipped;
  EXPECT_NE(r.skipped.find("PersistentVolumes"), std::string::npos) << r.skipped;
  // The others sync; the PV informer still does not.
  ASSERT_TRUE(tick_until([](const gc_report& x) {
    return x.skipped.find("Pods") == std::string::npos &&
           x.skipped.find("VolumeSnapshotContents") == std::string::npos;
  }));
  r = tick();
  EXPECT_NE(r.skipped.find("PersistentVolumes"), std::string::npos) << r.skipped;
  EXPECT_TRUE(r.removed.empty());
  EXPECT_EQ(r.passes, 0u);
  std::lock_guard<std::mutex> lock{stub->mu};
  EXPECT_TRUE(stub->deletes.empty()) << "no view of the cluster, no removal";
  EXPECT_EQ(metrics.gc_passes.Add({}).Value(), 0);
}

TEST_F(volume_gc_test, policy_off_does_nothing) {
  set_lvs({our_lv("local-a")});
  start(gc_policy::off);
  advance(24h);
  auto r = tick();
  EXPECT_EQ(r.skipped, "policy is off");
  EXPECT_EQ(server.open_watches(), 0u) << "no informer started";
  std::lock_guard<std::mutex> lock{stub->mu};
  EXPECT_TRUE(stub->deletes.empty());
}

TEST_F(volume_gc_test, a_volume_whose_pv_is_deleted_goes_after_the_grace) {
  put_pv("pv-a", "local-a", "Delete");
  put_pv("pv-keep", "local-keep", "Delete");
  set_lvs({our_lv("local-a"), our_lv("local-keep")});
  start(gc_policy::remove);
  auto first = tick_until([](const gc_report& r) { return r.skipped.empty(); });
  ASSERT_TRUE(first);
  EXPECT_TRUE(first->waiting.empty()) << "both referenced";
  EXPECT_TRUE(first->removed.empty());

  ASSERT_TRUE(server.remove("persistentvolumes", "", "pv-a"));
  auto seen = tick_until([](const gc_report& r) { return has(r.waiting, "local-a"); });
  ASSERT_TRUE(seen) << "the GC notices the PV is gone";
  EXPECT_TRUE(seen->removed.empty()) << "not before the grace";
  EXPECT_EQ(metrics.gc_orphans.Add({{"kind", "volume"}}).Value(), 1);

  advance(601s);
  auto r = tick();
  EXPECT_EQ(r.removed, strings{"local-a"});
  EXPECT_TRUE(r.failed.empty());
  {
    std::lock_guard<std::mutex> lock{stub->mu};
    ASSERT_EQ(stub->deletes.size(), 1u);
    EXPECT_EQ(stub->deletes[0].first, "local-a");
    EXPECT_TRUE(stub->deletes[0].second) << "removed with a secure wipe";
  }
  EXPECT_EQ(volumes_total("volume", "removed"), 1);
  EXPECT_EQ(volumes_total("volume", "failed"), 0);
  EXPECT_EQ(metrics.gc_orphans.Add({{"kind", "volume"}}).Value(), 0);
  EXPECT_GE(metrics.gc_passes.Add({}).Value(), 3);

  auto after = tick();
  EXPECT_TRUE(after.removed.empty()) << "nothing left to remove";
  EXPECT_TRUE(after.waiting.empty());
  std::lock_guard<std::mutex> lock{stub->mu};
  EXPECT_EQ(stub->deletes.size(), 1u) << "local-keep still has its PV";

  caf::scoped_actor self{sys};
  self->request(gc, 30s, inspect_atom::value)
    .receive(
      [&](actor_report& rep) {
        EXPECT_NE(rep.state_json.find("\"policy\":\"delete\""), std::string::npos)
          << rep.state_json;
      },
      [&](caf::error& err) { ADD_FAILURE() << render(err); });
}

TEST_F(volume_gc_test, a_retain_volume_is_tagged_and_never_removed) {
  put_pv("pv-r", "local-r", "Retain");
  set_lvs({our_lv("local-r")});
  start(gc_policy::remove);
  auto tagged = tick_until([](const gc_report& r) { return has(r.tagged, "local-r"); });
  ASSERT_TRUE(tagged);
  {
    std::lock_guard<std::mutex> lock{stub->mu};
    ASSERT_EQ(stub->tags.size(), 1u);
    EXPECT_EQ(stub->tags[0].add, strings{std::string{reclaim_retain_tag}});
    auto* l = stub->find("local-r");
    ASSERT_NE(l, nullptr);
    EXPECT_TRUE(has(l->tags, std::string{reclaim_retain_tag}));
  }
  EXPECT_TRUE(tick().tagged.empty()) << "tagged once";

  ASSERT_TRUE(server.remove("persistentvolumes", "", "pv-r"));
  ASSERT_TRUE(tick_until([](const gc_report& r) { return has(r.retained, "local-r"); }));
  advance(24h * 365);
  auto r = tick();
  EXPECT_EQ(r.retained, strings{"local-r"});
  EXPECT_TRUE(r.removed.empty());
  std::lock_guard<std::mutex> lock{stub->mu};
  EXPECT_TRUE(stub->deletes.empty());
}

TEST_F(volume_gc_test, dry_run_reports_once_and_changes_nothing) {
  put_pv("pv-r", "local-r", "Retain");
  set_lvs({our_lv("local-orphan"), our_lv("local-r")});
  start(gc_policy::dry_run);
  auto first = tick_until([](const gc_report& r) { return r.skipped.empty(); });
  ASSERT_TRUE(first);
  EXPECT_EQ(first->waiting, strings{"local-orphan"});
  advance(601s);
  auto r1 = tick();
  EXPECT_EQ(r1.dry_run, strings{"local-orphan"});
  auto r2 = tick();
  EXPECT_EQ(r2.dry_run, strings{"local-orphan"}) << "still an orphan";
  EXPECT_EQ(volumes_total("volume", "dry_run"), 1) << "counted once";
  EXPECT_EQ(volumes_total("volume", "removed"), 0);
  EXPECT_TRUE(r1.tagged.empty()) << "no tags in dry-run";
  std::lock_guard<std::mutex> lock{stub->mu};
  EXPECT_TRUE(stub->deletes.empty());
  EXPECT_TRUE(stub->tags.empty());
}

TEST_F(volume_gc_test, snapshots_follow_their_contents_and_ephemerals_their_pods) {
  put_content("vsc-1", "snap-1", "");
  put_content("vsc-2", "", "snap-2"); // pre-provisioned: spec.source.snapshotHandle
  put_pod("app", "uid-live", "node-1");
  put_pod("elsewhere", "uid-dead", "node-2"); // another node's pod does not count
  set_lvs(
    {our_lv("snap-1", "snapshot"), our_lv("snap-2", "snapshot"), our_lv("snap-3", "snapshot"),
     our_lv("eph-live", "ephemeral"), our_lv("eph-dead", "ephemeral")},
    {state_of("eph-live", "ephemeral", "", {target_of("uid-live")}, "published"),
     state_of("eph-dead", "ephemeral", "/staging/eph-dead", {target_of("uid-dead")}, "published")});
  start(gc_policy::remove);
  auto first = tick_until([](const gc_report& r) { return r.skipped.empty(); });
  ASSERT_TRUE(first);
  EXPECT_EQ(first->waiting, (strings{"snap-3", "eph-dead"}));
  advance(601s);
  auto r = tick();
  EXPECT_EQ(r.removed, (strings{"snap-3", "eph-dead"}));
  EXPECT_TRUE(r.failed.empty());
  std::lock_guard<std::mutex> lock{stub->mu};
  EXPECT_EQ(stub->unpublished, strings{target_of("uid-dead")});
  EXPECT_EQ(stub->unstaged, strings{"/staging/eph-dead"});
  ASSERT_EQ(stub->deletes.size(), 2u);
  EXPECT_EQ(volumes_total("snapshot", "removed"), 1);
  EXPECT_EQ(volumes_total("ephemeral", "removed"), 1);
}
