#include "actors/backends/data_mover.hpp"

#include "actors/core/errc.hpp"

#include <caf/binary_deserializer.hpp>
#include <caf/binary_serializer.hpp>
#include <caf/deep_to_string.hpp>

#include <gtest/gtest.h>

#include <fcntl.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <sched.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <csignal>
#include <cstddef>
#include <cstring>
#include <fstream>
#include <functional>
#include <random>
#include <stdexcept>
#include <string>
#include <vector>

using namespace olocal;
namespace fs = std::filesystem;
using engine = mover_engine;

namespace olocal {

std::string engine_name(engine e) {
  switch (e) {
  case engine::io_uring:
    return "io_uring";
  case engine::pread:
    return "pread";
  default:
    return "automatic";
  }
}

/// Readable test parameters in gtest's output (found by ADL).
void PrintTo(engine e, std::ostream* os) {
  *os << engine_name(e);
}

} // namespace olocal

namespace {

constexpr uint64_t mib = 1 << 20;

/// A directory under `base`, removed with everything in it.
class temp_dir {
public:
  explicit temp_dir(const std::string& base) {
    std::string tmpl = base + "/olocal-datamover-XXXXXX";
    if (::mkdtemp(tmpl.data()))
      path_ = tmpl;
  }
  ~temp_dir() {
    if (!path_.empty()) {
      std::error_code ec;
      fs::remove_all(path_, ec);
    }
  }
  temp_dir(const temp_dir&) = delete;
  temp_dir& operator=(const temp_dir&) = delete;

  bool ok() const { return !path_.empty(); }
  std::string file(const std::string& name) const { return path_ + "/" + name; }
  const std::string& path() const { return path_; }

private:
  std::string path_;
};

std::string random_bytes(uint64_t size, uint64_t seed) {
  std::mt19937_64 gen{seed};
  std::string data(size, '\0');
  uint64_t i = 0;
  for (; i + 8 <= size; i += 8) {
    uint64_t v = gen();
    std::memcpy(data.data() + i, &v, 8);
  }
  for (; i < size; ++i)
    data[i] = static_cast<char>(gen());
  return data;
}

void write_file(const std::string& path, const std::string& data) {
  std::ofstream out{path, std::ios::binary | std::ios::trunc};
  out.write(data.data(), static_cast<std::streamsize>(data.size()));
  ASSERT_TRUE(out.good()) << path;
}

std::string read_file(const std::string& path) {
  std::ifstream in{path, std::ios::binary};
  return {std::istreambuf_iterator<char>{in}, std::istreambuf_iterator<char>{}};
}

/// FNV-1a, 64 bits: the content hash the copies are compared by.
uint64_t content_hash(std::string_view data) {
  uint64_t h = 14695981039346656037ull;
  for (unsigned char c : data) {
    h ^= c;
    h *= 1099511628211ull;
  }
  return h;
}

bool supports_direct(const std::string& dir) {
  auto probe = dir + "/.direct-probe";
  int fd = ::open(probe.c_str(), O_CREAT | O_WRONLY | O_DIRECT | O_CLOEXEC, 0600);
  if (fd >= 0)
    ::close(fd);
  ::unlink(probe.c_str());
  return fd >= 0;
}

bool io_uring_here() {
  return io_uring_unavailable_reason().empty();
}

mover_options options(engine e, unsigned depth = 4, size_t block = mib) {
  mover_options opts;
  opts.engine = e;
  opts.queue_depth = depth;
  opts.block_bytes = block;
  return opts;
}

/// Runs `body` in a forked child (for process-wide changes such as seccomp
/// filters and namespaces). Returns its exit code; `message` receives what it
/// wrote to `out`.
int run_in_child(const std::function<int(std::string& out)>& body, std::string& message) {
  int fds[2];
  if (::pipe(fds) != 0)
    return -1;
  pid_t pid = ::fork();
  if (pid == 0) {
    ::close(fds[0]);
    std::string out;
    int code = body(out);
    auto n = ::write(fds[1], out.data(), out.size());
    (void) n;
    ::_exit(code);
  }
  ::close(fds[1]);
  char buf[4096];
  ssize_t n;
  while ((n = ::read(fds[0], buf, sizeof buf)) > 0)
    message.append(buf, static_cast<size_t>(n));
  ::close(fds[0]);
  int status = 0;
  ::waitpid(pid, &status, 0);
  return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

constexpr int child_skip = 77;

// -- copy correctness ------------------------------------------------------------

struct copy_case {
  uint64_t size;
  engine eng;
  unsigned depth;
  size_t block;
};

std::string case_name(const testing::TestParamInfo<copy_case>& info) {
  const auto& c = info.param;
  std::string size = c.size % mib == 0 && c.size > 0 ? std::to_string(c.size / mib) + "MiB"
                     : c.size > mib                  ? "1MiB_plus_" + std::to_string(c.size - mib)
                                                     : std::to_string(c.size) + "B";
  return engine_name(c.eng) + "_qd" + std::to_string(c.depth) + "_blk" +
         std::to_string(c.block / 1024) + "k_" + size;
}

std::vector<copy_case> copy_cases() {
  std::vector<copy_case> cases;
  for (uint64_t size :
       {uint64_t{0}, uint64_t{1}, uint64_t{511}, uint64_t{4096}, mib, mib + 123, 37 * mib}) {
    cases.push_back({size, engine::io_uring, 1, mib});
    cases.push_back({size, engine::io_uring, 8, 256 * 1024});
    cases.push_back({size, engine::pread, 1, mib});
    cases.push_back({size, engine::pread, 8, 256 * 1024});
    cases.push_back({size, engine::automatic, 4, mib});
  }
  return cases;
}

void PrintTo(const copy_case& c, std::ostream* os) {
  *os << engine_name(c.eng) << " qd" << c.depth << " block " << c.block << " size " << c.size;
}

class copy_test : public testing::TestWithParam<copy_case> {};

/// Copies random data of the case's size and compares by content hash; the
/// destination is larger than the range and its rest must stay untouched.
void check_copy(const std::string& dir, const copy_case& c, bool direct) {
  temp_dir tmp{dir};
  ASSERT_TRUE(tmp.ok()) << dir;
  auto src = tmp.file("src");
  auto dst = tmp.file("dst");
  auto data = random_bytes(c.size, c.size * 31 + c.depth);
  write_file(src, data);
  constexpr uint64_t slack = 8192 + 7;
  write_file(dst, std::string(c.size + slack, '\xAA'));

  auto opts = options(c.eng, c.depth, c.block);
  opts.direct = direct;
  std::vector<uint64_t> seen;
  opts.progress = [&](uint64_t done, uint64_t total) {
    EXPECT_EQ(total, c.size);
    seen.push_back(done);
  };
  auto r = copy_range(src, dst, c.size, opts);
  ASSERT_TRUE(r) << render(r.error());
  EXPECT_EQ(r->bytes, c.size);
  EXPECT_EQ(r->direct, direct && supports_direct(tmp.path()));
  if (c.eng == engine::pread) {
    EXPECT_EQ(r->engine, "pread");
    EXPECT_EQ(r->fallback_reason, "engine pread requested");
  } else if (c.eng == engine::io_uring || io_uring_here()) {
    EXPECT_EQ(r->engine, "io_uring");
    EXPECT_EQ(r->fallback_reason, "");
  } else {
    EXPECT_EQ(r->engine, "pread");
    EXPECT_NE(r->fallback_reason, "");
  }
  EXPECT_TRUE(std::is_sorted(seen.begin(), seen.end()));
  if (c.size > 0) {
    ASSERT_FALSE(seen.empty());
    EXPECT_EQ(seen.back(), c.size);
  }

  auto out = read_file(dst);
  ASSERT_EQ(out.size(), c.size + slack);
  EXPECT_EQ(content_hash(std::string_view{out}.substr(0, c.size)), content_hash(data));
  EXPECT_EQ(out.substr(c.size), std::string(slack, '\xAA'));
}

TEST_P(copy_test, copies_exactly_the_range_on_a_disk_file_system) {
  if (GetParam().eng == engine::io_uring && !io_uring_here())
    GTEST_SKIP() << "io_uring unavailable: " << io_uring_unavailable_reason();
  check_copy("/var/tmp", GetParam(), true);
}

INSTANTIATE_TEST_SUITE_P(data_mover, copy_test, testing::ValuesIn(copy_cases()), case_name);

TEST(data_mover, copy_without_direct_reports_buffered) {
  check_copy("/var/tmp", {mib + 123, engine::automatic, 4, 64 * 1024}, false);
}

TEST(data_mover, copy_on_tmpfs_reports_whether_direct_was_in_effect) {
  // tmpfs refused O_DIRECT before Linux 6.6 (the mover then falls back to
  // buffered I/O and reports direct = false); later kernels accept it.
  if (!fs::is_directory("/dev/shm"))
    GTEST_SKIP() << "no /dev/shm";
  for (uint64_t size : {uint64_t{511}, mib + 123, 4 * mib + 4096}) {
    check_copy("/dev/shm", {size, engine::automatic, 4, 256 * 1024}, true);
    check_copy("/dev/shm", {size, engine::pread, 1, 256 * 1024}, true);
  }
}

TEST(data_mover, file_system_refusing_o_direct_falls_back_to_buffered_io) {
  // ramfs refuses O_DIRECT with EINVAL on every kernel. Mounting one needs a
  // private user and mount namespace, so this runs in a child and is skipped
  // where unprivileged user namespaces are disabled.
  temp_dir tmp{"/var/tmp"};
  ASSERT_TRUE(tmp.ok());
  auto mount_point = tmp.file("ramfs");
  ASSERT_TRUE(fs::create_directory(mount_point));
  std::string message;
  int code = run_in_child(
    [&](std::string& out) {
      uid_t uid = ::getuid();
      gid_t gid = ::getgid();
      if (::unshare(CLONE_NEWUSER | CLONE_NEWNS) != 0) {
        out = std::string{"unshare: "} + std::strerror(errno);
        return child_skip;
      }
      auto put = [](const char* file, const std::string& text) {
        std::ofstream f{file};
        f << text;
        f.flush();
        return f.good();
      };
      if (!put("/proc/self/setgroups", "deny") ||
          !put("/proc/self/uid_map", "0 " + std::to_string(uid) + " 1\n") ||
          !put("/proc/self/gid_map", "0 " + std::to_string(gid) + " 1\n")) {
        out = "cannot write the id maps";
        return child_skip;
      }
      if (::mount("none", mount_point.c_str(), "ramfs", 0, nullptr) != 0) {
        out = std::string{"mount ramfs: "} + std::strerror(errno);
        return child_skip;
      }
      if (supports_direct(mount_point)) {
        out = "ramfs accepts O_DIRECT here";
        return child_skip;
      }
      auto data = random_bytes(mib + 123, 7);
      {
        std::ofstream f{mount_point + "/src", std::ios::binary};
        f.write(data.data(), static_cast<std::streamsize>(data.size()));
        std::ofstream g{mount_point + "/dst", std::ios::binary};
        g << std::string(data.size(), '\0');
      }
      for (auto e : {engine::automatic, engine::pread}) {
        auto r = copy_range(mount_point + "/src", mount_point + "/dst", data.size(),
                            options(e, 4, 256 * 1024));
        if (!r) {
          out = render(r.error());
          return 1;
        }
        if (r->direct) {
          out = "reported direct = true";
          return 1;
        }
        if (content_hash(read_file(mount_point + "/dst")) != content_hash(data)) {
          out = "content differs";
          return 1;
        }
      }
      return 0;
    },
    message);
  if (code == child_skip)
    GTEST_SKIP() << message;
  EXPECT_EQ(code, 0) << message;
}

// -- engine selection under seccomp -------------------------------------------------

/// Makes io_uring_setup fail with `err` in this process, as a container's
/// seccomp profile does.
bool refuse_io_uring(int err) {
  sock_filter filter[] = {
    BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(seccomp_data, nr)),
    BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, __NR_io_uring_setup, 0, 1),
    BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ERRNO | static_cast<unsigned>(err)),
    BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
  };
  sock_fprog prog{static_cast<unsigned short>(std::size(filter)), filter};
  return ::prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) == 0 &&
         ::prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, &prog) == 0;
}

class seccomp_test : public testing::TestWithParam<int> {};

TEST_P(seccomp_test, automatic_falls_back_to_pread_and_says_why) {
  temp_dir tmp{"/var/tmp"};
  ASSERT_TRUE(tmp.ok());
  auto data = random_bytes(3 * mib + 5, 11);
  write_file(tmp.file("src"), data);
  write_file(tmp.file("dst"), std::string(data.size(), '\0'));
  int err = GetParam();
  std::string message;
  int code = run_in_child(
    [&](std::string& out) {
      if (!refuse_io_uring(err)) {
        out = std::string{"seccomp: "} + std::strerror(errno);
        return child_skip;
      }
      auto reason = io_uring_unavailable_reason();
      auto expected_reason = std::string{"io_uring_queue_init: "} + std::strerror(err);
      if (reason != expected_reason) {
        out = "unavailable reason: '" + reason + "'";
        return 1;
      }
      auto r =
        copy_range(tmp.file("src"), tmp.file("dst"), data.size(), options(engine::automatic));
      if (!r) {
        out = render(r.error());
        return 1;
      }
      if (r->engine != "pread" || r->fallback_reason != expected_reason) {
        out = "engine " + r->engine + ", reason '" + r->fallback_reason + "'";
        return 1;
      }
      if (content_hash(read_file(tmp.file("dst"))) != content_hash(data)) {
        out = "content differs";
        return 1;
      }
      auto forced =
        copy_range(tmp.file("src"), tmp.file("dst"), data.size(), options(engine::io_uring));
      if (forced || code_of(forced.error()) != errc::unimplemented ||
          render(forced.error()).find(expected_reason) == std::string::npos) {
        out = forced ? "forced io_uring ran" : render(forced.error());
        return 1;
      }
      auto wipe = secure_wipe(tmp.file("dst"), data.size(), tmp.path(), options(engine::automatic));
      if (!wipe || *wipe != "zero_fill:pread") {
        out = wipe ? *wipe : render(wipe.error());
        return 1;
      }
      return 0;
    },
    message);
  if (code == child_skip)
    GTEST_SKIP() << message;
  EXPECT_EQ(code, 0) << message;
}

INSTANTIATE_TEST_SUITE_P(data_mover, seccomp_test, testing::Values(ENOSYS, EPERM),
                         [](const testing::TestParamInfo<int>& info) {
                           return info.param == ENOSYS ? std::string{"enosys"}
                                                       : std::string{"eperm"};
                         });

// -- refusals and errors ------------------------------------------------------------

class engine_test : public testing::TestWithParam<engine> {
protected:
  void SetUp() override {
    if (GetParam() == engine::io_uring && !io_uring_here())
      GTEST_SKIP() << "io_uring unavailable: " << io_uring_unavailable_reason();
    ASSERT_TRUE(tmp_.ok());
  }
  temp_dir tmp_{"/var/tmp"};
};

INSTANTIATE_TEST_SUITE_P(data_mover, engine_test,
                         testing::Values(engine::io_uring, engine::pread, engine::automatic),
                         [](const testing::TestParamInfo<engine>& info) {
                           return engine_name(info.param);
                         });

TEST_P(engine_test, destination_too_small_is_out_of_range_naming_both_sizes) {
  write_file(tmp_.file("src"), random_bytes(8192, 1));
  write_file(tmp_.file("dst"), std::string(4096, '\0'));
  auto r = copy_range(tmp_.file("src"), tmp_.file("dst"), 8192, options(GetParam()));
  ASSERT_FALSE(r);
  EXPECT_EQ(code_of(r.error()), errc::out_of_range);
  auto text = render(r.error());
  EXPECT_NE(text.find("source " + tmp_.file("src") + " holds 8192 bytes"), std::string::npos)
    << text;
  EXPECT_NE(text.find("destination " + tmp_.file("dst") + " holds 4096 bytes"), std::string::npos)
    << text;
  EXPECT_EQ(read_file(tmp_.file("dst")), std::string(4096, '\0')); // untouched
}

TEST_P(engine_test, source_too_small_is_out_of_range) {
  write_file(tmp_.file("src"), random_bytes(100, 1));
  write_file(tmp_.file("dst"), std::string(8192, '\0'));
  auto r = copy_range(tmp_.file("src"), tmp_.file("dst"), 101, options(GetParam()));
  ASSERT_FALSE(r);
  EXPECT_EQ(code_of(r.error()), errc::out_of_range);
}

TEST_P(engine_test, missing_source_or_destination_is_not_found_naming_it) {
  write_file(tmp_.file("dst"), std::string(4096, '\0'));
  auto r = copy_range(tmp_.file("nope"), tmp_.file("dst"), 10, options(GetParam()));
  ASSERT_FALSE(r);
  EXPECT_EQ(code_of(r.error()), errc::not_found);
  EXPECT_NE(render(r.error()).find("source " + tmp_.file("nope") + ": open: No such file"),
            std::string::npos)
    << render(r.error());

  write_file(tmp_.file("src"), std::string(4096, '\0'));
  r = copy_range(tmp_.file("src"), tmp_.file("gone"), 10, options(GetParam()));
  ASSERT_FALSE(r);
  EXPECT_EQ(code_of(r.error()), errc::not_found);
  EXPECT_NE(render(r.error()).find("destination " + tmp_.file("gone")), std::string::npos);
  EXPECT_FALSE(fs::exists(tmp_.file("gone"))); // never created
}

TEST_P(engine_test, directory_and_bad_options_are_invalid_arguments) {
  write_file(tmp_.file("dst"), std::string(4096, '\0'));
  auto r = copy_range(tmp_.path(), tmp_.file("dst"), 10, options(GetParam()));
  ASSERT_FALSE(r);
  EXPECT_EQ(code_of(r.error()), errc::invalid_argument);
  EXPECT_NE(render(r.error()).find("not a regular file or block device"), std::string::npos);

  write_file(tmp_.file("src"), std::string(4096, '\0'));
  auto opts = options(GetParam());
  opts.block_bytes = 0;
  r = copy_range(tmp_.file("src"), tmp_.file("dst"), 10, opts);
  ASSERT_FALSE(r);
  EXPECT_EQ(code_of(r.error()), errc::invalid_argument);
  opts = options(GetParam(), 0);
  auto z = zero_range(tmp_.file("dst"), 0, 10, opts);
  ASSERT_FALSE(z);
  EXPECT_EQ(code_of(z.error()), errc::invalid_argument);
}

TEST_P(engine_test, cancellation_is_aborted_with_progress_so_far) {
  constexpr uint64_t size = 16 * mib;
  write_file(tmp_.file("src"), random_bytes(size, 5));
  write_file(tmp_.file("dst"), std::string(size, '\0'));
  auto opts = options(GetParam(), 2, mib);
  int polls = 0;
  opts.cancelled = [&] { return ++polls > 3; };
  uint64_t last = 0;
  opts.progress = [&](uint64_t done, uint64_t) { last = done; };
  auto r = copy_range(tmp_.file("src"), tmp_.file("dst"), size, opts);
  ASSERT_FALSE(r);
  EXPECT_EQ(code_of(r.error()), errc::aborted);
  auto text = render(r.error());
  EXPECT_NE(text.find("cancelled after " + std::to_string(last) + " of " + std::to_string(size)),
            std::string::npos)
    << text;
  EXPECT_LE(last, 3 * mib);

  polls = 0;
  auto z = zero_range(tmp_.file("dst"), 0, size, opts);
  ASSERT_FALSE(z);
  EXPECT_EQ(code_of(z.error()), errc::aborted);
}

TEST_P(engine_test, a_throwing_callback_stops_the_copy_with_an_internal_error) {
  constexpr uint64_t size = 6 * mib;
  write_file(tmp_.file("src"), random_bytes(size, 5));
  write_file(tmp_.file("dst"), std::string(size, '\0'));
  for (uint64_t throw_at : {2 * mib, size}) { // mid-way, and at the very last report
    auto opts = options(GetParam(), 4, mib);
    opts.progress = [&](uint64_t done, uint64_t) {
      if (done >= throw_at)
        throw std::runtime_error("observer gone");
    };
    auto r = copy_range(tmp_.file("src"), tmp_.file("dst"), size, opts);
    ASSERT_FALSE(r);
    EXPECT_EQ(code_of(r.error()), errc::internal);
    EXPECT_NE(render(r.error()).find("progress callback threw: observer gone"), std::string::npos)
      << render(r.error());
  }
  auto opts = options(GetParam());
  opts.cancelled = []() -> bool { throw 42; };
  auto z = zero_range(tmp_.file("dst"), 0, size, opts);
  ASSERT_FALSE(z);
  EXPECT_EQ(code_of(z.error()), errc::internal);
  EXPECT_NE(render(z.error()).find("cancelled callback threw"), std::string::npos);
}

/// RLIMIT_FSIZE makes writes past a limit fail with EFBIG (and shortens the
/// write that crosses it): a write error without root or a faulty device.
class file_size_limit {
public:
  explicit file_size_limit(rlim_t bytes) {
    ::getrlimit(RLIMIT_FSIZE, &saved_);
    old_handler_ = std::signal(SIGXFSZ, SIG_IGN);
    rlimit lim = saved_;
    lim.rlim_cur = bytes;
    ::setrlimit(RLIMIT_FSIZE, &lim);
  }
  ~file_size_limit() {
    ::setrlimit(RLIMIT_FSIZE, &saved_);
    std::signal(SIGXFSZ, old_handler_);
  }
  file_size_limit(const file_size_limit&) = delete;
  file_size_limit& operator=(const file_size_limit&) = delete;

private:
  rlimit saved_{};
  void (*old_handler_)(int) = nullptr;
};

TEST_P(engine_test, write_error_is_io_error_naming_path_offset_and_reason) {
  constexpr uint64_t size = 4 * mib;
  write_file(tmp_.file("src"), random_bytes(size, 9));
  write_file(tmp_.file("dst"), std::string(size, '\0'));
  // Direct: the write crossing the limit is cut to an aligned length, the
  // rest is resubmitted and fails. Buffered: cut to an unaligned length.
  for (bool direct : {true, false}) {
    uint64_t limit = mib + (direct ? 4096 : 100);
    auto opts = options(GetParam(), 1, mib);
    opts.direct = direct;
    caf::expected<mover_result> r{mover_result{}};
    {
      file_size_limit guard{limit};
      r = copy_range(tmp_.file("src"), tmp_.file("dst"), size, opts);
    }
    ASSERT_FALSE(r);
    EXPECT_EQ(code_of(r.error()), errc::io_error);
    auto text = render(r.error());
    EXPECT_NE(text.find("write destination " + tmp_.file("dst") + " at offset " +
                        std::to_string(limit) + ": " + std::strerror(EFBIG)),
              std::string::npos)
      << text;
    // Everything below the limit was written before the failure.
    auto src = read_file(tmp_.file("src"));
    auto dst = read_file(tmp_.file("dst"));
    EXPECT_EQ(content_hash(std::string_view{dst}.substr(0, limit)),
              content_hash(std::string_view{src}.substr(0, limit)));
  }
}

// -- zero_range ---------------------------------------------------------------------

TEST_P(engine_test, zero_range_zeroes_exactly_the_range) {
  constexpr uint64_t size = 5 * mib + 321;
  auto original = random_bytes(size, 3);
  struct range {
    uint64_t offset, bytes;
  };
  for (auto [offset, bytes] : {range{0, size}, range{4096 + 7, 2 * mib + 100}, range{mib, mib},
                               range{size - 1, 1}, range{17, 0}}) {
    write_file(tmp_.file("f"), original);
    auto opts = options(GetParam(), 3, 256 * 1024);
    uint64_t last = 0;
    opts.progress = [&](uint64_t done, uint64_t) { last = done; };
    auto r = zero_range(tmp_.file("f"), offset, bytes, opts);
    ASSERT_TRUE(r) << render(r.error());
    EXPECT_EQ(r->bytes, bytes);
    EXPECT_EQ(last, bytes);
    auto out = read_file(tmp_.file("f"));
    ASSERT_EQ(out.size(), size);
    EXPECT_EQ(out.substr(0, offset), original.substr(0, offset)) << offset;
    EXPECT_EQ(out.substr(offset, bytes), std::string(bytes, '\0')) << offset;
    EXPECT_EQ(out.substr(offset + bytes), original.substr(offset + bytes)) << offset;
  }
}

TEST_P(engine_test, zero_range_past_the_end_is_out_of_range) {
  write_file(tmp_.file("f"), std::string(8192, 'x'));
  auto r = zero_range(tmp_.file("f"), 4096, 4097, options(GetParam()));
  ASSERT_FALSE(r);
  EXPECT_EQ(code_of(r.error()), errc::out_of_range);
  EXPECT_NE(render(r.error()).find(tmp_.file("f") + " holds 8192 bytes"), std::string::npos);
  EXPECT_EQ(read_file(tmp_.file("f")), std::string(8192, 'x'));
}

// -- discard capabilities and secure wipe ---------------------------------------

void put_file(const fs::path& file, const std::string& text) {
  fs::create_directories(file.parent_path());
  std::ofstream{file} << text;
}

TEST(data_mover, read_discard_caps_from_a_fake_sysfs_tree) {
  temp_dir tmp{"/var/tmp"};
  ASSERT_TRUE(tmp.ok());
  fs::path root = tmp.path();

  // NVMe-like: discards and write-zeroes, discarded blocks not guaranteed zero.
  put_file(root / "nvme0n1/queue/discard_max_bytes", "2199023255040\n");
  put_file(root / "nvme0n1/queue/discard_zeroes_data", "0\n");
  put_file(root / "nvme0n1/queue/write_zeroes_max_bytes", "131072\n");
  auto caps = read_discard_caps(root / "nvme0n1");
  EXPECT_TRUE(caps.supported);
  EXPECT_FALSE(caps.zeroes_data);
  EXPECT_EQ(caps.write_zeroes_max_bytes, 131072u);

  // An old kernel that still says discarded blocks read back as zeroes.
  put_file(root / "sdb/queue/discard_max_bytes", "4294966784\n");
  put_file(root / "sdb/queue/discard_zeroes_data", "1\n");
  put_file(root / "sdb/queue/write_zeroes_max_bytes", "0\n");
  caps = read_discard_caps(root / "sdb/"); // a trailing slash is fine
  EXPECT_TRUE(caps.supported);
  EXPECT_TRUE(caps.zeroes_data);
  EXPECT_EQ(caps.write_zeroes_max_bytes, 0u);

  // A partition has no queue/ of its own: its disk's counts.
  put_file(root / "nvme0n1/nvme0n1p1/partition", "1\n");
  caps = read_discard_caps(root / "nvme0n1/nvme0n1p1");
  EXPECT_TRUE(caps.supported);
  EXPECT_EQ(caps.write_zeroes_max_bytes, 131072u);

  // No discard at all; discard_zeroes_data absent (it is optional).
  put_file(root / "sda/queue/discard_max_bytes", "0\n");
  put_file(root / "sda/queue/write_zeroes_max_bytes", "0\n");
  caps = read_discard_caps(root / "sda");
  EXPECT_FALSE(caps.supported);
  EXPECT_FALSE(caps.zeroes_data);
  EXPECT_EQ(caps.write_zeroes_max_bytes, 0u);

  // Missing directory and garbage count as "not supported".
  caps = read_discard_caps(root / "missing");
  EXPECT_FALSE(caps.supported);
  EXPECT_FALSE(caps.zeroes_data);
  EXPECT_EQ(caps.write_zeroes_max_bytes, 0u);
  put_file(root / "bad/queue/discard_max_bytes", "lots\n");
  put_file(root / "bad/queue/write_zeroes_max_bytes", "-\n");
  caps = read_discard_caps(root / "bad");
  EXPECT_FALSE(caps.supported);
  EXPECT_EQ(caps.write_zeroes_max_bytes, 0u);
}

TEST_P(engine_test, secure_wipe_of_a_regular_file_zero_fills) {
  constexpr uint64_t size = 3 * mib + 77;
  auto original = random_bytes(size, 13);
  write_file(tmp_.file("f"), original);
  // Caps that would pick write-zeroes for a block device: a file ignores them.
  put_file(fs::path{tmp_.path()} / "sys/queue/write_zeroes_max_bytes", "1048576\n");
  auto wiped = size - 4096 - 11;
  auto r = secure_wipe(tmp_.file("f"), wiped, tmp_.file("sys"), options(GetParam()));
  ASSERT_TRUE(r) << render(r.error());
  std::string expected =
    GetParam() == engine::pread || !io_uring_here() ? "zero_fill:pread" : "zero_fill:io_uring";
  EXPECT_EQ(*r, expected);
  auto out = read_file(tmp_.file("f"));
  EXPECT_EQ(out.substr(0, wiped), std::string(wiped, '\0'));
  EXPECT_EQ(out.substr(wiped), original.substr(wiped));
}

TEST_P(engine_test, secure_wipe_errors_name_the_device) {
  auto r = secure_wipe(tmp_.file("none"), 10, tmp_.path(), options(GetParam()));
  ASSERT_FALSE(r);
  EXPECT_EQ(code_of(r.error()), errc::not_found);
  EXPECT_NE(render(r.error()).find("secure_wipe: stat " + tmp_.file("none")), std::string::npos);

  write_file(tmp_.file("small"), std::string(100, 'x'));
  r = secure_wipe(tmp_.file("small"), 101, tmp_.path(), options(GetParam()));
  ASSERT_FALSE(r);
  EXPECT_EQ(code_of(r.error()), errc::out_of_range);

  r = secure_wipe("/dev/null", 1, tmp_.path(), options(GetParam()));
  ASSERT_FALSE(r);
  EXPECT_EQ(code_of(r.error()), errc::invalid_argument);
  EXPECT_NE(render(r.error()).find("/dev/null"), std::string::npos);
}

// -- the result message -----------------------------------------------------------

TEST(data_mover, result_is_a_caf_message_type) {
  mover_result r;
  r.bytes = 42;
  r.engine = "pread";
  r.fallback_reason = "io_uring_queue_init: Operation not permitted";
  r.direct = true;
  r.elapsed = std::chrono::milliseconds{1500};
  auto text = caf::deep_to_string(r);
  EXPECT_NE(text.find("mover_result"), std::string::npos) << text;
  EXPECT_NE(text.find("Operation not permitted"), std::string::npos) << text;

  std::vector<char> buf;
  caf::binary_serializer sink{nullptr, buf};
  ASSERT_FALSE(sink(r));
  mover_result back;
  caf::binary_deserializer source{nullptr, buf};
  ASSERT_FALSE(source(back));
  EXPECT_EQ(back.bytes, 42u);
  EXPECT_EQ(back.engine, "pread");
  EXPECT_EQ(back.fallback_reason, r.fallback_reason);
  EXPECT_TRUE(back.direct);
  EXPECT_EQ(back.elapsed, r.elapsed);
}

} // namespace
