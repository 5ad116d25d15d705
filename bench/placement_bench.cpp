// Scheduler extender speed (DESIGN.md §9: filter + prioritize for one pod in
// under 1 ms p99 at 1,000 nodes, 5 ms at 5,000, reads never waiting on
// writers) and the placement actor's cost of keeping the view:
//   1. predicates + priorities for one pod (2 PVCs of an open-local LVM
//      StorageClass, one with vgName) against 100 / 1,000 / 5,000 nodes,
//      ExtenderArgs JSON parsing and answer serialization included;
//   2. the same with a NodeList (nodeCacheCapable: false) at 1,000 nodes;
//   3. throughput of 1, 2, 4 reader threads on one placement_reader while a
//      writer publishes a new generation every 1 ms;
//   4. the placement actor against the fake API server: first synced
//      snapshot, then write-to-published latency of PV size updates, and the
//      bare per-generation publish cost (copying the node map);
//   5. resident memory growth of the 5,000-node view.
// Prints numbers; asserts nothing.
//
// usage: bench_placement [iterations]   (default 1000; 200 at 5,000 nodes)

#include "actors/core/log.hpp"
#include "gateways/extender/extender.hpp"
#include "gateways/kube/client.hpp"
#include "gateways/kube/placement_actor.hpp"
#include "gateways/kube/placement_view.hpp"
#include "tests/support/fake_apiserver.hpp"

#include <caf/all.hpp>

#include <boost/json.hpp>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <ctime>
#include <fstream>
#include <random>
#include <string>
#include <thread>
#include <vector>

using namespace olocal;
using namespace std::chrono_literals;
namespace json = boost::json;
using clock_type = std::chrono::steady_clock;

namespace {

constexpr uint64_t gib = 1ull << 30;

long rss_kib() {
  std::ifstream in{"/proc/self/status"};
  std::string line;
  while (std::getline(in, line))
    if (line.rfind("VmRSS:", 0) == 0)
      return std::stol(line.substr(6));
  return 0;
}

double ms_since(clock_type::time_point t) {
  return std::chrono::duration<double, std::milli>(clock_type::now() - t).count();
}

/// CPU time of the calling thread: what a request costs regardless of how
/// loaded the machine is.
double thread_cpu_ms() {
  timespec ts{};
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
  return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

double us_between(clock_type::time_point a, clock_type::time_point b) {
  return std::chrono::duration<double, std::micro>(b - a).count();
}

struct stats {
  double p50 = 0, p99 = 0, max = 0;
};

stats stats_of(std::vector<double> v) {
  stats s;
  if (v.empty())
    return s;
  std::sort(v.begin(), v.end());
  auto at = [&](double q) { return v[std::min(v.size() - 1, static_cast<size_t>(q * v.size()))]; };
  s.p50 = at(0.50);
  s.p99 = at(0.99);
  s.max = v.back();
  return s;
}

std::string node_name(int i) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "node-%05d", i);
  return buf;
}

// -- the cluster -------------------------------------------------------------------------

/// Node i's NodeLocalStorage: 2-4 volume groups of varied size (pool0 always),
/// a thin pool on pool1 of every fourth node, 0-2 whole devices, one mount
/// point on every fifth node; every 20th node has not reported yet.
json::object nls_of(int i) {
  json::object meta{{"name", node_name(i)}};
  json::object doc{{"apiVersion", "csi.aliyun.com/v1alpha1"},
                   {"kind", "NodeLocalStorage"},
                   {"metadata", meta},
                   {"spec",
                    {{"nodeName", node_name(i)},
                     {"listConfig", {{"vgs", {{"include", json::array{"pool[0-9]+"}}}}}}}}};
  if (i % 20 == 19)
    return doc; // no status: the node agent has not reported
  static const uint64_t sizes[] = {200, 500, 1000, 2000, 3500};
  json::array vgs, vg_names, devices, device_names, mounts, mount_names;
  int vg_count = 2 + i % 3;
  for (int v = 0; v < vg_count; ++v) {
    uint64_t total = sizes[(i * 7 + v * 3) % 5] * gib;
    json::object vg{{"name", "pool" + std::to_string(v)},
                    {"physicalVolumes", json::array{"/dev/vd" + std::string(1, char('b' + v))}},
                    {"total", total},
                    {"available", total - total / 10},
                    {"allocatable", total - total / 20}};
    if (v == 1 && i % 4 == 0)
      vg["thinPools"] = json::array{json::object{
        {"name", "thinpool"}, {"total", 100 * gib}, {"usage", 10.5}, {"metadataUsage", 2.1}}};
    vgs.push_back(std::move(vg));
    vg_names.push_back(json::string{"pool" + std::to_string(v)});
  }
  for (int d = 0; d < i % 3; ++d) {
    auto name = "/dev/nvme" + std::to_string(d) + "n1";
    devices.push_back(json::object{{"name", name},
                                   {"total", (d + 1) * 960 * gib},
                                   {"mediaType", d == 0 ? "ssd" : "hdd"},
                                   {"readOnly", false}});
    device_names.push_back(json::string{name});
  }
  if (i % 5 == 0) {
    mounts.push_back(json::object{{"name", "/mnt/open-local/disk1"},
                                  {"total", 500 * gib},
                                  {"available", 400 * gib},
                                  {"fsType", "ext4"},
                                  {"device", "/dev/vdz"},
                                  {"isBind", false},
                                  {"options", json::array{"rw", "relatime"}}});
    mount_names.push_back("/mnt/open-local/disk1");
  }
  doc["status"] = json::object{
    {"nodeStorageInfo",
     {{"volumeGroups", vgs},
      {"deviceInfo", devices},
      {"mountPoints", mounts},
      {"phase", "Running"},
      {"state", {{"status", "True"}, {"type", "DiskReady"}}}}},
    {"filteredStorageInfo",
     {{"volumeGroups", vg_names}, {"devices", device_names}, {"mountPoints", mount_names}}}};
  return doc;
}

/// The model of node i with charges (uniformly random share of each group);
/// about one node in ten cannot take the pod below, one in twenty has not reported.
placement::node_ptr node_of(int i, std::mt19937_64& rng) {
  auto s =
    std::make_shared<placement::node_state>(kube::node_state_of(kube::object{nls_of(i)}, 2.0));
  std::uniform_real_distribution<double> share{0.0, 1.0};
  for (auto& vg : s->vgs) {
    vg.charged = static_cast<uint64_t>(share(rng) * vg.capacity);
    for (auto& p : vg.thin_pools)
      p.charged = static_cast<uint64_t>(share(rng) * p.virtual_capacity());
  }
  for (auto& d : s->devices)
    d.taken = share(rng) < 0.3;
  return s;
}

std::shared_ptr<placement::cluster_view> view_of(int nodes) {
  std::mt19937_64 rng{42};
  auto view = std::make_shared<placement::cluster_view>();
  view->generation = 1;
  for (int i = 0; i < nodes; ++i)
    view->nodes[node_name(i)] = node_of(i, rng);
  return view;
}

json::object storage_class(const std::string& name, json::object params) {
  return json::object{{"apiVersion", "storage.k8s.io/v1"},
                      {"kind", "StorageClass"},
                      {"metadata", {{"name", name}}},
                      {"provisioner", "local.csi.aliyun.com"},
                      {"parameters", params},
                      {"reclaimPolicy", "Delete"},
                      {"allowVolumeExpansion", true},
                      {"volumeBindingMode", "WaitForFirstConsumer"}};
}

json::object pvc(const std::string& name, const std::string& sc, const std::string& size) {
  return json::object{
    {"apiVersion", "v1"},
    {"kind", "PersistentVolumeClaim"},
    {"metadata",
     {{"name", name},
      {"namespace", "default"},
      {"uid", "uid-" + name},
      {"labels", {{"app", "mysql"}}},
      {"annotations",
       {{"volume.beta.kubernetes.io/storage-provisioner", "local.csi.aliyun.com"}}}}},
    {"spec",
     {{"storageClassName", sc},
      {"accessModes", json::array{"ReadWriteOnce"}},
      {"volumeMode", "Filesystem"},
      {"resources", {{"requests", {{"storage", size}}}}}}},
    {"status", {{"phase", "Pending"}}}};
}

/// The objects the pod's demand is looked up in: two StorageClasses, the
/// pod's two PVCs and 500 others (bound or not).
std::shared_ptr<kube::object_index> objects() {
  auto idx = std::make_shared<kube::object_index>();
  idx->storage_classes["open-local-lvm"] =
    kube::object{storage_class("open-local-lvm", {{"volumeType", "LVM"}, {"fsType", "ext4"}})};
  idx->storage_classes["open-local-lvm-pool0"] = kube::object{storage_class(
    "open-local-lvm-pool0", {{"volumeType", "LVM"}, {"vgName", "pool0"}, {"fsType", "xfs"}})};
  idx->pvcs["default/data-mysql-0"] =
    kube::object{pvc("data-mysql-0", "open-local-lvm-pool0", "50Gi")};
  idx->pvcs["default/binlog-mysql-0"] =
    kube::object{pvc("binlog-mysql-0", "open-local-lvm", "100Gi")};
  for (int i = 0; i < 500; ++i)
    idx->pvcs["default/other-" + std::to_string(i)] =
      kube::object{pvc("other-" + std::to_string(i), "open-local-lvm", "20Gi")};
  return idx;
}

std::shared_ptr<const kube::placement_snapshot>
snapshot_of(placement::view_ptr view, std::shared_ptr<kube::object_index> idx) {
  return std::make_shared<const kube::placement_snapshot>(
    kube::placement_snapshot{std::move(view), std::move(idx), true});
}

/// A pod as kube-scheduler sends it (a StatefulSet's mysql-0).
json::object pod() {
  auto claim = [](const std::string& volume, const std::string& pvc_name) {
    return json::object{{"name", volume}, {"persistentVolumeClaim", {{"claimName", pvc_name}}}};
  };
  return json::object{
    {"metadata",
     {{"name", "mysql-0"},
      {"generateName", "mysql-"},
      {"namespace", "default"},
      {"uid", "5c1b6a4e-8f0e-4f7e-9a63-0d3c1e2b7a10"},
      {"resourceVersion", "123456"},
      {"creationTimestamp", "2024-05-01T10:00:00Z"},
      {"labels",
       {{"app", "mysql"},
        {"controller-revision-hash", "mysql-6b7c9d"},
        {"statefulset.kubernetes.io/pod-name", "mysql-0"}}},
      {"ownerReferences", json::array{json::object{{"apiVersion", "apps/v1"},
                                                   {"kind", "StatefulSet"},
                                                   {"name", "mysql"},
                                                   {"uid", "9d1c"},
                                                   {"controller", true},
                                                   {"blockOwnerDeletion", true}}}}}},
    {"spec",
     {{"schedulerName", "default-scheduler"},
      {"serviceAccountName", "default"},
      {"containers",
       json::array{json::object{
         {"name", "mysql"},
         {"image", "mysql:8.0"},
         {"ports", json::array{json::object{{"containerPort", 3306}, {"protocol", "TCP"}}}},
         {"env", json::array{json::object{{"name", "MYSQL_ROOT_PASSWORD"}, {"value", "x"}}}},
         {"resources",
          {{"requests", {{"cpu", "500m"}, {"memory", "1Gi"}}},
           {"limits", {{"cpu", "2"}, {"memory", "4Gi"}}}}},
         {"volumeMounts",
          json::array{json::object{{"name", "data"}, {"mountPath", "/var/lib/mysql"}},
                      json::object{{"name", "binlog"}, {"mountPath", "/var/log/mysql"}}}}}}},
      {"volumes",
       json::array{
         claim("data", "data-mysql-0"), claim("binlog", "binlog-mysql-0"),
         json::object{{"name", "kube-api-access-abcde"},
                      {"projected",
                       {{"defaultMode", 420},
                        {"sources", json::array{json::object{
                                      {"serviceAccountToken",
                                       {{"expirationSeconds", 3607}, {"path", "token"}}}}}}}}}}},
      {"tolerations", json::array{json::object{{"key", "node.kubernetes.io/not-ready"},
                                               {"operator", "Exists"},
                                               {"effect", "NoExecute"},
                                               {"tolerationSeconds", 300}}}}}},
    {"status", {{"phase", "Pending"}, {"qosClass", "Burstable"}}}};
}

std::string body_with_names(int nodes) {
  json::array names;
  for (int i = 0; i < nodes; ++i)
    names.push_back(json::string{node_name(i)});
  return json::serialize(json::object{{"pod", pod()}, {"nodenames", names}});
}

std::string body_with_node_list(int nodes) {
  json::array items;
  for (int i = 0; i < nodes; ++i)
    items.push_back(json::object{
      {"metadata",
       {{"name", node_name(i)},
        {"uid", "uid-" + node_name(i)},
        {"labels",
         {{"kubernetes.io/hostname", node_name(i)},
          {"kubernetes.io/arch", "amd64"},
          {"kubernetes.io/os", "linux"},
          {"topology.kubernetes.io/zone", "zone-" + std::to_string(i % 3)}}}}},
      {"spec", {{"podCIDR", "10.244." + std::to_string(i % 256) + ".0/24"}}},
      {"status",
       {{"capacity", {{"cpu", "32"}, {"memory", "131072Mi"}, {"pods", "110"}}},
        {"allocatable", {{"cpu", "31500m"}, {"memory", "129000Mi"}, {"pods", "110"}}},
        {"conditions", json::array{json::object{{"type", "Ready"}, {"status", "True"}}}},
        {"addresses", json::array{json::object{{"type", "InternalIP"},
                                               {"address", "10.0." + std::to_string(i / 256) + "." +
                                                             std::to_string(i % 256)}}}}}}});
  return json::serialize(json::object{
    {"pod", pod()}, {"nodes", {{"apiVersion", "v1"}, {"kind", "NodeList"}, {"items", items}}}});
}

// -- 1 and 2: one request --------------------------------------------------------------

void bench_request(const char* label, int nodes, const std::string& body,
                   const kube::placement_snapshot& snap, int min_iterations) {
  extender::extender_options opts;
  // Warm up, check the answer, pick the number of iterations (about 8 s of work).
  auto first = extender::predicates(body, &snap, opts);
  auto answer = json::parse(first.body).as_object();
  size_t failing = answer.at("failedNodes").as_object().size();
  auto t = clock_type::now();
  for (int i = 0; i < 3; ++i) {
    extender::predicates(body, &snap, opts);
    extender::priorities(body, &snap, opts);
  }
  double each_ms = ms_since(t) / 3;
  int iterations =
    std::clamp(static_cast<int>(8000 / each_ms), min_iterations, std::max(1000, min_iterations));
  std::vector<double> filter, prioritize, both, cpu;
  filter.reserve(iterations);
  prioritize.reserve(iterations);
  both.reserve(iterations);
  for (int i = 0; i < iterations; ++i) {
    auto c0 = thread_cpu_ms();
    auto t0 = clock_type::now();
    auto f = extender::predicates(body, &snap, opts);
    auto t1 = clock_type::now();
    auto p = extender::priorities(body, &snap, opts);
    auto t2 = clock_type::now();
    if (f.status != 200 || p.status != 200)
      std::printf("  (unexpected status %u / %u)\n", f.status, p.status);
    filter.push_back(us_between(t0, t1) / 1000);
    prioritize.push_back(us_between(t1, t2) / 1000);
    both.push_back(us_between(t0, t2) / 1000);
    cpu.push_back(thread_cpu_ms() - c0);
  }
  auto f = stats_of(filter), p = stats_of(prioritize), b = stats_of(both), c = stats_of(cpu);
  std::printf("%-9s %5d %4d %5.1f%% %5.0f | %7.2f %7.2f %7.2f | %7.2f %7.2f %7.2f | %7.2f %7.2f "
              "%7.2f | %7.2f %7.2f\n",
              label, nodes, iterations, 100.0 * failing / nodes, body.size() / 1024.0, f.p50, f.p99,
              f.max, p.p50, p.p99, p.max, b.p50, b.p99, b.max, c.p50, c.p99);
}

// -- 3: concurrent readers and one writer ----------------------------------------------

void bench_concurrency(const std::shared_ptr<placement::cluster_view>& base,
                       const std::shared_ptr<kube::object_index>& idx, const std::string& body) {
  std::printf("\n3. Concurrent requests at %zu nodes (one request = predicates + priorities on\n"
              "   reader->current()), one writer publishing a new generation every 1 ms\n",
              base->nodes.size());
  std::printf("%-8s %8s %10s %9s %9s %9s | %11s %13s\n", "threads", "requests", "req/s", "p50 ms",
              "p99 ms", "max ms", "generations", "publish p99 us");
  for (int threads : {1, 2, 4}) {
    auto reader = std::make_shared<kube::placement_reader>();
    reader->publish(snapshot_of(base, idx));
    std::atomic<bool> stop{false};
    std::vector<double> publish_us;
    uint64_t generations = 0;
    std::thread writer{[&] {
      std::mt19937_64 rng{7};
      auto next = clock_type::now();
      while (!stop.load()) {
        next += 1ms;
        auto t0 = clock_type::now();
        auto current = reader->current();
        auto view = std::make_shared<placement::cluster_view>();
        view->generation = current->view->generation + 1;
        view->nodes = current->view->nodes;
        auto victim = std::next(view->nodes.begin(), static_cast<long>(rng() % view->nodes.size()));
        auto changed = std::make_shared<placement::node_state>(*victim->second);
        if (!changed->vgs.empty())
          changed->vgs[0].charged =
            (changed->vgs[0].charged + gib) % (changed->vgs[0].capacity + 1);
        victim->second = std::move(changed);
        reader->publish(std::make_shared<const kube::placement_snapshot>(
          kube::placement_snapshot{std::move(view), current->objects, true}));
        publish_us.push_back(us_between(t0, clock_type::now()));
        ++generations;
        std::this_thread::sleep_until(next);
      }
    }};
    std::vector<std::vector<double>> latencies(threads);
    std::vector<std::thread> workers;
    auto start = clock_type::now();
    auto deadline = start + 3s;
    for (int w = 0; w < threads; ++w)
      workers.emplace_back([&, w] {
        extender::extender_options opts;
        while (clock_type::now() < deadline) {
          auto t0 = clock_type::now();
          auto snap = reader->current();
          extender::predicates(body, snap.get(), opts);
          extender::priorities(body, snap.get(), opts);
          latencies[w].push_back(us_between(t0, clock_type::now()) / 1000);
        }
      });
    for (auto& w : workers)
      w.join();
    double elapsed_s = ms_since(start) / 1000;
    stop = true;
    writer.join();
    std::vector<double> all;
    for (auto& l : latencies)
      all.insert(all.end(), l.begin(), l.end());
    auto s = stats_of(all);
    std::printf("%-8d %8zu %10.0f %9.3f %9.3f %9.3f | %11llu %13.1f\n", threads, all.size(),
                all.size() / elapsed_s, s.p50, s.p99, s.max,
                static_cast<unsigned long long>(generations), stats_of(publish_us).p99);
  }
}

// -- 4: the placement actor ---------------------------------------------------------------

json::object pv_of(int i, uint64_t bytes) {
  auto node = node_name(i);
  json::object affinity{
    {"required",
     {{"nodeSelectorTerms",
       json::array{json::object{
         {"matchExpressions",
          json::array{json::object{{"key", "kubernetes.io/hostname"},
                                   {"operator", "In"},
                                   {"values", json::array{json::string{node}}}}}}}}}}}};
  auto name = "pvc-" + std::to_string(i);
  return json::object{
    {"apiVersion", "v1"},
    {"kind", "PersistentVolume"},
    {"metadata", {{"name", name}}},
    {"spec",
     {{"capacity", {{"storage", std::to_string(bytes)}}},
      {"claimRef", {{"namespace", "default"}, {"name", "claim-" + std::to_string(i)}}},
      {"csi",
       {{"driver", "local.csi.aliyun.com"},
        {"volumeHandle", name},
        {"volumeAttributes", {{"vgName", "pool0"}, {"volumeType", "LVM"}}}}},
      {"nodeAffinity", affinity},
      {"storageClassName", "open-local-lvm-pool0"}}},
    {"status", {{"phase", "Bound"}}}};
}

std::optional<uint64_t> pool0_charged(const kube::placement_snapshot& snap,
                                      const std::string& node) {
  auto it = snap.view->nodes.find(node);
  if (it == snap.view->nodes.end())
    return std::nullopt;
  for (auto& vg : it->second->vgs)
    if (vg.name == "pool0")
      return vg.charged;
  return std::nullopt;
}

void bench_actor(int nodes, int updates) {
  test::fake_apiserver api;
  api.put("storageclasses",
          storage_class("open-local-lvm-pool0", {{"volumeType", "LVM"}, {"vgName", "pool0"}}));
  for (int i = 0; i < nodes; ++i) {
    api.put("nodelocalstorages", nls_of(i));
    if (i % 10 == 0)
      api.put("persistentvolumes", pv_of(i, 10 * gib));
  }
  caf::actor_system_config cfg;
  caf::actor_system sys{cfg};
  kube::connection c;
  c.server = api.base_url();
  c.qps = 0;
  auto client = std::make_shared<kube::client>(c);
  auto reader = std::make_shared<kube::placement_reader>();
  kube::placement_options opts;
  auto rss_before = rss_kib();
  auto t0 = clock_type::now();
  auto actor = kube::spawn_placement(sys, client, reader, opts);
  while (!reader->current()->synced && ms_since(t0) < 120'000)
    std::this_thread::sleep_for(200us);
  double sync_ms = ms_since(t0);
  auto rss_after = rss_kib();
  size_t view_nodes = reader->current()->view->nodes.size();

  // PV size updates: write, then poll until a generation reflects it.
  std::vector<double> latency;
  int pvs = (nodes + 9) / 10;
  for (int k = 0; k < updates; ++k) {
    int i = (k % pvs) * 10;
    uint64_t bytes = (11 + k) * gib;
    auto node = node_name(i);
    auto w = clock_type::now();
    api.put("persistentvolumes", pv_of(i, bytes));
    for (;;) {
      auto snap = reader->current();
      if (auto charged = pool0_charged(*snap, node); charged && *charged == bytes)
        break;
      if (ms_since(w) > 10'000) {
        std::printf("  (update %d not seen within 10 s)\n", k);
        break;
      }
      std::this_thread::sleep_for(50us);
    }
    latency.push_back(ms_since(w));
  }
  auto s = stats_of(latency);
  std::printf("%6d %9zu %11.1f %9.1f %12ld | %7d %8.2f %8.2f %8.2f\n", nodes, view_nodes, sync_ms,
              (rss_after - rss_before) / 1024.0, (rss_after - rss_before) * 1024 / nodes, updates,
              s.p50, s.p99, s.max);
  caf::anon_send_exit(actor, caf::exit_reason::user_shutdown);
}

void bench_publish_copy(const placement::cluster_view& view) {
  std::vector<double> us;
  for (int k = 0; k < 500; ++k) {
    auto t0 = clock_type::now();
    auto next = std::make_shared<placement::cluster_view>();
    next->generation = view.generation + 1;
    next->nodes = view.nodes;
    auto snap = std::make_shared<const kube::placement_snapshot>(
      kube::placement_snapshot{std::move(next), nullptr, true});
    us.push_back(us_between(t0, clock_type::now()));
  }
  auto s = stats_of(us);
  std::printf("   copy of the node map (%zu node_ptrs) + new view: p50 %.1f us, p99 %.1f us, "
              "max %.1f us\n",
              view.nodes.size(), s.p50, s.p99, s.max);
}

} // namespace

int main(int argc, char** argv) {
  // Iterations per case of part 1/2 (a fifth of it at 5,000 nodes).
  int min_iterations = argc > 1 ? std::stoi(argv[1]) : 1000;
  std::setvbuf(stdout, nullptr, _IOLBF, 0);
  log::set_level(log::level::warn);
#if defined(__OPTIMIZE__)
  const char* build = "optimized build";
#else
  const char* build = "Debug -O0 build: numbers are several times what a release build gives";
#endif
#if defined(NDEBUG)
  const char* asserts = "assertions off";
#else
  const char* asserts = "assertions on";
#endif
  std::printf("bench_placement: %u cores (hardware_concurrency), %s, %s\n",
              std::thread::hardware_concurrency(), build, asserts);
  std::printf(
    "pod: 2 PVCs (50Gi with vgName pool0, 100Gi any group); nodes: 2-4 VGs, thin pools on\n"
    "1/4, 0-2 devices, random charges; 1/20 not reported. Times include ExtenderArgs\n"
    "parsing and answer serialization.\n\n");

  // Measured first, while the heap has not been grown by the other parts.
  auto rss_before_view = rss_kib();
  auto view5000 = view_of(5000);
  auto rss_after_view = rss_kib();

  auto idx = objects();
  std::printf(
    "1./2. One request, wall ms (CPU = thread CPU time of both, ms; KiB = request body)\n");
  std::printf("%-34s | %-23s | %-23s | %-23s | %-15s\n", "", "predicates", "priorities", "together",
              "together CPU");
  std::printf("%-9s %5s %4s %6s %5s | %7s %7s %7s | %7s %7s %7s | %7s %7s %7s | %7s %7s\n", "form",
              "nodes", "iter", "fail", "KiB", "p50", "p99", "max", "p50", "p99", "max", "p50",
              "p99", "max", "p50", "p99");
  std::shared_ptr<placement::cluster_view> view1000;
  for (int nodes : {100, 1000, 5000}) {
    auto view = nodes == 5000 ? view5000 : view_of(nodes);
    auto snap = snapshot_of(view, idx);
    bench_request("nodenames", nodes, body_with_names(nodes), *snap,
                  nodes >= 5000 ? std::max(1, min_iterations / 5) : min_iterations);
    if (nodes == 1000) {
      bench_request("NodeList", nodes, body_with_node_list(nodes), *snap, min_iterations);
      view1000 = view;
    }
  }

  bench_concurrency(view1000, idx, body_with_names(1000));

  std::printf("\n4. Placement actor against the fake API server (HTTP on loopback; PV per 10 "
              "nodes;\n   publish_interval %lld ms). Update = PUT of one PV's size, until a "
              "published generation has it.\n"
              "   RSS+ = memory growth from spawn to synced (informer caches + view).\n",
              static_cast<long long>(kube::placement_options{}.publish_interval.count()));
  std::printf("%6s %9s %11s %9s %12s | %7s %8s %8s %8s\n", "NLS", "in view", "sync ms", "RSS+ MiB",
              "RSS+ B/node", "updates", "p50 ms", "p99 ms", "max ms");
  bench_actor(1000, 200);
  bench_actor(5000, 200);
  {
    auto v = view_of(1000);
    bench_publish_copy(*v);
  }

  std::printf("\n5. Memory of the bare 5,000-node view (node_state values, no JSON)\n");
  std::printf("   RSS growth %ld KiB (%.0f B per node)\n", rss_after_view - rss_before_view,
              (rss_after_view - rss_before_view) * 1024.0 / 5000);
  bench_publish_copy(*view5000);
  return 0;
}
