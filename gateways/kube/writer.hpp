#pragma once

// Writes to the Kubernetes API: get, create, replace, read-modify-write with
// conflict retries, merge patch and delete with preconditions, all on top of
// the blocking client. Failures come back as our typed errors through one
// mapping table (api_error); nothing here branches on message text.
//
// Blocking and thread-safe (the client is): call these from detached actors
// or plain threads, never from an event-based actor's handler.

#include "gateways/kube/resources.hpp"

#include <caf/error.hpp>
#include <caf/expected.hpp>

#include <boost/json/object.hpp>

#include <functional>
#include <string>
#include <string_view>

namespace olocal::kube {

class client;

/// The error for a failed API call: HTTP status (0 = no answer) and the
/// metav1.Status body decide the code; the message is `what` followed by the
/// server's Status message.
///
///   404 not_found · 409 AlreadyExists already_exists, other 409 conflict ·
///   400/422 invalid_argument · 401 unauthenticated · 403 permission_denied ·
///   410 failed_precondition (expired) · 413 payload_too_large ·
///   415 unimplemented · 429, 5xx, 0 unavailable · anything else internal
caf::error api_error(long http_status, std::string_view body, std::string_view what);

/// GET one object. Its kind and apiVersion are filled when the answer lacks them.
caf::expected<object> get(client& api, const resource_kind& kind, std::string_view ns,
                          std::string_view name);

/// POST `obj` into its own namespace (metadata.namespace; required for a
/// namespaced kind). apiVersion and kind are filled when missing. Answers the
/// created object as the server stored it.
caf::expected<object> create(client& api, const resource_kind& kind, const object& obj);

/// PUT `obj` (or its status, with `status`): the server checks the object's
/// resourceVersion, so a stale one is a conflict error.
caf::expected<object> replace(client& api, const resource_kind& kind, const object& obj,
                              bool status = false);

/// Read-modify-write: GET, `mutate` the object, PUT it. `mutate` returns false
/// when there is nothing to change; then the current object comes back and
/// nothing is written. On a conflict the object is read again and `mutate`
/// applied again, for at most `attempts` writes; then a conflict error. Fields
/// `mutate` does not touch (unknown ones included) are kept as read.
caf::expected<object> update(client& api, const resource_kind& kind, std::string_view ns,
                             std::string_view name, const std::function<bool(object&)>& mutate,
                             bool status = false, unsigned attempts = 5);

/// A JSON merge patch (RFC 7386: null deletes a field) of the object or its status.
caf::expected<object> merge_patch(client& api, const resource_kind& kind, std::string_view ns,
                                  std::string_view name, const boost::json::object& patch,
                                  bool status = false);

/// DeleteOptions preconditions; empty fields are not checked.
struct preconditions {
  std::string uid;
  std::string resource_version;
};

/// DELETE, with preconditions when given (a mismatch is a conflict error). An
/// absent object is a not_found error, which callers may treat as done.
caf::error remove(client& api, const resource_kind& kind, std::string_view ns,
                  std::string_view name, const preconditions& pre = {});

} // namespace olocal::kube
