#include "actors/cluster/placement.hpp"

#include <gtest/gtest.h>

#include <map>
#include <string>
#include <vector>

using namespace olocal::placement;

// Sizes are plain byte counts kept small so that the arithmetic in the
// comments is easy to check by hand; the model has no unit of its own.

namespace {

thin_pool_state pool(std::string name, uint64_t size, uint64_t charged,
                     double overprovision = 2.0) {
  thin_pool_state p;
  p.name = std::move(name);
  p.size = size;
  p.charged = charged;
  p.overprovision = overprovision;
  return p;
}

vg_state vg(std::string name, uint64_t capacity, uint64_t charged,
            std::vector<thin_pool_state> pools = {}) {
  vg_state g;
  g.name = std::move(name);
  g.capacity = capacity;
  g.charged = charged;
  g.thin_pools = std::move(pools);
  return g;
}

exclusive_unit unit(std::string name, uint64_t capacity, std::string media, bool taken = false) {
  return exclusive_unit{std::move(name), capacity, std::move(media), taken};
}

node_state make_node(std::string name, std::vector<vg_state> vgs,
                     std::vector<exclusive_unit> devices = {},
                     std::vector<exclusive_unit> mount_points = {}) {
  node_state n;
  n.name = std::move(name);
  n.reported = true;
  n.vgs = std::move(vgs);
  n.devices = std::move(devices);
  n.mount_points = std::move(mount_points);
  return n;
}

volume_request lvm(std::string id, uint64_t bytes, std::string vg_name = "",
                   std::string thin_pool = "") {
  volume_request r;
  r.id = std::move(id);
  r.kind = volume_kind::lvm;
  r.bytes = bytes;
  r.vg = std::move(vg_name);
  r.thin_pool = std::move(thin_pool);
  return r;
}

volume_request exclusive(volume_kind kind, std::string id, uint64_t bytes, std::string media = "") {
  volume_request r;
  r.id = std::move(id);
  r.kind = kind;
  r.bytes = bytes;
  r.media = std::move(media);
  return r;
}

volume_request dev(std::string id, uint64_t bytes, std::string media = "") {
  return exclusive(volume_kind::device, std::move(id), bytes, std::move(media));
}

volume_request mp(std::string id, uint64_t bytes, std::string media = "") {
  return exclusive(volume_kind::mount_point, std::move(id), bytes, std::move(media));
}

pod_demand demand(std::vector<volume_request> volumes) {
  pod_demand d;
  d.volumes = std::move(volumes);
  return d;
}

/// Where each request went, in request order: the group ("a"), the pool
/// ("a/p") or the unit ("/dev/vdb").
std::vector<std::string> targets(const fit_result& r) {
  std::vector<std::string> out;
  for (const auto& a : r.assignments) {
    if (a.kind != volume_kind::lvm)
      out.push_back(a.unit);
    else if (a.pool.empty())
      out.push_back(a.vg);
    else
      out.push_back(a.vg + "/" + a.pool);
  }
  return out;
}

/// Checks a thick placement independently of the code under test: every
/// request placed once, with its bytes, and no group over its free space.
void expect_valid_thick(const node_state& node, const pod_demand& d, const fit_result& r) {
  ASSERT_EQ(r.assignments.size(), d.volumes.size());
  std::map<std::string, uint64_t> used;
  for (size_t i = 0; i < d.volumes.size(); ++i) {
    EXPECT_EQ(r.assignments[i].request_id, d.volumes[i].id);
    EXPECT_EQ(r.assignments[i].bytes, d.volumes[i].bytes);
    used[r.assignments[i].vg] += r.assignments[i].bytes;
  }
  for (const auto& [name, bytes] : used) {
    const vg_state* g = node.find_vg(name);
    ASSERT_NE(g, nullptr) << name;
    EXPECT_LE(bytes, g->free()) << name;
  }
}

struct fit_case {
  std::string name;
  pod_demand pod;
  strategy how;
  bool fits;
  std::vector<std::string> targets; ///< when it fits
  std::vector<std::string> reason;  ///< substrings of the reason when not
};

void run_table(const node_state& node, const std::vector<fit_case>& cases) {
  for (const auto& c : cases) {
    SCOPED_TRACE(c.name);
    auto r = fit(node, c.pod, c.how);
    EXPECT_EQ(r.fits, c.fits) << r.reason;
    if (c.fits) {
      EXPECT_EQ(targets(r), c.targets);
      EXPECT_TRUE(r.reason.empty()) << r.reason;
    } else {
      EXPECT_TRUE(r.assignments.empty());
      for (const auto& part : c.reason)
        EXPECT_NE(r.reason.find(part), std::string::npos)
          << "reason: " << r.reason << "\nmissing: " << part;
    }
  }
}

constexpr auto binpack = strategy::binpack;
constexpr auto spread = strategy::spread;

} // namespace

// -- small accessors -----------------------------------------------------------------

TEST(placement_model, names_kinds) {
  EXPECT_STREQ(to_string(volume_kind::lvm), "LVM");
  EXPECT_STREQ(to_string(volume_kind::device), "Device");
  EXPECT_STREQ(to_string(volume_kind::mount_point), "MountPoint");
}

TEST(placement_model, thin_pool_virtual_capacity) {
  EXPECT_EQ(pool("p", 10, 0).virtual_capacity(), 20u);      // 10 × 2.0
  EXPECT_EQ(pool("p", 10, 0, 1.5).virtual_capacity(), 15u); // 10 × 1.5
  EXPECT_EQ(pool("p", 10, 0, 1.0).virtual_capacity(), 10u); // no overprovisioning
  EXPECT_EQ(pool("p", 10, 0, 0.0).virtual_capacity(), 0u);
}

TEST(placement_model, node_and_view_lookups) {
  auto n = make_node("n1", {vg("a", 10, 0), vg("b", 20, 0)});
  ASSERT_NE(n.find_vg("b"), nullptr);
  EXPECT_EQ(n.find_vg("b")->capacity, 20u);
  EXPECT_EQ(n.find_vg("c"), nullptr);
  EXPECT_TRUE(n.has_storage());
  EXPECT_FALSE(make_node("n2", {}).has_storage());
  EXPECT_TRUE(make_node("n3", {}, {unit("/dev/vdb", 1, "ssd")}).has_storage());
  EXPECT_TRUE(make_node("n4", {}, {}, {unit("/mnt/d1", 1, "hdd")}).has_storage());
  EXPECT_EQ(vg("a", 10, 15).free(), 0u); // over-charged never wraps

  cluster_view view;
  view.nodes["n1"] = std::make_shared<const node_state>(n);
  ASSERT_NE(view.find("n1"), nullptr);
  EXPECT_EQ(view.find("n1")->name, "n1");
  EXPECT_EQ(view.find("n9"), nullptr);
}

// -- fit ---------------------------------------------------------------------------

TEST(placement_fit, vg_name_pins_the_group) {
  // a: 100 − 20 = 80 free; b: 50 free.
  auto node = make_node("n1", {vg("a", 100, 20), vg("b", 50, 0)});
  run_table(
    node,
    {
      {"exactly the free space", demand({lvm("ns/x", 80, "a")}), binpack, true, {"a"}, {}},
      {"one byte too many",
       demand({lvm("ns/x", 81, "a")}),
       binpack,
       false,
       {},
       {"Insufficient LVM storage on node n1, vg is a", "volume ns/x requests 81 bytes",
        "vg free is 80 bytes", "capacity 100 bytes", "charged 20 bytes"}},
      {"missing group",
       demand({lvm("ns/x", 10, "c")}),
       binpack,
       false,
       {},
       {"no volume group c on node n1", "ns/x"}},
      // 80 − 50 = 30 left in a for y's 31.
      {"two volumes in one named group",
       demand({lvm("ns/x", 50, "a"), lvm("ns/y", 31, "a")}),
       binpack,
       false,
       {},
       {"vg is a", "volume ns/y requests 31 bytes", "vg free is 30 bytes",
        "this pod's other volumes there 50 bytes"}},
      // x fills b (50 − 50 = 0), so y (no vgName) must take a even under binpack.
      {"named group charged before the search",
       demand({lvm("ns/x", 50, "b"), lvm("ns/y", 70)}),
       binpack,
       true,
       {"b", "a"},
       {}},
      // The named group is used even when spread would prefer the other one.
      {"named group wins over strategy", demand({lvm("ns/x", 10, "b")}), spread, true, {"b"}, {}},
    });
}

TEST(placement_fit, binpack_and_spread_choose_groups) {
  // Free: a 30, b 60, c 100.
  auto node = make_node("n1", {vg("a", 50, 20), vg("b", 100, 40), vg("c", 100, 0)});
  run_table(node,
            {
              // 40 does not fit a (30); least free that fits is b (60); most free is c.
              {"binpack 40", demand({lvm("x", 40)}), binpack, true, {"b"}, {}},
              {"spread 40", demand({lvm("x", 40)}), spread, true, {"c"}, {}},
              {"binpack 20", demand({lvm("x", 20)}), binpack, true, {"a"}, {}},
              {"spread 20", demand({lvm("x", 20)}), spread, true, {"c"}, {}},
              // binpack: x 50 → b (60 → 10), y 50 → c (b 10 and a 30 too small).
              {"binpack two", demand({lvm("x", 50), lvm("y", 50)}), binpack, true, {"b", "c"}, {}},
              // spread: x 50 → c (100 → 50), y 50 → b (60 > c's 50 now).
              {"spread two", demand({lvm("x", 50), lvm("y", 50)}), spread, true, {"c", "b"}, {}},
              {"larger than any group",
               demand({lvm("x", 101)}),
               binpack,
               false,
               {},
               {"Insufficient LVM storage on node n1", "volume x requests 101 bytes",
                "the volume group with the most free space is c with 100 bytes free"}},
            });
  EXPECT_EQ(fit(make_node("n2", {}), demand({lvm("x", 1)}), binpack).reason,
            "no LVM storage configured on node n2 (volume x requests 1 bytes)");
}

TEST(placement_fit, backtracking_beats_greedy) {
  struct case_t {
    std::string name;
    std::vector<uint64_t> free;
    std::vector<uint64_t> requests;
    strategy how;
    bool fits;
    std::vector<std::string> expected; ///< when known exactly
  };
  const std::vector<case_t> cases = {
    // Greedy smallest-fit in the given order (open-local): 3 → g1 (7 → 4),
    // 7 → g0 (10 → 3), 7 → nothing. Feasible: g0 = 3 + 7, g1 = 7.
    {"open-local order fails", {10, 7}, {3, 7, 7}, binpack, true, {"g0", "g1", "g0"}},
    // Best fit, largest first (and open-local in this order) fails too:
    // 7 → g1 (11 → 4), 6 → g0 (13 → 7), 6 → g0 (7 → 1), 5 → nothing.
    // Feasible: g0 = 7 + 6 = 13, g1 = 6 + 5 = 11.
    {"best fit decreasing fails", {13, 11}, {7, 6, 6, 5}, binpack, true, {"g0", "g0", "g1", "g1"}},
    // Spread largest first: 6 → g0 (12 → 6), 6 → g1 (8 → 2), 4 → g0 (6 → 2),
    // 4 → nothing. Feasible: g0 = 6 + 6, g1 = 4 + 4.
    {"spread greedy fails", {12, 8}, {6, 6, 4, 4}, spread, true, {"g0", "g0", "g1", "g1"}},
    // Three groups, exactly full: 9 = 5 + 4, 8 = 5 + 3, 7 = 4 + 3. Best fit
    // decreasing: 5 → g2 (7 → 2), 5 → g1 (8 → 3), 4 → g0 (9 → 5),
    // 4 → g0 (5 → 1), 3 → g1 (3 → 0), 3 → nothing (1, 0, 2 left).
    {"three groups exactly full", {9, 8, 7}, {3, 5, 4, 3, 5, 4}, binpack, true, {}},
    // 21 bytes in 24 free, but no group holds two sevens.
    {"infeasible despite total", {13, 11}, {7, 7, 7}, binpack, false, {}},
  };
  for (const auto& c : cases) {
    SCOPED_TRACE(c.name);
    std::vector<vg_state> vgs;
    for (size_t i = 0; i < c.free.size(); ++i)
      vgs.push_back(vg("g" + std::to_string(i), c.free[i], 0));
    auto node = make_node("n1", vgs);
    std::vector<volume_request> reqs;
    for (size_t i = 0; i < c.requests.size(); ++i)
      reqs.push_back(lvm("v" + std::to_string(i), c.requests[i]));
    auto pod = demand(reqs);
    auto r = fit(node, pod, c.how);
    ASSERT_EQ(r.fits, c.fits) << r.reason;
    if (c.fits) {
      expect_valid_thick(node, pod, r);
      if (!c.expected.empty()) {
        EXPECT_EQ(targets(r), c.expected);
      }
    }
  }
  auto r = fit(make_node("n1", {vg("g0", 13, 0), vg("g1", 11, 0)}),
               demand({lvm("v0", 7), lvm("v1", 7), lvm("v2", 7)}), binpack);
  EXPECT_EQ(r.reason, "Insufficient LVM storage on node n1: volumes v0 (7 bytes), v1 (7 bytes), "
                      "v2 (7 bytes) do not fit together into its volume groups (g0: 13 bytes "
                      "free, g1: 11 bytes free)");
}

TEST(placement_fit, thin_pools_overprovision) {
  // a: 100 − 40 = 60 free; pool a/p: 30 × 2.0 = 60 virtual, 50 charged → 10 free.
  // b: 100 free; pool b/p: 20 × 1.5 = 30 virtual, nothing charged → 30 free.
  auto node = make_node(
    "n1", {vg("a", 100, 40, {pool("p", 30, 50)}), vg("b", 100, 0, {pool("p", 20, 0, 1.5)})});
  run_table(
    node,
    {
      {"named pool, exact", demand({lvm("x", 10, "a", "p")}), binpack, true, {"a/p"}, {}},
      {"named pool, too big",
       demand({lvm("x", 11, "a", "p")}),
       binpack,
       false,
       {},
       {"Insufficient thin pool storage on node n1, vg is a, pool is p",
        "volume x requests 11 bytes", "pool virtual free is 10 bytes",
        "virtual capacity 60 bytes = size 30 bytes x overprovision 2, charged 50 bytes"}},
      // 30 virtual though b has only 20 of data: overprovisioning at work.
      {"overprovisioned beyond the data size",
       demand({lvm("x", 30, "b", "p")}),
       binpack,
       true,
       {"b/p"},
       {}},
      {"missing pool in named group",
       demand({lvm("x", 5, "a", "zz")}),
       binpack,
       false,
       {},
       {"no thin pool zz in volume group a on node n1"}},
      // No vgName: any group holding a pool named p; binpack takes the least
      // virtual room that fits (a/p 10), spread the most (b/p 30).
      {"pool by name, binpack", demand({lvm("x", 10, "", "p")}), binpack, true, {"a/p"}, {}},
      {"pool by name, spread", demand({lvm("x", 10, "", "p")}), spread, true, {"b/p"}, {}},
      {"pool by name, only b fits", demand({lvm("x", 25, "", "p")}), binpack, true, {"b/p"}, {}},
      // 10 + 30 = 40 virtual in all: 25 → b/p (30 → 5), 10 → a/p.
      {"two thin volumes across pools",
       demand({lvm("x", 10, "", "p"), lvm("y", 25, "", "p")}),
       binpack,
       true,
       {"a/p", "b/p"},
       {}},
      {"pool by name, too big",
       demand({lvm("x", 31, "", "p")}),
       binpack,
       false,
       {},
       {"Insufficient thin pool storage on node n1", "volume x requests 31 bytes",
        "the thin pool p with the most virtual free space is b/p with 30 bytes free"}},
      {"no such pool anywhere",
       demand({lvm("x", 5, "", "nope")}),
       binpack,
       false,
       {},
       {"no thin pool nope in any volume group on node n1"}},
      // Named a/p takes 6 of its 10; y (pool p, any group) has 4 left in a/p
      // and 30 in b/p: binpack still finds a/p too small for 5 → b/p.
      {"named and unnamed requests share the pool",
       demand({lvm("x", 6, "a", "p"), lvm("y", 5, "", "p")}),
       binpack,
       true,
       {"a/p", "b/p"},
       {}},
    });
}

TEST(placement_fit, thick_and_thin_on_one_node) {
  // a: 100 − 40 = 60 free for thick; pool a/p: 60 virtual − 50 = 10 for thin.
  // Thin volumes take pool room, not group room, so both fill up exactly.
  auto node = make_node("n1", {vg("a", 100, 40, {pool("p", 30, 50)})});
  run_table(node, {
                    {"both exactly full",
                     demand({lvm("thick", 60), lvm("thin", 10, "", "p")}),
                     binpack,
                     true,
                     {"a", "a/p"},
                     {}},
                    {"both named",
                     demand({lvm("thick", 60, "a"), lvm("thin", 10, "a", "p")}),
                     spread,
                     true,
                     {"a", "a/p"},
                     {}},
                    {"thick one byte over",
                     demand({lvm("thick", 61), lvm("thin", 10, "", "p")}),
                     binpack,
                     false,
                     {},
                     {"volume thick requests 61 bytes", "a with 60 bytes free"}},
                    {"thin one byte over",
                     demand({lvm("thick", 60), lvm("thin", 11, "", "p")}),
                     binpack,
                     false,
                     {},
                     {"volume thin requests 11 bytes", "a/p with 10 bytes free"}},
                  });
}

TEST(placement_fit, devices_by_media_smallest_first) {
  // Free: d1 100 ssd, d2 200 ssd, d3 150 hdd; d4 300 hdd is taken.
  auto node = make_node("n1", {},
                        {unit("d1", 100, "ssd"), unit("d2", 200, "ssd"), unit("d3", 150, "hdd"),
                         unit("d4", 300, "hdd", true)});
  run_table(
    node,
    {
      {"smallest ssd", demand({dev("x", 90, "ssd")}), binpack, true, {"d1"}, {}},
      {"next ssd", demand({dev("x", 120, "ssd")}), binpack, true, {"d2"}, {}},
      // Any media: 150 is the smallest of {200, 150} that holds 120.
      {"any media", demand({dev("x", 120)}), binpack, true, {"d3"}, {}},
      {"exact capacity", demand({dev("x", 150, "hdd")}), spread, true, {"d3"}, {}},
      {"distinct units",
       demand({dev("x", 90, "ssd"), dev("y", 90, "ssd")}),
       binpack,
       true,
       {"d1", "d2"},
       {}},
      {"taken unit does not count",
       demand({dev("x", 250, "hdd")}),
       binpack,
       false,
       {},
       {"Insufficient Device storage on node n1", "volume x requests 250 bytes on a hdd device",
        "the largest free hdd device is d3 with 150 bytes"}},
      {"no such media",
       demand({dev("x", 10, "nvme")}),
       binpack,
       false,
       {},
       {"no nvme device is free (3 of 4 devices free)"}},
      {"more requests than free units",
       demand({dev("w", 1), dev("x", 1), dev("y", 1), dev("z", 1)}),
       binpack,
       false,
       {},
       {"the pod requests 4 devices, 3 of 4 are free"}},
      // Three ssd requests, two ssd units: each alone fits, no distinct assignment.
      {"no distinct assignment",
       demand({dev("x", 10, "ssd"), dev("y", 10, "ssd"), dev("z", 10, "ssd")}),
       binpack,
       false,
       {},
       {"no assignment of distinct free devices holds volumes x (10 bytes, ssd), y (10 bytes, "
        "ssd), z (10 bytes, ssd)"}},
    });
}

TEST(placement_fit, matching_beats_sorted_first_fit) {
  run_table(make_node("n1", {}, {unit("s1", 100, "ssd"), unit("h1", 120, "hdd")}),
            {
              // Sorted first fit (requests ascending, units ascending): a 50
              // takes s1, the smallest; b 80 needs ssd and finds none.
              // Ours: b 80 → s1, a 50 → h1.
              {"any-media request leaves the ssd",
               demand({dev("a", 50), dev("b", 80, "ssd")}),
               binpack,
               true,
               {"h1", "s1"},
               {}},
            });
  run_table(make_node("n1", {}, {unit("s1", 100, "ssd"), unit("h1", 100, "hdd")}),
            {
              // Largest first: a 90 tries s1 (listed first among equals), then
              // b 50 needs the ssd: backtrack, a → h1, b → s1.
              {"backtrack on equal units",
               demand({dev("a", 90), dev("b", 50, "ssd")}),
               binpack,
               true,
               {"h1", "s1"},
               {}},
            });
  run_table(make_node("n1", {}, {},
                      {unit("/mnt/m1", 100, "hdd"), unit("/mnt/m2", 100, "ssd"),
                       unit("/mnt/m3", 300, "hdd")}),
            {
              // Sorted first fit: b 60 → m1, a 80 (any) → m2, c 250 hdd → m3: it
              // fits that way too; ours: c → m3, a → m1 (first of two 100s), b → m2.
              {"mount points",
               demand({mp("a", 80), mp("b", 60, "ssd"), mp("c", 250, "hdd")}),
               binpack,
               true,
               {"/mnt/m1", "/mnt/m2", "/mnt/m3"},
               {}},
              {"mount point too small",
               demand({mp("a", 301)}),
               binpack,
               false,
               {},
               {"Insufficient MountPoint storage on node n1",
                "volume a requests 301 bytes on a mount point",
                "the largest free mount point is /mnt/m3 with 300 bytes"}},
            });
}

TEST(placement_fit, inline_and_pvc_are_charged_together) {
  // a: 50 free. Inline 30 (vgName a) and PVC 30 (no vgName) fit alone, not together.
  auto node = make_node("n1", {vg("a", 50, 0)});
  auto inline_volume = lvm("inline:uid-1/scratch", 30, "a");
  inline_volume.inline_volume = true;
  auto pvc = lvm("ns/data", 30);
  EXPECT_TRUE(fit(node, demand({inline_volume}), binpack).fits);
  EXPECT_TRUE(fit(node, demand({pvc}), binpack).fits);
  auto both = fit(node, demand({inline_volume, pvc}), binpack);
  EXPECT_FALSE(both.fits);
  // 50 − 30 (inline) = 20 left for the PVC's 30.
  EXPECT_EQ(both.reason,
            "Insufficient LVM storage on node n1: volume ns/data requests 30 bytes, the volume "
            "group with the most free space is a with 20 bytes free");
  auto small = fit(node, demand({inline_volume, lvm("ns/data", 20)}), binpack);
  ASSERT_TRUE(small.fits) << small.reason;
  EXPECT_EQ(targets(small), (std::vector<std::string>{"a", "a"}));
}

TEST(placement_fit, read_only_snapshot_is_pinned) {
  auto snapshot = lvm("ns/ro", 10);
  snapshot.pinned_node = "n2";
  auto pod = demand({lvm("ns/rw", 10), snapshot});
  auto elsewhere = fit(make_node("n1", {vg("a", 100, 0)}), pod, binpack);
  EXPECT_FALSE(elsewhere.fits);
  EXPECT_EQ(elsewhere.reason, "volume ns/ro is a read-only snapshot whose source volume is on "
                              "node n2, so node n1 cannot serve it");
  auto home = fit(make_node("n2", {vg("a", 100, 0)}), pod, binpack);
  EXPECT_TRUE(home.fits) << home.reason;
  // Pinning is checked before capacity: even a full node names the pin.
  auto full = fit(make_node("n3", {vg("a", 0, 0)}), pod, binpack);
  EXPECT_NE(full.reason.find("source volume is on node n2"), std::string::npos);
}

TEST(placement_fit, unreported_node) {
  auto node = make_node("n1", {vg("a", 100, 0)});
  node.reported = false;
  auto r = fit(node, demand({lvm("x", 1)}), binpack);
  EXPECT_FALSE(r.fits);
  EXPECT_EQ(r.reason, "node n1 has not reported its storage (no NodeLocalStorage status)");
  // A pod without local volumes fits anywhere, reported or not.
  auto none = fit(node, pod_demand{}, binpack);
  EXPECT_TRUE(none.fits);
  EXPECT_TRUE(none.assignments.empty());
  EXPECT_TRUE(fit(make_node("n2", {}), pod_demand{}, spread).fits);
}

TEST(placement_fit, max_steps_bounds_the_search) {
  // Free {13, 11}, requests {7, 6, 6, 5}, binpack; one step per recursive call:
  //  1 place 7 → g1 (11 → 4)   2 place 6 → g0 (13 → 7)   3 place 6 → g0 (7 → 1)
  //  4 place 5: nothing fits; unwind (no other candidates for either 6)
  //  back in 1: 7 → g0 (13 → 6)
  //  5 place 6 → g0 (6 → 0)    6 place 6 → g1 (11 → 5)   7 place 5 → g1 (5 → 0)
  //  8 all placed.
  auto node = make_node("n1", {vg("g0", 13, 0), vg("g1", 11, 0)});
  auto pod = demand({lvm("v0", 7), lvm("v1", 6), lvm("v2", 6), lvm("v3", 5)});
  auto enough = fit(node, pod, binpack, 8);
  ASSERT_TRUE(enough.fits) << enough.reason;
  EXPECT_EQ(targets(enough), (std::vector<std::string>{"g0", "g0", "g1", "g1"}));
  auto short_of_one = fit(node, pod, binpack, 7);
  EXPECT_FALSE(short_of_one.fits);
  EXPECT_TRUE(short_of_one.assignments.empty());
  EXPECT_EQ(short_of_one.reason, "placement search on node n1 gave up after 7 steps (max_steps) "
                                 "without finding a placement for all volumes of the pod");
  // The budget is shared: a device after the LVM volumes needs 2 more steps.
  auto with_device = demand({lvm("v0", 7), lvm("v1", 6), lvm("v2", 6), lvm("v3", 5), dev("d", 1)});
  node.devices.push_back(unit("/dev/vdb", 10, "ssd"));
  EXPECT_TRUE(fit(node, with_device, binpack, 10).fits);
  EXPECT_FALSE(fit(node, with_device, binpack, 9).fits);
}

// -- score -------------------------------------------------------------------------

namespace {

int fit_and_score(const node_state& node, const pod_demand& pod, strategy how,
                  const anti_affinity& weights = {}) {
  auto placed = fit(node, pod, how);
  EXPECT_TRUE(placed.fits || !pod.uses_local()) << placed.reason;
  return score(node, pod, placed, how, weights);
}

struct score_case {
  std::string name;
  node_state node;
  pod_demand pod;
  strategy how;
  anti_affinity weights;
  int expected;
};

} // namespace

TEST(placement_score, formulas) {
  // Devices: three free (100, 200, 400), one taken.
  const std::vector<exclusive_unit> devices = {unit("d1", 100, "ssd"), unit("d2", 200, "ssd"),
                                               unit("d3", 100, "ssd", true),
                                               unit("d4", 400, "ssd")};
  const std::vector<exclusive_unit> mounts = {unit("m1", 100, "hdd"), unit("m2", 100, "hdd")};
  const std::vector<score_case> cases = {
    // u = (10 + 30) / 100 = 0.4: binpack ⌊4⌋ = 4, spread ⌊6⌋ = 6.
    {"binpack counts existing charge",
     make_node("n", {vg("a", 100, 10)}),
     demand({lvm("x", 30)}),
     binpack,
     {},
     4},
    {"spread counts existing charge",
     make_node("n", {vg("a", 100, 10)}),
     demand({lvm("x", 30)}),
     spread,
     {},
     6},
    // Nothing charged: u = 30 / 100 = 0.3 → binpack 3, spread 7.
    {"binpack empty group",
     make_node("n", {vg("a", 100, 0)}),
     demand({lvm("x", 30)}),
     binpack,
     {},
     3},
    {"spread empty group",
     make_node("n", {vg("a", 100, 0)}),
     demand({lvm("x", 30)}),
     spread,
     {},
     7},
    // a: (10 + 30) / 100 = 0.4, b: (50 + 50) / 200 = 0.5.
    // binpack ⌊(0.4 + 0.5) / 2 × 10⌋ = ⌊4.5⌋ = 4; spread ⌊(0.6 + 0.5) / 2 × 10⌋ = ⌊5.5⌋ = 5.
    {"binpack two groups",
     make_node("n", {vg("a", 100, 10), vg("b", 200, 50)}),
     demand({lvm("x", 30, "a"), lvm("y", 50, "b")}),
     binpack,
     {},
     4},
    {"spread two groups",
     make_node("n", {vg("a", 100, 10), vg("b", 200, 50)}),
     demand({lvm("x", 30, "a"), lvm("y", 50, "b")}),
     spread,
     {},
     5},
    // Thin: pool virtual 50 × 2.0 = 100, u = (40 + 30) / 100 = 0.7 → 7 / 3.
    {"binpack thin",
     make_node("n", {vg("a", 100, 50, {pool("p", 50, 40)})}),
     demand({lvm("x", 30, "a", "p")}),
     binpack,
     {},
     7},
    {"spread thin",
     make_node("n", {vg("a", 100, 50, {pool("p", 50, 40)})}),
     demand({lvm("x", 30, "a", "p")}),
     spread,
     {},
     3},
    // Device 50 → d1 (100): capacity ⌊50/100 × 10⌋ = 5. Count: 3 free, 1 taken
    // by the pod: binpack ⌊1 × 10 / 3⌋ = 3 → 8; spread ⌊(3 − 1) × 10 / 3⌋ = 6 → 11.
    {"binpack device", make_node("n", {}, devices), demand({dev("x", 50)}), binpack, {}, 8},
    {"spread device", make_node("n", {}, devices), demand({dev("x", 50)}), spread, {}, 11},
    // Two devices: 50 → d1 (0.5), 150 → d2 (0.75): capacity ⌊0.625 × 10⌋ = 6;
    // count binpack ⌊2 × 10 / 3⌋ = 6 → 12; spread ⌊1 × 10 / 3⌋ = 3 → 9.
    {"binpack two devices",
     make_node("n", {}, devices),
     demand({dev("x", 50), dev("y", 150)}),
     binpack,
     {},
     12},
    {"spread two devices",
     make_node("n", {}, devices),
     demand({dev("x", 50), dev("y", 150)}),
     spread,
     {},
     9},
    // LVM and Device together: the two parts weigh equally.
    // binpack: LVM 0.4, device 0.5 → ⌊(0.4 + 0.5) / 2 × 10⌋ = 4; count 3 → 7.
    // spread:  LVM 0.6, device 0.5 → ⌊(0.6 + 0.5) / 2 × 10⌋ = 5; count 6 → 11.
    {"binpack lvm and device",
     make_node("n", {vg("a", 100, 10)}, devices),
     demand({lvm("x", 30), dev("y", 50)}),
     binpack,
     {},
     7},
    {"spread lvm and device",
     make_node("n", {vg("a", 100, 10)}, devices),
     demand({lvm("x", 30), dev("y", 50)}),
     spread,
     {},
     11},
    // Device 50 → d1 (0.5), mount point 100 → m1 (1.0): capacity ⌊0.75 × 10⌋ = 7.
    // Count binpack: device ⌊10 / 3⌋ = 3, mount ⌊10 / 2⌋ = 5, ⌊(3 + 5) / 2⌋ = 4 → 11.
    // Count spread: device ⌊20 / 3⌋ = 6, mount ⌊10 / 2⌋ = 5, ⌊11 / 2⌋ = 5 → 12.
    {"binpack device and mount point",
     make_node("n", {}, devices, mounts),
     demand({dev("x", 50), mp("y", 100)}),
     binpack,
     {},
     11},
    {"spread device and mount point",
     make_node("n", {}, devices, mounts),
     demand({dev("x", 50), mp("y", 100)}),
     spread,
     {},
     12},
    // Anti-affinity (device 6, mount point 4), LVM pod, capacity 3 (0.3):
    // no free device, no mount point: ⌊(6 + 4) / 2⌋ = 5 → 8;
    {"anti-affinity, none free",
     make_node("n", {vg("a", 100, 0)}, {unit("d", 10, "ssd", true)}),
     demand({lvm("x", 30)}),
     binpack,
     {6, 4},
     8},
    // a free device, no mount point: ⌊(0 + 4) / 2⌋ = 2 → 5;
    {"anti-affinity, free device",
     make_node("n", {vg("a", 100, 0)}, {unit("d", 10, "ssd")}),
     demand({lvm("x", 30)}),
     binpack,
     {6, 4},
     5},
    // free device and mount point: 0 → 3;
    {"anti-affinity, both free",
     make_node("n", {vg("a", 100, 0)}, {unit("d", 10, "ssd")}, {unit("m", 10, "hdd")}),
     demand({lvm("x", 30)}),
     binpack,
     {6, 4},
     3},
    // a pod asking for a device only weighs mount points: device 10 → d (1.0)
    // capacity 10, count binpack ⌊1 × 10 / 1⌋ = 10, anti ⌊4 / 1⌋ = 4 → 24.
    {"anti-affinity, kind asked for is skipped",
     make_node("n", {}, {unit("d", 10, "ssd")}),
     demand({dev("x", 10)}),
     binpack,
     {6, 4},
     24},
    // A pod without local volumes: 0 on a storage node, 10 elsewhere.
    {"non-local pod, storage node",
     make_node("n", {vg("a", 100, 0)}),
     pod_demand{},
     binpack,
     {},
     0},
    {"non-local pod, plain node", make_node("n", {}), pod_demand{}, spread, {}, 10},
    // ... plus anti-affinity (device 6 only): plain node has no free device → 10 + 6;
    {"non-local pod, plain node, anti-affinity",
     make_node("n", {}),
     pod_demand{},
     binpack,
     {6, 0},
     16},
    // storage node with only a group → 0 + 6; with a free device → 0 + 0.
    {"non-local pod, group node, anti-affinity",
     make_node("n", {vg("a", 100, 0)}),
     pod_demand{},
     binpack,
     {6, 0},
     6},
    {"non-local pod, device node, anti-affinity",
     make_node("n", {}, {unit("d", 10, "ssd")}),
     pod_demand{},
     binpack,
     {6, 0},
     0},
  };
  for (const auto& c : cases) {
    SCOPED_TRACE(c.name);
    EXPECT_EQ(fit_and_score(c.node, c.pod, c.how, c.weights), c.expected);
  }
}

TEST(placement_score, non_fitting_node_scores_zero) {
  auto node = make_node("n", {vg("a", 100, 0)});
  auto pod = demand({lvm("x", 30)});
  fit_result failed;
  failed.fits = false;
  failed.reason = "whatever";
  EXPECT_EQ(score(node, pod, failed, binpack, {6, 4}), 0);
  EXPECT_EQ(score(node, pod_demand{}, failed, binpack, {}), 0);
}

// -- evaluate ----------------------------------------------------------------------

TEST(placement_evaluate, unknown_nodes_pod_errors_and_order) {
  cluster_view view;
  view.generation = 3;
  view.nodes["big"] = std::make_shared<const node_state>(make_node("big", {vg("a", 100, 10)}));
  view.nodes["small"] = std::make_shared<const node_state>(make_node("small", {vg("a", 20, 0)}));
  auto silent = make_node("silent", {vg("a", 100, 0)});
  silent.reported = false;
  view.nodes["silent"] = std::make_shared<const node_state>(silent);

  auto pod = demand({lvm("ns/x", 30)});
  auto verdicts = evaluate(view, pod, {"ghost", "small", "big", "silent"}, binpack, {});
  ASSERT_EQ(verdicts.size(), 4u);
  EXPECT_EQ(verdicts[0].node, "ghost");
  EXPECT_FALSE(verdicts[0].fits);
  EXPECT_EQ(verdicts[0].reason, "node ghost is not known to open-local");
  EXPECT_EQ(verdicts[1].node, "small");
  EXPECT_FALSE(verdicts[1].fits);
  EXPECT_EQ(verdicts[1].reason,
            "Insufficient LVM storage on node small: volume ns/x requests 30 bytes, the volume "
            "group with the most free space is a with 20 bytes free");
  EXPECT_EQ(verdicts[1].score, 0);
  EXPECT_EQ(verdicts[2].node, "big");
  EXPECT_TRUE(verdicts[2].fits);
  EXPECT_TRUE(verdicts[2].reason.empty());
  EXPECT_EQ(verdicts[2].score, 4); // (10 + 30) / 100 = 0.4 → 4
  EXPECT_EQ(verdicts[3].reason, "node silent has not reported its storage (no NodeLocalStorage "
                                "status)");

  pod.error = "StorageClass open-local-device: mediaType \"nvme\" is not ssd or hdd";
  verdicts = evaluate(view, pod, {"big", "ghost", "small"}, spread, {});
  ASSERT_EQ(verdicts.size(), 3u);
  EXPECT_EQ(verdicts[0].reason, pod.error);
  EXPECT_FALSE(verdicts[0].fits);
  EXPECT_EQ(verdicts[1].reason, "node ghost is not known to open-local");
  EXPECT_EQ(verdicts[2].reason, pod.error);
  EXPECT_FALSE(verdicts[2].fits);

  // A pod without local volumes fits even the unreported node.
  verdicts = evaluate(view, pod_demand{}, {"silent", "big"}, binpack, {});
  ASSERT_EQ(verdicts.size(), 2u);
  EXPECT_TRUE(verdicts[0].fits);
  EXPECT_EQ(verdicts[0].score, 0);
  EXPECT_TRUE(verdicts[1].fits);
  EXPECT_TRUE(evaluate(view, pod, {}, binpack, {}).empty());
}

// -- charge / release ----------------------------------------------------------------

namespace {

bool same(const node_state& x, const node_state& y) {
  if (x.vgs.size() != y.vgs.size() || x.devices.size() != y.devices.size() ||
      x.mount_points.size() != y.mount_points.size())
    return false;
  for (size_t i = 0; i < x.vgs.size(); ++i) {
    if (x.vgs[i].charged != y.vgs[i].charged ||
        x.vgs[i].thin_pools.size() != y.vgs[i].thin_pools.size())
      return false;
    for (size_t j = 0; j < x.vgs[i].thin_pools.size(); ++j)
      if (x.vgs[i].thin_pools[j].charged != y.vgs[i].thin_pools[j].charged)
        return false;
  }
  for (size_t i = 0; i < x.devices.size(); ++i)
    if (x.devices[i].taken != y.devices[i].taken)
      return false;
  for (size_t i = 0; i < x.mount_points.size(); ++i)
    if (x.mount_points[i].taken != y.mount_points[i].taken)
      return false;
  return true;
}

assignment lvm_at(std::string vg_name, std::string pool_name, uint64_t bytes) {
  assignment a;
  a.request_id = "x";
  a.kind = volume_kind::lvm;
  a.vg = std::move(vg_name);
  a.pool = std::move(pool_name);
  a.bytes = bytes;
  return a;
}

assignment unit_at(volume_kind kind, std::string name) {
  assignment a;
  a.request_id = "x";
  a.kind = kind;
  a.unit = std::move(name);
  return a;
}

} // namespace

TEST(placement_charge, charge_and_release_are_symmetric) {
  const auto before = make_node("n", {vg("a", 100, 10, {pool("p", 50, 5)})},
                                {unit("d1", 100, "ssd")}, {unit("m1", 100, "hdd")});
  auto node = before;
  const std::vector<assignment> all = {lvm_at("a", "", 30), lvm_at("a", "p", 20),
                                       unit_at(volume_kind::device, "d1"),
                                       unit_at(volume_kind::mount_point, "m1")};
  for (const auto& a : all)
    EXPECT_TRUE(charge(node, a));
  EXPECT_EQ(node.vgs[0].charged, 40u);               // 10 + 30
  EXPECT_EQ(node.vgs[0].thin_pools[0].charged, 25u); // 5 + 20
  EXPECT_TRUE(node.devices[0].taken);
  EXPECT_TRUE(node.mount_points[0].taken);
  for (const auto& a : all)
    EXPECT_TRUE(release(node, a));
  EXPECT_TRUE(same(node, before));

  // A charged placement no longer fits: the group has 100 − 10 − 90 = 0 left.
  auto placed = fit(node, demand({lvm("y", 90)}), binpack);
  ASSERT_TRUE(placed.fits);
  for (const auto& a : placed.assignments)
    EXPECT_TRUE(charge(node, a));
  EXPECT_FALSE(fit(node, demand({lvm("z", 1)}), binpack).fits);
  for (const auto& a : placed.assignments)
    EXPECT_TRUE(release(node, a));
  EXPECT_TRUE(same(node, before));
}

TEST(placement_charge, unknown_targets_change_nothing) {
  const auto before = make_node("n", {vg("a", 100, 10, {pool("p", 50, 5)})},
                                {unit("d1", 100, "ssd")}, {unit("m1", 100, "hdd")});
  auto node = before;
  const std::vector<assignment> missing = {
    lvm_at("b", "", 1), lvm_at("a", "q", 1), lvm_at("b", "p", 1),
    unit_at(volume_kind::device, "m1"), // a mount point's name is not a device
    unit_at(volume_kind::mount_point, "d1")};
  for (const auto& a : missing) {
    EXPECT_FALSE(charge(node, a));
    EXPECT_FALSE(release(node, a));
  }
  EXPECT_TRUE(same(node, before));
}

TEST(placement_charge, release_floors_at_zero) {
  auto node = make_node("n", {vg("a", 100, 10, {pool("p", 50, 5)})});
  EXPECT_TRUE(release(node, lvm_at("a", "", 30)));  // 10 − 30 → 0, not a wrap
  EXPECT_TRUE(release(node, lvm_at("a", "p", 20))); // 5 − 20 → 0
  EXPECT_EQ(node.vgs[0].charged, 0u);
  EXPECT_EQ(node.vgs[0].thin_pools[0].charged, 0u);
  EXPECT_FALSE(release(node, unit_at(volume_kind::device, "nowhere")));
}
