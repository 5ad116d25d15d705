#pragma once

// NodeLocalStorage (nls) and NodeLocalStorageInitConfig (nlsc): the typed
// spec, the controller's resolution of an nlsc into one node's nls spec, and
// the agent's status built from what the node holds. Pure functions, no I/O:
// the controller and agent shells read the objects, call these and write.
//
// Field names, units and meanings are open-local's (pkg/apis/storage/v1alpha1),
// so open-local's scheduler and tools read what we write and vice versa.
// Where we differ, it fixes a weakness listed in reference §11 item 7:
//   - every list in the status is sorted by name (open-local built the filtered
//     lists from a Go map, so status comparisons churned);
//   - a percentage reservation works and a reservation never raises allocatable;
//   - a bad listConfig expression or reservation is a warning for that list or
//     volume group, not a panic or a skipped status update;
//   - volume groups report their thin pools (an extra field old readers ignore).

#include <boost/json/object.hpp>
#include <boost/json/value.hpp>

#include <caf/expected.hpp>

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace olocal::kube {

/// The NLS annotation holding per-VG reservations: JSON {"vg": "100Gi" | "10%"}.
inline constexpr std::string_view storage_reserved_annotation = "csi.aliyun.com/storage-reserved";

// -- spec ------------------------------------------------------------------------

/// Regular expressions selecting names (see actors/node/name_filter.hpp).
struct list_filter {
  std::vector<std::string> include, exclude;
  bool operator==(const list_filter&) const = default;
};

/// spec.listConfig: which discovered resources may be scheduled on.
struct list_config {
  list_filter vgs, mount_points, devices;
  bool operator==(const list_config&) const = default;
};

/// spec.resourceToBeInited.vgs[]: a VG the agent creates from these devices.
struct vg_to_init {
  std::string name;
  std::vector<std::string> devices;
  bool operator==(const vg_to_init&) const = default;
};

/// spec.resourceToBeInited.mountpoints[]: a device the agent formats and mounts.
struct mountpoint_to_init {
  std::string path, device, fs_type = "ext4";
  std::vector<std::string> options;
  bool operator==(const mountpoint_to_init&) const = default;
};

struct resources_to_init {
  std::vector<vg_to_init> vgs;
  std::vector<mountpoint_to_init> mountpoints;
  bool operator==(const resources_to_init&) const = default;
};

/// spec.spdkConfig: a non-empty device_type makes the node an SPDK node.
struct spdk_config {
  std::string device_type, rpc_socket;
  bool operator==(const spdk_config&) const = default;
};

/// NodeLocalStorage spec.
struct nls_spec {
  std::string node_name;
  spdk_config spdk;
  list_config list;
  resources_to_init init;
  bool operator==(const nls_spec&) const = default;
};

/// Reads an NLS `spec` (null = an empty spec). Unknown fields are ignored, as
/// Go's decoder does. Errors are invalid_argument naming the field path
/// ("spec.resourceToBeInited.vgs[1].name: missing"). Beyond the types it checks
/// what reaches command lines: VG names follow LVM's rules (no leading '-'),
/// VG devices and mount point paths/devices are absolute paths without spaces,
/// fsType is ext3, ext4 or xfs (absent or "" = ext4).
caf::expected<nls_spec> parse_nls_spec(const boost::json::value& spec);

/// The spec as open-local serializes it (Go omitempty: empty strings and lists
/// are left out, the section objects are always present, vgs[].devices always).
boost::json::object to_json(const nls_spec& spec);

// -- NodeLocalStorageInitConfig --------------------------------------------------

/// A metav1.LabelSelector: matchLabels and matchExpressions, all ANDed.
struct label_selector {
  enum class op { in, not_in, exists, does_not_exist };
  struct requirement {
    std::string key;
    op oper = op::in;
    std::vector<std::string> values;
    bool operator==(const requirement&) const = default;
  };
  std::map<std::string, std::string> match_labels;
  std::vector<requirement> match_expressions;

  /// True when every requirement holds; an empty selector matches every node.
  bool matches(const std::map<std::string, std::string>& labels) const;
  bool operator==(const label_selector&) const = default;
};

/// Reads a LabelSelector object with metav1.LabelSelectorAsSelector's checks:
/// operator In/NotIn/Exists/DoesNotExist; In/NotIn need values, Exists and
/// DoesNotExist take none; keys are qualified names, values label values.
/// Errors name `path` ("spec.nodesConfig[0].selector.matchExpressions[1].operator").
/// `selector` must be an object: null is a nil selector, which the caller keeps
/// as nullopt (it matches nothing, while {} matches everything).
caf::expected<label_selector> parse_label_selector(const boost::json::value& selector,
                                                   std::string_view path);

/// spec.nodesConfig[]: settings for the nodes the selector picks.
struct node_config_rule {
  /// nullopt = selector absent or null: matches no node (as LabelSelectorAsSelector
  /// turns nil into labels.Nothing()); an empty {} selector matches every node.
  std::optional<label_selector> selector;
  spdk_config spdk;
  list_config list;
  resources_to_init init;
  bool operator==(const node_config_rule&) const = default;
};

/// NodeLocalStorageInitConfig spec: globalConfig plus the per-node rules in order.
struct init_config {
  spdk_config spdk;
  list_config list;
  resources_to_init init;
  std::vector<node_config_rule> nodes;
  bool operator==(const init_config&) const = default;
};

/// Reads an NLSC `spec` (same checks as parse_nls_spec for the three sections).
caf::expected<init_config> parse_init_config(const boost::json::value& spec);

/// The NLS spec of one node, as open-local's controller computes it: start from
/// globalConfig; every nodesConfig rule whose selector matches the node's
/// labels replaces spdkConfig, listConfig and resourceToBeInited wholesale, in
/// order, so the last matching rule wins (no merging of sections).
nls_spec resolve_spec(const init_config& config, const std::string& node_name,
                      const std::map<std::string, std::string>& node_labels);

// -- the node's facts ------------------------------------------------------------

struct device_fact {
  std::string name;       ///< "/dev/sdb"
  std::string media_type; ///< "hdd" | "ssd"
  uint64_t total = 0;     ///< bytes
  bool read_only = false;
};

struct lv_fact {
  std::string name;
  uint64_t size = 0; ///< bytes
  bool read_only = false;
  /// Created by us (name prefix): its space stays allocatable. The caller lists
  /// the LVs that take VG extents (thin pools included, thin volumes not).
  bool ours = false;
};

struct thin_pool_fact {
  std::string name;
  uint64_t size = 0; ///< bytes of the pool's data LV
  double data_percent = 0;
  double metadata_percent = 0;
  uint64_t virtual_bytes = 0; ///< sum of the virtual sizes of its thin volumes
};

struct vg_fact {
  std::string name;
  std::vector<std::string> pvs; ///< physical volume devices
  uint64_t total = 0;           ///< bytes
  uint64_t free = 0;            ///< bytes (vg_free)
  std::vector<lv_fact> lvs;
  std::vector<thin_pool_fact> thin_pools;
};

struct mount_fact {
  std::string path, device, fs_type;
  uint64_t total = 0, available = 0; ///< bytes
  std::vector<std::string> options;
  bool read_only = false; ///< also true when options contain "ro"
};

struct node_storage_facts {
  std::vector<device_fact> devices;
  std::vector<vg_fact> vgs;
  std::vector<mount_fact> mounts;
};

// -- reservations ----------------------------------------------------------------

/// Space held back from scheduling in one VG.
struct reservation {
  uint64_t bytes = 0;
  double percent = 0; ///< of the VG's total, 0..100
  bool is_percent = false;
  bool operator==(const reservation&) const = default;
};

/// One reservation value: "10%" (0..100, fractions allowed), or a size in
/// open-local's grammar and meaning (docker/go-units RAMInBytes): digits, an
/// optional fraction, an optional space, an optional k/m/g/t/p, an optional i,
/// an optional b, any case, every unit binary ("100G" = "100Gi" = "100gb" =
/// 100 GiB), truncated to whole bytes. Kubernetes-only forms ("1Ei", "1e9") are
/// refused, as open-local refused them.
caf::expected<reservation> parse_reservation(std::string_view value);

/// The annotation value: a JSON object VG name -> value. "" = no reservations.
/// invalid_argument naming the VG and value of every bad entry.
caf::expected<std::map<std::string, reservation>> parse_reservations(std::string_view annotation);

/// open-local's allocatable: total minus the LVs that are not ours, then
/// lowered (never raised) to total minus the reservation; never below zero.
uint64_t vg_allocatable(const vg_fact& vg, const std::optional<reservation>& reserved);

// -- status ----------------------------------------------------------------------

/// The NLS `status`: nodeStorageInfo {deviceInfo, volumeGroups, mountPoints,
/// phase "Running", state} and filteredStorageInfo {volumeGroups, mountPoints,
/// devices, updateStatusInfo{lastUpdateTime, updateStatus "accepted", reason}}.
///
/// Every list is sorted by name (physical volumes too; mount options keep
/// their order). Sizes are integer bytes. Every field is written, empty lists
/// and strings included, so a merge patch clears what disappeared.
/// A VG or mount point with nothing free has condition DiskFull; the state is
/// DiskFull when a VG or mount point selected by listConfig is full (a full
/// system VG nobody schedules on does not count), else DiskReady; status
/// "True". lastTransitionTime is kept from `previous_status` when the state
/// type did not change, else `now`; lastHeartbeatTime and lastUpdateTime are `now`.
///
/// Problems that do not stop the status (a bad reservation annotation or entry,
/// a bad listConfig expression: that reservation is ignored, that list selects
/// nothing) are appended to `warnings` for the caller to raise as Events.
boost::json::object build_status(const node_storage_facts& facts, const nls_spec& spec,
                                 const std::map<std::string, std::string>& nls_annotations,
                                 const std::string& now,
                                 const std::optional<boost::json::object>& previous_status,
                                 std::vector<std::string>* warnings = nullptr);

/// True when two statuses differ in anything but lastHeartbeatTime,
/// lastTransitionTime and lastUpdateTime (at any depth). Numbers compare by
/// value (50, 50.0 and 5E1 are equal: the API server may re-encode them).
bool status_changed(const boost::json::object& a, const boost::json::object& b);

} // namespace olocal::kube
