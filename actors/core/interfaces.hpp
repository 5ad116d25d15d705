#pragma once

// Every actor interface of the system, in one place (STYLE.md rule 1).

#include "actors/core/messages.hpp"

#include <caf/replies_to.hpp>
#include <caf/typed_actor.hpp>

namespace olocal {

/// Every long-lived actor answers this (the admin endpoint asks it).
using inspectable = caf::typed_actor<caf::replies_to<inspect_atom>::with<actor_report>>;

/// Tracks long-lived actors for the admin endpoint and for shutdown.
using registry_actor =
  caf::typed_actor<caf::replies_to<register_actor_req>::with<uint64_t>,        // -> actor id
                   caf::replies_to<list_atom>::with<std::vector<actor_entry>>, // all, by id
                   caf::replies_to<ping_atom>::with<ping_atom>,                // liveness
                   caf::replies_to<stop_all_atom>::with<uint64_t>, // exit all, -> how many
                   caf::replies_to<inspect_atom>::with<actor_report>>;

} // namespace olocal

namespace olocal {

/// One block device of this node (disk actor).
using disk_actor = caf::typed_actor<caf::replies_to<get_atom>::with<block_device>, // current facts
                                    caf::reacts_to<block_device>, // new facts from a rescan
                                    caf::replies_to<inspect_atom>::with<actor_report>>;

} // namespace olocal
