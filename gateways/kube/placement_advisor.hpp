#pragma once

// The controller's side of open-local's placement API: asks `open-local
// scheduler` (POST {url}/apis/scheduling/{ns}/persistentvolumeclaims/{name}
// ?nodeName=) where it reserved a PVC on its selected node. A detached actor
// makes the blocking HTTP call (libcurl), one at a time, each bounded by the
// timeout; errors name the URL and the status or transport failure.

#include "actors/core/interfaces.hpp"

#include <caf/fwd.hpp>

#include <chrono>
#include <string>

namespace olocal::kube {

/// The answer of the placement API's JSON body ({"node","vgName","device",
/// "disk","volumeType"}); invalid_argument naming what is missing.
caf::expected<placement_answer> parse_placement_answer(const std::string& body);

/// Spawns the advisor for the extender at `url` ("http://host:23000").
placement_advisor_actor spawn_placement_advisor(caf::actor_system& sys, std::string url,
                                                std::chrono::milliseconds timeout);

} // namespace olocal::kube
