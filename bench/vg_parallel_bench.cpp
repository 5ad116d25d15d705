// Concurrent creates across volume groups on real LVM (run inside the VM):
//   bench_vg_parallel [volumes=100] [groups=4]
// Sends all creates at once, spread round-robin over the groups, and prints
// the wall time against the sum of per-request latencies: with per-VG
// serialization and cross-VG parallelism, wall time approaches the slowest
// group's share, not the sum. Prints numbers only.

#include "actors/backends/lvm.hpp"
#include "actors/backends/process.hpp"
#include "actors/core/errc.hpp"
#include "actors/core/runtime.hpp"
#include "actors/node/lvm_runner.hpp"
#include "actors/node/vg_actor.hpp"

#include <caf/all.hpp>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <future>
#include <map>

using namespace olocal;
using namespace std::chrono_literals;
using clock_type = std::chrono::steady_clock;

namespace {

std::string sh(std::vector<std::string> argv) {
  auto r = run_command({argv, 120s, {"DM_DISABLE_UDEV=1"}});
  if (!r || r->exit_code != 0)
    std::fprintf(stderr, "failed: %s\n", render_argv(argv).c_str());
  return r ? r->out : std::string{};
}

} // namespace

int main(int argc, char** argv) {
  int volumes = argc > 1 ? std::atoi(argv[1]) : 100;
  int groups = argc > 2 ? std::atoi(argv[2]) : 4;
  std::vector<std::string> names, loops, images;
  for (int g = 0; g < groups; ++g) {
    auto image = "/run/olocal-par" + std::to_string(g) + ".img";
    { std::ofstream{image}; }
    std::filesystem::resize_file(image, 2ull << 30);
    auto loop = sh({"losetup", "-f", "--show", image});
    loop.erase(loop.find_last_not_of('\n') + 1);
    auto vg = "olocal_par" + std::to_string(g);
    sh(*lvm::pvcreate({loop}));
    sh(*lvm::vgcreate(vg, {loop}));
    names.push_back(vg);
    loops.push_back(loop);
    images.push_back(image);
  }
  int failures = 0;
  {
    runtime rt{runtime_options{2}};
    std::vector<vg_actor> vgs;
    for (auto& n : names) {
      vgs.push_back(spawn_vg_actor(rt.system(), n, spawn_lvm_runner(rt.system())));
      caf::scoped_actor self{rt.system()};
      self->request(vgs.back(), 60s, get_atom::value).receive([](vg_view&) {}, [](caf::error&) {});
    }
    caf::scoped_actor self{rt.system()};
    std::map<int, double> group_last_ms;
    double sum_ms = 0;
    auto start = clock_type::now();
    for (int i = 0; i < volumes; ++i)
      self
        ->request(vgs[static_cast<size_t>(i % groups)], 600s,
                  create_lv_req{"local-" + std::to_string(i), 8u << 20})
        .receive([&](lvm::lv_info&) {},
                 [&](caf::error& e) {
                   std::fprintf(stderr, "create failed: %s\n", render(e).c_str());
                   ++failures;
                 });
    // The loop above waits for each answer in turn: measure the sequential
    // baseline first, then the concurrent run on fresh names.
    double sequential_ms =
      std::chrono::duration<double, std::milli>(clock_type::now() - start).count();
    start = clock_type::now();
    std::promise<void> all_done;
    auto done = all_done.get_future();
    rt.system().spawn([&](caf::event_based_actor* client) {
      auto pending = std::make_shared<int>(volumes);
      for (int i = 0; i < volumes; ++i) {
        auto g = i % groups;
        auto sent = clock_type::now();
        auto finished = [&, g, sent, pending] {
          auto now = clock_type::now();
          sum_ms += std::chrono::duration<double, std::milli>(now - sent).count();
          group_last_ms[g] = std::chrono::duration<double, std::milli>(now - start).count();
          if (--*pending == 0)
            all_done.set_value();
        };
        client
          ->request(vgs[static_cast<size_t>(g)], 600s,
                    create_lv_req{"local-p" + std::to_string(i), 8u << 20})
          .then([finished](lvm::lv_info&) { finished(); },
                [&failures, finished](caf::error& e) {
                  std::fprintf(stderr, "create failed: %s\n", render(e).c_str());
                  ++failures;
                  finished();
                });
      }
    });
    done.wait();
    double concurrent_ms =
      std::chrono::duration<double, std::milli>(clock_type::now() - start).count();
    std::printf("groups                          %d\n", groups);
    std::printf("creates                         %d sequential, then %d concurrent\n", volumes,
                volumes);
    std::printf("sequential wall time            %.0f ms (%.0f ms per create)\n", sequential_ms,
                sequential_ms / volumes);
    std::printf("concurrent wall time            %.0f ms (speed-up %.2fx)\n", concurrent_ms,
                sequential_ms / concurrent_ms);
    std::printf("sum of concurrent latencies     %.0f ms\n", sum_ms);
    for (auto& [g, ms] : group_last_ms)
      std::printf("  group %d finished at           %.0f ms\n", g, ms);
    std::printf("failures                        %d\n", failures);
    for (auto& vg : vgs)
      caf::anon_send_exit(vg, caf::exit_reason::user_shutdown);
  }
  for (int g = 0; g < groups; ++g) {
    sh({"vgremove", "-ff", "-y", names[static_cast<size_t>(g)]});
    sh({"pvremove", "-ff", "-y", loops[static_cast<size_t>(g)]});
    sh({"losetup", "-d", loops[static_cast<size_t>(g)]});
    std::filesystem::remove(images[static_cast<size_t>(g)]);
  }
  return failures == 0 ? 0 : 1;
}
