#include "gateways/kube/writer.hpp"

#include "actors/core/errc.hpp"
#include "gateways/kube/client.hpp"

#include <boost/json/serialize.hpp>

#include <algorithm>

namespace olocal::kube {

namespace json = boost::json;

namespace {

errc code_for(long http_status, const api_status& st) {
  switch (http_status) {
  case 404:
    return errc::not_found;
  case 409:
    return st.reason == "AlreadyExists" ? errc::already_exists : errc::conflict;
  case 400:
  case 422:
    return errc::invalid_argument;
  case 401:
    return errc::unauthenticated;
  case 403:
    return errc::permission_denied;
  case 410:
    return errc::failed_precondition;
  case 413:
    return errc::payload_too_large;
  case 415:
    return errc::unimplemented;
  case 0:
  case 429:
    return errc::unavailable;
  default:
    return http_status >= 500 && http_status <= 599 ? errc::unavailable : errc::internal;
  }
}

/// The error of a response that is not the expected success. A transport
/// failure (status 0) carries the client's text, which never holds a token.
caf::error failure(const api_response& r, std::string_view what) {
  if (r.status == 0 && !r.error.empty())
    return make_error(errc::unavailable, std::string{what} + ": " + r.error);
  return api_error(r.status, r.body, what);
}

/// Fills kind and apiVersion, which answers for built-in kinds may lack.
object complete(object o, const resource_kind& kind) {
  if (o.string_at("kind").empty() || o.string_at("apiVersion").empty()) {
    auto& doc = o.mutable_json();
    doc["kind"] = kind.kind;
    doc["apiVersion"] = kind.api_version();
  }
  return o;
}

/// The object in a 2xx answer, or the error for anything else.
caf::expected<object> answer(const api_response& r, const resource_kind& kind,
                             std::string_view what) {
  if (r.status < 200 || r.status > 299)
    return failure(r, what);
  std::string why;
  auto doc = parse_object(r.body, &why);
  if (!doc)
    return make_error(errc::parse_error, std::string{what} + ": " + why);
  return complete(std::move(*doc), kind);
}

std::string describe(std::string_view verb, const resource_kind& kind, std::string_view ns,
                     std::string_view name) {
  std::string out{verb};
  out += ' ';
  out += kind.plural;
  out += ' ';
  if (!ns.empty()) {
    out += ns;
    out += '/';
  }
  out += name;
  return out;
}

} // namespace

caf::error api_error(long http_status, std::string_view body, std::string_view what) {
  auto st = status_of(http_status, body);
  std::string message{what};
  if (!st.message.empty())
    message += (message.empty() ? "" : ": ") + st.message;
  return make_error(code_for(http_status, st), std::move(message));
}

caf::expected<object> get(client& api, const resource_kind& kind, std::string_view ns,
                          std::string_view name) {
  api_request req;
  req.path = kind.object_path(ns, name);
  return answer(api.send(req), kind, describe("get", kind, ns, name));
}

caf::expected<object> create(client& api, const resource_kind& kind, const object& obj) {
  auto ns = obj.namespace_();
  auto what = describe("create", kind, ns, obj.name());
  if (kind.namespaced && ns.empty())
    return make_error(errc::invalid_argument,
                      what + ": a " + std::string{kind.kind} + " needs metadata.namespace");
  api_request req;
  req.method = "POST";
  req.path = kind.collection_path(kind.namespaced ? std::string_view{ns} : std::string_view{});
  req.body = complete(obj, kind).serialize();
  return answer(api.send(req), kind, what);
}

caf::expected<object> replace(client& api, const resource_kind& kind, const object& obj,
                              bool status) {
  auto ns = kind.namespaced ? obj.namespace_() : std::string{};
  auto name = obj.name();
  auto what = describe(status ? "replace status of" : "replace", kind, ns, name);
  if (name.empty() || (kind.namespaced && ns.empty()))
    return make_error(errc::invalid_argument, what + ": the object needs its name" +
                                                (kind.namespaced ? " and namespace" : ""));
  api_request req;
  req.method = "PUT";
  req.path = kind.object_path(ns, name, status ? "status" : "");
  req.body = complete(obj, kind).serialize();
  return answer(api.send(req), kind, what);
}

caf::expected<object> update(client& api, const resource_kind& kind, std::string_view ns,
                             std::string_view name, const std::function<bool(object&)>& mutate,
                             bool status, unsigned attempts) {
  auto what = describe(status ? "update status of" : "update", kind, ns, name);
  caf::error last;
  for (unsigned attempt = 0; attempt < std::max(attempts, 1u); ++attempt) {
    auto current = get(api, kind, ns, name);
    if (!current)
      return current;
    object next = *current;
    if (!mutate(next))
      return current;
    // The write is conditional on what was read, whatever mutate did to it.
    next.set_resource_version(current->resource_version());
    auto written = replace(api, kind, next, status);
    if (written || code_of(written.error()) != errc::conflict)
      return written;
    last = std::move(written.error());
  }
  return make_error(errc::conflict, what + ": still conflicting after " +
                                      std::to_string(std::max(attempts, 1u)) +
                                      " attempts: " + message_of(last));
}

caf::expected<object> merge_patch(client& api, const resource_kind& kind, std::string_view ns,
                                  std::string_view name, const json::object& patch, bool status) {
  api_request req;
  req.method = "PATCH";
  req.path = kind.object_path(ns, name, status ? "status" : "");
  req.content_type = "application/merge-patch+json";
  req.body = json::serialize(patch);
  return answer(api.send(req), kind,
                describe(status ? "patch status of" : "patch", kind, ns, name));
}

caf::error remove(client& api, const resource_kind& kind, std::string_view ns,
                  std::string_view name, const preconditions& pre) {
  api_request req;
  req.method = "DELETE";
  req.path = kind.object_path(ns, name);
  if (!pre.uid.empty() || !pre.resource_version.empty()) {
    json::object conditions;
    if (!pre.uid.empty())
      conditions["uid"] = pre.uid;
    if (!pre.resource_version.empty())
      conditions["resourceVersion"] = pre.resource_version;
    req.body = json::serialize(json::object{
      {"kind", "DeleteOptions"}, {"apiVersion", "v1"}, {"preconditions", std::move(conditions)}});
  }
  auto r = api.send(req);
  if (r.status >= 200 && r.status <= 299)
    return {};
  return failure(r, describe("delete", kind, ns, name));
}

} // namespace olocal::kube
