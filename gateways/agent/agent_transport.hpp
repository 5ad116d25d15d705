#pragma once

// The node agent's transport (proto/agent/v1/agent.proto, service
// olocal.agent.v1.NodeAgent): `open-local node` serves it, `open-local
// controller` calls it, over mutual TLS only.
//
//  * The server requires a client certificate signed by the agent CA
//    (handshake refused otherwise) and, on every call, checks the
//    certificate's common name / SANs against allowed_client_names
//    (PERMISSION_DENIED naming what was presented otherwise).
//  * The client verifies the server certificate against the same CA and its
//    SAN against expected_server_name (the node's name or IP).
//  * There is no plaintext listener and no insecure channel in this code.
//
// Errors on the wire: the gRPC code from to_grpc_code(errc), the rendered
// error as the message, and the exact errc name in the trailing metadata key
// "olocal-errc". The client maps back with that key, else with
// errc_of_grpc_code(); message text is never parsed.
//
// Serving volumes: with a node supervisor in the options, CreateVolume,
// DeleteVolume, ExpandVolume, ClaimVolume, GetNodeView and Rescan are served
// by a one-shot actor per call that asks the supervisor (ExpandVolume: looks
// the volume actor up, then asks it) within change_timeout / read_timeout and
// finishes the call from the answer; no gRPC thread waits for an actor.
// Without one, those RPCs answer UNIMPLEMENTED (after the identity check).
// Snapshots, clones and restores are CreateVolume calls (see agent.proto).
//
// gRPC and the generated code stay inside agent_transport.cpp and
// agent_translate.cpp (pimpl).

#include "actors/core/errc.hpp"
#include "actors/core/interfaces.hpp"

#include <caf/expected.hpp>

#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

namespace caf {
class actor_system;
} // namespace caf

namespace olocal {

/// The revision of the agent API within olocal.agent.v1 that this build speaks.
inline constexpr uint32_t agent_protocol_version = 1;

/// Trailing metadata key carrying the errc name of a failed call.
inline constexpr std::string_view agent_errc_key = "olocal-errc";

/// The default client identity the node accepts.
inline constexpr std::string_view agent_controller_name = "open-local-controller";

/// PEM text of the agent CA, this side's certificate (chain) and its key.
struct agent_tls {
  std::string ca_pem;
  std::string cert_pem;
  std::string key_pem;
};

/// Reads the three PEM files. Errors: config_invalid naming the file that is
/// missing, unreadable, empty or not PEM.
caf::expected<agent_tls> load_agent_tls(const std::string& ca_file, const std::string& cert_file,
                                        const std::string& key_file);

/// GetIdentity's answer.
struct agent_identity {
  std::string node_name;
  std::string version;
  uint32_t protocol_version = 0;
};

/// The errc a client reports for a gRPC status code that came without an
/// "olocal-errc" key (transport failures, other servers). The inverse of
/// to_grpc_code where that is one-to-one.
errc errc_of_grpc_code(grpc_code code);

/// True if any of the names the peer presented (certificate CN and SANs) is
/// in `allowed` (exact, case-sensitive match).
bool agent_client_allowed(const std::vector<std::string>& presented,
                          const std::vector<std::string>& allowed);

// -- server ----------------------------------------------------------------------

struct agent_server_options {
  /// "0.0.0.0:1736" in a cluster; "127.0.0.1:0" (any free port) in tests.
  std::string address = "0.0.0.0:1736";
  agent_tls tls;
  /// Certificate CNs / SANs that may call; must not be empty.
  std::vector<std::string> allowed_client_names = {std::string{agent_controller_name}};
  std::string node_name; ///< GetIdentity's node_name; must not be empty
  std::string version;   ///< GetIdentity's version
  /// The actor system the calls' actors run in and the node supervisor they
  /// ask; both or neither. The system must outlive the server.
  caf::actor_system* system = nullptr;
  node_supervisor_actor node;
  /// How long a changing call (create, delete, expand, claim, rescan) and a
  /// read (GetNodeView) may wait for the node's actors.
  std::chrono::milliseconds change_timeout{300'000};
  std::chrono::milliseconds read_timeout{30'000};
};

class agent_server {
public:
  /// Starts serving (gRPC callback API: handlers never block). Errors:
  /// config_invalid (missing or non-PEM TLS material, no allowed client
  /// name, no node name), io_error (cannot listen: address invalid or in use,
  /// or gRPC refused the certificate or key).
  static caf::expected<std::unique_ptr<agent_server>> start(agent_server_options opts);

  ~agent_server();
  agent_server(const agent_server&) = delete;
  agent_server& operator=(const agent_server&) = delete;

  /// The bound TCP port (the chosen one when the address asked for port 0).
  int port() const;

  /// Calls answered so far / refused by the identity check.
  uint64_t calls() const;
  uint64_t refused() const;

  /// Stops intake and gives calls in flight until `deadline` to finish (then
  /// answers them UNAVAILABLE with errc shutting_down and ends their actors).
  /// Idempotent.
  void stop(std::chrono::milliseconds deadline);

  struct impl;

private:
  explicit agent_server(std::unique_ptr<impl> p);
  std::unique_ptr<impl> impl_;
};

// -- client ----------------------------------------------------------------------

struct agent_client_options {
  std::string target; ///< "10.0.0.5:1736", "node-1.example:1736"
  agent_tls tls;      ///< the controller's certificate and key, the agent CA
  /// The name the server certificate must carry as a SAN (DNS or IP): the
  /// node's name or IP. "" = the host part of target. When it differs from
  /// the target's host it becomes gRPC's SSL target name override.
  std::string expected_server_name;
  /// How long a call waits for a connection (TCP and TLS) before giving up
  /// with unavailable.
  std::chrono::milliseconds connect_timeout{5'000};
  /// Deadline of one call, connection included (timeout when it passes).
  std::chrono::milliseconds call_timeout{30'000};
  /// Upper bound of gRPC's reconnect backoff after a failed connection.
  std::chrono::milliseconds max_reconnect_backoff{10'000};
};

class agent_client {
public:
  /// Creates the channel (it connects lazily, on the first call). Errors:
  /// config_invalid (no target, missing TLS material).
  static caf::expected<std::unique_ptr<agent_client>> make(agent_client_options opts);

  ~agent_client();
  agent_client(const agent_client&) = delete;
  agent_client& operator=(const agent_client&) = delete;

  /// GetIdentity, blocking for at most call_timeout. An unreachable node or
  /// a refused TLS handshake answers unavailable (the message says which,
  /// with gRPC's detail), a passed deadline timeout, the server's refusal
  /// its own code (permission_denied naming the presented certificate).
  caf::expected<agent_identity> identity();

  // The volume RPCs, each blocking for at most call_timeout. Errors: the
  // server's errc (from "olocal-errc"), else as for identity().

  /// CreateVolume: the new (or, on a repeat, existing) volume.
  caf::expected<volume_state> create_volume(const create_volume_req& req);
  /// DeleteVolume: true when removed, false when nothing of that id was there.
  caf::expected<bool> delete_volume(const delete_volume_req& req);
  /// ExpandVolume: the volume after growing to at least size_bytes.
  caf::expected<volume_state> expand_volume(const std::string& id, uint64_t size_bytes);
  /// ClaimVolume: the Device or MountPoint volume.
  caf::expected<volume_state> claim_volume(const claim_req& req);
  /// GetNodeView: the node as its supervisor last saw it.
  caf::expected<node_view> get_node_view();
  /// Rescan: the number of volumes after the reconcile.
  caf::expected<uint64_t> rescan();

  const agent_client_options& options() const;

  struct impl;

private:
  explicit agent_client(std::unique_ptr<impl> p);
  std::unique_ptr<impl> impl_;
};

} // namespace olocal
