#pragma once

#include <caf/expected.hpp>

#include <chrono>
#include <string>
#include <utility>
#include <vector>

namespace olocal {

/// How to run one external program. There is no shell: argv[0] is looked up
/// in PATH and the arguments reach the program exactly as given.
struct command_spec {
  std::vector<std::string> argv;
  std::chrono::milliseconds timeout{30'000};
  /// Extra environment entries ("NAME=value"), added to (or replacing in) ours.
  std::vector<std::string> env;
  std::string stdin_data;              ///< written to the program's stdin
  size_t max_output_bytes = 16u << 20; ///< per stream; the rest is dropped
};

struct command_result {
  int exit_code = -1;     ///< exit status, or 128 + signal number
  bool timed_out = false; ///< killed because the timeout passed
  bool output_truncated = false;
  std::string out;
  std::string err;
  std::chrono::milliseconds elapsed{0};
};

/// Runs a program to completion (blocking: call it from a detached backend
/// actor, never from a scheduler thread). On timeout the program's whole
/// process group gets SIGTERM, then SIGKILL one second later.
///
/// Errors: invalid_argument for an empty argv, not_found when the program is
/// not installed, io_error when it cannot be started. A program that runs and
/// fails is not an error here: inspect exit_code.
caf::expected<command_result> run_command(const command_spec& spec);

/// "lvcreate -n x -L 1b vg0" for logs (arguments with spaces quoted).
std::string render_argv(const std::vector<std::string>& argv);

} // namespace olocal
