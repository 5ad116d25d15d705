// The driver under test (started once) and what the tests read of the system.

#include "tests/conformance/conformance.hpp"

#include "actors/backends/process.hpp"

#include <grpcpp/create_channel.h>
#include <grpcpp/security/credentials.h>

#include <algorithm>
#include <cerrno>
#include <csignal>
#include <cstring>
#include <deque>
#include <fcntl.h>
#include <filesystem>
#include <fstream>
#include <poll.h>
#include <spawn.h>
#include <sstream>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <thread>
#include <unistd.h>

extern char** environ;

namespace conformance {

namespace {

namespace fs = std::filesystem;

driver_env* the_env = nullptr;

std::vector<std::string> split(const std::string& text, char sep) {
  std::vector<std::string> out;
  std::string part;
  std::istringstream in{text};
  while (std::getline(in, part, sep))
    out.push_back(part);
  return out;
}

std::string trim(std::string s) {
  auto space = [](char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r'; };
  while (!s.empty() && space(s.back()))
    s.pop_back();
  size_t first = 0;
  while (first < s.size() && space(s[first]))
    ++first;
  return s.substr(first);
}

/// mountinfo escapes space, tab, newline and backslash as \ooo.
std::string unescape(const std::string& s) {
  std::string out;
  for (size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '\\' && i + 3 < s.size()) {
      auto oct = s.substr(i + 1, 3);
      if (oct.size() == 3 &&
          std::all_of(oct.begin(), oct.end(), [](char c) { return c >= '0' && c <= '7'; })) {
        out.push_back(static_cast<char>(std::stoi(oct, nullptr, 8)));
        i += 3;
        continue;
      }
    }
    out.push_back(s[i]);
  }
  return out;
}

/// Runs a tool (lvs, vgs, losetup, ...); its stdout, or std::nullopt with `why`.
std::optional<std::string> run(const std::vector<std::string>& argv, std::string* why) {
  auto r = olocal::run_command({argv, std::chrono::seconds{120}});
  if (!r) {
    *why = olocal::render_argv(argv) + ": cannot run";
    return std::nullopt;
  }
  if (r->exit_code != 0) {
    *why = olocal::render_argv(argv) + " exited " + std::to_string(r->exit_code) + ": " + r->err;
    return std::nullopt;
  }
  return r->out;
}

uint64_t to_u64(const std::string& text) {
  auto t = trim(text);
  return t.empty() ? 0 : std::stoull(t);
}

bool has_device_mapper() {
  std::ifstream in{"/proc/misc"};
  std::string line;
  while (std::getline(in, line))
    if (line.find("device-mapper") != std::string::npos)
      return true;
  return false;
}

} // namespace

// -- the system -------------------------------------------------------------------------

bool mount_entry::read_only() const {
  for (auto& opt : split(options, ','))
    if (opt == "ro")
      return true;
  return false;
}

std::vector<mount_entry> read_mountinfo() {
  std::vector<mount_entry> out;
  std::ifstream in{"/proc/self/mountinfo"};
  std::string line;
  while (std::getline(in, line)) {
    auto f = split(line, ' ');
    if (f.size() < 10)
      continue;
    mount_entry e;
    auto colon = f[2].find(':');
    e.major = static_cast<unsigned>(std::stoul(f[2].substr(0, colon)));
    e.minor = static_cast<unsigned>(std::stoul(f[2].substr(colon + 1)));
    e.root = unescape(f[3]);
    e.mount_point = unescape(f[4]);
    e.options = f[5];
    size_t i = 6;
    while (i < f.size() && f[i] != "-")
      ++i;
    if (i + 1 < f.size())
      e.fstype = f[i + 1];
    if (i + 2 < f.size())
      e.source = unescape(f[i + 2]);
    if (i + 3 < f.size())
      e.super_options = f[i + 3];
    out.push_back(std::move(e));
  }
  return out;
}

std::optional<mount_entry> find_mount(const std::string& path) {
  std::optional<mount_entry> found;
  for (auto& e : read_mountinfo())
    if (e.mount_point == path)
      found = e; // the last one is the topmost
  return found;
}

std::vector<std::string> mounts_below(const std::string& dir) {
  std::vector<std::string> out;
  for (auto& e : read_mountinfo())
    if (e.mount_point == dir || e.mount_point.rfind(dir + "/", 0) == 0)
      out.push_back(e.mount_point);
  return out;
}

bool lv_row::has_tag(const std::string& tag) const {
  auto all = split(tags, ',');
  return std::find(all.begin(), all.end(), tag) != all.end();
}

std::vector<lv_row> list_lvs() {
  std::string why;
  auto out = run({"lvs", "--noheadings", "--nosuffix", "--units", "b", "--separator", "|", "-o",
                  "lv_name,lv_size,lv_tags,origin,lv_attr,lv_kernel_major,lv_kernel_minor",
                  driver_env::instance().config().vg},
                 &why);
  if (!out) {
    ADD_FAILURE() << why;
    return {};
  }
  std::vector<lv_row> rows;
  for (auto& line : split(*out, '\n')) {
    auto f = split(trim(line), '|');
    if (f.size() < 7)
      continue;
    lv_row r;
    r.name = trim(f[0]);
    r.size_bytes = to_u64(f[1]);
    r.tags = trim(f[2]);
    r.origin = trim(f[3]);
    r.attr = trim(f[4]);
    r.kernel_major = std::stoi(trim(f[5]));
    r.kernel_minor = std::stoi(trim(f[6]));
    rows.push_back(std::move(r));
  }
  return rows;
}

std::optional<lv_row> find_lv(const std::string& name) {
  for (auto& r : list_lvs())
    if (r.name == name)
      return r;
  return std::nullopt;
}

vg_row pool_vg() {
  std::string why;
  auto out = run({"vgs", "--noheadings", "--nosuffix", "--units", "b", "--separator", "|", "-o",
                  "vg_size,vg_free,vg_extent_size", driver_env::instance().config().vg},
                 &why);
  if (!out) {
    ADD_FAILURE() << why;
    return {};
  }
  auto f = split(trim(*out), '|');
  if (f.size() < 3) {
    ADD_FAILURE() << "vgs printed \"" << *out << "\"";
    return {};
  }
  return {to_u64(f[0]), to_u64(f[1]), to_u64(f[2])};
}

fs_usage usage_of(const std::string& path) {
  struct statvfs v {};
  if (::statvfs(path.c_str(), &v) != 0) {
    ADD_FAILURE() << "statvfs " << path << ": " << std::strerror(errno);
    return {};
  }
  uint64_t unit = v.f_frsize != 0 ? v.f_frsize : v.f_bsize;
  return {v.f_blocks * unit, (v.f_blocks - v.f_bfree) * unit, v.f_bavail * unit, v.f_files,
          v.f_ffree};
}

std::string pattern(size_t bytes, uint32_t seed) {
  std::string out(bytes, '\0');
  uint64_t x = 0x9e3779b97f4a7c15ull ^ seed;
  for (size_t i = 0; i < bytes; ++i) {
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    out[i] = static_cast<char>(x & 0xff);
  }
  return out;
}

namespace {

std::string write_fd(int fd, const std::string& path, const std::string& data) {
  size_t done = 0;
  while (done < data.size()) {
    auto n = ::pwrite(fd, data.data() + done, data.size() - done, static_cast<off_t>(done));
    if (n < 0) {
      auto err = std::string{"write "} + path + ": " + std::strerror(errno);
      ::close(fd);
      return err;
    }
    done += static_cast<size_t>(n);
  }
  if (::fsync(fd) != 0) {
    auto err = std::string{"fsync "} + path + ": " + std::strerror(errno);
    ::close(fd);
    return err;
  }
  ::close(fd);
  return {};
}

} // namespace

std::string write_file(const std::string& path, const std::string& data) {
  int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0)
    return "open " + path + ": " + std::strerror(errno);
  return write_fd(fd, path, data);
}

std::optional<std::string> read_file(const std::string& path) {
  std::ifstream in{path, std::ios::binary};
  if (!in)
    return std::nullopt;
  std::ostringstream out;
  out << in.rdbuf();
  return out.str();
}

std::string write_device(const std::string& path, const std::string& data) {
  int fd = ::open(path.c_str(), O_WRONLY | O_CLOEXEC);
  if (fd < 0)
    return "open " + path + ": " + std::strerror(errno);
  return write_fd(fd, path, data);
}

std::optional<std::string> read_device(const std::string& path, size_t bytes) {
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0)
    return std::nullopt;
  std::string out(bytes, '\0');
  size_t done = 0;
  while (done < bytes) {
    auto n = ::pread(fd, out.data() + done, bytes - done, static_cast<off_t>(done));
    if (n <= 0) {
      ::close(fd);
      return std::nullopt;
    }
    done += static_cast<size_t>(n);
  }
  ::close(fd);
  return out;
}

bool exists(const std::string& path) {
  struct stat st {};
  return ::lstat(path.c_str(), &st) == 0;
}

// -- calls and checks -------------------------------------------------------------------

std::string code_name(grpc::StatusCode code) {
  switch (code) {
  case grpc::StatusCode::OK:
    return "OK";
  case grpc::StatusCode::CANCELLED:
    return "CANCELLED";
  case grpc::StatusCode::UNKNOWN:
    return "UNKNOWN";
  case grpc::StatusCode::INVALID_ARGUMENT:
    return "INVALID_ARGUMENT";
  case grpc::StatusCode::DEADLINE_EXCEEDED:
    return "DEADLINE_EXCEEDED";
  case grpc::StatusCode::NOT_FOUND:
    return "NOT_FOUND";
  case grpc::StatusCode::ALREADY_EXISTS:
    return "ALREADY_EXISTS";
  case grpc::StatusCode::PERMISSION_DENIED:
    return "PERMISSION_DENIED";
  case grpc::StatusCode::RESOURCE_EXHAUSTED:
    return "RESOURCE_EXHAUSTED";
  case grpc::StatusCode::FAILED_PRECONDITION:
    return "FAILED_PRECONDITION";
  case grpc::StatusCode::ABORTED:
    return "ABORTED";
  case grpc::StatusCode::OUT_OF_RANGE:
    return "OUT_OF_RANGE";
  case grpc::StatusCode::UNIMPLEMENTED:
    return "UNIMPLEMENTED";
  case grpc::StatusCode::INTERNAL:
    return "INTERNAL";
  case grpc::StatusCode::UNAVAILABLE:
    return "UNAVAILABLE";
  case grpc::StatusCode::DATA_LOSS:
    return "DATA_LOSS";
  case grpc::StatusCode::UNAUTHENTICATED:
    return "UNAUTHENTICATED";
  default:
    return "code " + std::to_string(static_cast<int>(code));
  }
}

std::string describe(const grpc::Status& status) {
  auto name = code_name(status.error_code());
  return status.error_message().empty() ? name : name + ": " + status.error_message();
}

::testing::AssertionResult is_ok(const grpc::Status& status) {
  if (status.ok())
    return ::testing::AssertionSuccess();
  return ::testing::AssertionFailure() << "expected OK, got " << describe(status);
}

::testing::AssertionResult has_code(const grpc::Status& status, grpc::StatusCode code) {
  if (status.error_code() == code)
    return ::testing::AssertionSuccess() << describe(status);
  return ::testing::AssertionFailure()
         << "expected " << code_name(code) << ", got " << describe(status);
}

pb::VolumeCapability mount_cap(access_mode::Mode mode, const std::string& fs_type) {
  pb::VolumeCapability cap;
  cap.mutable_mount()->set_fs_type(fs_type);
  cap.mutable_access_mode()->set_mode(mode);
  return cap;
}

pb::VolumeCapability block_cap(access_mode::Mode mode) {
  pb::VolumeCapability cap;
  cap.mutable_block();
  cap.mutable_access_mode()->set_mode(mode);
  return cap;
}

// -- the driver -------------------------------------------------------------------------

driver_env::driver_env(driver_config cfg) : cfg_(std::move(cfg)) {
  the_env = this;
}

driver_env::~driver_env() {
  if (the_env == this)
    the_env = nullptr;
}

driver_env& driver_env::instance() {
  return *the_env;
}

void driver_env::SetUp() {
  if (!has_device_mapper()) {
    skip_reason_ = "this kernel has no device-mapper (no \"device-mapper\" in /proc/misc): the "
                   "CSI conformance suite runs inside the VM harness, e.g. `ctest -L "
                   "conformance` or tests/vm/run-in-vm.sh -- <this binary>";
    return;
  }
  if (::geteuid() != 0) {
    skip_reason_ = "not root: the driver needs to create loop devices, LVs and mounts";
    return;
  }
  start_error_ = start();
  if (!start_error_.empty()) {
    ADD_FAILURE() << "open-local standalone did not start: " << start_error_;
    stop();
    scrub();
  }
}

std::string driver_env::start() {
  if (cfg_.binary.empty() || ::access(cfg_.binary.c_str(), X_OK) != 0)
    return "no executable open-local binary at \"" + cfg_.binary + "\"";
  scrub(); // what an interrupted earlier run may have left
  std::error_code ec;
  fs::create_directories(kubelet_dir(), ec);
  if (ec)
    return "create " + kubelet_dir() + ": " + ec.message();

  std::vector<std::string> args = {cfg_.binary,          "standalone",
                                   "--pool-file",        pool_file(),
                                   "--pool-size",        std::to_string(cfg_.pool_bytes),
                                   "--pool-vg",          cfg_.vg,
                                   "--csi-endpoint",     endpoint(),
                                   "--csi-allowed-path", kubelet_dir(),
                                   "--state-dir",        cfg_.work + "/state",
                                   "--http-port",        "0",
                                   "--port-file",        cfg_.work + "/port",
                                   "--node-name",        cfg_.node};
  std::vector<char*> argv;
  for (auto& a : args)
    argv.push_back(a.data());
  argv.push_back(nullptr);
  auto log = cfg_.work + "/driver.log";
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0);
  posix_spawn_file_actions_addopen(&actions, 1, log.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0644);
  posix_spawn_file_actions_adddup2(&actions, 1, 2);
  int rc = posix_spawn(&pid_, cfg_.binary.c_str(), &actions, nullptr, argv.data(), environ);
  posix_spawn_file_actions_destroy(&actions);
  if (rc != 0) {
    pid_ = -1;
    return "posix_spawn " + cfg_.binary + ": " + std::strerror(rc);
  }

  // The one poll of the suite: the socket and the port file appear once the
  // pool, the actors and both servers are up (bounded).
  auto deadline = std::chrono::steady_clock::now() + cfg_.start_timeout;
  for (;;) {
    int status = 0;
    if (::waitpid(pid_, &status, WNOHANG) == pid_) {
      pid_ = -1;
      return "it exited (status " + std::to_string(status) + ") before serving; its log:\n" +
             log_tail(40);
    }
    if (exists(socket_path()) && fs::exists(cfg_.work + "/port") &&
        fs::file_size(cfg_.work + "/port", ec) > 0)
      break;
    if (std::chrono::steady_clock::now() > deadline)
      return "no CSI socket after " + std::to_string(cfg_.start_timeout.count()) +
             " s; its log:\n" + log_tail(40);
    std::this_thread::sleep_for(std::chrono::milliseconds{20});
  }

  channel_ = grpc::CreateChannel(endpoint(), grpc::InsecureChannelCredentials());
  identity_ = pb::Identity::NewStub(channel_);
  controller_ = pb::Controller::NewStub(channel_);
  node_ = pb::Node::NewStub(channel_);
  // Readiness is set right after the port file is written: one Probe that
  // waits for the connection settles it.
  grpc::ClientContext ctx;
  ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds{30});
  ctx.set_wait_for_ready(true);
  pb::ProbeResponse probe;
  auto status = identity_->Probe(&ctx, pb::ProbeRequest{}, &probe);
  if (!status.ok())
    return "Probe: " + describe(status);
  return {};
}

const pb::Volume& driver_env::shared_volume() {
  if (!shared_) {
    pb::CreateVolumeRequest req;
    req.set_name("cf0-shared");
    req.mutable_capacity_range()->set_required_bytes(static_cast<int64_t>(16 * mib));
    *req.add_volume_capabilities() = mount_cap();
    pb::CreateVolumeResponse resp;
    auto status = call([&](auto* ctx) { return controller().CreateVolume(ctx, req, &resp); });
    if (!status.ok()) {
      ADD_FAILURE() << "CreateVolume of the shared volume: " << describe(status);
      static const pb::Volume none;
      return none;
    }
    shared_ = resp.volume();
  }
  return *shared_;
}

void driver_env::TearDown() {
  if (!skip_reason_.empty() || pid_ < 0)
    return;
  if (shared_) {
    pb::DeleteVolumeRequest req;
    req.set_volume_id(shared_->volume_id());
    pb::DeleteVolumeResponse resp;
    EXPECT_TRUE(is_ok(call([&](auto* ctx) { return controller().DeleteVolume(ctx, req, &resp); })))
      << "DeleteVolume of the shared volume";
    shared_.reset();
  }
  // Every test removes what it made: anything left is a failure of the
  // driver's delete/unpublish or of a test's cleanup.
  auto lvs = list_lvs();
  if (!lvs.empty()) {
    std::string names;
    for (auto& lv : lvs)
      names += " " + lv.name;
    ADD_FAILURE() << "LVs left in " << cfg_.vg << " after the suite:" << names;
  }
  auto mounts = mounts_below(cfg_.work);
  if (!mounts.empty()) {
    std::string list;
    for (auto& m : mounts)
      list += " " + m;
    ADD_FAILURE() << "mounts left below " << cfg_.work << ":" << list;
  }
  stop();
  if (::testing::UnitTest::GetInstance()->Failed())
    std::printf("--- the last lines of the driver's log (%s/driver.log) ---\n%s\n",
                cfg_.work.c_str(), log_tail(60).c_str());
  scrub();
}

void driver_env::stop() {
  node_.reset();
  controller_.reset();
  identity_.reset();
  channel_.reset();
  if (pid_ < 0)
    return;
  ::kill(pid_, SIGTERM);
  // Wait for the exit on a pidfd: no sleeping, bounded.
  int pidfd = static_cast<int>(::syscall(SYS_pidfd_open, pid_, 0));
  bool exited = true;
  if (pidfd >= 0) {
    pollfd p{pidfd, POLLIN, 0};
    auto ms = static_cast<int>(
      std::chrono::duration_cast<std::chrono::milliseconds>(cfg_.stop_timeout).count());
    exited = ::poll(&p, 1, ms) == 1;
    ::close(pidfd);
  }
  if (!exited) {
    ADD_FAILURE() << "open-local did not exit within " << cfg_.stop_timeout.count()
                  << " s of SIGTERM; killed";
    ::kill(pid_, SIGKILL);
  }
  int status = 0;
  ::waitpid(pid_, &status, 0);
  pid_ = -1;
  if (exited) {
    EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0)
      << "open-local exited with status " << status << " after SIGTERM";
  }
  EXPECT_FALSE(exists(socket_path())) << "the CSI socket is still there after the stop";
}

void driver_env::scrub() const {
  auto mounts = mounts_below(cfg_.work);
  std::sort(mounts.rbegin(), mounts.rend());
  for (auto& m : mounts)
    if (::umount2(m.c_str(), UMOUNT_NOFOLLOW) != 0)
      ::umount2(m.c_str(), MNT_DETACH | UMOUNT_NOFOLLOW);
  std::string why;
  if (run({"vgs", cfg_.vg}, &why))
    run({"vgremove", "-ff", "-y", cfg_.vg}, &why);
  if (exists(pool_file()))
    if (auto loops = run({"losetup", "-j", pool_file(), "-O", "NAME", "-n"}, &why))
      for (auto& l : split(*loops, '\n'))
        if (!trim(l).empty())
          run({"losetup", "-d", trim(l)}, &why);
  std::error_code ec;
  fs::remove_all(cfg_.work, ec);
}

std::string driver_env::log_tail(size_t lines) const {
  std::ifstream in{cfg_.work + "/driver.log"};
  std::deque<std::string> last;
  std::string line;
  while (std::getline(in, line)) {
    last.push_back(line);
    if (last.size() > lines)
      last.pop_front();
  }
  std::string out;
  for (auto& l : last)
    out += "  " + l + "\n";
  return out;
}

} // namespace conformance
