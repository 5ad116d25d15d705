#pragma once

// A fake Kubernetes API server for tests: real HTTP/1.1 (optionally TLS) on
// 127.0.0.1 with an ephemeral port, objects held in memory, and the wire
// behaviour of kube-apiserver wherever a client depends on it.
//
// What it does like the real server:
//  - paths: /api/v1/..., /apis/<group>/<version>/..., namespaced collections
//    under /namespaces/<ns>/<plural>, all-namespaces list/watch of namespaced
//    resources, the /status subresource, the legacy /watch/ path prefix, and
//    discovery (/api, /apis, /api/v1, /apis/<g>/<v>), /version, /healthz,
//    /livez, /readyz;
//  - one global, monotonically increasing resourceVersion (decimal string);
//    writes that change nothing (a no-op update or patch) do not bump it and
//    produce no watch event;
//  - create (201; uid, creationTimestamp, generation=1, namespace from the
//    path, generateName; .status dropped for custom resources with a status
//    subresource, pods/PVCs/PVs start with status {"phase":"Pending"}), get,
//    update with resourceVersion/uid preconditions (409 Conflict), the status
//    subresource (a PUT or PATCH of the main resource keeps .status, one of
//    /status changes only .status), generation bumped when anything outside
//    metadata and status changes, merge patch (RFC 7386) and JSON patch
//    (RFC 6902), delete with DeleteOptions preconditions, deletecollection;
//  - delete answers with the deleted object for pods, PVCs, PVs and
//    storage classes (ReturnDeletedObject in kube-apiserver) and with a
//    Status {"status":"Success"} for every other resource;
//  - errors as metav1.Status with the real reasons, codes and messages;
//  - list: sorted by etcd key ("<ns>/<name>"), items without kind/apiVersion
//    for built-in types and with them for custom resources, label and field
//    selectors, limit/continue paging over a consistent snapshot (410 Expired
//    when the snapshot was compacted away), remainingItemCount;
//    resourceVersion=0 ignores limit, like the watch cache;
//  - watch: chunked stream of newline-terminated events; from ""/"0" a
//    synthetic ADDED per object, from N a replay of the history after N, 410
//    Expired as an ERROR event when N was compacted, bookmarks,
//    sendInitialEvents with the "k8s.io/initial-events-end" bookmark, selector
//    transitions as ADDED/DELETED, timeoutSeconds;
//  - authentication like --anonymous-auth=false: when a token or client
//    certificates are configured, every request needs one of them (401).
//
// Deliberately not implemented: finalizers and graceful deletion (delete is
// immediate), strategic merge patch and server-side apply (415), protobuf,
// dryRun, managedFields, authorization, namespace existence (a namespaced
// object may live in a namespace nobody created), admission and field
// validation beyond metadata.name, per-resource field-selector whitelists
// (any dotted path is accepted), create-on-update (PUT of a missing object is
// 404 for every resource), "Too large resource version" waits.

#include "tests/support/tls_certs.hpp"

#include <boost/json/object.hpp>

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace olocal::test {

/// One REST resource the server serves, registered generically.
struct resource_def {
  std::string group; ///< "" for the core group (/api/v1)
  std::string version;
  std::string plural;
  std::string kind;
  bool namespaced = false;
  bool has_status_subresource = false;
  /// A CustomResourceDefinition: list items keep kind/apiVersion, create drops .status.
  bool custom = false;
  /// DELETE answers with the object (true) or with a success Status (false).
  bool delete_returns_object = false;

  std::string api_version() const { return group.empty() ? version : group + "/" + version; }
};

struct fake_apiserver_options {
  /// Serve HTTPS with tls->server; client certificates are checked against tls->ca.
  std::optional<test_pki> tls;
  /// Request (not require) client certificates and accept the verified ones as identity.
  bool accept_client_certs = false;
  /// When non-empty, "Authorization: Bearer <require_token>" authenticates a request.
  std::string require_token;
  /// How often an idle watch with allowWatchBookmarks=true gets a BOOKMARK.
  std::chrono::milliseconds bookmark_interval{1000};
  /// When non-zero, only the newest history_limit events are kept (automatic compaction).
  std::size_t history_limit = 0;
  /// The resourceVersion of the empty store; the first write gets this plus one.
  std::uint64_t initial_resource_version = 1;
  /// Register the resources open-local uses (see the constructor).
  bool register_defaults = true;
};

/// One served HTTP request, in arrival order.
struct request_record {
  std::string method;
  std::string target; ///< path and query as sent
  int status = 0;     ///< 200 for a watch that started streaming
  std::string user;   ///< client certificate CN, "token", or "" when unauthenticated
};

class fake_apiserver {
public:
  /// Listens on 127.0.0.1:0 and serves until destroyed. With register_defaults:
  /// core/v1 nodes, pods, persistentvolumeclaims, persistentvolumes, events;
  /// storage.k8s.io/v1 storageclasses, csistoragecapacities; coordination.k8s.io/v1
  /// leases; csi.aliyun.com/v1alpha1 nodelocalstorages, nodelocalstorageinitconfigs;
  /// snapshot.storage.k8s.io/v1 volumesnapshots, volumesnapshotcontents,
  /// volumesnapshotclasses.
  explicit fake_apiserver(fake_apiserver_options options = {});
  /// Closes the listener and every connection (watches end without a final
  /// chunk) and joins all threads.
  ~fake_apiserver();
  fake_apiserver(const fake_apiserver&) = delete;
  fake_apiserver& operator=(const fake_apiserver&) = delete;

  std::uint16_t port() const;
  std::string base_url() const; ///< "http://127.0.0.1:N" or "https://127.0.0.1:N"

  /// Throws std::invalid_argument when group/version/plural is already registered.
  void add_resource(resource_def def);

  // ------------------------------------------------------------- faults ---
  /// Closes every open watch connection abruptly (no final chunk).
  void drop_watches();
  /// Answers the next `count` requests whose target contains `path_substring`
  /// with `status` (a metav1.Status body; Retry-After when retry_after_seconds >= 0).
  /// Rules queue up; a request consumes the oldest matching rule.
  void fail_next(unsigned count, int status, std::string path_substring = "",
                 int retry_after_seconds = -1);
  /// Delays every request (before it is processed) by `latency`.
  void set_latency(std::chrono::milliseconds latency);
  /// Ends every watch cleanly after it has sent `n` events (bookmarks do not
  /// count); 0 = unlimited.
  void set_watch_event_limit(std::size_t n);

  // ------------------------------------------------------------ history ---
  /// Drops the history at or below `resource_version`: a watch from an older
  /// version, or a continue token of one, gets 410 Expired.
  void compact(std::uint64_t resource_version);
  /// compact(current resource version).
  void compact_all();
  std::uint64_t compacted_resource_version() const;

  // ------------------------------------------------------ direct access ---
  // Thread-safe; writes bump the resourceVersion and reach watches exactly as
  // HTTP writes do. `resource` is a plural ("pods") or "plural.group"
  // ("events.events.k8s.io"); std::invalid_argument when unknown. Namespace
  // "" for cluster-scoped resources.

  /// Create or replace (unconditionally, .status included) the object named by
  /// obj.metadata.{namespace,name}; returns the stored object.
  boost::json::object put(std::string_view resource, boost::json::object obj);
  std::optional<boost::json::object> get(std::string_view resource, std::string_view ns,
                                         std::string_view name) const;
  /// Every object, or those of one namespace, sorted by namespace/name.
  std::vector<boost::json::object> list(std::string_view resource, std::string_view ns = "") const;
  /// Deletes; false when absent.
  bool remove(std::string_view resource, std::string_view ns, std::string_view name);

  // -------------------------------------------------------- observation ---
  std::string resource_version() const;
  std::uint64_t requests_served() const;
  std::size_t open_watches() const;
  /// Waits (bounded) until at least `n` watches are open; false on timeout.
  bool wait_for_open_watches(std::size_t n, std::chrono::milliseconds timeout) const;
  /// Waits (bounded) until at most `n` watches are open; false on timeout.
  bool wait_for_watches_at_most(std::size_t n, std::chrono::milliseconds timeout) const;
  std::vector<request_record> request_log() const;
  void clear_request_log();

private:
  struct impl;
  std::unique_ptr<impl> impl_;
};

} // namespace olocal::test
