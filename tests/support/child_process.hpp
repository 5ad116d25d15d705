#pragma once

// A child process for tests that run the open-local binary as users do:
// started from an argv (no shell) with its stderr in a file, stopped by a
// signal with a deadline, killed and reaped when the test ends.

#include <chrono>
#include <csignal>
#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <sys/types.h>
#include <vector>

namespace olocal::test {

class child_process {
public:
  /// Starts argv[0] with `argv`; its stderr goes to `stderr_log` (created or
  /// truncated). An exec failure shows as exit status 127.
  child_process(std::vector<std::string> argv, const std::filesystem::path& stderr_log);
  ~child_process(); ///< SIGKILL if still running, then reaped
  child_process(const child_process&) = delete;
  child_process& operator=(const child_process&) = delete;

  /// True while it has not exited (reaps it when it has).
  bool running();

  /// Sends `sig`; false when it has exited already.
  bool signal(int sig);

  /// Its exit status (128 + the signal that ended it) once it exits within
  /// `limit`; nullopt while it is still running then.
  std::optional<int> wait_exit(std::chrono::milliseconds limit);

  /// Sends `sig` and waits up to `limit` for the exit status; then SIGKILL
  /// and nullopt. The status it had when it exited before.
  std::optional<int> stop(int sig = SIGTERM,
                          std::chrono::milliseconds limit = std::chrono::seconds{60});

private:
  pid_t pid_ = -1;
  std::optional<int> status_;
};

/// Waits until `port_file` names a port whose GET /readyz answers 200: that
/// port, or nullopt when `child` exits first or `limit` passes.
std::optional<uint16_t> wait_ready(child_process& child, const std::filesystem::path& port_file,
                                   std::chrono::milliseconds limit);

} // namespace olocal::test
