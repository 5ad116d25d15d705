#pragma once

#include "actors/core/interfaces.hpp"

#include <caf/fwd.hpp>

#include <chrono>
#include <string>
#include <string_view>
#include <vector>

namespace olocal {

struct volume_options {
  /// How long one filesystem step (mkfs, mount, resize2fs) may take.
  std::chrono::milliseconds fs_timeout{600'000};
  /// How long the volume group may take for an extend or a delete (it may be
  /// busy with other volumes' changes first).
  std::chrono::milliseconds vg_timeout{900'000};
  /// MountPoint volumes: the claimed directory, bind-mounted at the staging
  /// path (no filesystem is made); "" for volumes on a block device.
  std::string source_dir;
  /// MountPoint volumes: the filesystem of source_dir (reported once staged).
  std::string source_fstype;
};

/// The phase a volume is in, derived from what its actor knows:
/// deleting > lost (LV gone) > expanding > published > staged > ready.
std::string phase_of(const volume_state& st, bool expanding, bool deleting);

/// Rebuilds stage and publish facts from the mounts of a volume's device (in
/// mount order, as fs_runner's mounts_query answers them): filesystem mounts
/// of the device make a filesystem volume, staged at the first and published
/// at the others; bind mounts of the device node (devtmpfs) make a raw block
/// volume published there. Pure.
void adopt_mounts(volume_state& st, const std::vector<fs_ops::mount_entry>& mounts);

/// Checks a request before it reaches the queue; "" when it is acceptable.
/// Paths must be absolute and free of NUL and "..", filesystems one of
/// fs_ops' supported ones. Pure.
std::string validate(const stage_req& req);
std::string validate(const publish_req& req);
std::string validate_path(std::string_view what, std::string_view path);

/// Spawns the actor of one volume (an LV of `vg`). It first rebuilds its
/// stage and publish state from the kernel's mount table, then runs stage,
/// unstage, publish, unpublish, expand and delete one at a time. Filesystem
/// work goes to `fs`, LV changes to `vg`. It exits after a successful delete.
///
/// Device and MountPoint volumes (lv tagged olocal/kind=device|mountpoint,
/// no volume group, `vg` unused) work the same on their device, except:
/// a MountPoint volume stages as a bind mount of opts.source_dir (never a
/// block volume), neither kind grows (expand beyond its size is
/// failed_precondition), and delete only checks that the volume is neither
/// staged nor published, answers true and exits: releasing the device or
/// directory is the node supervisor's work.
volume_actor spawn_volume_actor(caf::actor_system& sys, lvm::lv_info lv, vg_actor vg,
                                fs_runner_actor fs, volume_options opts = {});

} // namespace olocal
