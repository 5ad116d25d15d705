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
};

/// Spawns the node's io-limit actor. set_io_limit resolves the device,
/// finds the cgroup (explicit > the pod's > the standalone parent), writes
/// the limit there (v1: and in every cgroup below) and keeps it: each tick
/// re-discovers and re-reads, and writes again what is missing or different.
/// A cgroup that cannot be found is an error naming the pod and the root
/// (the limit stays registered: a later tick applies it when it appears).
/// config_invalid for a bad mode.
caf::expected<io_limit_actor> spawn_io_limit_actor(caf::actor_system& sys, io_limit_options opts);

} // namespace olocal
