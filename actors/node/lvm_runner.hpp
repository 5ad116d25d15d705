#pragma once

#include "actors/core/interfaces.hpp"

#include <caf/fwd.hpp>

namespace olocal {

/// Spawns a detached runner (its own thread) that executes LVM commands with
/// lvm::run_lvm (argv only, a timeout, errors classified from lvm2's output)
/// and secure wipes with the data mover. One per volume group keeps groups
/// independent of each other.
lvm_runner_actor spawn_lvm_runner(caf::actor_system& sys);

} // namespace olocal
