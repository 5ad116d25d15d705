#pragma once

// Leader election on a coordination.k8s.io/v1 Lease, with client-go's
// semantics: a candidate takes the Lease over only after it has watched the
// record stay unchanged for the record's leaseDurationSeconds by its own
// clock (so clock skew between nodes does not matter, only skew rate); the
// leader renews every retry_period and steps down when it could not renew
// for renew_deadline; every write carries the resourceVersion it read, so of
// two candidates in one round only one wins.
//
// The elector is a detached actor (its HTTP calls block) that ticks itself
// with delayed messages, so an exit message is handled between two ticks.
// End it with an exit message; with release_on_exit it then gives the Lease
// up (holderIdentity "", leaseDurationSeconds 1) so another candidate can
// take over at once.

#include <caf/actor.hpp>
#include <caf/error.hpp>
#include <caf/fwd.hpp>
#include <caf/meta/type_name.hpp>

#include <chrono>
#include <functional>
#include <memory>
#include <optional>
#include <string>

namespace olocal::kube {

class client;

struct leader_options {
  std::string ns = "kube-system";
  std::string name;     ///< the Lease
  std::string identity; ///< this candidate, unique among candidates (pod name, node name)
  /// How long the others wait, after they last saw the record change, before
  /// taking over. Written as leaseDurationSeconds, rounded up to whole seconds.
  std::chrono::milliseconds lease_duration{15000};
  /// How long the leader keeps trying to renew before it steps down.
  std::chrono::milliseconds renew_deadline{10000};
  /// Time between two attempts (candidates add up to 20 % jitter).
  std::chrono::milliseconds retry_period{2000};
  bool release_on_exit = true;
};

/// Sent to the notify actor whenever this candidate starts or stops leading
/// or sees another holder. `holder` is the identity the Lease names ("" when
/// it names nobody, or this candidate after it stepped down).
struct leader_changed {
  bool leading = false;
  std::string holder;
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, leader_changed& x) {
  return f(caf::meta::type_name("leader_changed"), x.leading, x.holder);
}

/// The options' problems, none when usable: ns, name and identity non-empty,
/// 0 < retry_period < renew_deadline < lease_duration.
caf::error check_leader_options(const leader_options& opts);

/// Spawns an elector that sends leader_changed to `notify` (may be null).
/// Throws std::invalid_argument with check_leader_options' message for bad options.
caf::actor spawn_leader_elector(caf::actor_system& sys, std::shared_ptr<client> api,
                                leader_options opts, caf::actor notify);

/// Runs `start_work` while this candidate leads and ends the actor it returned
/// (an exit message) when leadership is lost: a gate around work that must
/// have one runner in the cluster. Without `opts` (election off) the work
/// starts at once. The gate ends its elector and its work with itself.
caf::actor spawn_while_leading(caf::actor_system& sys, std::shared_ptr<client> api,
                               std::optional<leader_options> opts,
                               std::function<caf::actor(caf::actor_system&)> start_work);

} // namespace olocal::kube
