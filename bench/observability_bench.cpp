// What the observability endpoints cost: an actor request round trip, and
// GET /admin/actors and /metrics over real HTTP with many registered actors.
// Prints numbers only; nothing is asserted.

#include "actors/core/inspect.hpp"
#include "actors/core/runtime.hpp"
#include "gateways/admin/observability.hpp"
#include "gateways/metrics/metrics.hpp"
#include "tests/support/http_client.hpp"

#include <benchmark/benchmark.h>
#include <caf/all.hpp>

using namespace olocal;

namespace {

caf::behavior idle(caf::event_based_actor* self) {
  return {[self](inspect_atom) { return make_report(self, "idle", "", "{\"ok\":true}"); }};
}

struct world {
  metrics::registry metrics;
  runtime rt{runtime_options{2}};
  std::unique_ptr<observability> obs;

  explicit world(int actors) {
    for (int i = 0; i < actors; ++i)
      rt.adopt(rt.system().spawn(idle), "volume/v" + std::to_string(i), "volume");
    observability_options opts;
    opts.port = 0;
    obs = std::move(*observability::start(rt.system(), rt.registry(), metrics, opts));
    obs->set_ready(true);
  }
  ~world() {
    obs->stop(std::chrono::seconds{1});
    rt.shutdown();
  }
};

void BM_inspect_round_trip(benchmark::State& state) {
  world w{1};
  caf::scoped_actor self{w.rt.system()};
  for (auto _ : state) {
    self->request(w.rt.registry(), caf::infinite, inspect_atom::value)
      .receive([](actor_report& r) { benchmark::DoNotOptimize(r); }, [](caf::error&) {});
  }
}
BENCHMARK(BM_inspect_round_trip)->UseRealTime();

void BM_http_admin_actors(benchmark::State& state) {
  world w{static_cast<int>(state.range(0))};
  for (auto _ : state) {
    auto reply = test::http_get(w.obs->port(), "/admin/actors");
    if (reply.status != 200)
      state.SkipWithError("admin endpoint failed");
    benchmark::DoNotOptimize(reply);
  }
  state.counters["actors"] = static_cast<double>(state.range(0));
}
BENCHMARK(BM_http_admin_actors)
  ->Arg(10)
  ->Arg(100)
  ->Arg(1000)
  ->UseRealTime()
  ->Unit(benchmark::kMicrosecond);

void BM_http_metrics(benchmark::State& state) {
  world w{100};
  for (auto _ : state) {
    auto reply = test::http_get(w.obs->port(), "/metrics");
    if (reply.status != 200)
      state.SkipWithError("metrics endpoint failed");
    benchmark::DoNotOptimize(reply);
  }
}
BENCHMARK(BM_http_metrics)->UseRealTime()->Unit(benchmark::kMicrosecond);

void BM_http_healthz(benchmark::State& state) {
  world w{0};
  for (auto _ : state) {
    auto reply = test::http_get(w.obs->port(), "/healthz");
    benchmark::DoNotOptimize(reply);
  }
}
BENCHMARK(BM_http_healthz)->UseRealTime()->Unit(benchmark::kMicrosecond);

} // namespace

BENCHMARK_MAIN();
