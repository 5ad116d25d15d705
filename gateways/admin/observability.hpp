#pragma once

#include "actors/core/interfaces.hpp"

#include <caf/expected.hpp>
#include <caf/fwd.hpp>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <memory>
#include <string>

namespace olocal::metrics {
class registry;
}

namespace olocal::http {
class server;
}

namespace olocal {

struct observability_options {
  std::string address = "127.0.0.1";
  uint16_t port = 9353;
  /// File holding the bearer token for /admin/*. Required when `address` is
  /// not a loopback address; optional (and then enforced) on loopback.
  std::string admin_token_file;
  /// How long an actor may take to answer an inspection request.
  std::chrono::milliseconds actor_timeout{2000};
  unsigned threads = 1;
};

/// True for 127.0.0.0/8, ::1 and "localhost".
bool is_loopback_address(std::string_view address);

/// The process's HTTP face for people and monitoring:
///   GET /healthz             200 while the actor system answers (liveness)
///   GET /readyz              200 while ready, 503 while starting or draining
///   GET /metrics             Prometheus text format
///   GET /admin/actors        every long-lived actor: id, name, kind, mailbox
///                            depth, one-line summary, last error
///   GET /admin/actors/{id}   one actor's full state, answered by the actor
class observability {
public:
  /// Starts serving. Errors: config_invalid (token rules), io_error (bind).
  static caf::expected<std::unique_ptr<observability>> start(caf::actor_system& sys,
                                                             registry_actor registry,
                                                             metrics::registry& metrics,
                                                             observability_options opts);

  ~observability();

  uint16_t port() const;

  void set_ready(bool ready);
  bool ready() const { return ready_; }

  /// Stops intake, drains in-flight requests up to `drain`, returns the
  /// number left unanswered.
  size_t stop(std::chrono::milliseconds drain);

private:
  observability(caf::actor_system& sys, registry_actor registry, metrics::registry& metrics,
                observability_options opts, std::string token);

  struct routes;
  struct kind_tracker;
  caf::actor_system& sys_;
  registry_actor registry_;
  metrics::registry& metrics_;
  observability_options opts_;
  std::string token_;
  std::shared_ptr<kind_tracker> kinds_;
  std::atomic<bool> ready_{false};
  std::unique_ptr<http::server> server_;
};

} // namespace olocal
