#pragma once

// Pure translation between CSI's protobuf messages and our actor messages,
// and validation of CSI requests by CSI's error rules (STYLE.md rules 2 and
// 8). Every refused request is an invalid_argument error whose message names
// the offending field ("volume_id is missing"); the gateway turns errors into
// gRPC statuses with to_status, through errc's one mapping table.
//
// Only protobuf messages appear here: the gRPC service stubs
// (csi.grpc.pb.h) and CAF's actor headers stay inside csi_gateway.cpp.

#include "actors/core/errc.hpp"
#include "actors/core/messages.hpp"

#include "csi/v1/csi.pb.h"

#include <caf/error.hpp>
#include <caf/expected.hpp>
#include <grpcpp/support/status.h>

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace olocal {

/// The generated CSI messages (package csi.v1).
namespace csi_pb = ::csi::v1;

/// The one topology key we serve: volumes live on exactly one node.
inline constexpr std::string_view topology_key = "kubernetes.io/hostname";

/// Volume and snapshot ids (and CreateVolume/CreateSnapshot names, which
/// become LV names) are at most this long.
inline constexpr size_t max_id_bytes = 128;

/// Paths longer than this (PATH_MAX) are refused.
inline constexpr size_t max_path_bytes = 4096;

// -- validation -------------------------------------------------------------------

/// An id or a name that becomes an LV name: present, at most max_id_bytes,
/// only [A-Za-z0-9_.+-] (LVM's LV name charset), not starting with '-', not
/// "." or "..". invalid_argument naming `field` otherwise.
caf::error check_id(std::string_view field, std::string_view id);

/// True when `path` lies strictly below `root`, compared by whole path
/// components ("/var/lib/kubelet2" is not below "/var/lib/kubelet"; empty
/// and "." components are ignored).
bool is_below(std::string_view path, std::string_view root);

/// A path kubelet hands us: present, absolute, without NUL or ".."
/// components, at most max_path_bytes, and below one of `allowed`.
/// invalid_argument naming `field` otherwise.
caf::error check_path(std::string_view field, std::string_view path,
                      const std::vector<std::string>& allowed);

/// SINGLE_NODE_WRITER, SINGLE_NODE_READER_ONLY, SINGLE_NODE_SINGLE_WRITER and
/// SINGLE_NODE_MULTI_WRITER: the access modes a node-local volume can serve.
bool is_single_node(csi_pb::VolumeCapability::AccessMode::Mode mode);

/// The structure of a capability: block or mount set, an access mode given.
/// invalid_argument naming `field` otherwise.
caf::error check_capability_shape(std::string_view field, const csi_pb::VolumeCapability& cap);

/// Why we cannot serve a well-formed capability (a multi-node access mode, a
/// filesystem we do not make), "" when we can.
std::string unsupported_capability(const csi_pb::VolumeCapability& cap);

/// Shape and support together: anything we cannot serve is invalid_argument
/// naming `field` (CreateVolume, NodeStage, NodePublish).
caf::error check_capability(std::string_view field, const csi_pb::VolumeCapability& cap);

/// Required and limit bytes of a capacity range (0 = not given).
struct capacity_bounds {
  uint64_t required = 0;
  uint64_t limit = 0;
};

/// invalid_argument ("capacity_range: ...") for negative values or a limit
/// below the required bytes.
caf::expected<capacity_bounds> capacity_of(const csi_pb::CapacityRange& range);

// -- topology ---------------------------------------------------------------------

/// The nodes a new volume may live on, most preferred first: the
/// kubernetes.io/hostname values of the requisite topologies, those also
/// named by preferred topologies first (in preferred order: the scheduler's
/// selected node leads), the rest in requisite order. Empty (any node) when
/// there is no requisite topology or when one of them does not name a host
/// (it does not restrict the node). Preferred topologies never widen it.
std::vector<std::string> nodes_of(const csi_pb::TopologyRequirement& req);

/// The node of one topology ({} when it names no host).
std::vector<std::string> nodes_of(const csi_pb::Topology& topology);

/// Sets {kubernetes.io/hostname: node}.
void set_topology(const std::string& node, csi_pb::Topology* out);

// -- Controller requests -------------------------------------------------------------

/// CreateVolume: name, capabilities (single-node modes only, one access
/// type), capacity range, content source, requisite topology. The fstype is
/// the first mount capability's fs_type.
caf::expected<provision_req> to_provision_req(const csi_pb::CreateVolumeRequest& req);

caf::expected<unprovision_req> to_unprovision_req(const csi_pb::DeleteVolumeRequest& req);

/// ValidateVolumeCapabilities: the volume to look up (volume_id and
/// volume_capabilities present, every capability well-formed).
caf::expected<volume_query> to_volume_query(const csi_pb::ValidateVolumeCapabilitiesRequest& req);

/// ControllerGetVolume.
caf::expected<volume_query> to_volume_query(const csi_pb::ControllerGetVolumeRequest& req);

caf::expected<list_volumes_req> to_list_volumes_req(const csi_pb::ListVolumesRequest& req);

/// GetCapacity: parameters and the host of accessible_topology.
caf::expected<capacity_req> to_capacity_req(const csi_pb::GetCapacityRequest& req);

caf::expected<snapshot_req> to_snapshot_req(const csi_pb::CreateSnapshotRequest& req);

caf::expected<delete_snapshot_req> to_delete_snapshot_req(const csi_pb::DeleteSnapshotRequest& req);

caf::expected<list_snapshots_req> to_list_snapshots_req(const csi_pb::ListSnapshotsRequest& req);

/// ControllerExpandVolume: volume_id and capacity_range are required.
caf::expected<resize_req> to_resize_req(const csi_pb::ControllerExpandVolumeRequest& req);

/// A filesystem volume needs NodeExpandVolume after the LV grew; a raw block
/// volume (capability given and block) does not.
bool node_expansion_required(const csi_pb::ControllerExpandVolumeRequest& req);

// -- Node requests ----------------------------------------------------------------------

/// The filesystem of a volume: the capability's mount.fs_type, else the
/// volume context's csi.storage.k8s.io/fstype or fsType, else ext4.
std::string fstype_of(const csi_pb::VolumeCapability& cap, const param_map& context);

struct stage_call {
  std::string volume_id;
  stage_req req;
};

caf::expected<stage_call> to_stage_call(const csi_pb::NodeStageVolumeRequest& req,
                                        const std::vector<std::string>& allowed_paths);

struct unstage_call {
  std::string volume_id;
  unstage_req req;
};

caf::expected<unstage_call> to_unstage_call(const csi_pb::NodeUnstageVolumeRequest& req,
                                            const std::vector<std::string>& allowed_paths);

/// What an inline ephemeral volume needs before it is published: its LV and
/// its staging mount (below <state_dir>/ephemeral/<volume_id>).
struct ephemeral_plan {
  create_volume_req create;
  stage_req stage;
};

/// True when a volume context marks an inline ephemeral volume
/// (csi.storage.k8s.io/ephemeral = "true").
bool is_ephemeral(const param_map& context);

/// The staging path of an inline ephemeral volume.
std::string ephemeral_staging_path(const std::string& state_dir, const std::string& volume_id);

/// An inline ephemeral volume from its attributes (parse_ephemeral_params:
/// vgName required, size default 1Gi): a linear LV of kind "ephemeral" named
/// by the volume id, staged with the attributes' fstype or ext4. Block
/// capabilities are refused (inline volumes are filesystems).
caf::expected<ephemeral_plan> plan_ephemeral(const std::string& volume_id,
                                             const param_map& attributes,
                                             const csi_pb::VolumeCapability& cap,
                                             const std::string& state_dir);

struct publish_call {
  std::string volume_id;
  publish_req req;
  std::optional<ephemeral_plan> ephemeral; ///< set for inline ephemeral volumes
  /// IO limits of the volume context (StorageClass parameters the
  /// controller carried over, or inline volumeAttributes); empty = none.
  io_limit limit;
  /// Whose cgroup the limits go to: the context's csi.storage.k8s.io/pod.uid
  /// (CSIDriver podInfoOnMount), else the pod UID in the target path.
  std::string pod_uid;
  /// Standalone: the context's olocal/cgroup (a cgroup as /proc/<pid>/cgroup
  /// names it), "" = the pod's, else the node's --io-cgroup-parent.
  std::string cgroup;
};

/// NodePublishVolume: staging_target_path is required unless the volume is
/// inline ephemeral (kubelet does not stage those). Bad IO limits in the
/// volume context are INVALID_ARGUMENT.
caf::expected<publish_call> to_publish_call(const csi_pb::NodePublishVolumeRequest& req,
                                            const std::vector<std::string>& allowed_paths,
                                            const std::string& state_dir);

struct unpublish_call {
  std::string volume_id;
  unpublish_req req;
};

caf::expected<unpublish_call> to_unpublish_call(const csi_pb::NodeUnpublishVolumeRequest& req,
                                                const std::vector<std::string>& allowed_paths);

/// NodeGetVolumeStats and NodeExpandVolume: which volume, at which path.
struct volume_path_call {
  std::string volume_id;
  std::string volume_path;
  capacity_bounds capacity; ///< NodeExpandVolume only
};

caf::expected<volume_path_call> to_stats_call(const csi_pb::NodeGetVolumeStatsRequest& req,
                                              const std::vector<std::string>& allowed_paths);

caf::expected<volume_path_call> to_node_expand_call(const csi_pb::NodeExpandVolumeRequest& req,
                                                    const std::vector<std::string>& allowed_paths);

/// True when `path` is the staging path or a publish target of the volume.
bool is_path_of(const volume_state& vol, std::string_view path);

// -- responses --------------------------------------------------------------------------

/// Volume{capacity_bytes, volume_id, volume_context, content_source,
/// accessible_topology [{kubernetes.io/hostname: node}]}.
void fill_volume(const volume_record& rec, csi_pb::Volume* out);

void fill_condition(bool abnormal, const std::string& message, csi_pb::VolumeCondition* out);

void fill_list_volumes(const volume_page& page, csi_pb::ListVolumesResponse* out);

void fill_get_volume(const volume_record& rec, csi_pb::ControllerGetVolumeResponse* out);

/// Confirmed (echoing context, capabilities and parameters) when every
/// capability is served, else an empty confirmed and a message saying why.
void fill_validation(const csi_pb::ValidateVolumeCapabilitiesRequest& req,
                     csi_pb::ValidateVolumeCapabilitiesResponse* out);

/// Snapshot{size_bytes, snapshot_id, source_volume_id, creation_time, ready_to_use}.
void fill_snapshot(const snapshot_record& rec, csi_pb::Snapshot* out);

void fill_list_snapshots(const snapshot_page& page, csi_pb::ListSnapshotsResponse* out);

/// BYTES (available, total, used) always; INODES (available = free, total,
/// used) for filesystem volumes; the volume condition.
void fill_stats(const volume_stats& stats, csi_pb::NodeGetVolumeStatsResponse* out);

/// CONTROLLER_SERVICE (when `controller`), VOLUME_ACCESSIBILITY_CONSTRAINTS,
/// VolumeExpansion ONLINE.
void fill_plugin_capabilities(bool controller, csi_pb::GetPluginCapabilitiesResponse* out);

void fill_controller_capabilities(csi_pb::ControllerGetCapabilitiesResponse* out);

void fill_node_capabilities(csi_pb::NodeGetCapabilitiesResponse* out);

void fill_node_info(const std::string& node_id, int64_t max_volumes,
                    csi_pb::NodeGetInfoResponse* out);

// -- errors ------------------------------------------------------------------------------

/// The gRPC code of one of our codes (errc's table).
grpc::StatusCode to_status_code(errc code);

/// The status a CSI client receives for `err`: the code from errc's table
/// (errors of other categories are INTERNAL, CAF's request timeouts
/// DEADLINE_EXCEEDED), the context message (CAF's rendering for foreign
/// errors). OK for an empty error.
grpc::Status to_status(const caf::error& err);

} // namespace olocal
