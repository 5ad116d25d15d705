#pragma once

// The Kubernetes resources open-local reads and writes, on Boost.JSON.
//
// An `object` is the whole JSON document as the server sent it; typed
// accessors read the fields we use and setters change only those fields, so
// whatever we do not know (fields of newer API versions, other controllers'
// annotations) survives a read-modify-write round trip.

#include <boost/json/object.hpp>
#include <boost/json/value.hpp>

#include <caf/allowed_unsafe_message_type.hpp>

#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace olocal::kube {

/// A REST resource: where it lives and what it is called.
struct resource_kind {
  std::string_view group; ///< "" for the core group
  std::string_view version;
  std::string_view plural;
  std::string_view kind;
  bool namespaced = false;
  bool has_status = false; ///< a status subresource

  std::string api_version() const;
  /// "/api/v1/namespaces/ns/pods" or "/apis/g/v/plural"; ns "" = all namespaces
  /// (or a cluster-scoped resource).
  std::string collection_path(std::string_view ns = {}) const;
  /// The path of one object, with an optional subresource ("status").
  std::string object_path(std::string_view ns, std::string_view name,
                          std::string_view subresource = {}) const;
};

/// The resources we use.
namespace kinds {
extern const resource_kind node;
extern const resource_kind pod;
extern const resource_kind persistent_volume_claim;
extern const resource_kind persistent_volume;
extern const resource_kind storage_class;
extern const resource_kind csi_storage_capacity;
extern const resource_kind event;
extern const resource_kind lease;
extern const resource_kind node_local_storage;
extern const resource_kind node_local_storage_init_config;
extern const resource_kind volume_snapshot;
extern const resource_kind volume_snapshot_content;
extern const resource_kind volume_snapshot_class;
/// Every kind above, for lookups by kind name.
const std::vector<const resource_kind*>& all();
/// The kind named `kind` ("Pod", "NodeLocalStorage"), nullptr if unknown.
const resource_kind* find(std::string_view kind);
} // namespace kinds

/// One API object. Cheap to copy: the document is shared and immutable; a
/// change makes a private copy first.
class object {
public:
  object();
  explicit object(boost::json::object doc);

  const boost::json::object& json() const { return *doc_; }
  /// A writable document (copied if shared).
  boost::json::object& mutable_json();

  // metadata
  std::string name() const;
  std::string namespace_() const;
  std::string uid() const;
  std::string resource_version() const;
  /// The resourceVersion as a number (0 if absent or not decimal).
  uint64_t resource_version_number() const;
  int64_t generation() const;
  std::string label(std::string_view key) const;
  std::map<std::string, std::string> labels() const;
  std::string annotation(std::string_view key) const;
  std::map<std::string, std::string> annotations() const;
  /// True when metadata.deletionTimestamp is set.
  bool being_deleted() const;
  /// "namespace/name", or "name" for cluster-scoped objects (the cache key).
  std::string key() const;

  void set_name(std::string_view name);
  void set_namespace(std::string_view ns);
  void set_label(std::string_view key, std::string_view value);
  void set_annotation(std::string_view key, std::string_view value);
  void remove_annotation(std::string_view key);
  void set_resource_version(std::string_view rv);

  /// The value at a dotted path ("spec.nodeName", "status.capacity.storage"),
  /// nullptr when any step is missing or not an object.
  const boost::json::value* at_path(std::string_view dotted) const;
  /// The string at a dotted path, "" when absent or not a string.
  std::string string_at(std::string_view dotted) const;

  std::string serialize() const;
  bool operator==(const object& other) const;

private:
  std::shared_ptr<boost::json::object> doc_;
};

/// Parses a document that must be a JSON object; nullopt and `why` otherwise.
std::optional<object> parse_object(std::string_view text, std::string* why = nullptr);

/// A failed API call as metav1.Status says it ("NotFound", "Conflict", ...).
struct api_status {
  int code = 0;
  std::string reason;
  std::string message;
};
/// The Status in a response body (or a synthetic one from the HTTP code).
api_status status_of(long http_code, std::string_view body);

// -- typed readers of the fields we use ------------------------------------------
// Every reader takes an object and returns a default when the field is absent.

namespace pod {
std::string node_name(const object& o);
std::string phase(const object& o);
/// The claim names of its persistentVolumeClaim volumes.
std::vector<std::string> claim_names(const object& o);
/// True once it can no longer run (Succeeded/Failed, or deleted).
bool finished(const object& o);
} // namespace pod

namespace pvc {
std::string storage_class(const object& o);
std::string volume_name(const object& o);
/// spec.resources.requests.storage in bytes (0 if absent or unparseable).
uint64_t requested_bytes(const object& o);
std::string phase(const object& o);
/// The node the scheduler picked (volume.kubernetes.io/selected-node).
std::string selected_node(const object& o);
} // namespace pvc

namespace pv {
std::string csi_driver(const object& o);
std::string volume_handle(const object& o);
uint64_t capacity_bytes(const object& o);
std::string claim_namespace(const object& o);
std::string claim_name(const object& o);
std::string phase(const object& o);
std::string reclaim_policy(const object& o);
/// The hostname its node affinity requires (kubernetes.io/hostname In [x]), "".
std::string node(const object& o);
std::map<std::string, std::string> volume_attributes(const object& o);
} // namespace pv

namespace storage_class {
std::string provisioner(const object& o);
std::map<std::string, std::string> parameters(const object& o);
std::string binding_mode(const object& o);
bool allows_expansion(const object& o);
} // namespace storage_class

namespace lease {
std::string holder(const object& o);
int64_t duration_seconds(const object& o);
std::string renew_time(const object& o);
int64_t transitions(const object& o);
} // namespace lease

namespace node {
/// Its kubernetes.io/hostname label, or its name.
std::string hostname(const object& o);
} // namespace node

/// Percent-encodes a query parameter value (RFC 3986 unreserved kept).
std::string url_encode(std::string_view text);

/// The current time as a Kubernetes MicroTime ("2026-11-27T11:20:25.123456Z").
std::string micro_time_now();
/// As a metav1.Time (seconds: "2026-11-27T11:20:25Z").
std::string time_now();
/// Parses either form to Unix milliseconds; nullopt when malformed.
std::optional<int64_t> parse_time_ms(std::string_view text);

} // namespace olocal::kube

CAF_ALLOW_UNSAFE_MESSAGE_TYPE(olocal::kube::object)
