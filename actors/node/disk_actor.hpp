#pragma once

#include "actors/core/interfaces.hpp"

#include <caf/fwd.hpp>

#include <chrono>
#include <string>

namespace olocal {

/// Why a whole device may not be released (wiped and handed out again); ""
/// when it may. Mounted, held, partitioned and read-only devices are refused;
/// signatures or unreadable content do not block a release: the wipe is what
/// removes them. Pure.
std::string release_refusal(const block_device& facts);

/// Spawns the actor that owns the facts of one block device. It answers
/// release_device_req by wiping the whole device through `runner` (a
/// detached runner: the wipe blocks for as long as the device is large), one
/// release at a time; `wipe_timeout` bounds one wipe.
disk_actor spawn_disk_actor(caf::actor_system& sys, block_device facts, lvm_runner_actor runner,
                            std::chrono::milliseconds wipe_timeout = std::chrono::hours{1});

} // namespace olocal
