#include "actors/backends/process.hpp"

#include "actors/core/errc.hpp"

#include <cerrno>
#include <csignal>
#include <cstring>
#include <fcntl.h>
#include <poll.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

extern char** environ;

namespace olocal {

namespace {

struct fd_guard {
  int fd = -1;
  ~fd_guard() { reset(); }
  void reset() {
    if (fd >= 0)
      ::close(fd);
    fd = -1;
  }
};

std::vector<std::string> merged_environment(const std::vector<std::string>& extra) {
  std::vector<std::string> env;
  for (char** e = environ; e && *e; ++e) {
    std::string_view entry{*e};
    auto name = entry.substr(0, entry.find('='));
    bool replaced = false;
    for (auto& x : extra)
      if (std::string_view{x}.substr(0, x.find('=')) == name)
        replaced = true;
    if (!replaced)
      env.emplace_back(entry);
  }
  env.insert(env.end(), extra.begin(), extra.end());
  return env;
}

std::vector<char*> c_strings(std::vector<std::string>& strings) {
  std::vector<char*> result;
  result.reserve(strings.size() + 1);
  for (auto& s : strings)
    result.push_back(s.data());
  result.push_back(nullptr);
  return result;
}

bool is_executable_in_path(const std::string& program) {
  if (program.find('/') != std::string::npos)
    return ::access(program.c_str(), X_OK) == 0;
  const char* path = std::getenv("PATH");
  std::string_view dirs =
    path ? path : "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";
  while (!dirs.empty()) {
    auto colon = dirs.find(':');
    auto dir = dirs.substr(0, colon);
    if (!dir.empty()) {
      std::string candidate{dir};
      candidate += '/';
      candidate += program;
      if (::access(candidate.c_str(), X_OK) == 0)
        return true;
    }
    if (colon == std::string_view::npos)
      break;
    dirs.remove_prefix(colon + 1);
  }
  return false;
}

} // namespace

std::string render_argv(const std::vector<std::string>& argv) {
  std::string out;
  for (auto& arg : argv) {
    if (!out.empty())
      out += ' ';
    bool quote = arg.empty() || arg.find_first_of(" \t\n'\"\\$") != std::string::npos;
    if (!quote) {
      out += arg;
      continue;
    }
    out += '\'';
    for (char c : arg) {
      if (c == '\'')
        out += "'\\''";
      else
        out += c;
    }
    out += '\'';
  }
  return out;
}

caf::expected<command_result> run_command(const command_spec& spec) {
  using clock = std::chrono::steady_clock;
  if (spec.argv.empty() || spec.argv[0].empty())
    return make_error(errc::invalid_argument, "run_command: empty argv");
  if (!is_executable_in_path(spec.argv[0]))
    return make_error(errc::not_found, "program not found: " + spec.argv[0]);

  int out_pipe[2], err_pipe[2], in_pipe[2];
  if (::pipe2(out_pipe, O_CLOEXEC) != 0)
    return make_error(errc::io_error, std::string{"pipe: "} + std::strerror(errno));
  fd_guard out_r{out_pipe[0]}, out_w{out_pipe[1]};
  if (::pipe2(err_pipe, O_CLOEXEC) != 0)
    return make_error(errc::io_error, std::string{"pipe: "} + std::strerror(errno));
  fd_guard err_r{err_pipe[0]}, err_w{err_pipe[1]};
  if (::pipe2(in_pipe, O_CLOEXEC) != 0)
    return make_error(errc::io_error, std::string{"pipe: "} + std::strerror(errno));
  fd_guard in_r{in_pipe[0]}, in_w{in_pipe[1]};

  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_adddup2(&actions, in_r.fd, STDIN_FILENO);
  posix_spawn_file_actions_adddup2(&actions, out_w.fd, STDOUT_FILENO);
  posix_spawn_file_actions_adddup2(&actions, err_w.fd, STDERR_FILENO);
  posix_spawnattr_t attr;
  posix_spawnattr_init(&attr);
  // Own process group, so that a timeout kills helpers the program started.
  // Default signal dispositions and an empty mask: our process blocks
  // SIGTERM/SIGINT for its signal thread, the child must not inherit that.
  sigset_t no_signals, all_signals;
  sigemptyset(&no_signals);
  sigfillset(&all_signals);
  posix_spawnattr_setsigmask(&attr, &no_signals);
  posix_spawnattr_setsigdefault(&attr, &all_signals);
  posix_spawnattr_setpgroup(&attr, 0);
  posix_spawnattr_setflags(&attr,
                           POSIX_SPAWN_SETPGROUP | POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF);

  auto argv_copy = spec.argv;
  auto argv = c_strings(argv_copy);
  auto env_strings = merged_environment(spec.env);
  auto envp = c_strings(env_strings);
  pid_t pid = -1;
  auto start = clock::now();
  int rc = ::posix_spawnp(&pid, argv[0], &actions, &attr, argv.data(), envp.data());
  posix_spawn_file_actions_destroy(&actions);
  posix_spawnattr_destroy(&attr);
  if (rc != 0)
    return make_error(rc == ENOENT ? errc::not_found : errc::io_error,
                      "cannot start " + spec.argv[0] + ": " + std::strerror(rc));
  in_r.reset();
  out_w.reset();
  err_w.reset();
  ::fcntl(in_w.fd, F_SETFL, O_NONBLOCK);
  if (spec.stdin_data.empty())
    in_w.reset();

  command_result result;
  size_t stdin_written = 0;
  auto deadline = start + spec.timeout;
  clock::time_point kill_at{};
  bool term_sent = false;
  char buf[65536];
  while (out_r.fd >= 0 || err_r.fd >= 0) {
    pollfd fds[3];
    nfds_t n = 0;
    int out_i = -1, err_i = -1, in_i = -1;
    if (out_r.fd >= 0) {
      out_i = static_cast<int>(n);
      fds[n++] = {out_r.fd, POLLIN, 0};
    }
    if (err_r.fd >= 0) {
      err_i = static_cast<int>(n);
      fds[n++] = {err_r.fd, POLLIN, 0};
    }
    if (in_w.fd >= 0) {
      in_i = static_cast<int>(n);
      fds[n++] = {in_w.fd, POLLOUT, 0};
    }
    auto now = clock::now();
    if (!term_sent && now >= deadline) {
      result.timed_out = true;
      ::kill(-pid, SIGTERM);
      term_sent = true;
      kill_at = now + std::chrono::seconds{1};
    } else if (term_sent && now >= kill_at) {
      ::kill(-pid, SIGKILL);
      kill_at = now + std::chrono::hours{1};
    }
    auto wait_until = term_sent ? kill_at : deadline;
    auto wait_ms = std::chrono::duration_cast<std::chrono::milliseconds>(wait_until - now).count();
    int ready = ::poll(fds, n, static_cast<int>(std::clamp<long long>(wait_ms, 0, 1000)));
    if (ready < 0 && errno != EINTR)
      break;
    if (ready <= 0)
      continue;
    auto drain = [&](int index, fd_guard& fd, std::string& sink) {
      if (index < 0 || !(fds[index].revents & (POLLIN | POLLHUP | POLLERR)))
        return;
      auto got = ::read(fd.fd, buf, sizeof(buf));
      if (got <= 0) {
        if (got == 0 || (errno != EINTR && errno != EAGAIN))
          fd.reset();
        return;
      }
      auto room = spec.max_output_bytes - std::min(sink.size(), spec.max_output_bytes);
      auto take = std::min(room, static_cast<size_t>(got));
      sink.append(buf, take);
      if (take < static_cast<size_t>(got))
        result.output_truncated = true;
    };
    drain(out_i, out_r, result.out);
    drain(err_i, err_r, result.err);
    if (in_i >= 0 && (fds[in_i].revents & (POLLOUT | POLLERR | POLLHUP))) {
      auto put = ::write(in_w.fd, spec.stdin_data.data() + stdin_written,
                         spec.stdin_data.size() - stdin_written);
      if (put > 0)
        stdin_written += static_cast<size_t>(put);
      if (put < 0 && errno != EAGAIN && errno != EINTR)
        in_w.reset();
      if (stdin_written == spec.stdin_data.size())
        in_w.reset();
    }
  }
  in_w.reset();
  int status = 0;
  while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  // Helpers left in the group (the program exited but its children kept the
  // pipes closed) are not waited for; a timed-out group was already killed.
  if (WIFEXITED(status))
    result.exit_code = WEXITSTATUS(status);
  else if (WIFSIGNALED(status))
    result.exit_code = 128 + WTERMSIG(status);
  result.elapsed = std::chrono::duration_cast<std::chrono::milliseconds>(clock::now() - start);
  return result;
}

} // namespace olocal
