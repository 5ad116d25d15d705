#pragma once

// open-local's `controller`: keeps every node's NodeLocalStorage spec equal to
// what the NodeLocalStorageInitConfig (nlsc) resolves to for that node.
//
// A detached actor follows three informers: Nodes, the nlsc named by
// --initconfig, and NodeLocalStorages (the cache it compares with, so an
// unchanged cluster costs no request at all). Once all three have synced, and
// then on every relevant change and every resync period, it reconciles:
//   - a Node without its NLS: create it (name = node name, spec = desired);
//   - an NLS whose spec differs from the desired one: rewrite .spec only
//     (read-modify-write; status, labels, annotations and unknown fields kept);
//   - a Node gone: delete its NLS (open-local left it behind);
//   - the nlsc missing or invalid: change no spec (an invalid one raises a
//     Warning Event on the nlsc, once per resourceVersion).
// API errors are logged and retried at the next pass; nothing is fatal.

#include "gateways/kube/nls.hpp"
#include "gateways/kube/resources.hpp"

#include <caf/fwd.hpp>
#include <caf/meta/type_name.hpp>

#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>

namespace olocal::kube {

class client;

struct config_controller_options {
  /// The nlsc's name (open-local's --initconfig).
  std::string init_config = "open-local";
  /// A full reconcile of every node runs this often.
  std::chrono::milliseconds resync{60'000};
  /// A full pass also deletes NLS objects whose Node no longer exists (a Node
  /// deleted while the controller was down); a Node's DELETED event always does.
  bool delete_orphans = true;
};

/// Counters, answered to `stats_atom`.
struct config_controller_stats {
  uint64_t passes = 0;        ///< reconcile passes run (full and partial)
  uint64_t full_passes = 0;   ///< passes over every node (start, nlsc change, resync)
  uint64_t creates = 0;       ///< NLS created
  uint64_t updates = 0;       ///< NLS specs rewritten
  uint64_t deletes = 0;       ///< NLS deleted (not_found counts as done)
  uint64_t failures = 0;      ///< API calls that failed (retried at the next pass)
  uint64_t config_events = 0; ///< Warning Events raised for an invalid nlsc
  bool synced = false;        ///< all three informers synced
  bool config_valid = false;  ///< the nlsc exists and parses
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, config_controller_stats& x) {
  return f(caf::meta::type_name("config_controller_stats"), x.passes, x.full_passes, x.creates,
           x.updates, x.deletes, x.failures, x.config_events, x.synced, x.config_valid);
}

/// What one node's NLS needs.
struct nls_action {
  enum class kind { none, create, update, remove };
  kind what = kind::none;
  nls_spec desired; ///< for create and update
};

/// The pure decision for the node `name`. `config` nullptr = no valid nlsc,
/// `node` nullptr = the Node is gone, `nls` nullptr = it has no NLS. The
/// spec compares by meaning (parse_nls_spec), so field order, omitted empty
/// fields and unknown fields cause no write; an unparseable spec is rewritten.
nls_action decide_nls(const init_config* config, const std::string& name, const object* node,
                      const object* nls);

/// A new NodeLocalStorage object holding `spec` (named after spec.node_name).
object make_nls(const nls_spec& spec);

/// Spawns the controller (a detached actor: its API calls block only itself).
/// It answers `stats_atom` with config_controller_stats, ends with an exit
/// message and ends its informers with itself.
caf::actor spawn_config_controller(caf::actor_system& sys, std::shared_ptr<client> api,
                                   config_controller_options opts);

} // namespace olocal::kube
