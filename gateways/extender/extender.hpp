#pragma once

// The kube-scheduler extender (open-local's paths and kube-scheduler's
// extender JSON), answered from the placement actor's published snapshot:
// filter and prioritize never wait for event processing, they read one
// immutable generation of the view.
//
//   POST /scheduler/predicates   ExtenderArgs -> ExtenderFilterResult
//   POST /scheduler/priorities   ExtenderArgs -> HostPriorityList
//   POST|GET /cache[?nodeName=]  the view as JSON (one node: 400 if unknown)
//   GET  /version                the version text
//   GET  /metrics                open-local's local_* gauges, from the view
//
// ExtenderArgs carries "nodenames" (nodeCacheCapable: true) or "nodes" (the
// whole NodeList, nodeCacheCapable: false); the answer uses the same form.
// Bodies are size-limited by the HTTP server; malformed input gets an error
// result (filter: 200 with "error"; prioritize: 400 with the reason), never a
// crash.

#include "actors/cluster/placement.hpp"
#include "gateways/http/server.hpp"

#include <caf/expected.hpp>

#include <map>
#include <string>
#include <string_view>
#include <vector>

namespace olocal::kube {
struct placement_snapshot;
} // namespace olocal::kube

namespace olocal::extender {

struct extender_options {
  placement::strategy how = placement::strategy::binpack;
  placement::anti_affinity weights;
  std::vector<std::string> drivers = {"local.csi.aliyun.com", "yodaplugin.csi.alibabacloud.com"};
  std::string version;
};

/// Parses open-local's --enabled-node-anti-affinity ("MountPoint=5,Device=2";
/// a bare type means 5; weights 0..10; types MountPoint, Device, LVM, Quota —
/// the last two accepted and without effect, as in open-local). Errors name
/// the bad entry.
caf::expected<placement::anti_affinity> parse_anti_affinity(std::string_view text);

/// The decoded value of query parameter `key` ("" when absent).
std::string query_param(std::string_view query, std::string_view key);

/// POST /scheduler/predicates.
http::response predicates(const std::string& body, const kube::placement_snapshot* snapshot,
                          const extender_options& opts);

/// POST /scheduler/priorities.
http::response priorities(const std::string& body, const kube::placement_snapshot* snapshot,
                          const extender_options& opts);

/// /cache[?nodeName=X].
http::response cache(const std::string& query, const kube::placement_snapshot* snapshot);

/// open-local's extender gauges for one generation of the view (Prometheus
/// text): local_volume_group_total / _used / _available, local_device_total
/// / _available / _bind, local_mount_point_total / _available / _bind (the
/// available values are 0 for bound units: open-local reported totals),
/// local_allocated_num, local_local_pv, local_inline_volume, and ours:
/// local_reserved_volume (reservations without a PV yet) and
/// local_view_generation.
std::string local_metrics(const placement::cluster_view& view);

} // namespace olocal::extender
