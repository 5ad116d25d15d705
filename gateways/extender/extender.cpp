#include "gateways/extender/extender.hpp"

#include "actors/core/errc.hpp"
#include "actors/core/json.hpp"
#include "gateways/kube/placement_actor.hpp"
#include "gateways/kube/placement_view.hpp"

#include <boost/json.hpp>

#include <charconv>
#include <cstdio>

namespace olocal::extender {

namespace json = boost::json;

namespace {

http::response json_response(unsigned status, const json::value& v) {
  http::response r;
  r.status = status;
  r.content_type = "application/json";
  r.body = json::serialize(v);
  return r;
}

http::response text_response(unsigned status, std::string text) {
  http::response r;
  r.status = status;
  r.body = std::move(text);
  if (r.body.empty() || r.body.back() != '\n')
    r.body += '\n';
  return r;
}

/// ExtenderArgs, as far as we read it.
struct extender_args {
  kube::object pod;
  std::vector<std::string> names;
  bool node_objects = false; ///< "nodes" (a NodeList) instead of "nodenames"
  json::array items;         ///< the Node objects, when node_objects
};

caf::expected<extender_args> parse_args(const std::string& body) {
  // The document lives only here: a monotonic resource makes building and
  // dropping it cheap; what is kept (the pod, the node objects) is copied
  // out to the default resource.
  json::monotonic_resource scratch;
  json::error_code ec;
  auto v = json::parse(body, ec, &scratch);
  if (ec)
    return make_error(errc::invalid_argument,
                      "ExtenderArgs: the body is not JSON (" + ec.message() + ")");
  auto* o = v.if_object();
  if (o == nullptr)
    return make_error(errc::invalid_argument, "ExtenderArgs: the body is not a JSON object");
  auto* pod = o->if_contains("pod");
  if (pod == nullptr || !pod->is_object())
    return make_error(errc::invalid_argument, "ExtenderArgs: \"pod\" is missing or not an object");
  extender_args a;
  a.pod = kube::object{json::object(pod->as_object(), json::storage_ptr())};
  if (auto* names = o->if_contains("nodenames"); names != nullptr && !names->is_null()) {
    if (!names->is_array())
      return make_error(errc::invalid_argument, "ExtenderArgs: \"nodenames\" is not an array");
    for (auto& n : names->as_array()) {
      if (!n.is_string())
        return make_error(errc::invalid_argument,
                          "ExtenderArgs: \"nodenames\" holds a value that is not a string");
      a.names.emplace_back(n.as_string());
    }
    return a;
  }
  auto* nodes = o->if_contains("nodes");
  auto* list = nodes != nullptr ? nodes->if_object() : nullptr;
  auto* items = list != nullptr ? list->if_contains("items") : nullptr;
  if (items == nullptr || !items->is_array())
    return make_error(errc::invalid_argument,
                      "ExtenderArgs: neither \"nodenames\" nor \"nodes\".items is given");
  a.node_objects = true;
  a.items = json::array(items->as_array(), json::storage_ptr());
  for (auto& item : a.items) {
    auto* node = item.if_object();
    auto* meta = node != nullptr ? node->if_contains("metadata") : nullptr;
    auto* name =
      meta != nullptr && meta->is_object() ? meta->as_object().if_contains("name") : nullptr;
    if (name == nullptr || !name->is_string())
      return make_error(errc::invalid_argument,
                        "ExtenderArgs: a node in \"nodes\".items has no metadata.name");
    a.names.emplace_back(name->as_string());
  }
  return a;
}

const char* not_ready = "open-local placement is not ready: its view of the cluster is still "
                        "being built (informers not synced)";

bool ready(const kube::placement_snapshot* s) {
  return s != nullptr && s->synced && s->view && s->objects;
}

std::string escape_label(std::string_view v) {
  std::string out;
  for (char c : v) {
    if (c == '\\' || c == '"')
      out += '\\';
    if (c == '\n') {
      out += "\\n";
      continue;
    }
    out += c;
  }
  return out;
}

int hex_value(char c) {
  if (c >= '0' && c <= '9')
    return c - '0';
  if (c >= 'a' && c <= 'f')
    return c - 'a' + 10;
  if (c >= 'A' && c <= 'F')
    return c - 'A' + 10;
  return -1;
}

std::string decode(std::string_view s) {
  std::string out;
  for (size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '+') {
      out += ' ';
    } else if (s[i] == '%' && i + 2 < s.size() && hex_value(s[i + 1]) >= 0 &&
               hex_value(s[i + 2]) >= 0) {
      out += static_cast<char>(hex_value(s[i + 1]) * 16 + hex_value(s[i + 2]));
      i += 2;
    } else {
      out += s[i];
    }
  }
  return out;
}

} // namespace

caf::expected<placement::anti_affinity> parse_anti_affinity(std::string_view text) {
  placement::anti_affinity w;
  size_t start = 0;
  while (start <= text.size()) {
    auto end = text.find(',', start);
    if (end == std::string_view::npos)
      end = text.size();
    auto entry = text.substr(start, end - start);
    start = end + 1;
    if (entry.empty()) {
      if (end == text.size())
        break;
      continue;
    }
    auto eq = entry.find('=');
    auto type = entry.substr(0, eq);
    int weight = 5;
    if (eq != std::string_view::npos) {
      auto value = entry.substr(eq + 1);
      auto [ptr, ec] = std::from_chars(value.data(), value.data() + value.size(), weight);
      if (ec != std::errc{} || ptr != value.data() + value.size() || weight < 0 || weight > 10)
        return make_error(errc::config_invalid, "anti-affinity entry \"" + std::string{entry} +
                                                  "\": the weight must be an integer 0..10");
    }
    if (type == "MountPoint")
      w.mount_point = weight;
    else if (type == "Device")
      w.device = weight;
    else if (type != "LVM" && type != "Quota")
      return make_error(errc::config_invalid,
                        "anti-affinity entry \"" + std::string{entry} +
                          "\": the type must be MountPoint, Device, LVM or Quota");
    if (end == text.size())
      break;
  }
  return w;
}

std::string query_param(std::string_view query, std::string_view key) {
  size_t start = 0;
  while (start <= query.size()) {
    auto end = query.find('&', start);
    if (end == std::string_view::npos)
      end = query.size();
    auto pair = query.substr(start, end - start);
    auto eq = pair.find('=');
    if (decode(pair.substr(0, eq)) == key)
      return eq == std::string_view::npos ? std::string{} : decode(pair.substr(eq + 1));
    if (end == query.size())
      break;
    start = end + 1;
  }
  return {};
}

namespace {

/// ExtenderFilterResult, written directly (for 1,000 nodes a Boost.JSON
/// document cost more than the placement itself): the passing names (or
/// Node objects), failedNodes and, when any, failedAndUnresolvableNodes.
class filter_result {
public:
  explicit filter_result(const extender_args& args) : args_(args) {
    passing_.reserve(args.names.size() * (args.node_objects ? 0 : 16) + 64);
    failed_.reserve(256);
  }

  void pass(size_t i) {
    if (!passing_.empty())
      passing_ += ',';
    if (args_.node_objects)
      passing_ += json::serialize(args_.items[i]);
    else
      append_json_quoted(passing_, args_.names[i]);
  }

  void fail(const std::string& node, const std::string& reason) { add(failed_, node, reason); }

  void unresolvable(const std::string& node, const std::string& reason) {
    add(unresolvable_, node, reason);
  }

  http::response answer() && {
    http::response r;
    r.status = 200;
    r.content_type = "application/json";
    auto& out = r.body;
    out.reserve(passing_.size() + failed_.size() + unresolvable_.size() + 128);
    if (args_.node_objects)
      out += R"({"nodes":{"apiVersion":"v1","kind":"NodeList","items":[)" + passing_ + "]}";
    else
      out += R"({"nodenames":[)" + passing_ + "]";
    out += R"(,"failedNodes":{)" + failed_ + "}";
    if (!unresolvable_.empty())
      out += R"(,"failedAndUnresolvableNodes":{)" + unresolvable_ + "}";
    out += '}';
    return r;
  }

private:
  static void add(std::string& to, const std::string& node, const std::string& reason) {
    if (!to.empty())
      to += ',';
    append_json_quoted(to, node);
    to += ':';
    append_json_quoted(to, reason);
  }

  const extender_args& args_;
  std::string passing_, failed_, unresolvable_;
};

} // namespace

http::response predicates(const std::string& body, const kube::placement_snapshot* snapshot,
                          const extender_options& opts) {
  auto args = parse_args(body);
  if (!args)
    return json_response(200, json::object{{"error", message_of(args.error())}});
  if (!ready(snapshot))
    return json_response(200, json::object{{"error", not_ready}});
  auto demand = kube::demand_of(args->pod, *snapshot->objects, opts.drivers);
  filter_result result{*args};
  if (!demand.error.empty()) {
    for (auto& n : args->names)
      result.unresolvable(n, demand.error);
  } else if (!demand.uses_local()) {
    for (size_t i = 0; i < args->names.size(); ++i)
      result.pass(i); // nothing of ours to place: we do not filter
  } else {
    auto verdicts =
      placement::evaluate(*snapshot->view, demand, args->names, opts.how, opts.weights);
    for (size_t i = 0; i < verdicts.size(); ++i) {
      if (verdicts[i].fits)
        result.pass(i);
      else
        result.fail(verdicts[i].node, verdicts[i].reason);
    }
  }
  return std::move(result).answer();
}

namespace {

/// HostPriorityList, written directly: one small object per node through
/// Boost.JSON cost more than the scoring itself.
http::response host_priorities(const std::vector<std::pair<const std::string*, int>>& scores) {
  http::response r;
  r.content_type = "application/json";
  auto& out = r.body;
  out.reserve(scores.size() * 40 + 2);
  out += '[';
  for (size_t i = 0; i < scores.size(); ++i) {
    if (i > 0)
      out += ',';
    out += "{\"host\":";
    append_json_quoted(out, *scores[i].first);
    out += ",\"score\":";
    out += std::to_string(scores[i].second);
    out += '}';
  }
  out += ']';
  return r;
}

} // namespace

http::response priorities(const std::string& body, const kube::placement_snapshot* snapshot,
                          const extender_options& opts) {
  auto args = parse_args(body);
  if (!args)
    return text_response(400, message_of(args.error()));
  if (!ready(snapshot))
    return text_response(503, not_ready);
  auto demand = kube::demand_of(args->pod, *snapshot->objects, opts.drivers);
  std::vector<std::pair<const std::string*, int>> scores;
  scores.reserve(args->names.size());
  if (!demand.error.empty()) {
    for (auto& n : args->names)
      scores.emplace_back(&n, 0);
    return host_priorities(scores);
  }
  auto verdicts = placement::evaluate(*snapshot->view, demand, args->names, opts.how, opts.weights,
                                      /*with_reasons=*/false);
  for (auto& v : verdicts)
    scores.emplace_back(&v.node, v.fits ? v.score : 0);
  return host_priorities(scores);
}

http::response cache(const std::string& query, const kube::placement_snapshot* snapshot) {
  if (!ready(snapshot))
    return text_response(503, not_ready);
  auto node = query_param(query, "nodeName");
  if (!node.empty() && snapshot->view->find(node) == nullptr)
    return text_response(400, node + " is not found");
  http::response r;
  r.content_type = "application/json";
  r.body = kube::cache_json(*snapshot->view, node);
  return r;
}

std::string local_metrics(const placement::cluster_view& view) {
  std::string out;
  auto family = [&](const char* name, const char* help) {
    out += std::string{"# HELP "} + name + " " + help + "\n# TYPE " + name + " gauge\n";
  };
  auto sample = [&](const char* name, std::initializer_list<std::pair<const char*, std::string>> l,
                    double value) {
    out += name;
    if (l.size() > 0) {
      out += '{';
      bool first = true;
      for (auto& [k, v] : l) {
        if (!first)
          out += ',';
        first = false;
        out += k;
        out += "=\"" + escape_label(v) + "\"";
      }
      out += '}';
    }
    char number[64];
    std::snprintf(number, sizeof number, " %.17g\n", value);
    out += number;
  };
  auto each_node = [&](auto fn) {
    for (auto& [name, node] : view.nodes)
      if (node)
        fn(name, *node);
  };
  family("local_volume_group_total",
         "Capacity of a volume group for our volumes (allocatable), bytes");
  each_node([&](const std::string& n, const placement::node_state& s) {
    for (auto& vg : s.vgs)
      sample("local_volume_group_total", {{"nodename", n}, {"vgname", vg.name}},
             static_cast<double>(vg.capacity));
  });
  family("local_volume_group_used",
         "Bytes of a volume group taken by our volumes and reservations");
  each_node([&](const std::string& n, const placement::node_state& s) {
    for (auto& vg : s.vgs)
      sample("local_volume_group_used", {{"nodename", n}, {"vgname", vg.name}},
             static_cast<double>(vg.charged));
  });
  family("local_volume_group_available", "Bytes of a volume group still free for our volumes");
  each_node([&](const std::string& n, const placement::node_state& s) {
    for (auto& vg : s.vgs)
      sample("local_volume_group_available", {{"nodename", n}, {"vgname", vg.name}},
             static_cast<double>(vg.free()));
  });
  auto units = [&](const char* prefix, auto member) {
    std::string total = std::string{prefix} + "_total";
    std::string available = std::string{prefix} + "_available";
    std::string bind = std::string{prefix} + "_bind";
    family(total.c_str(), "Capacity of a device or mount point, bytes");
    each_node([&](const std::string& n, const placement::node_state& s) {
      for (auto& u : s.*member)
        sample(total.c_str(), {{"nodename", n}, {"name", u.name}, {"type", u.media}},
               static_cast<double>(u.capacity));
    });
    family(available.c_str(), "Bytes of a device or mount point free for a volume (0 when bound)");
    each_node([&](const std::string& n, const placement::node_state& s) {
      for (auto& u : s.*member)
        sample(available.c_str(), {{"nodename", n}, {"name", u.name}, {"type", u.media}},
               u.taken ? 0.0 : static_cast<double>(u.capacity));
    });
    family(bind.c_str(), "1 when a volume holds the device or mount point");
    each_node([&](const std::string& n, const placement::node_state& s) {
      for (auto& u : s.*member)
        sample(bind.c_str(), {{"nodename", n}, {"name", u.name}}, u.taken ? 1.0 : 0.0);
    });
  };
  units("local_device", &placement::node_state::devices);
  units("local_mount_point", &placement::node_state::mount_points);
  auto split = [](const std::string& s, char sep) {
    auto at = s.find(sep);
    return at == std::string::npos ? std::pair<std::string, std::string>{"", s}
                                   : std::pair{s.substr(0, at), s.substr(at + 1)};
  };
  family("local_allocated_num", "PersistentVolumes of ours on the node");
  each_node([&](const std::string& n, const placement::node_state& s) {
    size_t pvs = 0;
    for (auto& c : s.charges)
      pvs += c.key.rfind("pv/", 0) == 0 ? 1 : 0;
    sample("local_allocated_num", {{"nodename", n}}, static_cast<double>(pvs));
  });
  family("local_local_pv", "Size of a PersistentVolume of ours, bytes");
  each_node([&](const std::string& n, const placement::node_state& s) {
    for (auto& c : s.charges) {
      if (c.key.rfind("pv/", 0) != 0)
        continue;
      auto [ns, pvc] = split(c.owner, '/');
      sample("local_local_pv",
             {{"nodename", n},
              {"pv_name", c.key.substr(3)},
              {"pv_type", c.kind},
              {"pvc_name", pvc},
              {"pvc_ns", ns},
              {"status", c.status},
              {"storage_name", c.where}},
             static_cast<double>(c.bytes));
    }
  });
  family("local_inline_volume", "Size of an inline ephemeral volume of ours, bytes");
  each_node([&](const std::string& n, const placement::node_state& s) {
    for (auto& c : s.charges) {
      if (c.key.rfind("inline:", 0) != 0)
        continue;
      auto [ns, pod] = split(c.owner, '/');
      auto volume = c.key.substr(c.key.rfind('/') + 1);
      sample("local_inline_volume",
             {{"pod_name", pod},
              {"pod_namespace", ns},
              {"nodename", n},
              {"vgname", c.where},
              {"volume_name", volume}},
             static_cast<double>(c.bytes));
    }
  });
  family("local_reserved_volume", "Bytes reserved for a PVC that has no PersistentVolume yet");
  each_node([&](const std::string& n, const placement::node_state& s) {
    for (auto& c : s.charges) {
      if (c.key.rfind("res/", 0) != 0)
        continue;
      auto [ns, pvc] = split(c.owner, '/');
      sample("local_reserved_volume",
             {{"nodename", n},
              {"pvc_name", pvc},
              {"pvc_ns", ns},
              {"type", c.kind},
              {"storage_name", c.where}},
             static_cast<double>(c.bytes));
    }
  });
  family("local_view_generation", "Generation of the placement view these values come from");
  sample("local_view_generation", {}, static_cast<double>(view.generation));
  return out;
}

} // namespace olocal::extender
