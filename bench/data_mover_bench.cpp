// Data mover throughput: copies N MiB with each engine (O_DIRECT on) and
// compares with dd doing the same copy over the same bytes.
//
//   bench_data_mover [DIR] [MIB]                     two files in DIR (default /var/tmp 256)
//   bench_data_mover --source DEV --destination DEV  two block devices
//   bench_data_mover --device DEV                    the two halves of one block device
//   options for the device forms: --mib N (default: all the destination
//   holds, at most 1024), --runs N (default 5)
//
// The device forms destroy the data on the devices: run them inside the VM
// harness on disks made for it (bench/vm_data_mover.sh). --device splits DEV
// into two device-mapper linear targets (the shape of two LVs of one PV).
//
// Rounds run every contestant once each; the median rate is printed with the
// range and the ratio to dd. dd runs through run_command (an argv, no shell).

#include "actors/backends/data_mover.hpp"
#include "actors/backends/process.hpp"

#include "actors/core/errc.hpp"

#include <fcntl.h>
#include <linux/fs.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <functional>
#include <memory>
#include <optional>
#include <random>
#include <string>
#include <string_view>
#include <vector>

namespace {

using olocal::mover_options;
using clock_type = std::chrono::steady_clock;
using namespace std::chrono_literals;

constexpr uint64_t mib_bytes = 1ull << 20;

/// Writes `mib` MiB of incompressible, never-zero-block data over the start of
/// `path` (created and truncated when it is a regular file), O_DIRECT where
/// the file system allows, then syncs.
bool fill(const std::string& path, uint64_t mib, bool create, uint64_t seed) {
  int base = O_WRONLY | O_CLOEXEC | (create ? O_CREAT | O_TRUNC : 0);
  int fd = ::open(path.c_str(), base | O_DIRECT, 0600);
  if (fd < 0 && errno == EINVAL)
    fd = ::open(path.c_str(), base, 0600);
  if (fd < 0)
    return false;
  void* raw = nullptr;
  if (::posix_memalign(&raw, 4096, mib_bytes) != 0) {
    ::close(fd);
    return false;
  }
  std::unique_ptr<uint64_t, decltype(&std::free)> block{static_cast<uint64_t*>(raw), &std::free};
  constexpr size_t words = mib_bytes / sizeof(uint64_t);
  std::mt19937_64 gen{seed};
  for (size_t i = 0; i < words; ++i)
    block.get()[i] = gen();
  bool ok = true;
  for (uint64_t m = 0; m < mib && ok; ++m) {
    // One random MiB, stamped per 4 KiB with its position: every block differs.
    for (size_t i = 0; i < words; i += 4096 / sizeof(uint64_t))
      block.get()[i] = (m << 20) + i * sizeof(uint64_t) + 1;
    ok = ::pwrite(fd, block.get(), mib_bytes, static_cast<off_t>(m * mib_bytes)) ==
         static_cast<ssize_t>(mib_bytes);
  }
  ok = ok && ::fsync(fd) == 0;
  ::close(fd);
  return ok;
}

/// Size of a block device or regular file, nullopt when unreadable.
std::optional<uint64_t> size_of(const std::string& path) {
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0)
    return std::nullopt;
  struct stat st {};
  std::optional<uint64_t> size;
  if (::fstat(fd, &st) == 0) {
    uint64_t bytes = 0;
    if (S_ISBLK(st.st_mode) && ::ioctl(fd, BLKGETSIZE64, &bytes) == 0)
      size = bytes;
    else if (S_ISREG(st.st_mode))
      size = static_cast<uint64_t>(st.st_size);
  }
  ::close(fd);
  return size;
}

/// The seconds dd reports for itself on stderr ("... copied, 0.318 s, 422
/// MB/s": from its start to after the sync, without the process start-up),
/// negative when absent.
double dd_own_seconds(const std::string& err) {
  auto at = err.rfind(" copied, ");
  if (at == std::string::npos)
    return -1;
  char* end = nullptr;
  double s = std::strtod(err.c_str() + at + 9, &end);
  return end != err.c_str() + at + 9 && s > 0 ? s : -1;
}

/// Runs argv to completion; returns the wall time in seconds, or a negative
/// value (after printing why) if it could not run or did not exit 0. With
/// `own`, dd's self-reported time goes there.
double run_program(const std::vector<std::string>& argv,
                   std::chrono::milliseconds timeout = std::chrono::hours{1},
                   double* own = nullptr) {
  auto started = clock_type::now();
  auto r = olocal::run_command({argv, timeout, {"LC_ALL=C", "DM_DISABLE_UDEV=1"}});
  auto seconds = std::chrono::duration<double>(clock_type::now() - started).count();
  if (!r) {
    std::fprintf(stderr, "%s: %s\n", olocal::render_argv(argv).c_str(),
                 olocal::render(r.error()).c_str());
    return -1;
  }
  if (r->exit_code != 0) {
    std::fprintf(stderr, "%s: exit %d%s: %s\n", olocal::render_argv(argv).c_str(), r->exit_code,
                 r->timed_out ? " (timed out)" : "", r->err.c_str());
    return -1;
  }
  if (own)
    *own = dd_own_seconds(r->err);
  return seconds;
}

double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v[v.size() / 2];
}

/// Two device-mapper linear targets over the halves of one device, removed
/// again on destruction.
struct device_halves {
  std::vector<std::string> names;

  bool create(const std::string& device, uint64_t device_bytes) {
    // Halves aligned to 1 MiB (in 512-byte sectors).
    uint64_t half = device_bytes / 2 / mib_bytes * mib_bytes / 512;
    auto tag = std::to_string(::getpid());
    for (int i = 0; i < 2; ++i) {
      auto name = "olocal-bench-" + tag + (i == 0 ? "-a" : "-b");
      auto table =
        "0 " + std::to_string(half) + " linear " + device + " " + std::to_string(i * half);
      if (run_program({"dmsetup", "create", name, "--table", table}, 60s) < 0)
        return false;
      names.push_back(name);
    }
    return true;
  }
  std::string path(size_t i) const { return "/dev/mapper/" + names.at(i); }

  ~device_halves() {
    for (auto& name : names)
      run_program({"dmsetup", "remove", name}, 60s);
  }
};

int usage(const char* self) {
  std::fprintf(stderr,
               "usage: %s [DIR] [MIB > 0]\n"
               "       %s --source DEV --destination DEV [--mib N] [--runs N]\n"
               "       %s --device DEV [--mib N] [--runs N]\n",
               self, self, self);
  return 2;
}

} // namespace

int main(int argc, char** argv) {
  std::vector<std::string_view> args(argv + 1, argv + argc);
  bool device_mode = !args.empty() && args[0].substr(0, 2) == "--";
  std::string base = "/var/tmp";
  std::string source_dev, destination_dev, single_dev;
  uint64_t mib = 0;
  int runs = 5;
  if (!device_mode) {
    if (args.size() > 2)
      return usage(argv[0]);
    if (!args.empty())
      base = std::string{args[0]};
    mib = args.size() > 1 ? std::strtoull(argv[2], nullptr, 10) : 256;
    if (mib == 0)
      return usage(argv[0]);
  } else {
    for (size_t i = 0; i < args.size(); i += 2) {
      if (i + 1 >= args.size())
        return usage(argv[0]);
      auto value = std::string{args[i + 1]};
      if (args[i] == "--source")
        source_dev = value;
      else if (args[i] == "--destination")
        destination_dev = value;
      else if (args[i] == "--device")
        single_dev = value;
      else if (args[i] == "--mib")
        mib = std::strtoull(value.c_str(), nullptr, 10);
      else if (args[i] == "--runs")
        runs = std::atoi(value.c_str());
      else
        return usage(argv[0]);
    }
    bool pair = !source_dev.empty() && !destination_dev.empty();
    if (pair == !single_dev.empty() || (!pair && !(source_dev.empty() && destination_dev.empty())))
      return usage(argv[0]);
    if (runs < 1)
      return usage(argv[0]);
  }

  // What is copied: src -> dst, `mib` MiB from offset 0 of each.
  std::string src, dst, where, tmpdir;
  device_halves halves;
  if (!device_mode) {
    std::string tmpl = base + "/olocal-mover-bench-XXXXXX";
    if (!::mkdtemp(tmpl.data())) {
      std::fprintf(stderr, "mkdtemp %s: %s\n", tmpl.c_str(), std::strerror(errno));
      return 1;
    }
    tmpdir = tmpl;
    src = tmpdir + "/a";
    dst = tmpdir + "/b";
    where = "two files in " + tmpdir;
  } else if (!single_dev.empty()) {
    auto size = size_of(single_dev);
    if (!size || *size < 2 * mib_bytes) {
      std::fprintf(stderr, "%s: not a readable device of at least 2 MiB\n", single_dev.c_str());
      return 1;
    }
    if (!halves.create(single_dev, *size))
      return 1;
    src = halves.path(0);
    dst = halves.path(1);
    where = "the two halves of " + single_dev + " (" + src + " -> " + dst + ")";
  } else {
    src = source_dev;
    dst = destination_dev;
    where = src + " -> " + dst;
  }
  if (device_mode) {
    auto s = size_of(src), d = size_of(dst);
    if (!s || !d) {
      std::fprintf(stderr, "cannot read the size of %s or %s\n", src.c_str(), dst.c_str());
      return 1;
    }
    uint64_t fits = std::min(*s, *d) / mib_bytes;
    if (mib == 0)
      mib = std::min<uint64_t>(fits, 1024);
    if (mib == 0 || mib > fits) {
      std::fprintf(stderr, "%llu MiB do not fit: %s holds %llu bytes, %s %llu\n",
                   static_cast<unsigned long long>(mib), src.c_str(),
                   static_cast<unsigned long long>(*s), dst.c_str(),
                   static_cast<unsigned long long>(*d));
      return 1;
    }
  }
  // The destination is fully written beforehand, as an LV would be: the copy
  // overwrites blocks instead of allocating them (in files and sparse images).
  auto fill_started = clock_type::now();
  if (!fill(src, mib, !device_mode, 42) || !fill(dst, mib, !device_mode, 7)) {
    std::fprintf(stderr, "cannot write %s or %s: %s\n", src.c_str(), dst.c_str(),
                 std::strerror(errno));
    if (!tmpdir.empty())
      std::filesystem::remove_all(tmpdir);
    return 1;
  }
  auto fill_seconds = std::chrono::duration<double>(clock_type::now() - fill_started).count();
  const uint64_t bytes = mib << 20;
  auto unavailable = olocal::io_uring_unavailable_reason();
  std::printf("data mover: %llu MiB, %s, %d interleaved rounds, median rate\n",
              static_cast<unsigned long long>(mib), where.c_str(), runs);
  std::printf("preparation: wrote 2 x %llu MiB in %.1f s (%.1f MiB/s)\n",
              static_cast<unsigned long long>(mib), fill_seconds,
              fill_seconds > 0 ? 2.0 * double(mib) / fill_seconds : 0.0);
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
  // dd overwriting the destination in place and syncing at the end, like the
  // mover: the reference for the ratio is the time dd reports for itself
  // (the mover's time does not include starting a process either; in the VM
  // an exec costs tens of milliseconds), the same run by the wall clock is
  // shown below it. For files also dd exactly as commonly written (it
  // truncates B, so its blocks are allocated again, and does not sync).
  const std::vector<std::string> dd_plain = {"dd",
                                             "if=" + src,
                                             "of=" + dst,
                                             "bs=1M",
                                             "iflag=direct",
                                             "oflag=direct",
                                             "count=" + std::to_string(mib)};
  auto dd_notrunc = dd_plain;
  dd_notrunc.push_back("conv=notrunc,fdatasync");
  const size_t reference = contestants.size();
  double dd_wall = -1;
  contestants.push_back({"dd direct notrunc", [&](bool& direct) {
                           direct = true;
                           double own = -1;
                           dd_wall = run_program(dd_notrunc, std::chrono::hours{1}, &own);
                           return dd_wall > 0 ? own : -1;
                         }});
  // Not a run of its own: the wall-clock time of the dd run just before.
  contestants.push_back({"  same, wall clock", [&](bool& direct) {
                           direct = true;
                           return dd_wall;
                         }});
  if (!device_mode)
    contestants.push_back({"dd direct (truncating)", [&](bool& direct) {
                             direct = true;
                             return run_program(dd_plain);
                           }});

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
  auto rate = [&](double seconds) { return double(mib) / seconds; };
  auto median_rate = [&](const contestant& c) {
    return c.seconds.empty() ? 0.0 : rate(median(c.seconds));
  };
  double ref_mibs = median_rate(contestants[reference]);
  std::printf("%-24s %8s %17s %7s %7s\n", "engine", "MiB/s", "(min .. max)", "direct", "vs dd");
  for (const auto& c : contestants) {
    if (c.seconds.empty()) {
      std::printf("%-24s failed\n", c.label.c_str());
      continue;
    }
    auto [fast, slow] = std::minmax_element(c.seconds.begin(), c.seconds.end());
    double mibs = median_rate(c);
    std::printf("%-24s %8.1f (%6.1f .. %6.1f) %7s %6.2fx\n", c.label.c_str(), mibs, rate(*slow),
                rate(*fast), c.direct ? "yes" : "no", ref_mibs > 0 ? mibs / ref_mibs : 0.0);
  }
  if (ref_mibs > 0) {
    const char* depths[] = {"qd1", "qd4", "qd16"};
    std::printf("ratio io_uring/dd:");
    for (size_t i = 0; i < 3; ++i)
      std::printf(" %s %.2f", depths[i], median_rate(contestants[i]) / ref_mibs);
    std::printf("\n");
  }
  if (!tmpdir.empty())
    std::filesystem::remove_all(tmpdir);
  return rc;
}
