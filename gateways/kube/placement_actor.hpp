#pragma once

// The placement actor: the scheduler extender's view of the cluster, kept
// from informers, and the PVC reservations made for CSI CreateVolume.
//
// It follows NodeLocalStorage, PersistentVolume, PersistentVolumeClaim, Pod,
// StorageClass, Node, VolumeSnapshot, VolumeSnapshotContent and
// VolumeSnapshotClass. For every node it keeps the base state from the
// NodeLocalStorage (placement_view.hpp) and the charges on it by key (PVs of
// ours, reservations, inline volumes of pods bound to the node); a change
// recomputes only the nodes it touches, and a new immutable cluster_view is
// published at most every publish_interval. Readers (HTTP handlers) take the
// current snapshot from a placement_reader without ever waiting for the actor.
//
// Unlike open-local's extender cache (reference §11.3): nothing is published
// as synced before every informer has synced; a reservation is released when
// its PV appears (the PV's charge replaces it, never both), when its PVC is
// deleted, or after a TTL; inline volumes count from the moment the pod is
// bound to a node; a NodeLocalStorage deletion removes the node's capacity.

#include "actors/cluster/placement.hpp"
#include "actors/core/messages.hpp"
#include "gateways/kube/informer.hpp"
#include "gateways/kube/placement_view.hpp"

#include <caf/fwd.hpp>
#include <caf/replies_to.hpp>
#include <caf/typed_actor.hpp>

#include <chrono>
#include <memory>
#include <string>
#include <vector>

namespace olocal::placement {

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, assignment& x) {
  return f(caf::meta::type_name("placement_assignment"), x.request_id, x.kind, x.vg, x.pool, x.unit,
           x.bytes);
}

} // namespace olocal::placement

namespace olocal::kube {

class client;

/// One published state: the view, the objects it was built from, and
/// whether every informer had synced (readiness).
struct placement_snapshot {
  placement::view_ptr view;
  std::shared_ptr<const object_index> objects;
  bool synced = false;
};

/// Where the actor publishes and readers read. Lock-free for readers: an
/// atomic shared_ptr swap; a reader keeps its snapshot as long as it wants.
class placement_reader {
public:
  placement_reader();
  /// Never null (an empty, unsynced snapshot before the first publication).
  std::shared_ptr<const placement_snapshot> current() const;
  void publish(std::shared_ptr<const placement_snapshot> next);

private:
  std::shared_ptr<const placement_snapshot> current_;
};

/// Reserve space for a PVC on the node the scheduler chose (the extender's
/// POST /apis/scheduling/{ns}/persistentvolumeclaims/{name}?nodeName=).
struct reserve_req {
  std::string pvc_namespace;
  std::string pvc_name;
  std::string node;
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, reserve_req& x) {
  return f(caf::meta::type_name("reserve_req"), x.pvc_namespace, x.pvc_name, x.node);
}

/// Where the PVC's volume goes.
struct pvc_reservation {
  std::string node;
  placement::assignment assignment; ///< request_id = "ns/pvc"
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, pvc_reservation& x) {
  return f(caf::meta::type_name("pvc_reservation"), x.node, x.assignment);
}

/// Publish the pending changes (internal, a delayed message to itself).
using placement_publish_atom = caf::atom_constant<caf::atom("plpublish")>;
/// A reservation's TTL ran out (internal): its key and sequence number.
using placement_expire_atom = caf::atom_constant<caf::atom("plexpire")>;

using placement_actor = caf::typed_actor<
  /// Errors: unavailable before sync; not_found naming an unknown PVC or node;
  /// invalid_argument for a PVC that is not ours or a pod error;
  /// resource_exhausted with the reason the pod does not fit the node.
  caf::replies_to<reserve_req>::with<pvc_reservation>,
  caf::replies_to<inspect_atom>::with<actor_report>,
  // internal
  caf::reacts_to<watch_event>, caf::reacts_to<placement_publish_atom>,
  caf::reacts_to<placement_expire_atom, std::string, uint64_t>>;

struct placement_options {
  /// Our CSI drivers / provisioners.
  std::vector<std::string> drivers = default_drivers();
  /// Thin pools may hold virtual sizes up to size * this.
  double thin_overprovision = 2.0;
  placement::strategy strategy = placement::strategy::binpack;
  /// A reservation without a PV is released after this long.
  std::chrono::milliseconds reservation_ttl{5 * 60 * 1000};
  /// Changes are batched and published at most this often.
  std::chrono::milliseconds publish_interval{20};
};

/// Spawns the placement actor and its informers (linked: they end with it).
/// It ends with an exit message.
placement_actor spawn_placement(caf::actor_system& sys, std::shared_ptr<client> api,
                                std::shared_ptr<placement_reader> reader,
                                placement_options opts = {});

} // namespace olocal::kube
