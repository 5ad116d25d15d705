#pragma once

// Translations from Kubernetes objects to the placement model
// (actors/cluster/placement.hpp): what a node offers (its NodeLocalStorage),
// what a PersistentVolume takes, what a pod asks for, and the /cache dump of
// a view. Pure functions, table-tested; the placement actor
// (placement_actor.hpp) feeds them from its informers.
//
// Where open-local's extender differed (reference §5.2-5.4, §11.3), we:
//   - never fail a pod because a PVC has no StorageClass or an unknown one
//     (issue #211): such a PVC is simply not ours;
//   - treat a generic ephemeral volume whose PVC does not exist yet by its
//     volumeClaimTemplate, so it is counted before the PVC is created;
//   - write sizes as JSON numbers in the cache dump (not strings).

#include "actors/cluster/placement.hpp"
#include "gateways/kube/resources.hpp"

#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace olocal::kube {

/// The CSI driver / provisioner names that are ours (reference §3.1).
const std::vector<std::string>& default_drivers();

/// PV annotation with the placement chosen at scheduling time; it takes
/// precedence over the PV's volumeAttributes (reference §1.6).
inline constexpr std::string_view pv_allocated_annotation = "csi.aliyun.com/pv-allocated";
inline constexpr std::string_view selected_node_annotation = "volume.kubernetes.io/selected-node";

/// What one NodeLocalStorage offers for scheduling: the filtered volume groups
/// (capacity = nodeStorageInfo allocatable, 0 when missing) with their thin
/// pools, the filtered devices (capacity = total, media = mediaType) and the
/// filtered mount points whose fsType is ext3, ext4 or xfs (media = that of
/// their device). `reported` is true when the object has a status. Nothing is
/// charged: charges are applied separately.
placement::node_state node_state_of(const object& nls, double thin_overprovision);

/// What one PersistentVolume of ours takes, and where.
struct pv_charge {
  std::string node;
  placement::assignment assignment; ///< request_id = the PV's name
};

/// The charge of a PV: only CSI PVs of `drivers`, not in phase Pending, with a
/// node (nodeAffinity kubernetes.io/hostname In [node]). Kind from
/// volumeAttributes volumeType (LVM by default); LVM takes the group from the
/// pv-allocated annotation's vgName, else volumeAttributes vgName, and the
/// thin pool when lvmType is thin; Device and MountPoint take the unit named
/// by volumeAttributes "Device" / "MountPoint". Bytes = spec.capacity.storage.
std::optional<pv_charge> charge_of_pv(const object& pv, const std::vector<std::string>& drivers);

/// The objects demand_of looks up, by cache key.
struct object_index {
  std::map<std::string, object> pvcs; ///< "ns/name"
  std::map<std::string, object> storage_classes;
  std::map<std::string, object> snapshots; ///< "ns/name"
  std::map<std::string, object> snapshot_contents;
  std::map<std::string, object> snapshot_classes;
  std::map<std::string, object> pvs; ///< by name (read-only snapshots: the source's group)
};

/// The inline CSI volumes of `drivers` in a pod (kind LVM, id
/// "inline:<pod uid>/<volume>", vg from volumeAttributes vgName, bytes from
/// its size, 1Gi by default). A volume without vgName or with a bad size is
/// left out and explained in `error` (appended, "; "-separated).
std::vector<placement::volume_request> inline_requests_of(const object& pod,
                                                          const std::vector<std::string>& drivers,
                                                          std::string* error = nullptr);

/// The request of one PVC, when it is one: unbound, with a StorageClass of
/// ours. nullopt otherwise (bound, another provisioner, no or an unknown
/// StorageClass: never an error). A bad StorageClass parameter or an
/// unresolvable read-only snapshot source sets `error` (naming the PVC).
std::optional<placement::volume_request> request_of_pvc(const object& pvc, const object_index& idx,
                                                        const std::vector<std::string>& drivers,
                                                        std::string* error);

/// Everything `pod` asks for: its persistentVolumeClaim volumes, its generic
/// ephemeral volumes (the PVC "<pod>-<volume>", or its volumeClaimTemplate
/// while that PVC does not exist) and its inline CSI volumes of ours.
placement::pod_demand demand_of(const object& pod, const object_index& idx,
                                const std::vector<std::string>& drivers);

/// The /cache dump of a view: {"generation":N,"nodes":{name:{"reported",
/// "vgs":[{"name","capacity","charged","free","thinPools":[{"name","size",
/// "charged","virtualCapacity"}]}],"devices":[{"name","capacity","media",
/// "taken"}],"mountPoints":[...]}}}. `node` "" = every node; a node not in the
/// view gives an empty "nodes".
std::string cache_json(const placement::cluster_view& view, const std::string& node);

} // namespace olocal::kube
