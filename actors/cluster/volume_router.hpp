#pragma once

// The cluster's CSI Controller: one volume_manager_actor in front of the
// per-node volume managers. It places new volumes on the first acceptable
// node that fits, finds the node of an existing volume or snapshot (asking
// every node when it does not know yet) and merges listings, so that the CSI
// gateway talks to it exactly as to a single node's manager.

#include "actors/core/interfaces.hpp"

#include <caf/fwd.hpp>

#include <chrono>
#include <functional>
#include <string>

namespace olocal {

/// The volume manager interface plus the node membership messages.
using volume_router_actor =
  volume_manager_actor::extend<caf::replies_to<node_upsert>::with<bool>,  // changed?
                               caf::replies_to<node_remove>::with<bool>>; // was known?

struct router_setup {
  /// Makes the volume manager of one node (in production: a node proxy to
  /// the node's agent at `address` plus spawn_volume_manager over it; in
  /// tests: stubs). Called lazily, at most once per node name and address;
  /// the router owns what it returns (it sends exit to the managers it made
  /// when the address changes, the node is removed, or the router exits).
  std::function<volume_manager_actor(caf::actor_system&, const std::string& node,
                                     const std::string& address)>
    make_manager;
  std::chrono::milliseconds timeout{900'000}; ///< per forwarded request
  /// The scheduler's placement (optional): for a new LVM volume without
  /// vgName whose PVC is named in the parameters (external-provisioner's
  /// --extra-create-metadata), the first node is asked for the group the
  /// scheduler reserved, which then becomes the volume's vgName. No answer
  /// within advice_timeout, or an error: the node's own choice. The router
  /// owns it (it ends with the router).
  placement_advisor_actor advisor;
  std::chrono::milliseconds advice_timeout{10'000};
};

/// Spawns the router with no known node (send node_upsert for each). The
/// handle converts implicitly to volume_manager_actor.
///
/// Routing: CreateVolume tries the acceptable nodes in preference order
/// (every known node by name when any is acceptable) and moves on only when
/// a node answers resource_exhausted; requests for one name run one at a
/// time, and a name it placed before goes back to the same node. Requests on
/// an existing volume or snapshot go to the node it was last seen on, else
/// to the first node that knows it (all are asked in parallel); when no node
/// knows it but some did not answer, the answer is unavailable. Listings
/// are complete or unavailable; GetCapacity is the largest of the nodes.
volume_router_actor spawn_volume_router(caf::actor_system& sys, router_setup setup);

} // namespace olocal
