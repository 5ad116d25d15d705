#pragma once

// The node proxy (cluster mode): a node_supervisor_actor that serves its
// typed interface by calling a remote node's agent (agent_client over mutual
// TLS), so that the volume manager is the same code in standalone mode (the
// local node supervisor) and in a cluster (one proxy per node).
//
//  * The proxy is event-based and never blocks. The blocking agent_client
//    calls run in one detached "caller" actor per proxy: the calls to one
//    node run one at a time, in arrival order (a slow call delays the ones
//    behind it; each is bounded by the client's call_timeout). The caller
//    answers the proxy and the proxy delivers to its requester.
//  * create_volume_req, claim_req, delete_volume_req, get_atom (node_view)
//    and rescan_atom go to CreateVolume, ClaimVolume, DeleteVolume,
//    GetNodeView and Rescan. Errors from the client pass through unchanged
//    (the node's exact errc; unavailable / timeout for transport failures).
//  * volume_lookup answers a proxy volume actor for that id (spawned by the
//    proxy, cached per id, not checked against the node): expand_req goes to
//    ExpandVolume, delete_volume_req to DeleteVolume (then it exits), get_atom
//    answers the volume from a fresh GetNodeView (not_found when absent);
//    stage / unstage / publish / unpublish / stats answer unimplemented (the
//    node's CSI serves them), lv_update is ignored.
//  * manage_vgs_req and tag_lv_req answer unimplemented (not served over the
//    agent: the node itself applies its spec and collects garbage),
//    tick_atom does nothing, inspect_atom reports the calls made, the
//    failures and the last error.
//  * When the client cannot be made (no target, bad TLS material), the spawn
//    still succeeds and every call answers that error (config_invalid).
//  * The caller and the proxy volume actors are linked to the proxy: they
//    exit with it (the caller after the call it is in, if any).

#include "actors/core/interfaces.hpp"
#include "gateways/agent/agent_transport.hpp"

#include <caf/fwd.hpp>

#include <string>

namespace olocal {

/// Spawns the proxy of node `node_name`, calling its agent with `opts`.
node_supervisor_actor spawn_node_proxy(caf::actor_system& sys, agent_client_options opts,
                                       std::string node_name);

} // namespace olocal
