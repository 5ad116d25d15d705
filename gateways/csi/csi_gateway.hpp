#pragma once

// The CSI gateway: Identity, Controller and Node services (CSI v1, package
// csi.v1) on a unix socket, for kubelet, the CSI sidecars and the
// open-local client. Each call is translated into actor messages (pure,
// tested functions in gateways/csi/translate.hpp) and answered when the
// actors answer: handlers never block a gRPC thread.

#include "actors/core/interfaces.hpp"

#include <caf/expected.hpp>
#include <caf/fwd.hpp>

#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

namespace olocal {

struct csi_options {
  /// "unix:///run/open-local/csi.sock" (a stale socket file is replaced).
  std::string endpoint = "unix:///run/open-local/csi.sock";
  /// open-local's name; its legacy name yodaplugin.csi.alibabacloud.com is
  /// accepted as well.
  std::string driver_name = "local.csi.aliyun.com";
  std::string version;     ///< vendor_version of GetPluginInfo
  std::string node_id;     ///< NodeGetInfo node_id and topology kubernetes.io/hostname
  int64_t max_volumes = 0; ///< NodeGetInfo max_volumes_per_node (0 = no limit)
  /// Staging and target paths must lie under one of these (kubelet's root in
  /// a cluster); anything else is INVALID_ARGUMENT.
  std::vector<std::string> allowed_paths = {"/var/lib/kubelet"};
  /// Where inline ephemeral volumes are staged (inside allowed_paths or not).
  std::string state_dir = "/var/lib/open-local";
  bool controller = true; ///< serve the Controller service
  bool node = true;       ///< serve the Node service
  /// How long one call may wait for the actors.
  std::chrono::milliseconds call_timeout{600'000};
  /// The node's io-limit actor: after a publish whose volume context asks
  /// for IO limits it applies them (failure fails the publish, so kubelet
  /// retries and records an Event); unpublish removes them. None: such a
  /// publish fails with UNIMPLEMENTED. The gateway drops it when it stops.
  io_limit_actor io_limits;
};

class csi_gateway {
public:
  /// Starts serving on opts.endpoint. Errors: invalid_argument (endpoint, a
  /// service without its actor, no service at all), io_error (cannot bind,
  /// the socket path holds something that is not a socket).
  static caf::expected<std::unique_ptr<csi_gateway>> start(caf::actor_system& sys,
                                                           volume_manager_actor manager,
                                                           node_supervisor_actor node,
                                                           csi_options opts);

  ~csi_gateway();

  /// Probe answers ready=false until this is set.
  void set_ready(bool ready);

  /// Stops intake, waits for calls in flight up to `drain` (then cancels
  /// them: they are answered UNAVAILABLE and their one-shot actors end),
  /// removes the socket file. Idempotent; afterwards the gateway holds no
  /// actor handle.
  void stop(std::chrono::milliseconds drain);

  /// Calls answered so far (for tests and metrics).
  uint64_t calls() const;

  struct impl;

private:
  explicit csi_gateway(std::unique_ptr<impl> p);
  std::unique_ptr<impl> impl_;
};

} // namespace olocal
