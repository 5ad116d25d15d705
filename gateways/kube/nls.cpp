#include "gateways/kube/nls.hpp"

#include "actors/core/errc.hpp"
#include "actors/node/name_filter.hpp"

#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>

#include <algorithm>
#include <cctype>
#include <charconv>
#include <cmath>
#include <limits>
#include <regex>

namespace olocal::kube {

namespace json = boost::json;

namespace {

__extension__ using u128 = unsigned __int128; // exact size arithmetic

// -- reading JSON with field paths -------------------------------------------------

caf::error field_error(const std::string& path, std::string_view what) {
  return make_error(errc::invalid_argument, path + ": " + std::string{what});
}

std::string quoted(std::string_view text) {
  return "'" + std::string{text} + "'";
}

/// The member `key`, nullptr when absent or null (Go leaves the zero value).
const json::value* member(const json::object& o, std::string_view key) {
  auto* v = o.if_contains(key);
  return v != nullptr && !v->is_null() ? v : nullptr;
}

/// The object at `v`, nullptr for absent/null; an error for another kind.
caf::error as_object(const json::value* v, const std::string& path, const json::object*& out) {
  out = nullptr;
  if (v == nullptr || v->is_null())
    return {};
  if (!v->is_object())
    return field_error(path, "not an object");
  out = &v->get_object();
  return {};
}

caf::error read_string(const json::object& o, std::string_view key, const std::string& path,
                       std::string& out) {
  auto* v = member(o, key);
  if (v == nullptr)
    return {};
  if (!v->is_string())
    return field_error(path + "." + std::string{key}, "not a string");
  out = std::string{v->get_string()};
  return {};
}

caf::error read_strings(const json::object& o, std::string_view key, const std::string& path,
                        std::vector<std::string>& out) {
  auto* v = member(o, key);
  if (v == nullptr)
    return {};
  auto here = path + "." + std::string{key};
  if (!v->is_array())
    return field_error(here, "not a list");
  out.clear();
  auto& items = v->get_array();
  for (size_t i = 0; i < items.size(); ++i) {
    if (!items[i].is_string())
      return field_error(here + "[" + std::to_string(i) + "]", "not a string");
    out.emplace_back(items[i].get_string());
  }
  return {};
}

// -- what reaches command lines ----------------------------------------------------

/// LVM's VG name rules: 1..127 of [A-Za-z0-9+_.-], no leading '-', not "." or "..".
bool valid_vg_name(std::string_view name) {
  if (name.empty() || name.size() > 127 || name.front() == '-' || name == "." || name == "..")
    return false;
  return std::all_of(name.begin(), name.end(), [](char c) {
    return std::isalnum(static_cast<unsigned char>(c)) || c == '+' || c == '_' || c == '.' ||
           c == '-';
  });
}

/// The CRD's pattern ^(/[^/ ]*)+/?$: absolute, no spaces.
bool valid_path(std::string_view path) {
  return !path.empty() && path.front() == '/' && path.find(' ') == std::string_view::npos;
}

// -- the three sections ------------------------------------------------------------

caf::error read_spdk(const json::object& parent, const std::string& path, spdk_config& out) {
  const json::object* o = nullptr;
  auto here = path + ".spdkConfig";
  if (auto err = as_object(member(parent, "spdkConfig"), here, o); err || o == nullptr)
    return err;
  if (auto err = read_string(*o, "deviceType", here, out.device_type))
    return err;
  return read_string(*o, "rpcSocket", here, out.rpc_socket);
}

caf::error read_filter(const json::object& parent, std::string_view key, const std::string& path,
                       list_filter& out) {
  const json::object* o = nullptr;
  auto here = path + "." + std::string{key};
  if (auto err = as_object(member(parent, key), here, o); err || o == nullptr)
    return err;
  if (auto err = read_strings(*o, "include", here, out.include))
    return err;
  return read_strings(*o, "exclude", here, out.exclude);
}

caf::error read_list(const json::object& parent, const std::string& path, list_config& out) {
  const json::object* o = nullptr;
  auto here = path + ".listConfig";
  if (auto err = as_object(member(parent, "listConfig"), here, o); err || o == nullptr)
    return err;
  if (auto err = read_filter(*o, "vgs", here, out.vgs))
    return err;
  if (auto err = read_filter(*o, "mountPoints", here, out.mount_points))
    return err;
  return read_filter(*o, "devices", here, out.devices);
}

caf::error read_vg(const json::value& v, const std::string& here, vg_to_init& out) {
  if (!v.is_object())
    return field_error(here, "not an object");
  auto& o = v.get_object();
  if (member(o, "name") == nullptr)
    return field_error(here + ".name", "missing");
  if (auto err = read_string(o, "name", here, out.name))
    return err;
  if (!valid_vg_name(out.name))
    return field_error(here + ".name", quoted(out.name) +
                                         " is not a valid volume group name (1 to 127 of "
                                         "letters, digits, + _ . -, not starting with -)");
  if (member(o, "devices") == nullptr)
    return field_error(here + ".devices", "missing");
  if (auto err = read_strings(o, "devices", here, out.devices))
    return err;
  for (size_t i = 0; i < out.devices.size(); ++i)
    if (!valid_path(out.devices[i]))
      return field_error(here + ".devices[" + std::to_string(i) + "]",
                         quoted(out.devices[i]) + " is not an absolute path without spaces");
  return {};
}

caf::error read_mountpoint(const json::value& v, const std::string& here, mountpoint_to_init& out) {
  if (!v.is_object())
    return field_error(here, "not an object");
  auto& o = v.get_object();
  for (auto [key, field] : {std::pair{"path", &out.path}, std::pair{"device", &out.device}}) {
    if (member(o, key) == nullptr)
      return field_error(here + "." + key, "missing");
    if (auto err = read_string(o, key, here, *field))
      return err;
    if (!valid_path(*field))
      return field_error(here + "." + key,
                         quoted(*field) + " is not an absolute path without spaces");
  }
  out.fs_type.clear();
  if (auto err = read_string(o, "fsType", here, out.fs_type))
    return err;
  if (out.fs_type.empty())
    out.fs_type = "ext4";
  if (out.fs_type != "ext4" && out.fs_type != "ext3" && out.fs_type != "xfs")
    return field_error(here + ".fsType", quoted(out.fs_type) + " is not ext3, ext4 or xfs");
  return read_strings(o, "options", here, out.options);
}

caf::error read_init(const json::object& parent, const std::string& path, resources_to_init& out) {
  const json::object* o = nullptr;
  auto here = path + ".resourceToBeInited";
  if (auto err = as_object(member(parent, "resourceToBeInited"), here, o); err || o == nullptr)
    return err;
  auto read_items = [&](std::string_view key, auto& items, auto read_one) -> caf::error {
    auto* v = member(*o, key);
    if (v == nullptr)
      return {};
    auto list_path = here + "." + std::string{key};
    if (!v->is_array())
      return field_error(list_path, "not a list");
    auto& arr = v->get_array();
    for (size_t i = 0; i < arr.size(); ++i) {
      items.emplace_back();
      if (auto err = read_one(arr[i], list_path + "[" + std::to_string(i) + "]", items.back()))
        return err;
    }
    return {};
  };
  if (auto err = read_items("vgs", out.vgs, read_vg))
    return err;
  return read_items("mountpoints", out.mountpoints, read_mountpoint);
}

caf::error read_sections(const json::object& o, const std::string& path, spdk_config& spdk,
                         list_config& list, resources_to_init& init) {
  if (auto err = read_spdk(o, path, spdk))
    return err;
  if (auto err = read_list(o, path, list))
    return err;
  return read_init(o, path, init);
}

// -- writing the spec --------------------------------------------------------------

json::array strings_json(const std::vector<std::string>& items) {
  json::array out;
  for (auto& s : items)
    out.emplace_back(s);
  return out;
}

json::object filter_json(const list_filter& f) {
  json::object out;
  if (!f.include.empty())
    out["include"] = strings_json(f.include);
  if (!f.exclude.empty())
    out["exclude"] = strings_json(f.exclude);
  return out;
}

// -- label selectors ---------------------------------------------------------------

/// validation.IsQualifiedName: [prefix/]name, name 1..63 alphanumerics with
/// - _ . inside, prefix a DNS-1123 subdomain of at most 253 characters.
bool valid_label_key(const std::string& key) {
  static const std::regex name{"([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]"};
  static const std::regex subdomain{
    "[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*"};
  auto slash = key.find('/');
  std::string local = key;
  if (slash != std::string::npos) {
    auto prefix = key.substr(0, slash);
    local = key.substr(slash + 1);
    if (prefix.empty() || prefix.size() > 253 || !std::regex_match(prefix, subdomain))
      return false;
  }
  return !local.empty() && local.size() <= 63 && std::regex_match(local, name);
}

/// validation.IsValidLabelValue: empty, or 1..63 as a label name part.
bool valid_label_value(const std::string& value) {
  static const std::regex name{"([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]"};
  return value.empty() || (value.size() <= 63 && std::regex_match(value, name));
}

std::optional<label_selector::op> op_from(std::string_view text) {
  using op = label_selector::op;
  if (text == "In")
    return op::in;
  if (text == "NotIn")
    return op::not_in;
  if (text == "Exists")
    return op::exists;
  if (text == "DoesNotExist")
    return op::does_not_exist;
  return std::nullopt;
}

caf::error read_requirement(const json::value& v, const std::string& here,
                            label_selector::requirement& out) {
  if (!v.is_object())
    return field_error(here, "not an object");
  auto& o = v.get_object();
  if (auto err = read_string(o, "key", here, out.key))
    return err;
  if (!valid_label_key(out.key))
    return field_error(here + ".key", quoted(out.key) + " is not a valid label key");
  std::string op_text;
  if (auto err = read_string(o, "operator", here, op_text))
    return err;
  auto op = op_from(op_text);
  if (!op)
    return field_error(here + ".operator",
                       quoted(op_text) + " is not In, NotIn, Exists or DoesNotExist");
  out.oper = *op;
  if (auto err = read_strings(o, "values", here, out.values))
    return err;
  bool set_op = *op == label_selector::op::in || *op == label_selector::op::not_in;
  if (set_op && out.values.empty())
    return field_error(here + ".values", "must be non-empty for " + op_text);
  if (!set_op && !out.values.empty())
    return field_error(here + ".values", "must be empty for " + op_text);
  for (size_t i = 0; i < out.values.size(); ++i)
    if (!valid_label_value(out.values[i]))
      return field_error(here + ".values[" + std::to_string(i) + "]",
                         quoted(out.values[i]) + " is not a valid label value");
  return {};
}

// -- reservations ------------------------------------------------------------------

/// docker/go-units RAMInBytes: (?i)^\d+(\.\d+)? ?([kmgtp])?i?b?$, binary multipliers,
/// truncated to whole bytes. nullopt when the text does not fit the grammar.
std::optional<uint64_t> go_units_bytes(std::string_view text) {
  size_t i = 0;
  u128 whole = 0;
  for (; i < text.size() && std::isdigit(static_cast<unsigned char>(text[i])); ++i) {
    whole = whole * 10 + static_cast<unsigned>(text[i] - '0');
    if (whole > std::numeric_limits<uint64_t>::max())
      return std::nullopt;
  }
  if (i == 0)
    return std::nullopt;
  u128 frac_num = 0, frac_den = 1;
  if (i < text.size() && text[i] == '.') {
    size_t start = ++i;
    for (; i < text.size() && std::isdigit(static_cast<unsigned char>(text[i])); ++i)
      if (frac_den < 1'000'000'000'000'000'000ull) {
        frac_num = frac_num * 10 + static_cast<unsigned>(text[i] - '0');
        frac_den *= 10;
      }
    if (i == start)
      return std::nullopt;
  }
  if (i < text.size() && text[i] == ' ')
    ++i;
  u128 mul = 1;
  if (i < text.size()) {
    static constexpr std::string_view units = "kmgtp";
    auto pos = units.find(static_cast<char>(std::tolower(static_cast<unsigned char>(text[i]))));
    if (pos != std::string_view::npos) {
      mul = u128{1} << (10 * (pos + 1));
      ++i;
    }
  }
  if (i < text.size() && (text[i] == 'i' || text[i] == 'I'))
    ++i;
  if (i < text.size() && (text[i] == 'b' || text[i] == 'B'))
    ++i;
  if (i != text.size())
    return std::nullopt;
  u128 bytes = whole * mul + frac_num * mul / frac_den;
  if (bytes > std::numeric_limits<uint64_t>::max())
    return std::nullopt;
  return static_cast<uint64_t>(bytes);
}

/// Parses the annotation, keeping the good entries and describing the bad ones.
void read_reservations(std::string_view annotation, std::map<std::string, reservation>& out,
                       std::vector<std::string>& problems) {
  if (annotation.find_first_not_of(" \t\r\n") == std::string_view::npos)
    return;
  boost::system::error_code ec;
  auto doc = json::parse(annotation, ec);
  if (ec || !doc.is_object()) {
    problems.push_back(quoted(annotation) +
                       " is not a JSON object of volume group name to size or percentage");
    return;
  }
  for (auto& [key, value] : doc.get_object()) {
    std::string vg{key};
    if (!value.is_string()) {
      problems.push_back("volume group " + quoted(vg) + ": " + json::serialize(value) +
                         " is not a string");
      continue;
    }
    auto r = parse_reservation(value.get_string());
    if (!r)
      problems.push_back("volume group " + quoted(vg) + ": " + message_of(r.error()));
    else
      out[vg] = *r;
  }
}

// -- status ------------------------------------------------------------------------

constexpr std::string_view disk_ready = "DiskReady";
constexpr std::string_view disk_full = "DiskFull";

/// An integer the way the API server gives it back (int64 unless too large).
json::value bytes_json(uint64_t n) {
  if (n <= static_cast<uint64_t>(std::numeric_limits<int64_t>::max()))
    return json::value(static_cast<int64_t>(n));
  return json::value(n);
}

template <class T, class Key>
std::vector<const T*> sorted_by(const std::vector<T>& items, Key key) {
  std::vector<const T*> out;
  for (auto& item : items)
    out.push_back(&item);
  std::stable_sort(out.begin(), out.end(),
                   [&](const T* a, const T* b) { return key(*a) < key(*b); });
  return out;
}

/// The names `filter` selects (names are already sorted); a bad expression is a
/// warning and selects nothing.
json::array select_names(const list_filter& filter, std::string_view what,
                         const std::vector<std::string>& names,
                         std::vector<std::string>* warnings) {
  auto f = name_filter::make(filter.include, filter.exclude);
  if (!f) {
    if (warnings != nullptr)
      warnings->push_back("spec.listConfig." + std::string{what} + ": " + message_of(f.error()) +
                          "; nothing selected");
    return {};
  }
  return strings_json(f->select(names));
}

std::string previous_string(const std::optional<json::object>& status,
                            std::initializer_list<std::string_view> path) {
  if (!status)
    return {};
  const json::object* o = &*status;
  const json::value* v = nullptr;
  for (auto key : path) {
    if (o == nullptr)
      return {};
    v = o->if_contains(key);
    if (v == nullptr)
      return {};
    o = v->if_object();
  }
  return v != nullptr && v->is_string() ? std::string{v->get_string()} : std::string{};
}

// -- comparing statuses ------------------------------------------------------------

bool ignored_key(std::string_view key) {
  return key == "lastHeartbeatTime" || key == "lastTransitionTime" || key == "lastUpdateTime";
}

bool is_number(const json::value& v) {
  return v.is_int64() || v.is_uint64() || v.is_double();
}

double as_double(const json::value& v) {
  if (v.is_int64())
    return static_cast<double>(v.get_int64());
  if (v.is_uint64())
    return static_cast<double>(v.get_uint64());
  return v.get_double();
}

bool same(const json::value& a, const json::value& b);

bool same_object(const json::object& a, const json::object& b) {
  for (auto& [key, value] : a) {
    if (ignored_key(key))
      continue;
    auto* other = b.if_contains(key);
    if (other == nullptr || !same(value, *other))
      return false;
  }
  for (auto& [key, value] : b)
    if (!ignored_key(key) && !a.contains(key))
      return false;
  return true;
}

bool same(const json::value& a, const json::value& b) {
  if (is_number(a) && is_number(b)) {
    if (!a.is_double() && !b.is_double())
      return a == b; // exact across int64/uint64
    return as_double(a) == as_double(b);
  }
  if (a.kind() != b.kind())
    return false;
  if (a.is_object())
    return same_object(a.get_object(), b.get_object());
  if (a.is_array()) {
    auto& x = a.get_array();
    auto& y = b.get_array();
    if (x.size() != y.size())
      return false;
    for (size_t i = 0; i < x.size(); ++i)
      if (!same(x[i], y[i]))
        return false;
    return true;
  }
  return a == b;
}

} // namespace

// -- spec ------------------------------------------------------------------------

caf::expected<nls_spec> parse_nls_spec(const json::value& spec) {
  nls_spec out;
  const json::object* o = nullptr;
  if (auto err = as_object(&spec, "spec", o))
    return err;
  if (o == nullptr)
    return out;
  if (auto err = read_string(*o, "nodeName", "spec", out.node_name))
    return err;
  if (auto err = read_sections(*o, "spec", out.spdk, out.list, out.init))
    return err;
  return out;
}

json::object to_json(const nls_spec& spec) {
  json::object out;
  if (!spec.node_name.empty())
    out["nodeName"] = spec.node_name;
  json::object spdk;
  if (!spec.spdk.device_type.empty())
    spdk["deviceType"] = spec.spdk.device_type;
  if (!spec.spdk.rpc_socket.empty())
    spdk["rpcSocket"] = spec.spdk.rpc_socket;
  out["spdkConfig"] = std::move(spdk);
  out["listConfig"] = json::object{{"vgs", filter_json(spec.list.vgs)},
                                   {"mountPoints", filter_json(spec.list.mount_points)},
                                   {"devices", filter_json(spec.list.devices)}};
  json::object init;
  if (!spec.init.vgs.empty()) {
    json::array vgs;
    for (auto& vg : spec.init.vgs)
      vgs.push_back(json::object{{"name", vg.name}, {"devices", strings_json(vg.devices)}});
    init["vgs"] = std::move(vgs);
  }
  if (!spec.init.mountpoints.empty()) {
    json::array mps;
    for (auto& mp : spec.init.mountpoints) {
      json::object item{{"path", mp.path}, {"device", mp.device}};
      if (!mp.fs_type.empty())
        item["fsType"] = mp.fs_type;
      if (!mp.options.empty())
        item["options"] = strings_json(mp.options);
      mps.push_back(std::move(item));
    }
    init["mountpoints"] = std::move(mps);
  }
  out["resourceToBeInited"] = std::move(init);
  return out;
}

// -- NodeLocalStorageInitConfig --------------------------------------------------

bool label_selector::matches(const std::map<std::string, std::string>& labels) const {
  for (auto& [key, value] : match_labels) {
    auto it = labels.find(key);
    if (it == labels.end() || it->second != value)
      return false;
  }
  for (auto& r : match_expressions) {
    auto it = labels.find(r.key);
    bool present = it != labels.end();
    bool listed =
      present && std::find(r.values.begin(), r.values.end(), it->second) != r.values.end();
    switch (r.oper) {
    case op::in:
      if (!listed)
        return false;
      break;
    case op::not_in:
      if (listed)
        return false;
      break;
    case op::exists:
      if (!present)
        return false;
      break;
    case op::does_not_exist:
      if (present)
        return false;
      break;
    }
  }
  return true;
}

caf::expected<label_selector> parse_label_selector(const json::value& selector,
                                                   std::string_view path) {
  std::string here{path};
  label_selector out;
  if (!selector.is_object()) // null included: a nil selector is the caller's nullopt
    return field_error(here, "not an object");
  auto* o = &selector.get_object();
  const json::object* labels = nullptr;
  if (auto err = as_object(member(*o, "matchLabels"), here + ".matchLabels", labels))
    return err;
  if (labels != nullptr) {
    for (auto& [k, v] : *labels) {
      std::string key{k};
      auto label_path = here + ".matchLabels." + key;
      if (!valid_label_key(key))
        return field_error(label_path, quoted(key) + " is not a valid label key");
      if (!v.is_string())
        return field_error(label_path, "not a string");
      std::string value{v.get_string()};
      if (!valid_label_value(value))
        return field_error(label_path, quoted(value) + " is not a valid label value");
      out.match_labels[key] = value;
    }
  }
  if (auto* exprs = member(*o, "matchExpressions")) {
    auto list_path = here + ".matchExpressions";
    if (!exprs->is_array())
      return field_error(list_path, "not a list");
    auto& arr = exprs->get_array();
    for (size_t i = 0; i < arr.size(); ++i) {
      out.match_expressions.emplace_back();
      if (auto err = read_requirement(arr[i], list_path + "[" + std::to_string(i) + "]",
                                      out.match_expressions.back()))
        return err;
    }
  }
  return out;
}

caf::expected<init_config> parse_init_config(const json::value& spec) {
  init_config out;
  const json::object* o = nullptr;
  if (auto err = as_object(&spec, "spec", o))
    return err;
  if (o == nullptr)
    return out;
  const json::object* global = nullptr;
  if (auto err = as_object(member(*o, "globalConfig"), "spec.globalConfig", global))
    return err;
  if (global != nullptr)
    if (auto err = read_sections(*global, "spec.globalConfig", out.spdk, out.list, out.init))
      return err;
  auto* nodes = member(*o, "nodesConfig");
  if (nodes == nullptr)
    return out;
  if (!nodes->is_array())
    return field_error("spec.nodesConfig", "not a list");
  auto& arr = nodes->get_array();
  for (size_t i = 0; i < arr.size(); ++i) {
    auto here = "spec.nodesConfig[" + std::to_string(i) + "]";
    if (!arr[i].is_object())
      return field_error(here, "not an object");
    auto& item = arr[i].get_object();
    node_config_rule rule;
    if (auto* sel = member(item, "selector")) {
      auto parsed = parse_label_selector(*sel, here + ".selector");
      if (!parsed)
        return parsed.error();
      rule.selector = std::move(*parsed);
    }
    if (auto err = read_sections(item, here, rule.spdk, rule.list, rule.init))
      return err;
    out.nodes.push_back(std::move(rule));
  }
  return out;
}

nls_spec resolve_spec(const init_config& config, const std::string& node_name,
                      const std::map<std::string, std::string>& node_labels) {
  nls_spec out;
  out.node_name = node_name;
  out.spdk = config.spdk;
  out.list = config.list;
  out.init = config.init;
  for (auto& rule : config.nodes) {
    if (!rule.selector || !rule.selector->matches(node_labels))
      continue;
    out.spdk = rule.spdk;
    out.list = rule.list;
    out.init = rule.init;
  }
  return out;
}

// -- reservations ----------------------------------------------------------------

caf::expected<reservation> parse_reservation(std::string_view value) {
  if (!value.empty() && value.back() == '%') {
    auto number = value.substr(0, value.size() - 1);
    double percent = 0;
    auto [end, ec] = std::from_chars(number.data(), number.data() + number.size(), percent);
    if (number.empty() || ec != std::errc{} || end != number.data() + number.size() ||
        !std::isfinite(percent) || percent < 0 || percent > 100)
      return make_error(errc::invalid_argument,
                        quoted(value) + " is not a percentage between 0% and 100%");
    return reservation{0, percent, true};
  }
  if (auto bytes = go_units_bytes(value))
    return reservation{*bytes, 0, false};
  return make_error(errc::invalid_argument,
                    quoted(value) + " is neither a size (\"100Gi\") nor a percentage (\"10%\")");
}

caf::expected<std::map<std::string, reservation>> parse_reservations(std::string_view annotation) {
  std::map<std::string, reservation> out;
  std::vector<std::string> problems;
  read_reservations(annotation, out, problems);
  if (problems.empty())
    return out;
  std::string message{storage_reserved_annotation};
  message += ": ";
  for (size_t i = 0; i < problems.size(); ++i)
    message += (i == 0 ? "" : "; ") + problems[i];
  return make_error(errc::invalid_argument, std::move(message));
}

uint64_t vg_allocatable(const vg_fact& vg, const std::optional<reservation>& reserved) {
  u128 foreign = 0;
  for (auto& lv : vg.lvs)
    if (!lv.ours)
      foreign += lv.size;
  uint64_t allocatable = foreign >= vg.total ? 0 : vg.total - static_cast<uint64_t>(foreign);
  if (reserved) {
    uint64_t held = reserved->bytes;
    if (reserved->is_percent)
      held = static_cast<uint64_t>(static_cast<long double>(vg.total) * reserved->percent / 100);
    uint64_t ceiling = held >= vg.total ? 0 : vg.total - held;
    allocatable = std::min(allocatable, ceiling);
  }
  return allocatable;
}

// -- status ----------------------------------------------------------------------

json::object build_status(const node_storage_facts& facts, const nls_spec& spec,
                          const std::map<std::string, std::string>& nls_annotations,
                          const std::string& now,
                          const std::optional<json::object>& previous_status,
                          std::vector<std::string>* warnings) {
  std::map<std::string, reservation> reservations;
  if (auto it = nls_annotations.find(std::string{storage_reserved_annotation});
      it != nls_annotations.end()) {
    std::vector<std::string> problems;
    read_reservations(it->second, reservations, problems);
    if (warnings != nullptr)
      for (auto& p : problems)
        warnings->push_back(std::string{storage_reserved_annotation} + ": " + p +
                            "; that reservation is ignored");
  }

  // devices
  json::array devices;
  std::vector<std::string> device_names;
  for (auto* d : sorted_by(facts.devices, [](auto& d) -> const std::string& { return d.name; })) {
    devices.push_back(json::object{{"name", d->name},
                                   {"mediaType", d->media_type},
                                   {"total", bytes_json(d->total)},
                                   {"readOnly", d->read_only},
                                   {"condition", disk_ready}});
    device_names.push_back(d->name);
  }

  // volume groups
  json::array vgs;
  std::vector<std::string> vg_names;
  std::vector<std::string> full_vgs;
  for (auto* vg : sorted_by(facts.vgs, [](auto& v) -> const std::string& { return v.name; })) {
    auto pvs = vg->pvs;
    std::sort(pvs.begin(), pvs.end());
    json::array lvs;
    for (auto* lv : sorted_by(vg->lvs, [](auto& l) -> const std::string& { return l.name; }))
      lvs.push_back(json::object{{"name", lv->name},
                                 {"vgname", vg->name},
                                 {"total", bytes_json(lv->size)},
                                 {"readOnly", lv->read_only},
                                 {"condition", disk_ready}});
    json::array pools;
    for (auto* p : sorted_by(vg->thin_pools, [](auto& t) -> const std::string& { return t.name; }))
      pools.push_back(json::object{{"name", p->name},
                                   {"total", bytes_json(p->size)},
                                   {"dataPercent", p->data_percent},
                                   {"metadataPercent", p->metadata_percent},
                                   {"virtualTotal", bytes_json(p->virtual_bytes)}});
    std::optional<reservation> reserved;
    if (auto it = reservations.find(vg->name); it != reservations.end())
      reserved = it->second;
    bool full = vg->free == 0;
    vgs.push_back(json::object{{"name", vg->name},
                               {"physicalVolumes", strings_json(pvs)},
                               {"logicalVolumes", std::move(lvs)},
                               {"total", bytes_json(vg->total)},
                               {"available", bytes_json(vg->free)},
                               {"allocatable", bytes_json(vg_allocatable(*vg, reserved))},
                               {"condition", full ? disk_full : disk_ready},
                               {"thinPools", std::move(pools)}});
    vg_names.push_back(vg->name);
    if (full)
      full_vgs.push_back(vg->name);
  }

  // mount points
  json::array mounts;
  std::vector<std::string> mount_names;
  std::vector<std::string> full_mounts;
  for (auto* m : sorted_by(facts.mounts, [](auto& m) -> const std::string& { return m.path; })) {
    bool ro =
      m->read_only || std::find(m->options.begin(), m->options.end(), "ro") != m->options.end();
    bool full = m->available == 0;
    mounts.push_back(json::object{{"name", m->path},
                                  {"total", bytes_json(m->total)},
                                  {"available", bytes_json(m->available)},
                                  {"fsType", m->fs_type},
                                  {"isBind", false},
                                  {"options", strings_json(m->options)},
                                  {"device", m->device},
                                  {"readOnly", ro},
                                  {"condition", full ? disk_full : disk_ready}});
    mount_names.push_back(m->path);
    if (full)
      full_mounts.push_back(m->path);
  }

  // what listConfig selects
  auto selected_vgs = select_names(spec.list.vgs, "vgs", vg_names, warnings);
  auto selected_mounts = select_names(spec.list.mount_points, "mountPoints", mount_names, warnings);
  auto selected_devices = select_names(spec.list.devices, "devices", device_names, warnings);

  // the overall state: full when something we schedule on is full
  auto selected_full = [](const std::vector<std::string>& full, const json::array& selected) {
    std::vector<std::string> out;
    for (auto& name : full)
      if (std::find(selected.begin(), selected.end(), json::value(name)) != selected.end())
        out.push_back(name);
    return out;
  };
  auto join = [](const std::vector<std::string>& names) {
    std::string out;
    for (auto& n : names)
      out += (out.empty() ? "" : ", ") + n;
    return out;
  };
  auto vgs_full = selected_full(full_vgs, selected_vgs);
  auto mounts_full = selected_full(full_mounts, selected_mounts);
  bool node_full = !vgs_full.empty() || !mounts_full.empty();
  std::string_view type = node_full ? disk_full : disk_ready;
  std::string reason, message;
  if (node_full) {
    reason = "NoFreeSpace";
    message = "no free space in";
    if (!vgs_full.empty())
      message += " volume groups " + join(vgs_full);
    if (!vgs_full.empty() && !mounts_full.empty())
      message += " and";
    if (!mounts_full.empty())
      message += " mount points " + join(mounts_full);
  }
  auto transition = now;
  if (previous_string(previous_status, {"nodeStorageInfo", "state", "type"}) == type) {
    auto kept =
      previous_string(previous_status, {"nodeStorageInfo", "state", "lastTransitionTime"});
    if (!kept.empty())
      transition = kept;
  }

  json::object state{{"type", type},
                     {"status", "True"},
                     {"lastHeartbeatTime", now},
                     {"lastTransitionTime", transition},
                     {"reason", reason},
                     {"message", message}};
  json::object node_info{{"deviceInfo", std::move(devices)},
                         {"volumeGroups", std::move(vgs)},
                         {"mountPoints", std::move(mounts)},
                         {"phase", "Running"},
                         {"state", std::move(state)}};
  json::object filtered{
    {"volumeGroups", std::move(selected_vgs)},
    {"mountPoints", std::move(selected_mounts)},
    {"devices", std::move(selected_devices)},
    {"updateStatusInfo",
     json::object{{"lastUpdateTime", now}, {"updateStatus", "accepted"}, {"reason", ""}}}};
  return json::object{{"nodeStorageInfo", std::move(node_info)},
                      {"filteredStorageInfo", std::move(filtered)}};
}

bool status_changed(const json::object& a, const json::object& b) {
  return !same_object(a, b);
}

} // namespace olocal::kube
