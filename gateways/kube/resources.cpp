#include "gateways/kube/resources.hpp"

#include "actors/cluster/volume_params.hpp"

#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>

#include <algorithm>
#include <cctype>
#include <charconv>
#include <chrono>
#include <cstdio>
#include <ctime>

namespace olocal::kube {

namespace json = boost::json;

// -- kinds -----------------------------------------------------------------------

std::string resource_kind::api_version() const {
  return group.empty() ? std::string{version} : std::string{group} + "/" + std::string{version};
}

std::string resource_kind::collection_path(std::string_view ns) const {
  std::string out = group.empty() ? "/api/" + std::string{version} : "/apis/" + api_version();
  if (namespaced && !ns.empty())
    out += "/namespaces/" + std::string{ns};
  out += "/";
  out += plural;
  return out;
}

std::string resource_kind::object_path(std::string_view ns, std::string_view name,
                                       std::string_view subresource) const {
  auto out = collection_path(ns) + "/" + std::string{name};
  if (!subresource.empty())
    out += "/" + std::string{subresource};
  return out;
}

namespace kinds {
const resource_kind node{"", "v1", "nodes", "Node", false, true};
const resource_kind pod{"", "v1", "pods", "Pod", true, true};
const resource_kind persistent_volume_claim{
  "", "v1", "persistentvolumeclaims", "PersistentVolumeClaim", true, true};
const resource_kind persistent_volume{"",    "v1", "persistentvolumes", "PersistentVolume",
                                      false, true};
const resource_kind storage_class{"storage.k8s.io", "v1",  "storageclasses",
                                  "StorageClass",   false, false};
const resource_kind csi_storage_capacity{"storage.k8s.io",     "v1", "csistoragecapacities",
                                         "CSIStorageCapacity", true, false};
const resource_kind event{"", "v1", "events", "Event", true, false};
const resource_kind lease{"coordination.k8s.io", "v1", "leases", "Lease", true, false};
const resource_kind node_local_storage{"csi.aliyun.com",   "v1alpha1", "nodelocalstorages",
                                       "NodeLocalStorage", false,      true};
const resource_kind node_local_storage_init_config{"csi.aliyun.com",
                                                   "v1alpha1",
                                                   "nodelocalstorageinitconfigs",
                                                   "NodeLocalStorageInitConfig",
                                                   false,
                                                   false};
const resource_kind volume_snapshot{"snapshot.storage.k8s.io", "v1", "volumesnapshots",
                                    "VolumeSnapshot",          true, true};
const resource_kind volume_snapshot_content{
  "snapshot.storage.k8s.io", "v1", "volumesnapshotcontents", "VolumeSnapshotContent", false, true};
const resource_kind volume_snapshot_class{"snapshot.storage.k8s.io", "v1",  "volumesnapshotclasses",
                                          "VolumeSnapshotClass",     false, false};

const std::vector<const resource_kind*>& all() {
  static const std::vector<const resource_kind*> every = {&node,
                                                          &pod,
                                                          &persistent_volume_claim,
                                                          &persistent_volume,
                                                          &storage_class,
                                                          &csi_storage_capacity,
                                                          &event,
                                                          &lease,
                                                          &node_local_storage,
                                                          &node_local_storage_init_config,
                                                          &volume_snapshot,
                                                          &volume_snapshot_content,
                                                          &volume_snapshot_class};
  return every;
}

const resource_kind* find(std::string_view kind) {
  for (auto* k : all())
    if (k->kind == kind)
      return k;
  return nullptr;
}
} // namespace kinds

// -- object ----------------------------------------------------------------------

namespace {

const json::object* object_at(const json::object& o, std::string_view key) {
  auto* v = o.if_contains(key);
  return v != nullptr ? v->if_object() : nullptr;
}

std::string string_in(const json::object* o, std::string_view key) {
  if (o == nullptr)
    return {};
  auto* v = o->if_contains(key);
  if (v == nullptr || !v->is_string())
    return {};
  return std::string{v->get_string()};
}

std::map<std::string, std::string> string_map(const json::object* o) {
  std::map<std::string, std::string> out;
  if (o == nullptr)
    return out;
  for (auto& [k, v] : *o)
    if (v.is_string())
      out.emplace(std::string{k}, std::string{v.get_string()});
  return out;
}

json::object& child(json::object& o, std::string_view key) {
  auto& v = o[key];
  if (!v.is_object())
    v = json::object{};
  return v.get_object();
}

int64_t integer_in(const json::value* v) {
  if (v == nullptr)
    return 0;
  if (v->is_int64())
    return v->get_int64();
  if (v->is_uint64())
    return static_cast<int64_t>(v->get_uint64());
  return 0;
}

} // namespace

object::object() : doc_(std::make_shared<json::object>()) {
}

object::object(json::object doc) : doc_(std::make_shared<json::object>(std::move(doc))) {
}

json::object& object::mutable_json() {
  if (doc_.use_count() > 1)
    doc_ = std::make_shared<json::object>(*doc_);
  return *doc_;
}

std::string object::name() const {
  return string_in(object_at(*doc_, "metadata"), "name");
}

std::string object::namespace_() const {
  return string_in(object_at(*doc_, "metadata"), "namespace");
}

std::string object::uid() const {
  return string_in(object_at(*doc_, "metadata"), "uid");
}

std::string object::resource_version() const {
  return string_in(object_at(*doc_, "metadata"), "resourceVersion");
}

uint64_t object::resource_version_number() const {
  auto rv = resource_version();
  uint64_t n = 0;
  auto [end, ec] = std::from_chars(rv.data(), rv.data() + rv.size(), n);
  return ec == std::errc{} && end == rv.data() + rv.size() ? n : 0;
}

int64_t object::generation() const {
  auto* meta = object_at(*doc_, "metadata");
  return meta != nullptr ? integer_in(meta->if_contains("generation")) : 0;
}

std::string object::label(std::string_view key) const {
  auto* meta = object_at(*doc_, "metadata");
  return string_in(meta != nullptr ? object_at(*meta, "labels") : nullptr, key);
}

std::map<std::string, std::string> object::labels() const {
  auto* meta = object_at(*doc_, "metadata");
  return string_map(meta != nullptr ? object_at(*meta, "labels") : nullptr);
}

std::string object::annotation(std::string_view key) const {
  auto* meta = object_at(*doc_, "metadata");
  return string_in(meta != nullptr ? object_at(*meta, "annotations") : nullptr, key);
}

std::map<std::string, std::string> object::annotations() const {
  auto* meta = object_at(*doc_, "metadata");
  return string_map(meta != nullptr ? object_at(*meta, "annotations") : nullptr);
}

bool object::being_deleted() const {
  return !string_in(object_at(*doc_, "metadata"), "deletionTimestamp").empty();
}

std::string object::key() const {
  auto ns = namespace_();
  return ns.empty() ? name() : ns + "/" + name();
}

void object::set_name(std::string_view name) {
  child(mutable_json(), "metadata")["name"] = name;
}

void object::set_namespace(std::string_view ns) {
  child(mutable_json(), "metadata")["namespace"] = ns;
}

void object::set_label(std::string_view key, std::string_view value) {
  child(child(mutable_json(), "metadata"), "labels")[key] = value;
}

void object::set_annotation(std::string_view key, std::string_view value) {
  child(child(mutable_json(), "metadata"), "annotations")[key] = value;
}

void object::remove_annotation(std::string_view key) {
  auto* meta = object_at(*doc_, "metadata");
  if (meta == nullptr || object_at(*meta, "annotations") == nullptr)
    return;
  child(child(mutable_json(), "metadata"), "annotations").erase(key);
}

void object::set_resource_version(std::string_view rv) {
  child(mutable_json(), "metadata")["resourceVersion"] = rv;
}

const json::value* object::at_path(std::string_view dotted) const {
  const json::object* here = doc_.get();
  const json::value* found = nullptr;
  while (true) {
    auto dot = dotted.find('.');
    auto step = dotted.substr(0, dot);
    found = here->if_contains(step);
    if (found == nullptr || dot == std::string_view::npos)
      return found;
    here = found->if_object();
    if (here == nullptr)
      return nullptr;
    dotted.remove_prefix(dot + 1);
  }
}

std::string object::string_at(std::string_view dotted) const {
  auto* v = at_path(dotted);
  return v != nullptr && v->is_string() ? std::string{v->get_string()} : std::string{};
}

std::string object::serialize() const {
  return json::serialize(*doc_);
}

bool object::operator==(const object& other) const {
  return doc_ == other.doc_ || *doc_ == *other.doc_;
}

std::optional<object> parse_object(std::string_view text, std::string* why) {
  boost::system::error_code ec;
  auto v = json::parse(text, ec);
  if (ec) {
    if (why != nullptr)
      *why = "not JSON: " + ec.message();
    return std::nullopt;
  }
  if (!v.is_object()) {
    if (why != nullptr)
      *why = "not a JSON object";
    return std::nullopt;
  }
  return object{std::move(v.get_object())};
}

api_status status_of(long http_code, std::string_view body) {
  api_status st;
  st.code = static_cast<int>(http_code);
  if (auto doc = parse_object(body); doc && doc->string_at("kind") == "Status") {
    st.reason = doc->string_at("reason");
    st.message = doc->string_at("message");
    if (auto code = integer_in(doc->at_path("code")); code != 0)
      st.code = static_cast<int>(code);
  }
  if (st.message.empty())
    st.message =
      http_code == 0 ? "no answer from the API server" : "HTTP " + std::to_string(http_code);
  return st;
}

// -- typed readers ---------------------------------------------------------------

namespace {

uint64_t bytes_at(const object& o, std::string_view dotted) {
  auto text = o.string_at(dotted);
  if (text.empty())
    return 0;
  auto bytes = parse_quantity(text);
  return bytes ? *bytes : 0;
}

} // namespace

namespace pod {
std::string node_name(const object& o) {
  return o.string_at("spec.nodeName");
}

std::string phase(const object& o) {
  return o.string_at("status.phase");
}

std::vector<std::string> claim_names(const object& o) {
  std::vector<std::string> out;
  auto* volumes = o.at_path("spec.volumes");
  if (volumes == nullptr || !volumes->is_array())
    return out;
  for (auto& v : volumes->get_array()) {
    auto* vol = v.if_object();
    auto* claim = vol != nullptr ? object_at(*vol, "persistentVolumeClaim") : nullptr;
    if (auto name = string_in(claim, "claimName"); !name.empty())
      out.push_back(name);
  }
  return out;
}

bool finished(const object& o) {
  auto p = phase(o);
  return p == "Succeeded" || p == "Failed" || o.being_deleted();
}
} // namespace pod

namespace pvc {
std::string storage_class(const object& o) {
  return o.string_at("spec.storageClassName");
}

std::string volume_name(const object& o) {
  return o.string_at("spec.volumeName");
}

uint64_t requested_bytes(const object& o) {
  auto* requests = o.at_path("spec.resources.requests");
  auto* r = requests != nullptr ? requests->if_object() : nullptr;
  auto text = string_in(r, "storage");
  auto bytes = text.empty() ? caf::expected<uint64_t>{0} : parse_quantity(text);
  return bytes ? *bytes : 0;
}

std::string phase(const object& o) {
  return o.string_at("status.phase");
}

std::string selected_node(const object& o) {
  return o.annotation("volume.kubernetes.io/selected-node");
}
} // namespace pvc

namespace pv {
std::string csi_driver(const object& o) {
  return o.string_at("spec.csi.driver");
}

std::string volume_handle(const object& o) {
  return o.string_at("spec.csi.volumeHandle");
}

uint64_t capacity_bytes(const object& o) {
  return bytes_at(o, "spec.capacity.storage");
}

std::string claim_namespace(const object& o) {
  return o.string_at("spec.claimRef.namespace");
}

std::string claim_name(const object& o) {
  return o.string_at("spec.claimRef.name");
}

std::string phase(const object& o) {
  return o.string_at("status.phase");
}

std::string reclaim_policy(const object& o) {
  return o.string_at("spec.persistentVolumeReclaimPolicy");
}

std::string node(const object& o) {
  auto* terms = o.at_path("spec.nodeAffinity.required.nodeSelectorTerms");
  if (terms == nullptr || !terms->is_array())
    return {};
  for (auto& term : terms->get_array()) {
    auto* t = term.if_object();
    auto* exprs = t != nullptr ? t->if_contains("matchExpressions") : nullptr;
    if (exprs == nullptr || !exprs->is_array())
      continue;
    for (auto& e : exprs->get_array()) {
      auto* expr = e.if_object();
      if (expr == nullptr || string_in(expr, "key") != "kubernetes.io/hostname" ||
          string_in(expr, "operator") != "In")
        continue;
      auto* values = expr->if_contains("values");
      if (values != nullptr && values->is_array() && !values->get_array().empty() &&
          values->get_array()[0].is_string())
        return std::string{values->get_array()[0].get_string()};
    }
  }
  return {};
}

std::map<std::string, std::string> volume_attributes(const object& o) {
  auto* attrs = o.at_path("spec.csi.volumeAttributes");
  return string_map(attrs != nullptr ? attrs->if_object() : nullptr);
}
} // namespace pv

namespace storage_class {
std::string provisioner(const object& o) {
  return o.string_at("provisioner");
}

std::map<std::string, std::string> parameters(const object& o) {
  return string_map(object_at(o.json(), "parameters"));
}

std::string binding_mode(const object& o) {
  auto mode = o.string_at("volumeBindingMode");
  return mode.empty() ? "Immediate" : mode;
}

bool allows_expansion(const object& o) {
  auto* v = o.at_path("allowVolumeExpansion");
  return v != nullptr && v->is_bool() && v->get_bool();
}
} // namespace storage_class

namespace lease {
std::string holder(const object& o) {
  return o.string_at("spec.holderIdentity");
}

int64_t duration_seconds(const object& o) {
  return integer_in(o.at_path("spec.leaseDurationSeconds"));
}

std::string renew_time(const object& o) {
  return o.string_at("spec.renewTime");
}

int64_t transitions(const object& o) {
  return integer_in(o.at_path("spec.leaseTransitions"));
}
} // namespace lease

namespace node {
std::string hostname(const object& o) {
  auto h = o.label("kubernetes.io/hostname");
  return h.empty() ? o.name() : h;
}
} // namespace node

std::string url_encode(std::string_view text) {
  static constexpr char hex[] = "0123456789ABCDEF";
  std::string out;
  for (unsigned char c : text) {
    if (std::isalnum(c) != 0 || c == '-' || c == '_' || c == '.' || c == '~') {
      out += static_cast<char>(c);
    } else {
      out += '%';
      out += hex[c >> 4];
      out += hex[c & 0xf];
    }
  }
  return out;
}

// -- time ------------------------------------------------------------------------

namespace {

std::string format_time(bool micro) {
  auto now = std::chrono::system_clock::now();
  auto secs = std::chrono::system_clock::to_time_t(now);
  std::tm tm{};
  gmtime_r(&secs, &tm);
  char buf[64];
  auto n = std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%S", &tm);
  std::string out{buf, n};
  if (micro) {
    auto us =
      std::chrono::duration_cast<std::chrono::microseconds>(now.time_since_epoch()).count() %
      1'000'000;
    std::snprintf(buf, sizeof buf, ".%06lld", static_cast<long long>(us));
    out += buf;
  }
  return out + "Z";
}

} // namespace

std::string micro_time_now() {
  return format_time(true);
}

std::string time_now() {
  return format_time(false);
}

std::optional<int64_t> parse_time_ms(std::string_view text) {
  // "YYYY-MM-DDTHH:MM:SS[.frac]Z"
  if (text.size() < 20 || text.back() != 'Z' || text[4] != '-' || text[7] != '-' ||
      text[10] != 'T' || text[13] != ':' || text[16] != ':')
    return std::nullopt;
  auto number = [&](size_t at, size_t len, int& out) {
    auto [end, ec] = std::from_chars(text.data() + at, text.data() + at + len, out);
    return ec == std::errc{} && end == text.data() + at + len;
  };
  std::tm tm{};
  int year = 0, month = 0;
  if (!number(0, 4, year) || !number(5, 2, month) || !number(8, 2, tm.tm_mday) ||
      !number(11, 2, tm.tm_hour) || !number(14, 2, tm.tm_min) || !number(17, 2, tm.tm_sec))
    return std::nullopt;
  tm.tm_year = year - 1900;
  tm.tm_mon = month - 1;
  int64_t ms = 0;
  auto frac = text.substr(19, text.size() - 20);
  if (!frac.empty()) {
    if (frac.front() != '.' || frac.size() < 2)
      return std::nullopt;
    int scale = 100;
    for (size_t i = 1; i < frac.size(); ++i) {
      if (frac[i] < '0' || frac[i] > '9')
        return std::nullopt;
      ms += (frac[i] - '0') * scale;
      scale /= 10;
    }
  }
  return static_cast<int64_t>(timegm(&tm)) * 1000 + ms;
}

} // namespace olocal::kube
