#pragma once

// Small state files a node keeps under --state-dir (claims, IO limits):
// read whole, replaced atomically. Blocking; called from detached actors
// or before the actors start.

#include <caf/expected.hpp>

#include <cstdint>
#include <optional>
#include <string>

namespace olocal {

/// The whole content of `path`; nullopt when it does not exist. `what`
/// names the file in errors ("read <what> <path>: <strerror>").
caf::expected<std::optional<std::string>> read_state_file(const std::string& path,
                                                          const std::string& what);

/// Replaces `path` with `text` atomically: a temporary file next to it,
/// fsync, rename, fsync of the directory (created when missing). A failure
/// leaves the previous content in place. Answers the bytes written.
caf::expected<uint64_t> write_state_file(const std::string& path, const std::string& text,
                                         const std::string& what);

} // namespace olocal
