#pragma once

// Informers: a local, indexed cache of one resource kind, kept by list and
// watch, and its changes delivered to subscriber actors in order.
//
// The informer actor owns the cache; a detached loop actor does the blocking
// HTTP (list, then watch from the list's resourceVersion with bookmarks,
// reconnect with backoff, relist on 410 Gone) and hands each result to it.
// After a relist the informer diffs the new list against its cache, so a
// subscriber sees exactly the changes it missed: nothing twice, nothing lost.

#include "actors/core/messages.hpp"
#include "gateways/kube/resources.hpp"

#include <caf/fwd.hpp>
#include <caf/typed_actor.hpp>

#include <chrono>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

namespace olocal::kube {

class client;

using subscribe_atom = caf::atom_constant<caf::atom("ksubscr")>;
using synced_atom = caf::atom_constant<caf::atom("ksynced")>;
using step_atom = caf::atom_constant<caf::atom("kstep")>;
using resync_atom = caf::atom_constant<caf::atom("kresync")>;

/// One change, as a subscriber receives it.
struct watch_event {
  std::string type; ///< "ADDED", "MODIFIED", "DELETED", or "SYNC" (periodic resync)
  std::string kind; ///< the resource kind ("Pod"), for subscribers of several informers
  object obj;       ///< for DELETED: the last state known
};

/// What the loop hands the informer (internal).
struct list_result {
  std::vector<object> items;
  std::string resource_version;
};
struct stream_item {
  std::string type; ///< ADDED/MODIFIED/DELETED
  object obj;
};

struct informer_stats {
  uint64_t objects = 0;
  std::string resource_version; ///< the newest the cache has seen (bookmarks included)
  uint64_t lists = 0;           ///< full lists (the first and every relist)
  uint64_t relists_gone = 0;    ///< relists forced by 410 Gone
  uint64_t watches = 0;         ///< watch requests started
  uint64_t events = 0;          ///< changes applied to the cache
  uint64_t errors = 0;          ///< failed list/watch attempts
  bool synced = false;
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, informer_stats& x) {
  return f(caf::meta::type_name("informer_stats"), x.objects, x.resource_version, x.lists,
           x.relists_gone, x.watches, x.events, x.errors, x.synced);
}

using informer_actor = caf::typed_actor<
  /// The subscriber first gets an ADDED per cached object, then every change.
  caf::reacts_to<subscribe_atom, caf::actor>,
  /// Answers true once the first list is in the cache (waits until then).
  caf::replies_to<synced_atom>::with<bool>,
  /// The object with this key ("ns/name" or "name"); empty when absent.
  caf::replies_to<get_atom, std::string>::with<std::vector<object>>,
  /// Objects whose index `index` has `value`; index "" = every object.
  caf::replies_to<list_atom, std::string, std::string>::with<std::vector<object>>,
  caf::replies_to<stats_atom>::with<informer_stats>,
  // from the loop
  caf::reacts_to<list_result>, caf::reacts_to<stream_item>,
  caf::reacts_to<watch_atom, std::string>, // a bookmark's resourceVersion
  caf::reacts_to<step_atom>,               // a watch request started
  caf::reacts_to<rescan_atom>,             // the loop must relist (410 Gone)
  caf::reacts_to<tick_atom, std::string>,  // a failed attempt, with why
  caf::reacts_to<resync_atom>>;

/// Values of an object for one index (a pod's node, an object's namespace).
using index_fn = std::function<std::vector<std::string>(const object&)>;

struct informer_options {
  const resource_kind* kind = nullptr;
  std::string ns; ///< "" = all namespaces (or a cluster-scoped kind)
  std::string label_selector;
  std::string field_selector;
  /// Every object is delivered again as SYNC this often (0 = never).
  std::chrono::milliseconds resync{0};
  /// Backoff after a failed list or watch: doubles from base up to max, jittered.
  std::chrono::milliseconds backoff_base{200};
  std::chrono::milliseconds backoff_max{10'000};
  /// The server ends each watch after this long; the loop watches again.
  std::chrono::seconds watch_timeout{300};
  /// Page size of lists (0 = no paging).
  unsigned page_size = 500;
  /// Extra indexes by name; "namespace" always exists.
  std::map<std::string, index_fn> indexes;
};

/// Spawns an informer and its loop. The caller ends it with an exit message
/// (the loop follows through a link); it needs no other actor.
informer_actor spawn_informer(caf::actor_system& sys, std::shared_ptr<client> api,
                              informer_options opts);

/// Index functions for the kinds we follow.
namespace index {
std::vector<std::string> pod_node(const object& o);
std::vector<std::string> pv_node(const object& o);
} // namespace index

} // namespace olocal::kube

CAF_ALLOW_UNSAFE_MESSAGE_TYPE(olocal::kube::watch_event)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(olocal::kube::list_result)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(olocal::kube::stream_item)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(std::vector<olocal::kube::object>)
