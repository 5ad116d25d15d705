// Volume-group actor on real LVM (run inside the VM harness):
//   bench_vg [volumes=100] [idle_seconds=60]
// 1. create latency (request to answer, LV active) p50/p99 over N linear LVs;
// 2. lvm processes started by the idle actor holding those N volumes during
//    idle_seconds with the default 60 s rescan interval;
// 3. delete latency p50/p99.
// Prints numbers only.

#include "actors/backends/lvm.hpp"
#include "actors/backends/process.hpp"
#include "actors/core/errc.hpp"
#include "actors/core/runtime.hpp"
#include "actors/node/lvm_runner.hpp"
#include "actors/node/vg_actor.hpp"

#include <boost/json/parse.hpp>
#include <caf/all.hpp>

#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <thread>

using namespace olocal;
using namespace std::chrono_literals;
using clock_type = std::chrono::steady_clock;

namespace {

bool sh(std::vector<std::string> argv, std::string* out = nullptr) {
  auto r = run_command({argv, 120s, {"DM_DISABLE_UDEV=1"}});
  if (!r || r->exit_code != 0) {
    std::fprintf(stderr, "failed: %s\n%s\n", render_argv(argv).c_str(),
                 r ? r->err.c_str() : render(r.error()).c_str());
    return false;
  }
  if (out)
    *out = r->out;
  return true;
}

double percentile(std::vector<double> v, double p) {
  std::sort(v.begin(), v.end());
  return v.empty() ? 0 : v[std::min(v.size() - 1, static_cast<size_t>(p * (v.size() - 1) + 0.5))];
}

uint64_t commands_run(caf::scoped_actor& self, const vg_actor& vg) {
  uint64_t n = 0;
  self->request(vg, 60s, inspect_atom::value)
    .receive(
      [&](actor_report& r) {
        n = boost::json::parse(r.state_json).as_object().at("commandsRun").to_number<uint64_t>();
      },
      [](caf::error&) {});
  return n;
}

} // namespace

int main(int argc, char** argv) {
  int volumes = argc > 1 ? std::atoi(argv[1]) : 100;
  int idle_seconds = argc > 2 ? std::atoi(argv[2]) : 60;
  std::string image = "/run/olocal-bench.img", vgname = "olocal_bench", loop;
  { std::ofstream{image}; }
  std::filesystem::resize_file(image, 8ull << 30);
  if (!sh({"losetup", "-f", "--show", image}, &loop))
    return 1;
  loop.erase(loop.find_last_not_of('\n') + 1);
  if (!sh(*lvm::pvcreate({loop})) || !sh(*lvm::vgcreate(vgname, {loop})))
    return 1;
  int rc = 0;
  {
    runtime rt{runtime_options{2}};
    auto vg = spawn_vg_actor(rt.system(), vgname, spawn_lvm_runner(rt.system()));
    caf::scoped_actor self{rt.system()};
    std::vector<double> create_ms, delete_ms;
    for (int i = 0; i < volumes && rc == 0; ++i) {
      auto start = clock_type::now();
      self->request(vg, 120s, create_lv_req{"local-" + std::to_string(i), 8u << 20})
        .receive([](lvm::lv_info&) {},
                 [&](caf::error& e) {
                   std::fprintf(stderr, "create failed: %s\n", render(e).c_str());
                   rc = 1;
                 });
      create_ms.push_back(
        std::chrono::duration<double, std::milli>(clock_type::now() - start).count());
    }
    auto before = commands_run(self, vg);
    std::this_thread::sleep_for(std::chrono::seconds{idle_seconds});
    auto idle = commands_run(self, vg) - before;
    for (int i = 0; i < volumes && rc == 0; ++i) {
      auto start = clock_type::now();
      self->request(vg, 120s, delete_lv_req{"local-" + std::to_string(i)})
        .receive([](bool) {}, [&](caf::error&) { rc = 1; });
      delete_ms.push_back(
        std::chrono::duration<double, std::milli>(clock_type::now() - start).count());
    }
    std::printf("volumes                         %d\n", volumes);
    std::printf("create latency p50 / p99        %.1f ms / %.1f ms\n", percentile(create_ms, 0.5),
                percentile(create_ms, 0.99));
    std::printf("delete latency p50 / p99        %.1f ms / %.1f ms\n", percentile(delete_ms, 0.5),
                percentile(delete_ms, 0.99));
    std::printf("idle lvm processes              %llu in %d s (%.2f per minute)\n",
                static_cast<unsigned long long>(idle), idle_seconds,
                idle * 60.0 / std::max(1, idle_seconds));
    caf::anon_send_exit(vg, caf::exit_reason::user_shutdown);
  }
  sh({"vgremove", "-ff", "-y", vgname});
  sh({"pvremove", "-ff", "-y", loop});
  sh({"losetup", "-d", loop});
  std::filesystem::remove(image);
  return rc;
}
