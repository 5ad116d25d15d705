#pragma once

#include "actors/core/interfaces.hpp"

#include <caf/expected.hpp>
#include <caf/fwd.hpp>

#include <chrono>
#include <cstdint>
#include <memory>
#include <string>

namespace olocal {

struct runtime_options {
  uint64_t workers = 0; ///< scheduler threads; 0 = one per core
};

/// Number of cores this process may run on (at least 1).
unsigned available_cores();

/// Applies our settings to a CAF configuration: worker count, our error
/// category renderer. Used by the runtime and by the test fixture alike.
void configure(caf::actor_system_config& cfg, const runtime_options& opts);

/// The actor system of one process plus its registry of long-lived actors.
class runtime {
public:
  explicit runtime(runtime_options opts);
  ~runtime(); ///< shuts down if shutdown() was not called

  runtime(const runtime&) = delete;
  runtime& operator=(const runtime&) = delete;

  caf::actor_system& system();
  const registry_actor& registry() const { return registry_; }
  unsigned workers() const { return workers_; }

  /// Registers a long-lived actor under a unique name (synchronous; for
  /// start-up code, not for actor handlers).
  caf::expected<uint64_t> adopt(caf::actor handle, std::string name, std::string kind);

  /// Closes intake, sends every registered actor an exit message, stops the
  /// registry and waits for all actors to finish. Idempotent.
  void shutdown(std::chrono::milliseconds request_timeout = std::chrono::seconds{10});

private:
  std::unique_ptr<caf::actor_system_config> cfg_;
  std::unique_ptr<caf::actor_system> sys_;
  registry_actor registry_;
  unsigned workers_ = 0;
};

} // namespace olocal
