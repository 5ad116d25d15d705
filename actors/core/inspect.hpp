#pragma once

#include "actors/core/messages.hpp"

#include <caf/scheduled_actor.hpp>

#include <string>

namespace olocal {

/// Builds the answer to inspect_atom from inside the actor (the only place
/// where its mailbox may be measured).
inline actor_report make_report(caf::scheduled_actor* self, std::string summary,
                                std::string last_error, std::string state_json) {
  return {std::move(summary), std::move(last_error), self->mailbox().size(), std::move(state_json)};
}

} // namespace olocal
