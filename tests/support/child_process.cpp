#include "tests/support/child_process.hpp"

#include "tests/support/http_client.hpp"

#include <fcntl.h>
#include <fstream>
#include <iterator>
#include <sys/wait.h>
#include <thread>
#include <unistd.h>

namespace olocal::test {

namespace {

int decode(int status) {
  return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

} // namespace

child_process::child_process(std::vector<std::string> argv,
                             const std::filesystem::path& stderr_log) {
  // Everything the child needs is prepared before fork (no allocation after).
  std::vector<char*> args;
  for (auto& a : argv)
    args.push_back(a.data());
  args.push_back(nullptr);
  auto log = stderr_log.string();
  pid_ = ::fork();
  if (pid_ == 0) {
    int fd = ::open(log.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd >= 0)
      ::dup2(fd, STDERR_FILENO);
    ::execv(args[0], args.data());
    std::_Exit(127);
  }
  if (pid_ < 0)
    status_ = 127;
}

child_process::~child_process() {
  if (running()) {
    ::kill(pid_, SIGKILL);
    int status = 0;
    ::waitpid(pid_, &status, 0);
  }
}

bool child_process::running() {
  if (status_)
    return false;
  int status = 0;
  if (::waitpid(pid_, &status, WNOHANG) == pid_) {
    status_ = decode(status);
    return false;
  }
  return true;
}

bool child_process::signal(int sig) {
  return running() && ::kill(pid_, sig) == 0;
}

std::optional<int> child_process::wait_exit(std::chrono::milliseconds limit) {
  auto until = std::chrono::steady_clock::now() + limit;
  while (running()) {
    if (std::chrono::steady_clock::now() >= until)
      return std::nullopt;
    std::this_thread::sleep_for(std::chrono::milliseconds{10});
  }
  return status_;
}

std::optional<int> child_process::stop(int sig, std::chrono::milliseconds limit) {
  if (!running())
    return status_;
  ::kill(pid_, sig);
  if (auto status = wait_exit(limit))
    return status;
  ::kill(pid_, SIGKILL);
  int status = 0;
  ::waitpid(pid_, &status, 0);
  status_ = decode(status);
  return std::nullopt;
}

std::optional<uint16_t> wait_ready(child_process& child, const std::filesystem::path& port_file,
                                   std::chrono::milliseconds limit) {
  auto until = std::chrono::steady_clock::now() + limit;
  while (std::chrono::steady_clock::now() < until) {
    std::ifstream in{port_file};
    std::string text{std::istreambuf_iterator<char>{in}, std::istreambuf_iterator<char>{}};
    if (!text.empty()) {
      auto port = static_cast<uint16_t>(std::stoi(text));
      if (http_get(port, "/readyz").status == 200)
        return port;
    }
    if (!child.running())
      return std::nullopt;
    std::this_thread::sleep_for(std::chrono::milliseconds{20});
  }
  return std::nullopt;
}

} // namespace olocal::test
