// Data mover throughput: copies N MiB between two files of one directory with
// each engine (O_DIRECT on) and compares with dd doing the same copy.
//
//   bench_data_mover [DIR] [MIB]      defaults: /var/tmp 256
//
// Five rounds run every contestant once each; the median rate is printed with
// the range. dd runs through fork/exec with an argv (no shell).

#include "actors/backends/data_mover.hpp"

#include "actors/core/errc.hpp"

#include <fcntl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <functional>
#include <random>
#include <string>
#include <vector>

namespace {

using olocal::mover_options;
using clock_type = std::chrono::steady_clock;

constexpr int runs = 5;

bool write_source(const std::string& path, uint64_t mib, bool random) {
  int fd = ::open(path.c_str(), O_CREAT | O_TRUNC | O_WRONLY | O_CLOEXEC, 0600);
  if (fd < 0)
    return false;
  std::vector<uint64_t> block((1 << 20) / sizeof(uint64_t));
  std::mt19937_64 gen{42};
  bool ok = true;
  for (uint64_t i = 0; i < mib && ok; ++i) {
    if (random)
      for (auto& v : block)
        v = gen();
    ok = ::write(fd, block.data(), 1 << 20) == (1 << 20);
  }
  ok = ok && ::fsync(fd) == 0;
  ::close(fd);
  return ok;
}

/// Runs argv with stdout and stderr discarded; returns the wall time in
/// seconds, or a negative value if it did not exit 0.
double run_program(const std::vector<std::string>& args) {
  std::vector<char*> argv;
  for (const auto& a : args)
    argv.push_back(const_cast<char*>(a.c_str()));
  argv.push_back(nullptr);
  auto started = clock_type::now();
  pid_t pid = ::fork();
  if (pid < 0)
    return -1;
  if (pid == 0) {
    int null = ::open("/dev/null", O_WRONLY);
    if (null >= 0) {
      ::dup2(null, STDOUT_FILENO);
      ::dup2(null, STDERR_FILENO);
    }
    ::execvp(argv[0], argv.data());
    ::_exit(127);
  }
  int status = 0;
  if (::waitpid(pid, &status, 0) != pid || !WIFEXITED(status) || WEXITSTATUS(status) != 0)
    return -1;
  return std::chrono::duration<double>(clock_type::now() - started).count();
}

double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v[v.size() / 2];
}

} // namespace

int main(int argc, char** argv) {
  std::string base = argc > 1 ? argv[1] : "/var/tmp";
  uint64_t mib = argc > 2 ? std::strtoull(argv[2], nullptr, 10) : 256;
  if (mib == 0) {
    std::fprintf(stderr, "usage: %s [DIR] [MIB > 0]\n", argv[0]);
    return 2;
  }
  std::string tmpl = base + "/olocal-mover-bench-XXXXXX";
  if (!::mkdtemp(tmpl.data())) {
    std::fprintf(stderr, "mkdtemp %s: %s\n", tmpl.c_str(), std::strerror(errno));
    return 1;
  }
  const std::string dir = tmpl;
  const std::string src = dir + "/a";
  const std::string dst = dir + "/b";
  // The destination is fully written beforehand, as an LV would be: the copy
  // overwrites blocks instead of allocating them.
  if (!write_source(src, mib, true) || !write_source(dst, mib, false)) {
    std::fprintf(stderr, "cannot write %s: %s\n", dir.c_str(), std::strerror(errno));
    std::filesystem::remove_all(dir);
    return 1;
  }
  const uint64_t bytes = mib << 20;
  auto unavailable = olocal::io_uring_unavailable_reason();
  std::printf("data mover: %llu MiB in %s, %d interleaved rounds, median rate\n",
              static_cast<unsigned long long>(mib), dir.c_str(), runs);
  if (!unavailable.empty())
    std::printf("io_uring unavailable: %s\n", unavailable.c_str());

  // One contestant per line of output. Rounds interleave them (every
  // contestant once per round) so that drift of a shared disk hits all alike.
  struct contestant {
    std::string label;
    std::function<double(bool& direct)> run; ///< seconds, < 0 on failure
    std::vector<double> seconds;
    bool direct = false;
  };
  std::vector<contestant> contestants;
  auto mover = [&](std::string label, olocal::mover_engine engine, unsigned depth) {
    contestants.push_back({std::move(label), [&, engine, depth](bool& direct) {
                             mover_options opts;
                             opts.engine = engine;
                             opts.queue_depth = depth;
                             opts.direct = true;
                             auto r = olocal::copy_range(src, dst, bytes, opts);
                             if (!r) {
                               std::fprintf(stderr, "%s\n", olocal::render(r.error()).c_str());
                               return -1.0;
                             }
                             direct = r->direct;
                             return std::chrono::duration<double>(r->elapsed).count();
                           }});
  };
  mover("io_uring qd1", mover_options::engine::io_uring, 1);
  mover("io_uring qd4 (default)", mover_options::engine::io_uring, 4);
  mover("io_uring qd16", mover_options::engine::io_uring, 16);
  mover("pread", mover_options::engine::pread, 1);
  // dd overwriting B in place and syncing at the end, like the mover (the
  // reference for the ratio), and dd exactly as commonly written (it
  // truncates B, so its blocks are allocated again, and does not sync).
  const std::vector<std::string> dd_plain = {"dd",    "if=" + src,    "of=" + dst,
                                             "bs=1M", "iflag=direct", "oflag=direct"};
  auto dd_notrunc = dd_plain;
  dd_notrunc.push_back("conv=notrunc,fdatasync");
  contestants.push_back({"dd direct notrunc", [&](bool& direct) {
                           direct = true;
                           return run_program(dd_notrunc);
                         }});
  contestants.push_back({"dd direct (truncating)", [&](bool& direct) {
                           direct = true;
                           return run_program(dd_plain);
                         }});
  const size_t reference = contestants.size() - 2;

  int rc = 0;
  for (int round = 0; round < runs; ++round)
    for (auto& c : contestants) {
      double s = c.run(c.direct);
      if (s <= 0) {
        std::fprintf(stderr, "%s failed\n", c.label.c_str());
        rc = 1;
        continue;
      }
      c.seconds.push_back(s);
    }
  auto rate = [&](const std::vector<double>& seconds, double pick) {
    return seconds.empty() ? 0.0 : double(mib) / pick;
  };
  double ref_mibs =
    contestants[reference].seconds.empty()
      ? 0.0
      : rate(contestants[reference].seconds, median(contestants[reference].seconds));
  std::printf("%-24s %8s %17s %7s %7s\n", "engine", "MiB/s", "(min .. max)", "direct", "vs dd");
  for (const auto& c : contestants) {
    if (c.seconds.empty()) {
      std::printf("%-24s failed\n", c.label.c_str());
      continue;
    }
    auto [fast, slow] = std::minmax_element(c.seconds.begin(), c.seconds.end());
    double mibs = rate(c.seconds, median(c.seconds));
    std::printf("%-24s %8.1f (%6.1f .. %6.1f) %7s %6.2fx\n", c.label.c_str(), mibs,
                rate(c.seconds, *slow), rate(c.seconds, *fast), c.direct ? "yes" : "no",
                ref_mibs > 0 ? mibs / ref_mibs : 0.0);
  }
  std::filesystem::remove_all(dir);
  return rc;
}
