// The burst test: 200 pods with two PVCs each arrive at once on a cluster
// whose capacity is tight. Eight threads play kube-scheduler (the extender's
// predicates and priorities over the published snapshot) and the CSI
// controller (a reservation per PVC on the chosen node), while another thread
// provisions PVs for reserved claims and deletes a few claims. Whatever the
// interleaving, no volume group and no device is ever over-committed, the
// view charges every volume exactly once, and a pod's claims are reserved
// together on one node or not at all.
//
// Real placement actor, fake API server, real threads: the test waits for
// outcomes (eventually), never asserts how long anything took.

#include "gateways/extender/extender.hpp"

#include "actors/core/errc.hpp"
#include "gateways/kube/client.hpp"
#include "gateways/kube/placement_actor.hpp"
#include "tests/support/eventually.hpp"
#include "tests/support/fake_apiserver.hpp"

#include <caf/all.hpp>

#include <boost/json.hpp>
#include <gtest/gtest.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <condition_variable>
#include <deque>
#include <iostream>
#include <map>
#include <mutex>
#include <optional>
#include <random>
#include <set>
#include <string>
#include <thread>
#include <vector>

using namespace olocal;
using namespace olocal::kube;
using namespace std::chrono_literals;
using olocal::test::eventually;

namespace {

namespace json = boost::json;

constexpr uint64_t gi = 1ull << 30;
constexpr int node_count = 20;
constexpr int first_device_node = 14; ///< nodes 14..19 hold devices
constexpr int pod_count = 200;
constexpr unsigned worker_count = 8;
constexpr int max_attempts = 3; ///< kube-scheduler's retries after a refused reservation
constexpr uint64_t device_bytes = 10 * gi;
constexpr const char* ns = "default";

// -- the scenario (pure data, computed before anything runs) ---------------------------

enum class mix { lvm_lvm, named_any, lvm_device };

struct claim_spec {
  std::string name;
  std::string storage_class;
  uint64_t bytes = 0;
  placement::volume_kind kind = placement::volume_kind::lvm;
  std::string media; ///< Device: "hdd" | "ssd"
  std::string key() const { return std::string{ns} + "/" + name; }
};

struct pod_spec {
  std::string name;
  mix kind = mix::lvm_lvm;
  std::array<claim_spec, 2> claims;
};

struct node_spec {
  std::string name;
  std::map<std::string, uint64_t> vgs;                      ///< name -> capacity
  std::vector<std::pair<std::string, std::string>> devices; ///< name, media
};

struct scenario {
  std::vector<pod_spec> pods;
  std::vector<node_spec> nodes;
  uint64_t lvm_demand = 0;   ///< every LVM claim
  uint64_t named_demand = 0; ///< the claims of StorageClass vgName=pool1
  uint64_t lvm_capacity = 0;
  uint64_t pool1_capacity = 0;
  std::map<std::string, int> device_demand; ///< media -> claims
  std::map<std::string, int> device_units;  ///< media -> units
  /// Pods that cannot be placed whatever the order: device claims beyond the
  /// units of their media, plus named pods beyond what pool1 can hold even
  /// when the smallest go first.
  int refused_at_least = 0;
};

std::string node_name(int i) {
  return (i < 10 ? "n0" : "n") + std::to_string(i);
}

scenario make_scenario() {
  scenario s;
  std::mt19937 rng{20261127};
  std::uniform_int_distribution<uint64_t> gib{1, 8};
  std::vector<uint64_t> named_sizes;
  for (int i = 0; i < pod_count; ++i) {
    pod_spec p;
    p.name = "p" + std::to_string(1000 + i);
    p.kind = i % 5 <= 1 ? mix::lvm_lvm : i % 5 <= 3 ? mix::named_any : mix::lvm_device;
    for (int c = 0; c < 2; ++c) {
      auto& cl = p.claims[c];
      cl.name = p.name + (c == 0 ? "-a" : "-b");
      cl.bytes = gib(rng) * gi;
      cl.storage_class = "lvm-any";
    }
    if (p.kind == mix::named_any) {
      p.claims[0].storage_class = "lvm-pool1";
      named_sizes.push_back(p.claims[0].bytes);
      s.named_demand += p.claims[0].bytes;
    }
    if (p.kind == mix::lvm_device) {
      auto& d = p.claims[1];
      d.kind = placement::volume_kind::device;
      d.media = (i / 5) % 2 == 0 ? "hdd" : "ssd";
      d.storage_class = "device-" + d.media;
      ++s.device_demand[d.media];
    }
    for (auto& cl : p.claims)
      if (cl.kind == placement::volume_kind::lvm)
        s.lvm_demand += cl.bytes;
    s.pods.push_back(std::move(p));
  }

  // pool1 (on even nodes) holds 90 % of what the vgName=pool1 claims ask; all
  // groups together hold 110 % of every LVM claim; pool0 sizes vary by node.
  const int pool1_nodes = node_count / 2;
  const uint64_t pool1_each = s.named_demand * 9 / 10 / pool1_nodes / gi * gi;
  const uint64_t pool0_total = s.lvm_demand * 11 / 10 - pool1_each * pool1_nodes;
  for (int i = 0; i < node_count; ++i) {
    node_spec n;
    n.name = node_name(i);
    double weight = 0.75 + 0.5 * i / (node_count - 1); // averages 1.0
    n.vgs["pool0"] = static_cast<uint64_t>(static_cast<double>(pool0_total) * weight / node_count /
                                           static_cast<double>(gi)) *
                     gi;
    if (i % 2 == 0)
      n.vgs["pool1"] = pool1_each;
    if (i >= first_device_node)
      n.devices = {{"/dev/vdb", "hdd"}, {"/dev/vdc", "hdd"}, {"/dev/vdd", "hdd"},
                   {"/dev/vde", "ssd"}, {"/dev/vdf", "ssd"}, {"/dev/vdg", "ssd"}};
    for (auto& [vg, bytes] : n.vgs) {
      s.lvm_capacity += bytes;
      if (vg == "pool1")
        s.pool1_capacity += bytes;
    }
    for (auto& [dev, media] : n.devices)
      ++s.device_units[media];
    s.nodes.push_back(std::move(n));
  }

  for (auto& [media, wanted] : s.device_demand)
    s.refused_at_least += std::max(0, wanted - s.device_units[media]);
  std::sort(named_sizes.begin(), named_sizes.end());
  uint64_t sum = 0;
  size_t fitting = 0;
  while (fitting < named_sizes.size() && sum + named_sizes[fitting] <= s.pool1_capacity)
    sum += named_sizes[fitting++];
  s.refused_at_least += static_cast<int>(named_sizes.size() - fitting);
  return s;
}

// -- Kubernetes objects ----------------------------------------------------------------

json::object node_object(const std::string& name) {
  return json::object{{"apiVersion", "v1"}, {"kind", "Node"}, {"metadata", {{"name", name}}}};
}

json::object nls_object(const node_spec& n) {
  json::array vgs, vg_names, devices, device_names;
  for (auto& [vg, bytes] : n.vgs) {
    vgs.push_back(json::object{{"name", vg}, {"total", bytes}, {"allocatable", bytes}});
    vg_names.push_back(json::string{vg});
  }
  for (auto& [dev, media] : n.devices) {
    devices.push_back(json::object{
      {"name", dev}, {"total", device_bytes}, {"mediaType", media}, {"readOnly", false}});
    device_names.push_back(json::string{dev});
  }
  json::object status{
    {"nodeStorageInfo",
     {{"volumeGroups", vgs}, {"deviceInfo", devices}, {"mountPoints", json::array{}}}},
    {"filteredStorageInfo",
     {{"volumeGroups", vg_names}, {"devices", device_names}, {"mountPoints", json::array{}}}}};
  return json::object{{"apiVersion", "csi.aliyun.com/v1alpha1"},
                      {"kind", "NodeLocalStorage"},
                      {"metadata", {{"name", n.name}}},
                      {"spec", {{"nodeName", n.name}}},
                      {"status", status}};
}

json::object storage_class_object(const std::string& name, json::object params) {
  return json::object{{"apiVersion", "storage.k8s.io/v1"},
                      {"kind", "StorageClass"},
                      {"metadata", {{"name", name}}},
                      {"provisioner", "local.csi.aliyun.com"},
                      {"volumeBindingMode", "WaitForFirstConsumer"},
                      {"parameters", std::move(params)}};
}

json::object pvc_object(const claim_spec& c) {
  return json::object{{"apiVersion", "v1"},
                      {"kind", "PersistentVolumeClaim"},
                      {"metadata", {{"name", c.name}, {"namespace", ns}}},
                      {"spec",
                       {{"storageClassName", c.storage_class},
                        {"accessModes", json::array{"ReadWriteOnce"}},
                        {"resources", {{"requests", {{"storage", std::to_string(c.bytes)}}}}}}},
                      {"status", {{"phase", "Pending"}}}};
}

json::object pod_object(const pod_spec& p) {
  json::array volumes;
  for (auto& c : p.claims)
    volumes.push_back(
      json::object{{"name", c.name}, {"persistentVolumeClaim", {{"claimName", c.name}}}});
  return json::object{
    {"apiVersion", "v1"},
    {"kind", "Pod"},
    {"metadata", {{"name", p.name}, {"namespace", ns}, {"uid", "uid-" + p.name}}},
    {"spec",
     {{"containers", json::array{json::object{{"name", "c"}, {"image", "busybox"}}}},
      {"volumes", volumes}}},
    {"status", {{"phase", "Pending"}}}};
}

/// The PV the CSI provisioner writes for a reservation.
json::object pv_object(const claim_spec& c, const pvc_reservation& r) {
  json::object attrs{{"volumeType", placement::to_string(r.assignment.kind)}};
  if (r.assignment.kind == placement::volume_kind::lvm)
    attrs["vgName"] = r.assignment.vg;
  else
    attrs["Device"] = r.assignment.unit;
  json::object affinity{
    {"required",
     {{"nodeSelectorTerms",
       json::array{json::object{
         {"matchExpressions",
          json::array{json::object{{"key", "kubernetes.io/hostname"},
                                   {"operator", "In"},
                                   {"values", json::array{json::string{r.node}}}}}}}}}}}};
  auto name = "pv-" + c.name;
  return json::object{
    {"apiVersion", "v1"},
    {"kind", "PersistentVolume"},
    {"metadata", {{"name", name}}},
    {"spec",
     {{"capacity", {{"storage", std::to_string(r.assignment.bytes)}}},
      {"claimRef", {{"namespace", ns}, {"name", c.name}}},
      {"storageClassName", c.storage_class},
      {"csi",
       {{"driver", "local.csi.aliyun.com"}, {"volumeHandle", name}, {"volumeAttributes", attrs}}},
      {"nodeAffinity", affinity}}},
    {"status", {{"phase", "Bound"}}}};
}

// -- what happened ---------------------------------------------------------------------

/// One pod's fate, written only by the worker that took it.
struct pod_outcome {
  bool placed = false;
  bool filter_refused = false; ///< no node passed the predicates
  int stale_refusals = 0;      ///< reservations refused after the filter passed
  std::string node;
  std::array<std::optional<pvc_reservation>, 2> reservations;
  std::vector<std::string> errors; ///< anything but resource_exhausted
};

/// Where a claim's charge is, by the test's own bookkeeping.
struct held_charge {
  std::string node;
  placement::assignment assignment;
  std::string pvc;
};

class burst_test : public ::testing::Test {
public:
  burst_test() : sys(cfg.set("scheduler.max-threads", 2)) {}

  ~burst_test() override {
    if (actor)
      caf::anon_send_exit(actor, caf::exit_reason::user_shutdown);
  }

  void load(const scenario& s) {
    for (auto& n : s.nodes) {
      server.put("nodes", node_object(n.name));
      server.put("nodelocalstorages", nls_object(n));
    }
    server.put("storageclasses", storage_class_object("lvm-any", {{"volumeType", "LVM"}}));
    server.put("storageclasses",
               storage_class_object("lvm-pool1", {{"volumeType", "LVM"}, {"vgName", "pool1"}}));
    server.put("storageclasses", storage_class_object(
                                   "device-hdd", {{"volumeType", "Device"}, {"mediaType", "hdd"}}));
    server.put("storageclasses", storage_class_object(
                                   "device-ssd", {{"volumeType", "Device"}, {"mediaType", "ssd"}}));
    for (auto& p : s.pods) {
      for (auto& c : p.claims)
        server.put("persistentvolumeclaims", pvc_object(c));
      server.put("pods", pod_object(p));
    }
  }

  void start() {
    connection c;
    c.server = server.base_url();
    c.qps = 0;
    c.retry_base = 5ms;
    actor = spawn_placement(sys, std::make_shared<client>(c), reader);
  }

  caf::expected<pvc_reservation> reserve(caf::scoped_actor& self, const std::string& pvc,
                                         const std::string& node) {
    caf::expected<pvc_reservation> out{caf::error{}};
    self->request(actor, 10s, reserve_req{ns, pvc, node})
      .receive([&](pvc_reservation& r) { out = std::move(r); },
               [&](caf::error& err) { out = std::move(err); });
    return out;
  }

  /// The claims the actor holds reservations for.
  std::set<std::string> reserved_claims(caf::scoped_actor& self) {
    std::set<std::string> out;
    self->request(actor, 10s, inspect_atom::value)
      .receive(
        [&](actor_report& r) {
          auto state = json::parse(r.state_json);
          for (auto& v : state.at("reservations").as_array())
            out.emplace(v.at("pvc").as_string());
        },
        [&](caf::error& err) { out.emplace("inspect failed: " + render(err)); });
    return out;
  }

  json::object state() {
    json::object out;
    caf::scoped_actor self{sys};
    self->request(actor, 10s, inspect_atom::value)
      .receive([&](actor_report& r) { out = json::parse(r.state_json).as_object(); },
               [&](caf::error& err) { ADD_FAILURE() << render(err); });
    return out;
  }

  test::fake_apiserver server;
  caf::actor_system_config cfg;
  caf::actor_system sys;
  std::shared_ptr<placement_reader> reader = std::make_shared<placement_reader>();
  placement_actor actor;
};

/// kube-scheduler's choice: the predicates over every node, the priorities
/// over those that pass, the best score (ties broken at random, as
/// selectHost does). nullopt when no node passes.
std::optional<std::string> schedule(const json::object& pod, const json::array& all_nodes,
                                    const placement_snapshot& snap,
                                    const extender::extender_options& opts, std::mt19937& rng,
                                    std::vector<std::string>& errors) {
  auto filter = extender::predicates(
    json::serialize(json::object{{"pod", pod}, {"nodenames", all_nodes}}), &snap, opts);
  auto result = json::parse(filter.body).as_object();
  if (filter.status != 200 || result.contains("error")) {
    errors.push_back("predicates: " + filter.body);
    return std::nullopt;
  }
  auto passing = result.at("nodenames").as_array();
  if (passing.empty())
    return std::nullopt;
  auto prio = extender::priorities(
    json::serialize(json::object{{"pod", pod}, {"nodenames", passing}}), &snap, opts);
  if (prio.status != 200) {
    errors.push_back("priorities: " + prio.body);
    return std::nullopt;
  }
  int64_t best = -1;
  std::vector<std::string> best_nodes;
  auto scores = json::parse(prio.body);
  for (auto& v : scores.as_array()) {
    auto& o = v.as_object();
    auto score = o.at("score").to_number<int64_t>();
    if (score > best) {
      best = score;
      best_nodes.clear();
    }
    if (score == best)
      best_nodes.emplace_back(o.at("host").as_string());
  }
  if (best_nodes.empty()) {
    errors.push_back("priorities answered no node: " + prio.body);
    return std::nullopt;
  }
  return best_nodes[rng() % best_nodes.size()];
}

} // namespace

TEST_F(burst_test, two_hundred_pods_at_once_on_tight_capacity_never_over_commit) {
  const auto s = make_scenario();
  // The scenario is what it claims to be: tight, with both kinds contended.
  ASSERT_GT(s.lvm_capacity, s.lvm_demand);
  ASSERT_LT(s.lvm_capacity, s.lvm_demand * 12 / 10);
  ASSERT_LT(s.pool1_capacity, s.named_demand);
  ASSERT_GT(s.refused_at_least, 0);
  for (auto& [media, wanted] : s.device_demand)
    ASSERT_GT(wanted, s.device_units.at(media)) << media;

  load(s);
  start();
  ASSERT_TRUE(eventually([&] {
    auto snap = reader->current();
    return snap->synced && snap->objects->pvcs.size() == 2u * pod_count &&
           snap->view->nodes.size() == static_cast<size_t>(node_count);
  }));

  json::array all_nodes;
  for (auto& n : s.nodes)
    all_nodes.push_back(json::string{n.name});
  std::vector<json::object> pod_json;
  for (auto& p : s.pods)
    pod_json.push_back(pod_object(p));
  extender::extender_options opts; // binpack, as the actor's default

  std::vector<pod_outcome> outcomes(s.pods.size());
  std::atomic<size_t> next_pod{0};
  std::atomic<int> stale_total{0};

  // Placed pods, handed to the provisioner.
  std::mutex mu;
  std::condition_variable cv;
  std::deque<size_t> placed_queue;
  bool workers_done = false;

  // Every generation the burst publishes: no group ever charged beyond its capacity.
  std::atomic<bool> burst_over{false};
  std::vector<std::string> over_commits; // monitor thread only
  size_t generations_seen = 0;
  std::thread monitor{[&] {
    uint64_t last = 0;
    auto check = [&] {
      auto snap = reader->current();
      if (snap->view->generation == last)
        return;
      last = snap->view->generation;
      ++generations_seen;
      for (auto& [name, node] : snap->view->nodes)
        for (auto& vg : node->vgs)
          if (vg.charged > vg.capacity)
            over_commits.push_back("generation " + std::to_string(last) + ": " + name + "/" +
                                   vg.name + " charged " + std::to_string(vg.charged) + " > " +
                                   std::to_string(vg.capacity));
    };
    while (!burst_over.load()) {
      check();
      std::this_thread::yield();
    }
    check();
  }};

  auto worker = [&](unsigned id) {
    std::mt19937 rng{7919u * (id + 1)};
    caf::scoped_actor self{sys};
    for (size_t i; (i = next_pod++) < s.pods.size();) {
      auto& p = s.pods[i];
      auto& out = outcomes[i];
      for (int attempt = 0; attempt < max_attempts; ++attempt) {
        auto snap = reader->current();
        auto node = schedule(pod_json[i], all_nodes, *snap, opts, rng, out.errors);
        if (!node) {
          out.filter_refused = out.errors.empty();
          break;
        }
        // The CSI controller creates the volumes in any order.
        size_t first = rng() % 2;
        auto r1 = reserve(self, p.claims[first].name, *node);
        if (!r1) {
          if (code_of(r1.error()) != errc::resource_exhausted) {
            out.errors.push_back(p.claims[first].name + ": " + render(r1.error()));
            break;
          }
          // Refused whole: neither claim of the pod is held afterwards.
          if (auto held = reserved_claims(self);
              held.count(p.claims[0].key()) != 0 || held.count(p.claims[1].key()) != 0)
            out.errors.push_back("a claim is held after the pod's reservation was refused");
          // The snapshot was stale: kube-scheduler retries on a newer one.
          ++out.stale_refusals;
          ++stale_total;
          auto seen = snap->view->generation;
          eventually([&] { return reader->current()->view->generation > seen; }, 2s);
          continue;
        }
        auto r2 = reserve(self, p.claims[1 - first].name, *node);
        if (!r2) {
          out.errors.push_back(p.claims[1 - first].name +
                               " after its sibling was reserved: " + render(r2.error()));
          break;
        }
        out.node = *node;
        out.reservations[first] = std::move(*r1);
        out.reservations[1 - first] = std::move(*r2);
        out.placed = true;
        {
          std::lock_guard<std::mutex> lock{mu};
          placed_queue.push_back(i);
        }
        cv.notify_one();
        break;
      }
    }
  };

  // The provisioner (and a user deleting claims), concurrently with the burst.
  std::map<std::string, held_charge> provisioned; // pvc key -> the PV's charge
  std::set<std::string> deleted;                  // pvc keys
  std::thread provisioner{[&] {
    size_t handled = 0;
    for (;;) {
      size_t i = 0;
      {
        std::unique_lock<std::mutex> lock{mu};
        cv.wait(lock, [&] { return !placed_queue.empty() || workers_done; });
        if (placed_queue.empty())
          return;
        i = placed_queue.front();
        placed_queue.pop_front();
      }
      auto& p = s.pods[i];
      auto& out = outcomes[i];
      auto turn = handled++;
      if (turn % 3 == 0) {
        // Both volumes provisioned: PVs replace the reservations, the claims bind.
        for (size_t c = 0; c < 2; ++c) {
          auto& r = *out.reservations[c];
          server.put("persistentvolumes", pv_object(p.claims[c], r));
          provisioned[p.claims[c].key()] = held_charge{r.node, r.assignment, p.claims[c].key()};
          if (auto pvc = server.get("persistentvolumeclaims", ns, p.claims[c].name)) {
            (*pvc)["spec"].as_object()["volumeName"] = "pv-" + p.claims[c].name;
            (*pvc)["status"] = json::object{{"phase", "Bound"}};
            server.put("persistentvolumeclaims", std::move(*pvc));
          }
        }
      } else if (turn % 7 == 1) {
        // A claim deleted before provisioning: only claims on pool0, so that
        // pool1 and the devices never gain space (the refusal bound holds).
        for (size_t c = 0; c < 2; ++c) {
          auto& a = out.reservations[c]->assignment;
          if (a.kind == placement::volume_kind::lvm && a.vg == "pool0") {
            server.remove("persistentvolumeclaims", ns, p.claims[c].name);
            deleted.insert(p.claims[c].key());
            break;
          }
        }
      }
    }
  }};

  std::vector<std::thread> workers;
  for (unsigned w = 0; w < worker_count; ++w)
    workers.emplace_back(worker, w);
  for (auto& t : workers)
    t.join();
  {
    std::lock_guard<std::mutex> lock{mu};
    workers_done = true;
  }
  cv.notify_all();
  provisioner.join();

  // -- what must hold, from the test's own records ----------------------------------
  int placed = 0, filter_refused = 0, stale_refused = 0;
  std::map<std::string, int> placed_devices;        // media -> pods
  std::map<std::string, held_charge> expected_held; // reservations still held, by pvc key
  std::map<std::string, std::map<std::string, uint64_t>> expected_charge; // node -> vg -> bytes
  std::map<std::string, std::map<std::string, std::set<std::string>>> holders; // node->unit->pvcs
  for (size_t i = 0; i < s.pods.size(); ++i) {
    auto& p = s.pods[i];
    auto& out = outcomes[i];
    for (auto& e : out.errors)
      ADD_FAILURE() << p.name << ": " << e;
    if (!out.placed) {
      if (out.filter_refused)
        ++filter_refused;
      else
        ++stale_refused;
      continue;
    }
    ++placed;
    for (size_t c = 0; c < 2; ++c) {
      auto& r = *out.reservations[c];
      auto& claim = p.claims[c];
      EXPECT_EQ(r.node, out.node) << p.name << ": both claims on the pod's node";
      EXPECT_EQ(r.assignment.request_id, claim.key());
      EXPECT_EQ(r.assignment.kind, claim.kind) << claim.key();
      EXPECT_EQ(r.assignment.bytes, claim.bytes) << claim.key();
      if (claim.storage_class == "lvm-pool1") {
        EXPECT_EQ(r.assignment.vg, "pool1") << claim.key();
      }
      if (claim.kind == placement::volume_kind::device)
        ++placed_devices[claim.media];
      if (deleted.count(claim.key()) != 0)
        continue;
      auto pv = provisioned.find(claim.key());
      const held_charge h =
        pv != provisioned.end() ? pv->second : held_charge{r.node, r.assignment, claim.key()};
      if (pv == provisioned.end())
        expected_held[claim.key()] = h;
      if (h.assignment.kind == placement::volume_kind::lvm)
        expected_charge[h.node][h.assignment.vg] += h.assignment.bytes;
      else
        holders[h.node][h.assignment.unit].insert(claim.key());
    }
  }
  // Some pods fit, and the capacity really is tight.
  EXPECT_GT(placed, 0);
  EXPECT_GE(filter_refused + stale_refused, s.refused_at_least);
  EXPECT_EQ(placed + filter_refused + stale_refused, pod_count);
  for (auto& [media, n] : placed_devices)
    EXPECT_LE(n, s.device_units.at(media)) << media;

  // Every device unit is held by at most one claim.
  for (auto& [node, units] : holders)
    for (auto& [unit, pvcs] : units)
      EXPECT_LE(pvcs.size(), 1u) << node << " " << unit << " held by " << pvcs.size();

  // No group holds more than its capacity (by the test's own count).
  for (auto& n : s.nodes)
    for (auto& [vg, capacity] : n.vgs) {
      auto c = expected_charge.count(n.name) != 0 && expected_charge.at(n.name).count(vg) != 0
                 ? expected_charge.at(n.name).at(vg)
                 : 0;
      EXPECT_LE(c, capacity) << n.name << "/" << vg;
    }

  // Once settled, the view charges exactly the held reservations and the PVs,
  // each once, and marks exactly the held units.
  auto view_matches = [&](std::string* diff) {
    auto snap = reader->current();
    bool same = true;
    for (auto& n : s.nodes) {
      auto* node = snap->view->find(n.name);
      if (node == nullptr) {
        if (diff != nullptr)
          *diff += n.name + " missing from the view\n";
        same = false;
        continue;
      }
      for (auto& vg : node->vgs) {
        uint64_t want = 0;
        if (auto it = expected_charge.find(n.name); it != expected_charge.end())
          if (auto v = it->second.find(vg.name); v != it->second.end())
            want = v->second;
        if (vg.charged != want) {
          same = false;
          if (diff != nullptr)
            *diff += n.name + "/" + vg.name + " charged " + std::to_string(vg.charged) +
                     ", expected " + std::to_string(want) + "\n";
        }
      }
      for (auto& u : node->devices) {
        bool want = false;
        if (auto it = holders.find(n.name); it != holders.end())
          want = it->second.count(u.name) != 0 && !it->second.at(u.name).empty();
        if (u.taken != want) {
          same = false;
          if (diff != nullptr)
            *diff += n.name + " " + u.name + " taken " + std::to_string(u.taken) + ", expected " +
                     std::to_string(want) + "\n";
        }
      }
    }
    return same;
  };
  if (!eventually([&] { return view_matches(nullptr); })) {
    std::string diff;
    view_matches(&diff);
    ADD_FAILURE() << "the settled view differs from the reservations and PVs:\n" << diff;
  }

  // Diagnostic only: refused pods that the settled view could still take
  // (claims deleted after their refusal freed space, or a stale filter).
  int refused_that_fit_now = 0;
  if (eventually([&] { return view_matches(nullptr); })) {
    auto settled = reader->current();
    std::mt19937 rng{1};
    for (size_t i = 0; i < s.pods.size(); ++i) {
      std::vector<std::string> ignored;
      if (!outcomes[i].placed && schedule(pod_json[i], all_nodes, *settled, opts, rng, ignored))
        ++refused_that_fit_now;
    }
  }
  std::cerr << "[ burst ] pods " << pod_count << ": placed " << placed << ", refused "
            << (filter_refused + stale_refused) << " (no node passed the filter " << filter_refused
            << ", still refused after " << max_attempts << " attempts " << stale_refused
            << "), stale-snapshot refusals " << stale_total.load() << "; PVs " << provisioned.size()
            << ", claims deleted " << deleted.size() << ", reservations held "
            << expected_held.size() << "; generations seen " << generations_seen << "; LVM demand "
            << s.lvm_demand / gi << " GiB, capacity " << s.lvm_capacity / gi
            << " GiB; refusals expected at least " << s.refused_at_least
            << "; refused pods that fit the settled view " << refused_that_fit_now << "\n";

  // The actor holds exactly the reservations the test expects: the refused
  // pods hold none (a pod is reserved whole or not at all), a claim replaced
  // by its PV or deleted holds none, and every charge matches its node.
  auto st = state();
  std::set<std::string> actor_held;
  for (auto& v : st.at("reservations").as_array()) {
    auto& r = v.as_object();
    auto pvc = std::string{r.at("pvc").as_string()};
    actor_held.insert(pvc);
    auto it = expected_held.find(pvc);
    if (it == expected_held.end())
      continue;
    EXPECT_EQ(r.at("node").as_string(), it->second.node) << pvc;
    EXPECT_EQ(r.at("bytes").to_number<uint64_t>(), it->second.assignment.bytes) << pvc;
  }
  std::set<std::string> want_held;
  for (auto& [pvc, h] : expected_held)
    want_held.insert(pvc);
  EXPECT_EQ(actor_held, want_held);
  EXPECT_EQ(st.at("pvsCharged").to_number<uint64_t>(), provisioned.size());
  EXPECT_EQ(st.at("unplacedCharges").to_number<uint64_t>(), 0u);

  burst_over = true;
  monitor.join();
  for (auto& o : over_commits)
    ADD_FAILURE() << "over-commit published: " << o;
}
