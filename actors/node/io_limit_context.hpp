#pragma once

// What a volume context says about IO limits: the keys, the limits and
// whose cgroup they go to. String work only (no <filesystem>: the CSI
// translation includes this).

#include "actors/core/messages.hpp"

#include <caf/expected.hpp>

#include <string>
#include <string_view>

namespace olocal::io_limits {

/// The volume-context keys of IO limits (StorageClass parameters and inline
/// volumeAttributes alike).
namespace keys {
inline constexpr std::string_view iops = "iops"; ///< open-local: reads and writes
inline constexpr std::string_view bps = "bps";   ///< open-local: reads and writes (a quantity)
inline constexpr std::string_view read_iops = "readIops";
inline constexpr std::string_view write_iops = "writeIops";
inline constexpr std::string_view read_bps = "readBps";
inline constexpr std::string_view write_bps = "writeBps";
/// Standalone: the cgroup a publish limits (as /proc/<pid>/cgroup names it).
inline constexpr std::string_view cgroup = "olocal/cgroup";
/// kubelet's pod UID in the volume context (CSIDriver podInfoOnMount).
inline constexpr std::string_view pod_uid = "csi.storage.k8s.io/pod.uid";
} // namespace keys

/// The limits a volume context asks for (volume_params' keys: open-local's
/// iops and bps for both directions, readIops/writeIops/readBps/writeBps for
/// one; the latter win). invalid_argument naming the key for bad values.
caf::expected<io_limit> limit_from_context(const param_map& context);

/// The pod UID in a kubelet target path, for any kubelet root:
/// ".../pods/<uid>/volumes/..." (filesystem volumes) or
/// ".../volumeDevices/publish/<pv>/<uid>" (block volumes); "" when none.
std::string pod_uid_of_target(std::string_view path);

} // namespace olocal::io_limits
