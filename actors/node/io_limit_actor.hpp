#pragma once

#include "actors/core/interfaces.hpp"

#include <caf/expected.hpp>
#include <caf/fwd.hpp>

#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <string>
#include <string_view>
#include <sys/types.h>

namespace olocal {

/// <state_dir>/io-limits.json.
std::string io_limits_path(const std::string& state_dir);

struct io_limit_options {
  /// Where the cgroup file system is mounted.
  std::string cgroup_root = "/sys/fs/cgroup";
  /// auto (v2 when <root>/cgroup.controllers exists, else v1 blkio at
  /// <root>/blkio), v1 or v2.
  std::string mode = "auto";
  /// How often every limit in force is checked against the cgroup files and
  /// written again where it is missing or different (0 = never).
  std::chrono::milliseconds reconcile_interval{10'000};
  /// Standalone: the cgroup limited when a publish names neither a pod nor
  /// a cgroup (as /proc/<pid>/cgroup names it; "" = such a publish fails).
  std::string standalone_parent;
  /// Where the limits in force are kept (<state-dir>/io-limits.json; "" =
  /// in memory only). Read at start: every limit in it is registered again
  /// and made true (one whose device is gone is dropped, the volume having
  /// been deleted meanwhile); rewritten after every change, before the
  /// change is answered.
  std::string state_file;
  /// Run on its own thread (production: it reads and writes cgroup files);
  /// tests run it on the deterministic scheduler.
  bool detached = true;
  /// The device number of a block device node; empty = stat(2).
  std::function<caf::expected<dev_t>(const std::string&)> resolve_device;
  /// Called for every failure (reason: no_cgroup, write_failed, bad_device,
  /// bad_request) and with the volumes whose limits are in force, by kind
  /// (read_bps, write_bps, read_iops, write_iops), after every change.
  std::function<void(std::string_view reason)> on_error;
  std::function<void(const std::map<std::string, uint64_t>&)> on_in_force;
  /// Called at every reconcile for each limit that is not in force (the
  /// node raises an Event on the pod); a publish that fails is answered
  /// with the error instead.
  std::function<void(const set_io_limit&, const std::string& error)> on_not_in_force;
};

/// Spawns the node's io-limit actor. set_io_limit resolves the device,
/// finds the cgroup (explicit > the pod's > the standalone parent), writes
/// the limit there (v1: and in every cgroup below) and keeps it: each tick
/// re-discovers and re-reads, and writes again what is missing or different.
/// A cgroup that cannot be found is an error naming the pod and the root
/// (the limit stays registered: a later tick applies it when it appears).
/// config_invalid for a bad mode; the state file's read or parse error
/// (the file is left as it is) when it cannot be used.
caf::expected<io_limit_actor> spawn_io_limit_actor(caf::actor_system& sys, io_limit_options opts);

} // namespace olocal
