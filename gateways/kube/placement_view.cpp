#include "gateways/kube/placement_view.hpp"

#include "actors/cluster/volume_params.hpp"
#include "actors/core/errc.hpp"

#include <boost/json/array.hpp>
#include <boost/json/object.hpp>
#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>

#include <algorithm>
#include <set>

namespace olocal::kube {

namespace json = boost::json;
using placement::volume_kind;

namespace {

const json::object* object_in(const json::object* o, std::string_view key) {
  if (o == nullptr)
    return nullptr;
  auto* v = o->if_contains(key);
  return v != nullptr ? v->if_object() : nullptr;
}

const json::array* array_in(const json::object* o, std::string_view key) {
  if (o == nullptr)
    return nullptr;
  auto* v = o->if_contains(key);
  return v != nullptr ? v->if_array() : nullptr;
}

std::string string_in(const json::object* o, std::string_view key) {
  if (o == nullptr)
    return {};
  auto* v = o->if_contains(key);
  return v != nullptr && v->is_string() ? std::string{v->get_string()} : std::string{};
}

std::map<std::string, std::string> string_map(const json::object* o) {
  std::map<std::string, std::string> out;
  if (o != nullptr)
    for (auto& [k, v] : *o)
      if (v.is_string())
        out.emplace(std::string{k}, std::string{v.get_string()});
  return out;
}

/// Bytes from a JSON number (any representation) or a quantity string; 0 otherwise.
uint64_t bytes_of(const json::value* v) {
  if (v == nullptr)
    return 0;
  if (v->is_uint64())
    return v->get_uint64();
  if (v->is_int64())
    return v->get_int64() > 0 ? static_cast<uint64_t>(v->get_int64()) : 0;
  if (v->is_double()) {
    auto d = v->get_double();
    return d > 0 && d < 1.8e19 ? static_cast<uint64_t>(d) : 0;
  }
  if (v->is_string()) {
    auto q = parse_quantity(std::string_view{v->get_string()});
    return q ? *q : 0;
  }
  return 0;
}

uint64_t bytes_in(const json::object* o, std::string_view key) {
  return o != nullptr ? bytes_of(o->if_contains(key)) : 0;
}

/// The names of a string array.
std::vector<std::string> names_in(const json::object* o, std::string_view key) {
  std::vector<std::string> out;
  if (auto* a = array_in(o, key))
    for (auto& v : *a)
      if (v.is_string())
        out.emplace_back(v.get_string());
  return out;
}

/// Objects of an array by their "name".
std::map<std::string, const json::object*> by_name(const json::array* a) {
  std::map<std::string, const json::object*> out;
  if (a != nullptr)
    for (auto& v : *a)
      if (auto* o = v.if_object(); o != nullptr)
        if (auto n = string_in(o, "name"); !n.empty())
          out.emplace(n, o);
  return out;
}

std::string value_or(const std::map<std::string, std::string>& m, const std::string& key,
                     std::string fallback = {}) {
  auto it = m.find(key);
  return it != m.end() && !it->second.empty() ? it->second : fallback;
}

bool ours(const std::string& driver, const std::vector<std::string>& drivers) {
  return !driver.empty() && std::find(drivers.begin(), drivers.end(), driver) != drivers.end();
}

/// The thin pool of a thin LVM volume ("" = thick), from StorageClass-like parameters.
std::string thin_pool_of(const std::map<std::string, std::string>& params) {
  if (value_or(params, std::string{param_keys::lvm_type}) != "thin")
    return {};
  return value_or(params, std::string{param_keys::thin_pool}, volume_params{}.thin_pool);
}

std::optional<volume_kind> kind_of(const std::string& volume_type) {
  if (volume_type.empty() || volume_type == "LVM")
    return volume_kind::lvm;
  if (volume_type == "Device")
    return volume_kind::device;
  if (volume_type == "MountPoint")
    return volume_kind::mount_point;
  return std::nullopt;
}

std::string quoted(const std::string& s) {
  return "\"" + s + "\"";
}

} // namespace

const std::vector<std::string>& default_drivers() {
  static const std::vector<std::string> drivers{"local.csi.aliyun.com",
                                                "yodaplugin.csi.alibabacloud.com"};
  return drivers;
}

// -- nodes ---------------------------------------------------------------------------

placement::node_state node_state_of(const object& nls, double thin_overprovision) {
  placement::node_state s;
  s.name = nls.name();
  auto* status_value = nls.at_path("status");
  auto* status = status_value != nullptr ? status_value->if_object() : nullptr;
  s.reported = status != nullptr && !status->empty();
  if (!s.reported)
    return s;
  auto* info = object_in(status, "nodeStorageInfo");
  auto* filtered = object_in(status, "filteredStorageInfo");

  auto vgs = by_name(array_in(info, "volumeGroups"));
  for (auto& name : names_in(filtered, "volumeGroups")) {
    placement::vg_state vg;
    vg.name = name;
    if (auto it = vgs.find(name); it != vgs.end()) {
      vg.capacity = bytes_in(it->second, "allocatable");
      if (auto* pools = array_in(it->second, "thinPools"))
        for (auto& p : *pools) {
          auto* po = p.if_object();
          if (po == nullptr || string_in(po, "name").empty())
            continue;
          placement::thin_pool_state pool;
          pool.name = string_in(po, "name");
          pool.size = bytes_in(po, "total");
          pool.overprovision = thin_overprovision;
          vg.thin_pools.push_back(std::move(pool));
        }
    }
    s.vgs.push_back(std::move(vg));
  }

  auto devices = by_name(array_in(info, "deviceInfo"));
  for (auto& name : names_in(filtered, "devices")) {
    auto it = devices.find(name);
    if (it == devices.end())
      continue;
    placement::exclusive_unit u;
    u.name = name;
    u.capacity = bytes_in(it->second, "total");
    u.media = string_in(it->second, "mediaType");
    s.devices.push_back(std::move(u));
  }

  auto mounts = by_name(array_in(info, "mountPoints"));
  for (auto& name : names_in(filtered, "mountPoints")) {
    auto it = mounts.find(name);
    if (it == mounts.end())
      continue;
    auto fs = string_in(it->second, "fsType");
    if (fs != "ext3" && fs != "ext4" && fs != "xfs")
      continue;
    placement::exclusive_unit u;
    u.name = name;
    u.capacity = bytes_in(it->second, "total");
    if (auto dev = devices.find(string_in(it->second, "device")); dev != devices.end())
      u.media = string_in(dev->second, "mediaType");
    s.mount_points.push_back(std::move(u));
  }
  return s;
}

// -- persistent volumes --------------------------------------------------------------

std::optional<pv_charge> charge_of_pv(const object& o, const std::vector<std::string>& drivers) {
  if (!ours(pv::csi_driver(o), drivers) || pv::phase(o) == "Pending")
    return std::nullopt;
  pv_charge c;
  c.node = pv::node(o);
  if (c.node.empty())
    return std::nullopt;
  auto attrs = pv::volume_attributes(o);
  std::map<std::string, std::string> allocated;
  if (auto text = o.annotation(pv_allocated_annotation); !text.empty()) {
    boost::system::error_code ec;
    auto doc = json::parse(text, ec);
    if (!ec && doc.is_object())
      allocated = string_map(&doc.get_object());
  }
  auto kind = kind_of(value_or(allocated, "volumeType", value_or(attrs, "volumeType")));
  if (!kind)
    return std::nullopt;
  auto& a = c.assignment;
  a.request_id = o.name();
  a.kind = *kind;
  a.bytes = pv::capacity_bytes(o);
  switch (*kind) {
  case volume_kind::lvm:
    a.vg = value_or(allocated, "vgName", value_or(attrs, "vgName"));
    a.pool = thin_pool_of(attrs);
    break;
  case volume_kind::device:
    a.unit = value_or(allocated, "deviceName", value_or(attrs, "Device"));
    break;
  case volume_kind::mount_point:
    a.unit = value_or(attrs, "MountPoint");
    break;
  }
  return c;
}

// -- pods ----------------------------------------------------------------------------

std::vector<placement::volume_request>
inline_requests_of(const object& pod, const std::vector<std::string>& drivers, std::string* error) {
  std::vector<placement::volume_request> out;
  auto* volumes = pod.at_path("spec.volumes");
  if (volumes == nullptr || !volumes->is_array())
    return out;
  auto fail = [&](const std::string& why) {
    if (error != nullptr)
      *error += (error->empty() ? "" : "; ") + why;
  };
  for (auto& v : volumes->get_array()) {
    auto* vol = v.if_object();
    auto* csi = object_in(vol, "csi");
    if (csi == nullptr || !ours(string_in(csi, "driver"), drivers))
      continue;
    auto name = string_in(vol, "name");
    auto attrs = string_map(object_in(csi, "volumeAttributes"));
    placement::volume_request r;
    r.id = "inline:" + pod.uid() + "/" + name;
    r.kind = volume_kind::lvm;
    r.inline_volume = true;
    r.vg = value_or(attrs, std::string{param_keys::vg_name});
    if (r.vg.empty()) {
      fail("inline volume " + quoted(name) + " of pod " + pod.key() +
           " has no volumeAttributes.vgName (required for inline volumes)");
      continue;
    }
    r.bytes = 1ull << 30;
    if (auto size = value_or(attrs, std::string{param_keys::size}); !size.empty()) {
      auto q = parse_quantity(size);
      if (!q) {
        fail("inline volume " + quoted(name) + " of pod " + pod.key() + ": size " + quoted(size) +
             " is not a quantity");
        continue;
      }
      r.bytes = *q;
    }
    r.thin_pool = thin_pool_of(attrs);
    out.push_back(std::move(r));
  }
  return out;
}

std::optional<placement::volume_request> request_of_pvc(const object& pvc, const object_index& idx,
                                                        const std::vector<std::string>& drivers,
                                                        std::string* error) {
  if (!pvc::volume_name(pvc).empty())
    return std::nullopt;
  auto sc_name = pvc::storage_class(pvc);
  if (sc_name.empty())
    return std::nullopt;
  auto sc = idx.storage_classes.find(sc_name);
  if (sc == idx.storage_classes.end() || !ours(storage_class::provisioner(sc->second), drivers))
    return std::nullopt;
  auto what = "PersistentVolumeClaim " + pvc.key() + " (StorageClass " + sc_name + ")";
  auto fail = [&](const std::string& why) {
    if (error != nullptr)
      *error += (error->empty() ? "" : "; ") + what + ": " + why;
    return std::nullopt;
  };
  auto params = storage_class::parameters(sc->second);
  auto type = value_or(params, std::string{param_keys::volume_type});
  auto kind = kind_of(type);
  if (!kind)
    return fail("volumeType " + quoted(type) + " is not LVM, Device or MountPoint");
  placement::volume_request r;
  r.id = pvc.key();
  r.kind = *kind;
  r.bytes = pvc::requested_bytes(pvc);
  if (*kind == volume_kind::lvm) {
    r.vg = value_or(params, std::string{param_keys::vg_name});
    r.thin_pool = thin_pool_of(params);
  } else {
    r.media = value_or(params, std::string{param_keys::media_type});
    if (r.media != "ssd" && r.media != "hdd")
      return fail("mediaType " + quoted(r.media) + " must be ssd or hdd for " + type + " volumes");
  }

  // A read-only snapshot (open-local's CoW snapshot LV) lives next to its source.
  auto* source_value = pvc.at_path("spec.dataSource");
  auto* source = source_value != nullptr ? source_value->if_object() : nullptr;
  if (source != nullptr && string_in(source, "kind") == "VolumeSnapshot") {
    auto snap_key = pvc.namespace_() + "/" + string_in(source, "name");
    auto snap = idx.snapshots.find(snap_key);
    if (snap == idx.snapshots.end())
      return fail("its data source VolumeSnapshot " + snap_key + " is not known");
    auto class_name = snap->second.string_at("spec.volumeSnapshotClassName");
    if (class_name.empty())
      return r;
    auto cls = idx.snapshot_classes.find(class_name);
    if (cls == idx.snapshot_classes.end())
      return fail("VolumeSnapshotClass " + class_name + " of VolumeSnapshot " + snap_key +
                  " is not known");
    auto snap_params =
      parse_snapshot_params(string_map(object_in(&cls->second.json(), "parameters")));
    if (!snap_params)
      return fail("VolumeSnapshotClass " + class_name + ": " + message_of(snap_params.error()));
    if (!snap_params->read_only)
      return r;
    auto source_pvc = snap->second.string_at("spec.source.persistentVolumeClaimName");
    if (source_pvc.empty())
      return fail("read-only snapshot " + snap_key +
                  " has no source PVC, so the node holding it cannot be found");
    auto src = idx.pvcs.find(pvc.namespace_() + "/" + source_pvc);
    if (src == idx.pvcs.end())
      return fail("the source PVC " + pvc.namespace_() + "/" + source_pvc +
                  " of read-only snapshot " + snap_key + " is not known");
    // A CoW snapshot lives in its source's group on its source's node: the
    // source's PV says both; before it is known, the scheduler's selection.
    if (auto pv = idx.pvs.find(pvc::volume_name(src->second)); pv != idx.pvs.end())
      if (auto c = charge_of_pv(pv->second, drivers)) {
        r.pinned_node = c->node;
        if (c->assignment.kind == volume_kind::lvm && !c->assignment.vg.empty())
          r.vg = c->assignment.vg;
      }
    if (r.pinned_node.empty())
      r.pinned_node = src->second.annotation(selected_node_annotation);
    if (r.pinned_node.empty())
      return fail("the source PVC " + src->second.key() + " of read-only snapshot " + snap_key +
                  " has no " + std::string{selected_node_annotation} + " annotation");
    // The snapshot LV starts at the class's initial size, not the PVC's.
    r.bytes = snap_params->initial_bytes;
  }
  return r;
}

placement::pod_demand demand_of(const object& pod, const object_index& idx,
                                const std::vector<std::string>& drivers) {
  placement::pod_demand d;
  std::set<std::string> seen;
  auto add = [&](std::optional<placement::volume_request> r) {
    if (r && seen.insert(r->id).second)
      d.volumes.push_back(std::move(*r));
  };
  auto ns = pod.namespace_();
  if (auto* volumes = pod.at_path("spec.volumes"); volumes != nullptr && volumes->is_array())
    for (auto& v : volumes->get_array()) {
      auto* vol = v.if_object();
      if (auto* claim = object_in(vol, "persistentVolumeClaim")) {
        auto it = idx.pvcs.find(ns + "/" + string_in(claim, "claimName"));
        if (it != idx.pvcs.end())
          add(request_of_pvc(it->second, idx, drivers, &d.error));
      } else if (auto* eph = object_in(vol, "ephemeral")) {
        auto name = pod.name() + "-" + string_in(vol, "name");
        if (auto it = idx.pvcs.find(ns + "/" + name); it != idx.pvcs.end()) {
          add(request_of_pvc(it->second, idx, drivers, &d.error));
        } else if (auto* spec = object_in(object_in(eph, "volumeClaimTemplate"), "spec")) {
          object pending{json::object{{"metadata", {{"name", name}, {"namespace", ns}}}}};
          pending.mutable_json()["spec"] = *spec;
          add(request_of_pvc(pending, idx, drivers, &d.error));
        }
      }
    }
  for (auto& r : inline_requests_of(pod, drivers, &d.error))
    add(std::move(r));
  return d;
}

// -- the cache dump ------------------------------------------------------------------

namespace {

json::array units_json(const std::vector<placement::exclusive_unit>& units) {
  json::array out;
  for (auto& u : units)
    out.push_back(json::object{
      {"name", u.name}, {"capacity", u.capacity}, {"media", u.media}, {"taken", u.taken}});
  return out;
}

json::object node_json(const placement::node_state& n) {
  json::array vgs;
  for (auto& vg : n.vgs) {
    json::array pools;
    for (auto& p : vg.thin_pools)
      pools.push_back(json::object{{"name", p.name},
                                   {"size", p.size},
                                   {"charged", p.charged},
                                   {"overprovision", p.overprovision},
                                   {"virtualCapacity", p.virtual_capacity()}});
    vgs.push_back(json::object{{"name", vg.name},
                               {"capacity", vg.capacity},
                               {"charged", vg.charged},
                               {"free", vg.free()},
                               {"thinPools", std::move(pools)}});
  }
  json::array charges;
  for (auto& c : n.charges)
    charges.push_back(json::object{{"key", c.key},
                                   {"type", c.kind},
                                   {"storage", c.where},
                                   {"bytes", c.bytes},
                                   {"owner", c.owner},
                                   {"status", c.status}});
  return json::object{{"reported", n.reported},
                      {"vgs", std::move(vgs)},
                      {"devices", units_json(n.devices)},
                      {"mountPoints", units_json(n.mount_points)},
                      {"charges", std::move(charges)}};
}

} // namespace

std::string cache_json(const placement::cluster_view& view, const std::string& node) {
  json::object nodes;
  for (auto& [name, ptr] : view.nodes)
    if (ptr != nullptr && (node.empty() || name == node))
      nodes[name] = node_json(*ptr);
  return json::serialize(
    json::object{{"generation", view.generation}, {"nodes", std::move(nodes)}});
}

} // namespace olocal::kube
