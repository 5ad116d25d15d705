// Informer throughput and footprint against the fake API server on loopback:
// how long the first list of N pods takes to reach a synced cache, how fast
// watch events reach a subscriber, and the process's memory growth per
// cached object. Prints numbers; asserts nothing.
//
// usage: bench_kube [objects]   (default 5000)

#include "gateways/kube/client.hpp"
#include "gateways/kube/informer.hpp"
#include "tests/support/fake_apiserver.hpp"

#include <caf/all.hpp>

#include <boost/json.hpp>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <fstream>
#include <string>
#include <thread>

using namespace olocal;
using namespace std::chrono_literals;
namespace json = boost::json;

namespace {

json::object pod(int i, int generation) {
  return json::object{
    {"apiVersion", "v1"},
    {"kind", "Pod"},
    {"metadata",
     {{"name", "pod-" + std::to_string(i)},
      {"namespace", "bench"},
      {"labels", {{"app", "db"}, {"tier", std::to_string(i % 7)}}}}},
    {"spec",
     {{"nodeName", "node-" + std::to_string(i % 100)},
      {"priority", generation},
      {"volumes",
       json::array{{{"name", "data"}, {"persistentVolumeClaim", {{"claimName", "c"}}}}}}}},
    {"status", {{"phase", "Running"}}}};
}

long rss_kib() {
  std::ifstream in{"/proc/self/status"};
  std::string line;
  while (std::getline(in, line))
    if (line.rfind("VmRSS:", 0) == 0)
      return std::stol(line.substr(6));
  return 0;
}

double ms_since(std::chrono::steady_clock::time_point t) {
  return std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t).count();
}

} // namespace

int main(int argc, char** argv) {
  int n = argc > 1 ? std::stoi(argv[1]) : 5000;
  test::fake_apiserver api;
  for (int i = 0; i < n; ++i)
    api.put("pods", pod(i, 0));

  caf::actor_system_config cfg;
  caf::actor_system sys{cfg};
  kube::connection c;
  c.server = api.base_url();
  c.qps = 0;
  auto client = std::make_shared<kube::client>(c);

  auto rss_before = rss_kib();
  auto t0 = std::chrono::steady_clock::now();
  kube::informer_options opts;
  opts.kind = &kube::kinds::pod;
  opts.indexes["node"] = kube::index::pod_node;
  auto inf = kube::spawn_informer(sys, client, opts);
  {
    caf::scoped_actor self{sys};
    self->request(inf, 120s, kube::synced_atom::value).receive([](bool) {}, [](caf::error&) {});
  }
  auto sync_ms = ms_since(t0);
  auto rss_after = rss_kib();

  std::atomic<int> seen{0};
  auto sub = sys.spawn([&seen](caf::event_based_actor*) -> caf::behavior {
    return {[&seen](const kube::watch_event& ev) {
      if (ev.type == "MODIFIED")
        ++seen;
    }};
  });
  caf::anon_send(inf, kube::subscribe_atom::value, sub);
  api.wait_for_open_watches(1, 30s);
  auto t1 = std::chrono::steady_clock::now();
  for (int i = 0; i < n; ++i)
    api.put("pods", pod(i, 1));
  auto written_ms = ms_since(t1);
  while (seen.load() < n && ms_since(t1) < 120'000)
    std::this_thread::sleep_for(1ms);
  auto delivered_ms = ms_since(t1);

  std::printf("objects                     %d\n", n);
  std::printf("list to synced cache        %.1f ms (%.0f objects/s)\n", sync_ms,
              n / (sync_ms / 1000));
  std::printf("memory growth while syncing %ld KiB (%.2f KiB per object, JSON kept whole)\n",
              rss_after - rss_before, double(rss_after - rss_before) / n);
  std::printf("updates written by server   %.1f ms\n", written_ms);
  std::printf("updates seen by subscriber  %d in %.1f ms (%.0f events/s end to end)\n", seen.load(),
              delivered_ms, seen.load() / (delivered_ms / 1000));
  caf::anon_send_exit(inf, caf::exit_reason::user_shutdown);
  caf::anon_send_exit(sub, caf::exit_reason::user_shutdown);
  return 0;
}
