#pragma once

// `open-local volume ...` and `open-local snapshot ...`: a small CSI client
// for people, so that standalone mode is usable without any other tool. It
// speaks CSI over the unix socket exactly as kubelet and the sidecars do
// (publishing = NodeStageVolume at a staging directory, then
// NodePublishVolume at the requested path).

#include <string>
#include <vector>

namespace olocal {

/// Runs `open-local volume <verb> ...`; answers the exit status (0 ok, 1 the
/// driver refused or failed, 2 usage error).
int run_volume_command(const std::vector<std::string>& args);

/// Runs `open-local snapshot <verb> ...`.
int run_snapshot_command(const std::vector<std::string>& args);

/// The help text of both.
extern const char* const client_usage;

} // namespace olocal
