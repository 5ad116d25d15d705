#pragma once

#include <filesystem>
#include <string>

namespace olocal {

/// What the node's kernel and tools offer, as far as open-local cares.
struct host_facts {
  bool device_mapper = false; ///< a "device-mapper" line in /proc/misc
  std::string cgroup_mode;    ///< "v2", "v1", "hybrid" or "none"
  bool cgroup_v2_io = false;  ///< the io controller is available on v2
  bool cgroup_v1_blkio = false;
  std::string lvm_version; ///< from `lvm version`, "" when LVM is missing
  std::string lvm_error;   ///< why lvm_version is empty
  std::string kernel;      ///< uname release
};

/// Reads the facts (runs `lvm version` with a timeout, no shell).
/// `proc` and `cgroup_root` are parameters so tests can use fake trees.
host_facts probe_host(const std::filesystem::path& proc = "/proc",
                      const std::filesystem::path& cgroup_root = "/sys/fs/cgroup");

std::string to_json(const host_facts& facts);

} // namespace olocal
