#pragma once

// CSIStorageCapacity publication: capacity-aware scheduling for clusters that
// cannot configure kube-scheduler's extender.
//
// kube-scheduler's VolumeBinding plugin (for a CSIDriver with
// storageCapacity: true and an unbound WaitForFirstConsumer PVC) accepts a
// node when some CSIStorageCapacity object in any namespace has the PVC's
// storageClassName, a nodeTopology selector matching the node's labels, and a
// limit >= the PVC's request, where the limit is maximumVolumeSize when set,
// else capacity (an object with neither is "no capacity"). Each PVC is checked
// alone: a pod's several PVCs are not summed, which is why the extender stays
// the more precise choice.
//
// The publisher keeps one object per (node, StorageClass of ours) in its
// namespace, computed from the placement actor's snapshots
// (placement_reader): every interval, once the snapshot has synced, it
// creates the missing objects, rewrites capacity/maximumVolumeSize where a
// value changed (nothing changed = no write) and deletes its objects whose
// node or class is gone. It only ever touches objects carrying its
// managed-by label (capacity_labels::managed_by = options.owner); its own
// objects come from an informer with that label selector. API errors are
// logged, counted and retried at the next pass; nothing is fatal.

#include "actors/cluster/placement.hpp"
#include "actors/core/messages.hpp"
#include "gateways/kube/informer.hpp"
#include "gateways/kube/placement_view.hpp"

#include <caf/fwd.hpp>
#include <caf/replies_to.hpp>
#include <caf/typed_actor.hpp>

#include <chrono>
#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

namespace olocal::kube {

class client;
class placement_reader;

/// The labels of our objects (external-provisioner's capacity feature uses
/// csi.storage.k8s.io/drivername and csi.storage.k8s.io/managed-by; we keep
/// the drivername one and use keys of our own for the rest).
namespace capacity_labels {
inline constexpr std::string_view driver_name = "csi.storage.k8s.io/drivername";
inline constexpr std::string_view managed_by = "capacity.csi.aliyun.com/managed-by";
/// The node and StorageClass an object is for (omitted when the name is not a
/// valid label value; the object's own fields identify it all the same).
inline constexpr std::string_view node = "capacity.csi.aliyun.com/node";
inline constexpr std::string_view storage_class = "capacity.csi.aliyun.com/storage-class";
} // namespace capacity_labels

/// The label kube-scheduler matches the nodeTopology selector against.
inline constexpr std::string_view hostname_label = "kubernetes.io/hostname";

/// What one (node, StorageClass) can still take, in bytes.
struct capacity_numbers {
  uint64_t capacity = 0;            ///< the sum of what is free for the class
  uint64_t maximum_volume_size = 0; ///< the largest single volume that fits
  std::string note;                 ///< why both are 0 when the class cannot be served
  bool operator==(const capacity_numbers& o) const {
    return capacity == o.capacity && maximum_volume_size == o.maximum_volume_size;
  }
};

/// The capacity of a StorageClass with `params` on `node` (pure):
///  - LVM (volumeType LVM or unset), thick: with vgName that group's free
///    (0 when the node lacks it) as both numbers; without, the largest free
///    group as maximum_volume_size and the sum of frees as capacity;
///  - LVM thin (lvmType thin, pool thinPool, default "thinpool"): the pool's
///    virtual free (size x overprovision - charged), in vgName's group, or
///    over every group holding that pool (largest / sum);
///  - Device / MountPoint: the node's untaken units of the class's mediaType,
///    the largest as maximum_volume_size and the sum as capacity (0 when
///    mediaType is not ssd or hdd: such PVCs are refused by placement too);
///  - any other volumeType: 0, with a note.
capacity_numbers capacity_for(const placement::node_state& node,
                              const std::map<std::string, std::string>& params);

struct capacity_options {
  /// Where the objects live (usually the driver's namespace).
  std::string namespace_ = "kube-system";
  /// The CSIDriver name written in the drivername label.
  std::string driver_name = "local.csi.aliyun.com";
  /// StorageClasses whose provisioner is one of these get objects.
  std::vector<std::string> provisioners = default_drivers();
  /// A pass runs this often.
  std::chrono::milliseconds interval{10'000};
  /// The managed-by label's value: objects without it are never touched.
  std::string owner = "open-local-scheduler";
};

/// The object for `node` and `storage_class` (pure): metadata (name
/// capacity_object_name, namespace, our labels), nodeTopology matchLabels
/// kubernetes.io/hostname: node, storageClassName, and both quantities as
/// byte counts.
object make_capacity_object(const capacity_options& opts, const std::string& node,
                            const std::string& storage_class, const capacity_numbers& numbers);

/// The object name for (owner, node, class): "olocal-csisc-" and 16 hex
/// digits of a stable hash, so a retried create finds what it made.
std::string capacity_object_name(const std::string& owner, const std::string& node,
                                 const std::string& storage_class);

/// A pass (internal, a delayed message to itself).
using capacity_tick_atom = caf::atom_constant<caf::atom("kcaptick")>;

using capacity_publisher_actor = caf::typed_actor<
  /// summary and state_json: objects, desired, ticks, passes, creates, updates,
  /// deletes, writes, failures; last_error of the latest failed call.
  caf::replies_to<inspect_atom>::with<actor_report>,
  // internal
  caf::reacts_to<watch_event>, caf::reacts_to<capacity_tick_atom>>;

/// Spawns the publisher (a detached actor: its API calls block only itself)
/// and its informer (linked). It ends with an exit message.
capacity_publisher_actor spawn_capacity_publisher(caf::actor_system& sys,
                                                  std::shared_ptr<client> api,
                                                  std::shared_ptr<placement_reader> reader,
                                                  capacity_options opts = {});

} // namespace olocal::kube
