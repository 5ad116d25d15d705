#pragma once

// The placement model: what every node can still hold, what a pod asks for,
// and the pure decisions over them (does the pod fit a node, how well, which
// volume group or device each of its volumes takes). No Kubernetes, no actors:
// the placement actor builds these values from its informers, the scheduler
// extender and the capacity publisher read them, and the tests drive them
// with tables.
//
// Units are bytes. "Charged" is what is taken on a node by our volumes (PVs
// bound there, reservations made for PVCs not yet provisioned, inline
// volumes of pods running there, expansions), never what LVM reports as used:
// capacity comes from the node (NodeLocalStorage allocatable), usage from the
// cluster, so that a reservation counts from the moment it is made.

#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace olocal::placement {

enum class volume_kind { lvm, device, mount_point };

/// "LVM", "Device", "MountPoint" (StorageClass volumeType values).
const char* to_string(volume_kind kind);

enum class strategy { binpack, spread };

// -- what a node has -----------------------------------------------------------------

struct thin_pool_state {
  std::string name;
  uint64_t size = 0;    ///< the pool's data size
  uint64_t charged = 0; ///< virtual sizes of our thin volumes in it
  /// Virtual size may reach size * overprovision (open-local: none; ours: 2.0).
  double overprovision = 2.0;
  uint64_t virtual_capacity() const;
};

struct vg_state {
  std::string name;
  uint64_t capacity = 0; ///< NodeLocalStorage allocatable (reservations applied)
  uint64_t charged = 0;  ///< thick volumes and thin pools' data of ours
  std::vector<thin_pool_state> thin_pools;
  uint64_t free() const { return charged >= capacity ? 0 : capacity - charged; }
};

/// A whole device (Device volumes) or a pre-mounted directory (MountPoint).
struct exclusive_unit {
  std::string name; ///< /dev/vdc or /mnt/open-local/disk1
  uint64_t capacity = 0;
  std::string media; ///< "ssd" | "hdd"
  bool taken = false;
};

/// One charge on a node, for reports (the extender's local_* metrics and
/// /cache); fit and score never read these.
struct charge_record {
  std::string key;   ///< "pv/<name>", "res/<ns>/<pvc>", "inline:<pod uid>/<volume>"
  std::string kind;  ///< "LVM" | "Device" | "MountPoint"
  std::string where; ///< the volume group, device or mount point
  uint64_t bytes = 0;
  std::string owner;  ///< "ns/pvc" of a PV or reservation; "ns/pod" of an inline volume
  std::string status; ///< a PV's phase, "Reserved", or "Inline"
};

struct node_state {
  std::string name;
  bool reported = false; ///< a NodeLocalStorage status exists (else nothing fits)
  std::vector<vg_state> vgs;
  std::vector<exclusive_unit> devices;
  std::vector<exclusive_unit> mount_points;
  std::vector<charge_record> charges; ///< for reports, sorted by key
  /// True when the node offers any local storage at all.
  bool has_storage() const;
  const vg_state* find_vg(const std::string& name) const;
};

using node_ptr = std::shared_ptr<const node_state>;

/// The whole cluster's view, immutable once published: readers hold a
/// shared_ptr to one generation while the writer builds the next. Nodes are
/// shared between generations: a change replaces only the nodes it touches.
struct cluster_view {
  uint64_t generation = 0;
  std::map<std::string, node_ptr> nodes;
  const node_state* find(const std::string& name) const;
};

using view_ptr = std::shared_ptr<const cluster_view>;

// -- what a pod asks for ------------------------------------------------------------

/// One volume of a pod that still needs a place (an unbound PVC of ours, a
/// generic ephemeral volume's PVC, or an inline CSI volume of ours).
struct volume_request {
  std::string id; ///< "ns/pvc" or "inline:<pod uid>/<volume name>"
  volume_kind kind = volume_kind::lvm;
  uint64_t bytes = 0;
  std::string vg;        ///< StorageClass vgName ("" = any group)
  std::string thin_pool; ///< LVM thin: the pool ("" = thick)
  std::string media;     ///< Device/MountPoint: "ssd" | "hdd" ("" = any)
  /// Read-only snapshot PVCs: only this node can serve them ("" = any).
  std::string pinned_node;
  bool inline_volume = false;
};

/// Everything a pod needs from local storage. `error` is a problem of the
/// pod itself (a bad mediaType, a vgName-less inline volume): it fails the
/// pod on every node with that reason. PVCs of other provisioners, PVCs
/// without a StorageClass and bound PVCs are not requests.
struct pod_demand {
  std::vector<volume_request> volumes;
  std::string error;
  bool uses_local() const { return !volumes.empty(); }
};

// -- decisions -----------------------------------------------------------------------

/// Where one request goes on a node.
struct assignment {
  std::string request_id;
  volume_kind kind = volume_kind::lvm;
  std::string vg;   ///< LVM
  std::string pool; ///< LVM thin
  std::string unit; ///< Device / MountPoint: its name
  uint64_t bytes = 0;
};

struct fit_result {
  bool fits = false;
  std::string reason; ///< why not, naming the node, the group/device and the sizes
  std::vector<assignment> assignments;
};

/// Whether every volume of `demand` fits on `node` at once, and where.
///
/// Requests with a vgName go to that group; the others search the groups
/// (best first by `how`: binpack = least free that fits, spread = most free)
/// with backtracking, so a pod's several volumes are placed whenever any
/// placement exists (open-local's greedy first fit rejected feasible pods).
/// Thin requests need their pool's virtual capacity. Device and MountPoint
/// requests take distinct free units of their media type, the smallest that
/// fits each (matched by search as well). Inline volumes and PVCs are charged
/// together. A pinned request fits only its node. `max_steps` bounds the
/// search; when it is exhausted the answer is "no fit" with that reason.
fit_result fit(const node_state& node, const pod_demand& demand, strategy how,
               size_t max_steps = 100'000);

/// Anti-affinity weights per kind (open-local's --enabled-node-anti-affinity,
/// 0..10): a pod that asks for none of a kind is steered away from nodes
/// that still have free units of that kind.
struct anti_affinity {
  int device = 0;
  int mount_point = 0;
};

/// A node's score (0..10 per function, summed; kube-scheduler multiplies by
/// the extender's weight) for a pod whose fit is `placed` on it:
///  * capacity: for each volume group the pod touches, u = (charged + this
///    pod's bytes there) / capacity, f = u for binpack and 1 - u for spread,
///    averaged and scaled to 0..10 (existing usage counts, unlike
///    open-local's extender); devices and mount points: the average of
///    request / unit capacity, 0..10.
///  * count: for Device and MountPoint, binpack ⌊taken × 10 / free⌋ and
///    spread ⌊(1 − taken / free) × 10⌋ (free = units of that kind before the
///    pod), averaged over the kinds the pod asks for.
///  * anti-affinity: per kind with weight w > 0 that the pod does not ask
///    for: w when the node has no free unit of that kind, else 0; averaged.
/// A pod without local volumes scores 0 on nodes with local storage and 10 on
/// the others (it keeps them free). A node the pod does not fit scores 0.
int score(const node_state& node, const pod_demand& demand, const fit_result& placed, strategy how,
          const anti_affinity& weights);

/// What the extender answers for one node: fit and, when it fits, score.
struct node_verdict {
  std::string node;
  bool fits = false;
  std::string reason;
  int score = 0;
};

/// Filter and prioritize for `nodes` over one view: unknown nodes fail with a
/// reason ("node X is not known to open-local"), a node without a
/// NodeLocalStorage status fails for a pod that uses local storage, a pod
/// error fails every node with it. Pure; reads `view` only.
/// With `with_reasons` false (prioritize), a node that does not fit may come
/// back without its reason, which saves wording it.
std::vector<node_verdict> evaluate(const cluster_view& view, const pod_demand& demand,
                                   const std::vector<std::string>& nodes, strategy how,
                                   const anti_affinity& weights, bool with_reasons = true);

/// Charges `a` on `node` (reservations, PVs, inline volumes): adds to the
/// group's (or pool's) charge or marks the unit taken. Returns false when the
/// group, pool or unit does not exist on the node (nothing changed).
bool charge(node_state& node, const assignment& a);

/// The reverse of charge (a PV deleted, a reservation released).
bool release(node_state& node, const assignment& a);

} // namespace olocal::placement
