#pragma once

#include "actors/core/interfaces.hpp"

#include <caf/fwd.hpp>

namespace olocal {

/// Spawns the actor that owns the facts of one block device. It is the
/// single place later issues extend with signature probing and wiping.
disk_actor spawn_disk_actor(caf::actor_system& sys, block_device facts);

} // namespace olocal
