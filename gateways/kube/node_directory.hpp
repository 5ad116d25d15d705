#pragma once

// The node directory (`open-local controller`): follows the cluster's Node
// objects and tells the volume router where each node's agent listens, so
// that a volume created for the scheduler's selected node reaches that
// node's agent.
//
//  * The agent address of a node is the first entry of status.addresses of
//    the configured type (InternalIP by default; ExternalIP, Hostname, ...)
//    with the agent port: "10.0.0.5:1736", "[fd00::5]:1736". A node without
//    such an address is still made known, with an empty address (its calls
//    answer unavailable with that reason).
//  * ADDED/MODIFIED send node_upsert (only when the address changed), DELETED
//    sends node_remove. The informer is linked: it ends with the directory.

#include "gateways/kube/resources.hpp"

#include <caf/fwd.hpp>

#include <cstdint>
#include <memory>
#include <string>

namespace olocal::kube {

class client;

struct node_directory_options {
  std::string address_type = "InternalIP";
  uint16_t agent_port = 1736;
};

/// The agent address of `node` ("" when it has no address of that type).
std::string agent_address(const object& node, const node_directory_options& opts);

/// Spawns the directory; `router` receives node_upsert / node_remove.
caf::actor spawn_node_directory(caf::actor_system& sys, std::shared_ptr<client> api,
                                caf::actor router, node_directory_options opts);

} // namespace olocal::kube
