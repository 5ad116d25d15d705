#include "gateways/kube/capacity_publisher.hpp"

#include "actors/cluster/volume_params.hpp"
#include "actors/core/errc.hpp"
#include "actors/core/inspect.hpp"
#include "actors/core/log.hpp"
#include "gateways/kube/client.hpp"
#include "gateways/kube/placement_actor.hpp"
#include "gateways/kube/writer.hpp"

#include <caf/all.hpp>

#include <boost/json.hpp>

#include <algorithm>
#include <cstdio>
#include <optional>
#include <utility>

namespace olocal::kube {

namespace {

namespace json = boost::json;
using placement::exclusive_unit;
using placement::node_state;

constexpr const char* who = "kube-capacity-publisher";

std::string param(const std::map<std::string, std::string>& params, std::string_view key,
                  std::string fallback = {}) {
  auto it = params.find(std::string{key});
  return it != params.end() && !it->second.empty() ? it->second : fallback;
}

uint64_t sub_floor(uint64_t a, uint64_t b) {
  return a > b ? a - b : 0;
}

uint64_t add_saturated(uint64_t a, uint64_t b) {
  return a > UINT64_MAX - b ? UINT64_MAX : a + b;
}

/// Adds one free amount to the largest/sum pair.
void add_free(capacity_numbers& n, uint64_t free) {
  n.capacity = add_saturated(n.capacity, free);
  n.maximum_volume_size = std::max(n.maximum_volume_size, free);
}

capacity_numbers nothing(std::string why) {
  capacity_numbers n;
  n.note = std::move(why);
  return n;
}

/// A Kubernetes label value: at most 63 characters, alphanumerics, '-', '_'
/// and '.', beginning and ending with an alphanumeric (or empty).
bool valid_label_value(const std::string& v) {
  if (v.size() > 63)
    return false;
  auto alnum = [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
  };
  for (char c : v)
    if (!alnum(c) && c != '-' && c != '_' && c != '.')
      return false;
  return v.empty() || (alnum(v.front()) && alnum(v.back()));
}

} // namespace

capacity_numbers capacity_for(const node_state& node,
                              const std::map<std::string, std::string>& params) {
  auto type = param(params, param_keys::volume_type, "LVM");
  if (type == "LVM") {
    auto vg_name = param(params, param_keys::vg_name);
    bool thin = param(params, param_keys::lvm_type) == "thin";
    auto pool_name = param(params, param_keys::thin_pool, volume_params{}.thin_pool);
    capacity_numbers n;
    bool found = false;
    for (const auto& vg : node.vgs) {
      if (!vg_name.empty() && vg.name != vg_name)
        continue;
      if (!thin) {
        add_free(n, vg.free());
        found = true;
        continue;
      }
      for (const auto& pool : vg.thin_pools)
        if (pool.name == pool_name) {
          add_free(n, sub_floor(pool.virtual_capacity(), pool.charged));
          found = true;
        }
    }
    if (!found) {
      auto group = vg_name.empty() ? std::string{"volume group"} : "volume group " + vg_name;
      n.note = thin ? "no thin pool " + pool_name + " in " +
                        (vg_name.empty() ? "any volume group" : group) + " on node " + node.name
                    : "no " + group + " on node " + node.name;
    }
    return n;
  }
  if (type != "Device" && type != "MountPoint")
    return nothing("volumeType \"" + type + "\" is not LVM, Device or MountPoint");
  auto media = param(params, param_keys::media_type);
  if (media != "ssd" && media != "hdd")
    return nothing("mediaType \"" + media + "\" must be ssd or hdd for " + type + " volumes");
  const auto& units = type == "Device" ? node.devices : node.mount_points;
  capacity_numbers n;
  for (const exclusive_unit& u : units)
    if (!u.taken && u.media == media)
      add_free(n, u.capacity);
  return n;
}

std::string capacity_object_name(const std::string& owner, const std::string& node,
                                 const std::string& storage_class) {
  // FNV-1a 64: stable across builds and platforms (std::hash is not).
  uint64_t h = 0xcbf29ce484222325ull;
  auto mix = [&](const std::string& s) {
    for (unsigned char c : s) {
      h ^= c;
      h *= 0x100000001b3ull;
    }
    h ^= 0xff; // a separator no name contains
    h *= 0x100000001b3ull;
  };
  mix(owner);
  mix(node);
  mix(storage_class);
  char hex[17];
  std::snprintf(hex, sizeof hex, "%016llx", static_cast<unsigned long long>(h));
  return "olocal-csisc-" + std::string{hex};
}

object make_capacity_object(const capacity_options& opts, const std::string& node,
                            const std::string& storage_class, const capacity_numbers& numbers) {
  json::object labels{{capacity_labels::driver_name, opts.driver_name},
                      {capacity_labels::managed_by, opts.owner}};
  if (valid_label_value(node))
    labels[capacity_labels::node] = node;
  if (valid_label_value(storage_class))
    labels[capacity_labels::storage_class] = storage_class;
  json::object match{{hostname_label, node}};
  return object{json::object{{"apiVersion", kinds::csi_storage_capacity.api_version()},
                             {"kind", kinds::csi_storage_capacity.kind},
                             {"metadata",
                              {{"name", capacity_object_name(opts.owner, node, storage_class)},
                               {"namespace", opts.namespace_},
                               {"labels", std::move(labels)}}},
                             {"nodeTopology", {{"matchLabels", std::move(match)}}},
                             {"storageClassName", storage_class},
                             {"capacity", std::to_string(numbers.capacity)},
                             {"maximumVolumeSize", std::to_string(numbers.maximum_volume_size)}}};
}

namespace {

/// (node, StorageClass)
using capacity_key = std::pair<std::string, std::string>;

/// The (node, class) an object publishes for, from its own fields.
std::optional<capacity_key> key_of(const object& o) {
  auto* labels_value = o.at_path("nodeTopology.matchLabels");
  auto* labels = labels_value != nullptr ? labels_value->if_object() : nullptr;
  if (labels == nullptr)
    return std::nullopt;
  auto it = labels->find(hostname_label);
  if (it == labels->end() || !it->value().is_string() || labels->size() != 1)
    return std::nullopt;
  auto sc = o.string_at("storageClassName");
  if (sc.empty())
    return std::nullopt;
  return capacity_key{std::string{it->value().get_string()}, sc};
}

/// What an object says now; nullopt when a quantity is absent or unparseable.
std::optional<capacity_numbers> numbers_of(const object& o) {
  auto read = [&](const char* field) -> std::optional<uint64_t> {
    auto text = o.string_at(field);
    if (text.empty())
      return std::nullopt;
    auto bytes = parse_quantity(text);
    return bytes ? std::optional<uint64_t>{*bytes} : std::nullopt;
  };
  auto capacity = read("capacity");
  auto maximum = read("maximumVolumeSize");
  if (!capacity || !maximum)
    return std::nullopt;
  capacity_numbers n;
  n.capacity = *capacity;
  n.maximum_volume_size = *maximum;
  return n;
}

struct publisher_state {
  static inline const char* name = "kube-capacity-publisher";
  std::shared_ptr<client> api;
  std::shared_ptr<placement_reader> reader;
  capacity_options opts;
  informer_actor informer;
  bool informer_synced = false;
  /// Our objects by name: the informer's view plus our own writes (which may
  /// be ahead of the informer's events).
  std::map<std::string, object> objects;
  uint64_t desired = 0;
  uint64_t ticks = 0; ///< interval ticks (a pass runs only once synced)
  uint64_t passes = 0;
  uint64_t creates = 0;
  uint64_t updates = 0;
  uint64_t deletes = 0;
  uint64_t failures = 0;
  uint64_t last_generation = 0; ///< the view generation of the latest pass
  std::string last_error;
};

using publisher_pointer = capacity_publisher_actor::stateful_pointer<publisher_state>;

bool owned(const publisher_state& st, const object& o) {
  return o.label(capacity_labels::managed_by) == st.opts.owner &&
         o.namespace_() == st.opts.namespace_;
}

void remember(publisher_state& st, const object& o) {
  auto it = st.objects.find(o.name());
  if (it == st.objects.end())
    st.objects.emplace(o.name(), o);
  else if (o.resource_version_number() >= it->second.resource_version_number())
    it->second = o;
}

void forget(publisher_state& st, const object& o) {
  auto it = st.objects.find(o.name());
  if (it != st.objects.end() && o.resource_version_number() >= it->second.resource_version_number())
    st.objects.erase(it);
}

void note_failure(publisher_state& st, std::string what, const std::string& name,
                  const caf::error& err) {
  ++st.failures;
  st.last_error = what + " " + name + ": " + render(err);
  log::warn(who, what + ", retrying at the next pass", {{"name", name}, {"error", render(err)}});
}

void create_object(publisher_state& st, const capacity_key& key, const capacity_numbers& n) {
  auto obj = make_capacity_object(st.opts, key.first, key.second, n);
  auto made = create(*st.api, kinds::csi_storage_capacity, obj);
  if (made) {
    ++st.creates;
    remember(st, *made);
    log::info(who, "created CSIStorageCapacity",
              {{"name", made->name()},
               {"node", key.first},
               {"storageClass", key.second},
               {"capacity", n.capacity},
               {"maximumVolumeSize", n.maximum_volume_size}});
    return;
  }
  if (code_of(made.error()) != errc::already_exists) {
    note_failure(st, "cannot create CSIStorageCapacity", obj.name(), made.error());
    return;
  }
  // Made by an earlier attempt whose answer we lost: adopt it if it is ours
  // (the next pass corrects its numbers), never touch it otherwise.
  auto existing = get(*st.api, kinds::csi_storage_capacity, st.opts.namespace_, obj.name());
  if (!existing) {
    note_failure(st, "cannot read CSIStorageCapacity", obj.name(), existing.error());
  } else if (owned(st, *existing)) {
    remember(st, *existing);
  } else {
    ++st.failures;
    st.last_error = "CSIStorageCapacity " + obj.name() + " exists without our managed-by label";
    log::warn(who, st.last_error, {{"namespace", st.opts.namespace_}});
  }
}

void update_object(publisher_state& st, const std::string& name, const capacity_numbers& n) {
  bool wrote = false;
  auto updated =
    update(*st.api, kinds::csi_storage_capacity, st.opts.namespace_, name, [&](object& o) {
      if (!owned(st, o))
        return false; // relabelled meanwhile: no longer ours
      auto now = numbers_of(o);
      if (now && *now == n)
        return false;
      auto& doc = o.mutable_json();
      doc["capacity"] = std::to_string(n.capacity);
      doc["maximumVolumeSize"] = std::to_string(n.maximum_volume_size);
      wrote = true;
      return true;
    });
  if (updated) {
    if (wrote) {
      ++st.updates;
      log::debug(
        who, "updated CSIStorageCapacity",
        {{"name", name}, {"capacity", n.capacity}, {"maximumVolumeSize", n.maximum_volume_size}});
    }
    if (owned(st, *updated))
      remember(st, *updated);
    else
      st.objects.erase(name);
  } else if (code_of(updated.error()) == errc::not_found) {
    st.objects.erase(name); // deleted meanwhile: created again at the next pass
  } else {
    note_failure(st, "cannot update CSIStorageCapacity", name, updated.error());
  }
}

void delete_object(publisher_state& st, const object& o, const char* why) {
  auto name = o.name();
  auto err = remove(*st.api, kinds::csi_storage_capacity, st.opts.namespace_, name,
                    preconditions{o.uid(), ""});
  if (!err || code_of(err) == errc::not_found) {
    if (!err) {
      ++st.deletes;
      log::info(who, "deleted CSIStorageCapacity", {{"name", name}, {"reason", why}});
    }
    st.objects.erase(name);
    return;
  }
  note_failure(st, "cannot delete CSIStorageCapacity", name, err);
}

void reconcile(publisher_pointer self) {
  auto& st = self->state;
  auto snap = st.reader->current();
  if (!st.informer_synced || !snap || !snap->synced || !snap->view || !snap->objects)
    return;
  ++st.passes;
  st.last_generation = snap->view->generation;

  std::map<capacity_key, capacity_numbers> desired;
  for (const auto& [sc_name, sc] : snap->objects->storage_classes) {
    auto provisioner = storage_class::provisioner(sc);
    if (std::find(st.opts.provisioners.begin(), st.opts.provisioners.end(), provisioner) ==
        st.opts.provisioners.end())
      continue;
    auto params = storage_class::parameters(sc);
    for (const auto& [node_name, node] : snap->view->nodes)
      if (node && node->reported)
        desired.emplace(capacity_key{node_name, sc_name}, capacity_for(*node, params));
  }
  st.desired = desired.size();

  // Our objects by what they publish for. Copies: the writes below change
  // st.objects.
  std::map<capacity_key, std::vector<object>> have;
  std::vector<std::pair<object, const char*>> doomed;
  for (const auto& [name, o] : st.objects) {
    if (!owned(st, o))
      continue;
    auto key = key_of(o);
    if (!key)
      doomed.emplace_back(o, "not a per-node object");
    else if (!desired.count(*key))
      doomed.emplace_back(o, "its node or StorageClass is gone");
    else
      have[*key].push_back(o);
  }

  for (const auto& [key, numbers] : desired) {
    auto it = have.find(key);
    if (it == have.end()) {
      create_object(st, key, numbers);
      continue;
    }
    // One object per key: keep the one with our name (else the first) and
    // delete the others (made by a second publisher with our owner value).
    auto& objs = it->second;
    auto wanted = capacity_object_name(st.opts.owner, key.first, key.second);
    auto keep =
      std::find_if(objs.begin(), objs.end(), [&](const object& o) { return o.name() == wanted; });
    if (keep == objs.end())
      keep = objs.begin();
    for (auto o = objs.begin(); o != objs.end(); ++o)
      if (o != keep)
        doomed.emplace_back(*o, "a duplicate for its node and StorageClass");
    auto now = numbers_of(*keep);
    if (!now || !(*now == numbers))
      update_object(st, keep->name(), numbers);
  }

  for (const auto& [o, why] : doomed)
    delete_object(st, o, why);
}

actor_report report(publisher_pointer self) {
  auto& st = self->state;
  json::object state{{"informerSynced", st.informer_synced},
                     {"namespace", st.opts.namespace_},
                     {"owner", st.opts.owner},
                     {"objects", st.objects.size()},
                     {"desired", st.desired},
                     {"ticks", st.ticks},
                     {"passes", st.passes},
                     {"creates", st.creates},
                     {"updates", st.updates},
                     {"deletes", st.deletes},
                     {"writes", st.creates + st.updates + st.deletes},
                     {"failures", st.failures},
                     {"viewGeneration", st.last_generation}};
  auto summary = std::to_string(st.objects.size()) + " objects (" + std::to_string(st.desired) +
                 " desired), " + std::to_string(st.passes) + " passes, " +
                 std::to_string(st.creates + st.updates + st.deletes) + " writes, " +
                 std::to_string(st.failures) + " failures";
  return make_report(self, summary, st.last_error, json::serialize(state));
}

} // namespace

capacity_publisher_actor spawn_capacity_publisher(caf::actor_system& sys,
                                                  std::shared_ptr<client> api,
                                                  std::shared_ptr<placement_reader> reader,
                                                  capacity_options opts) {
  return sys.spawn<caf::detached>(
    [api = std::move(api), reader = std::move(reader),
     opts = std::move(opts)](publisher_pointer self) -> capacity_publisher_actor::behavior_type {
      auto& st = self->state;
      st.api = api;
      st.reader = reader;
      st.opts = opts;
      // An informer rather than a list per pass: an unchanged cluster then
      // costs no request at all, and our own writes are remembered at once,
      // so a lagging watch cannot make us create an object twice.
      informer_options io;
      io.kind = &kinds::csi_storage_capacity;
      io.ns = opts.namespace_;
      io.label_selector = std::string{capacity_labels::managed_by} + "=" + opts.owner;
      st.informer = spawn_informer(self->system(), api, io);
      self->link_to(st.informer);
      caf::anon_send(st.informer, subscribe_atom::value, caf::actor_cast<caf::actor>(self));
      self->request(st.informer, caf::infinite, synced_atom::value)
        .then(
          [self](bool) {
            self->state.informer_synced = true;
            log::info(who, "informer synced", {{"objects", self->state.objects.size()}});
            reconcile(self);
          },
          [self](caf::error& err) {
            self->state.last_error = "informer: " + render(err);
            log::warn(who, "informer failed", {{"error", render(err)}});
          });
      self->delayed_send(self, opts.interval, capacity_tick_atom::value);
      log::info(who, "started",
                {{"namespace", opts.namespace_},
                 {"owner", opts.owner},
                 {"interval_ms", static_cast<int64_t>(opts.interval.count())}});
      return {
        [self](inspect_atom) { return report(self); },
        [self](const watch_event& ev) {
          auto& st = self->state;
          if (ev.type == "SYNC")
            return;
          if (ev.type == "DELETED")
            forget(st, ev.obj);
          else if (owned(st, ev.obj))
            remember(st, ev.obj);
        },
        [self](capacity_tick_atom) {
          ++self->state.ticks;
          reconcile(self);
          self->delayed_send(self, self->state.opts.interval, capacity_tick_atom::value);
        },
      };
    });
}

} // namespace olocal::kube
