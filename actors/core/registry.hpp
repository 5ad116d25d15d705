#pragma once

#include "actors/core/interfaces.hpp"

#include <caf/fwd.hpp>

namespace olocal {

/// Spawns the registry of long-lived actors. It monitors every registered
/// actor and forgets it when it terminates; stop_all sends each an exit
/// message (user_shutdown) and answers how many it stopped.
registry_actor spawn_registry(caf::actor_system& sys);

} // namespace olocal
