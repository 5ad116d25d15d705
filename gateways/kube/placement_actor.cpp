#include "gateways/kube/placement_actor.hpp"

#include "actors/core/errc.hpp"
#include "actors/core/inspect.hpp"
#include "actors/core/log.hpp"
#include "gateways/kube/client.hpp"

#include <caf/all.hpp>

#include <boost/json/array.hpp>
#include <boost/json/object.hpp>
#include <boost/json/serialize.hpp>

#include <atomic>
#include <set>

namespace olocal::kube {

// -- the reader ----------------------------------------------------------------------

placement_reader::placement_reader()
  : current_(std::make_shared<const placement_snapshot>(
      placement_snapshot{std::make_shared<const placement::cluster_view>(),
                         std::make_shared<const object_index>(), false})) {
}

std::shared_ptr<const placement_snapshot> placement_reader::current() const {
  return std::atomic_load(&current_);
}

void placement_reader::publish(std::shared_ptr<const placement_snapshot> next) {
  std::atomic_store(&current_, std::move(next));
}

namespace {

namespace json = boost::json;

constexpr const char* who = "placement";

/// One node as the actor keeps it: what its NodeLocalStorage offers and what
/// is charged on it, by charge key ("pv/<name>", "res/<ns>/<pvc>",
/// "inline:<pod uid>/<volume>").
struct node_master {
  placement::node_state base;
  bool has_node = false; ///< a Node object exists
  bool has_nls = false;  ///< a NodeLocalStorage exists
  std::map<std::string, placement::assignment> charges;
  std::map<std::string, std::pair<std::string, std::string>> labels; ///< key -> owner, status
  size_t unplaced = 0; ///< charges whose group, pool or unit the node lacks
};

struct reservation_entry {
  std::string node;
  placement::assignment assignment;
  std::string pvc_uid;
  uint64_t seq = 0;
  bool selection_seen = false; ///< the PVC carried selected-node = node
};

struct placement_state {
  static inline const char* name = "kube-placement";
  std::shared_ptr<placement_reader> reader;
  placement_options opts;

  std::vector<informer_actor> informers;
  size_t informers_synced = 0;
  bool synced = false;

  // object caches (by key)
  std::map<std::string, object> pvs;
  std::map<std::string, object> pods;
  object_index idx;
  bool objects_dirty = true;
  std::shared_ptr<const object_index> objects_published;

  // the model
  std::map<std::string, node_master> masters;
  std::map<std::string, std::string> charge_node;              ///< charge key -> node
  std::map<std::string, std::vector<std::string>> pod_charges; ///< pod key -> inline keys
  std::map<std::string, reservation_entry> reservations;       ///< "ns/pvc"
  /// "ns/pvc" -> the charged PV whose claimRef names it (the PVC may not
  /// show as bound yet: it must not be reserved again meanwhile)
  std::map<std::string, std::string> pv_of_claim;
  std::map<std::string, std::string> claim_of_pv; ///< the reverse
  uint64_t next_seq = 0;

  // what is published
  std::map<std::string, placement::node_ptr> view_nodes;
  std::set<std::string> dirty_nodes;
  bool publish_scheduled = false;
  uint64_t generation = 0;

  uint64_t reserved_total = 0, released_total = 0, expired_total = 0;
  std::string last_error;
};

using placement_pointer = placement_actor::stateful_pointer<placement_state>;

std::string reservation_key(const std::string& pvc_key) {
  return "res/" + pvc_key;
}

// -- charges and publication -----------------------------------------------------------

void schedule_publish(placement_pointer self) {
  auto& st = self->state;
  if (!st.synced || st.publish_scheduled)
    return;
  st.publish_scheduled = true;
  self->delayed_send(self, st.opts.publish_interval, placement_publish_atom::value);
}

void mark(placement_pointer self, const std::string& node) {
  self->state.dirty_nodes.insert(node);
  schedule_publish(self);
}

node_master& master(placement_pointer self, const std::string& node) {
  auto& m = self->state.masters[node];
  if (m.base.name.empty())
    m.base.name = node;
  return m;
}

void remove_charge(placement_pointer self, const std::string& key) {
  auto& st = self->state;
  auto it = st.charge_node.find(key);
  if (it == st.charge_node.end())
    return;
  auto node = it->second;
  st.charge_node.erase(it);
  if (auto m = st.masters.find(node); m != st.masters.end()) {
    m->second.charges.erase(key);
    m->second.labels.erase(key);
  }
  mark(self, node);
}

void set_charge(placement_pointer self, const std::string& key, const std::string& node,
                const placement::assignment& a, std::string owner = {}, std::string status = {}) {
  remove_charge(self, key);
  auto& m = master(self, node);
  m.charges[key] = a;
  m.labels[key] = {std::move(owner), std::move(status)};
  self->state.charge_node[key] = node;
  mark(self, node);
}

/// The node's state: its base plus every charge on it, into a new shared node.
void recompute(placement_pointer self, const std::string& name) {
  auto& st = self->state;
  st.dirty_nodes.erase(name);
  auto it = st.masters.find(name);
  if (it == st.masters.end() || (!it->second.has_node && !it->second.has_nls)) {
    st.view_nodes.erase(name);
    return;
  }
  auto& m = it->second;
  auto s = std::make_shared<placement::node_state>(m.base);
  size_t unplaced = 0;
  s->charges.clear();
  for (auto& [key, a] : m.charges) {
    placement::charge_record r;
    r.key = key;
    r.kind = placement::to_string(a.kind);
    r.where = a.kind == placement::volume_kind::lvm ? a.vg : a.unit;
    r.bytes = a.bytes;
    if (auto l = m.labels.find(key); l != m.labels.end()) {
      r.owner = l->second.first;
      r.status = l->second.second;
    }
    s->charges.push_back(std::move(r));
  }
  for (auto& [key, a] : m.charges)
    if (!placement::charge(*s, a)) {
      ++unplaced;
      log::debug(who, "charge does not match the node's storage",
                 {{"node", name}, {"charge", key}, {"vg", a.vg}, {"unit", a.unit}});
    }
  m.unplaced = unplaced;
  st.view_nodes[name] = std::move(s);
}

void publish(placement_pointer self) {
  auto& st = self->state;
  st.publish_scheduled = false;
  auto dirty = st.dirty_nodes;
  for (auto& name : dirty)
    recompute(self, name);
  auto view = std::make_shared<placement::cluster_view>();
  view->generation = ++st.generation;
  view->nodes = st.view_nodes;
  if (st.objects_dirty || st.objects_published == nullptr) {
    st.objects_published = std::make_shared<const object_index>(st.idx);
    st.objects_dirty = false;
  }
  st.reader->publish(std::make_shared<const placement_snapshot>(
    placement_snapshot{std::move(view), st.objects_published, st.synced}));
}

void release_reservation(placement_pointer self, const std::string& pvc_key,
                         const std::string& why) {
  auto& st = self->state;
  auto it = st.reservations.find(pvc_key);
  if (it == st.reservations.end())
    return;
  log::info(who, "reservation released",
            {{"pvc", pvc_key}, {"node", it->second.node}, {"reason", why}});
  st.reservations.erase(it);
  remove_charge(self, reservation_key(pvc_key));
  ++st.released_total;
}

// -- objects -----------------------------------------------------------------------

void apply_pv(placement_pointer self, const object& pv, bool deleted) {
  auto& st = self->state;
  auto key = "pv/" + pv.name();
  if (auto it = st.claim_of_pv.find(pv.name()); it != st.claim_of_pv.end()) {
    st.pv_of_claim.erase(it->second);
    st.claim_of_pv.erase(it);
  }
  if (deleted) {
    remove_charge(self, key);
    return;
  }
  auto c = charge_of_pv(pv, st.opts.drivers);
  if (!c) {
    remove_charge(self, key);
    return;
  }
  if (!pv::claim_name(pv).empty()) {
    auto claim = pv::claim_namespace(pv) + "/" + pv::claim_name(pv);
    st.pv_of_claim[claim] = pv.name();
    st.claim_of_pv[pv.name()] = claim;
  }
  auto claim_of =
    pv::claim_name(pv).empty() ? std::string{} : pv::claim_namespace(pv) + "/" + pv::claim_name(pv);
  set_charge(self, key, c->node, c->assignment, claim_of, pv::phase(pv));
  // The PV's charge replaces the reservation made for its claim.
  auto claim_ns = pv::claim_namespace(pv), claim = pv::claim_name(pv);
  if (!claim.empty())
    release_reservation(self, claim_ns + "/" + claim,
                        "its PersistentVolume " + pv.name() + " is charged");
}

void apply_pod(placement_pointer self, const object& pod, bool deleted) {
  auto& st = self->state;
  auto key = pod.key();
  if (auto it = st.pod_charges.find(key); it != st.pod_charges.end()) {
    for (auto& k : it->second)
      remove_charge(self, k);
    st.pod_charges.erase(it);
  }
  auto node = pod::node_name(pod);
  if (deleted || node.empty() || pod::finished(pod))
    return;
  std::vector<std::string> keys;
  for (auto& r : inline_requests_of(pod, st.opts.drivers)) {
    placement::assignment a;
    a.request_id = r.id;
    a.kind = r.kind;
    a.vg = r.vg;
    a.pool = r.thin_pool;
    a.bytes = r.bytes;
    set_charge(self, r.id, node, a, key, "Inline");
    keys.push_back(r.id);
  }
  if (!keys.empty())
    st.pod_charges[key] = std::move(keys);
}

void apply_nls(placement_pointer self, const object& nls, bool deleted) {
  auto& st = self->state;
  auto& m = master(self, nls.name());
  if (deleted) {
    m.base = placement::node_state{};
    m.base.name = nls.name();
    m.has_nls = false;
  } else {
    m.base = node_state_of(nls, st.opts.thin_overprovision);
    m.has_nls = true;
  }
  mark(self, nls.name());
}

void apply_object(placement_pointer self, std::map<std::string, object>& table, const object& o,
                  bool deleted) {
  if (deleted)
    table.erase(o.key());
  else
    table[o.key()] = o;
  self->state.objects_dirty = true;
  schedule_publish(self);
}

void on_event(placement_pointer self, const watch_event& ev) {
  if (ev.type == "SYNC")
    return; // the caches are complete; a periodic resync changes nothing here
  auto& st = self->state;
  bool deleted = ev.type == "DELETED";
  const auto& o = ev.obj;
  if (ev.kind == "NodeLocalStorage") {
    apply_nls(self, o, deleted);
  } else if (ev.kind == "Node") {
    master(self, o.name()).has_node = !deleted;
    mark(self, o.name());
  } else if (ev.kind == "PersistentVolume") {
    if (deleted)
      st.pvs.erase(o.key());
    else
      st.pvs[o.key()] = o;
    apply_object(self, st.idx.pvs, o, deleted);
    apply_pv(self, o, deleted);
  } else if (ev.kind == "Pod") {
    if (deleted)
      st.pods.erase(o.key());
    else
      st.pods[o.key()] = o;
    apply_pod(self, o, deleted);
  } else if (ev.kind == "PersistentVolumeClaim") {
    apply_object(self, st.idx.pvcs, o, deleted);
    auto r = st.reservations.find(o.key());
    if (r == st.reservations.end())
      return;
    auto selected = pvc::selected_node(o);
    if (deleted)
      release_reservation(self, o.key(), "the PVC was deleted");
    else if (!r->second.pvc_uid.empty() && o.uid() != r->second.pvc_uid)
      release_reservation(self, o.key(), "the PVC was recreated");
    else if (!selected.empty() && selected != r->second.node)
      release_reservation(self, o.key(), "the scheduler selected another node (" + selected + ")");
    else if (selected.empty() && r->second.selection_seen)
      // external-provisioner withdraws the selection when provisioning
      // failed for good: the pod is rescheduled, the reservation is void.
      release_reservation(self, o.key(), "the scheduler's node selection was withdrawn");
    else if (selected == r->second.node)
      r->second.selection_seen = true;
  } else if (ev.kind == "StorageClass") {
    apply_object(self, st.idx.storage_classes, o, deleted);
  } else if (ev.kind == "VolumeSnapshot") {
    apply_object(self, st.idx.snapshots, o, deleted);
  } else if (ev.kind == "VolumeSnapshotContent") {
    apply_object(self, st.idx.snapshot_contents, o, deleted);
  } else if (ev.kind == "VolumeSnapshotClass") {
    apply_object(self, st.idx.snapshot_classes, o, deleted);
  }
}

/// Every charge again from the caches (at sync): PVs, reservations, pods.
void rebuild(placement_pointer self) {
  auto& st = self->state;
  for (auto& [name, m] : st.masters) {
    m.charges.clear();
    m.labels.clear();
  }
  st.charge_node.clear();
  st.pod_charges.clear();
  st.pv_of_claim.clear();
  st.claim_of_pv.clear();
  for (auto& [key, r] : st.reservations) {
    master(self, r.node).charges[reservation_key(key)] = r.assignment;
    master(self, r.node).labels[reservation_key(key)] = {key, "Reserved"};
    st.charge_node[reservation_key(key)] = r.node;
  }
  for (auto& [key, pv] : st.pvs)
    apply_pv(self, pv, false);
  for (auto& [key, pod] : st.pods)
    apply_pod(self, pod, false);
  for (auto& [name, m] : st.masters)
    st.dirty_nodes.insert(name);
}

// -- reservations --------------------------------------------------------------------

/// The pod that uses the PVC `name` in `ns` (a running one first), if any.
std::optional<object> pod_of(placement_pointer self, const std::string& ns,
                             const std::string& name) {
  std::optional<object> found;
  for (auto& [key, pod] : self->state.pods) {
    if (pod.namespace_() != ns)
      continue;
    bool uses = false;
    for (auto& c : pod::claim_names(pod))
      uses = uses || c == name;
    if (auto* volumes = pod.at_path("spec.volumes"); !uses && volumes && volumes->is_array())
      for (auto& v : volumes->get_array()) {
        auto* vol = v.if_object();
        if (vol != nullptr && vol->contains("ephemeral") && vol->at("name").is_string() &&
            pod.name() + "-" + std::string{vol->at("name").get_string()} == name)
          uses = true;
      }
    if (!uses)
      continue;
    if (!pod::finished(pod))
      return pod;
    found = pod;
  }
  return found;
}

caf::error fail(placement_pointer self, errc code, std::string message) {
  self->state.last_error = message;
  return make_error(code, std::move(message));
}

caf::result<pvc_reservation> reserve(placement_pointer self, const reserve_req& req) {
  auto& st = self->state;
  if (!st.synced)
    return fail(self, errc::unavailable, "the placement view has not synced with the cluster yet");
  auto key = req.pvc_namespace + "/" + req.pvc_name;
  if (req.node.empty())
    return fail(self, errc::invalid_argument, "no node given for PersistentVolumeClaim " + key);
  auto pvc_it = st.idx.pvcs.find(key);
  if (pvc_it == st.idx.pvcs.end())
    return fail(self, errc::not_found, "PersistentVolumeClaim " + key + " not found");
  const auto pvc = pvc_it->second;
  auto m = st.masters.find(req.node);
  if (m == st.masters.end() || (!m->second.has_node && !m->second.has_nls))
    return fail(self, errc::not_found, "node " + req.node + " is not known to open-local");

  // Bound (or its PV is charged already, the claim not yet updated): its PV
  // says where it is.
  auto pv_name = pvc::volume_name(pvc);
  if (auto claimed = st.pv_of_claim.find(key); pv_name.empty() && claimed != st.pv_of_claim.end())
    pv_name = claimed->second;
  if (!pv_name.empty()) {
    auto c = st.charge_node.find("pv/" + pv_name);
    if (c == st.charge_node.end())
      return fail(self, errc::failed_precondition,
                  "PersistentVolumeClaim " + key + " is bound to PersistentVolume " + pv_name +
                    ", which is not a local volume known to open-local");
    auto a = st.masters[c->second].charges["pv/" + pv_name];
    a.request_id = key;
    return pvc_reservation{c->second, a};
  }
  // Reserved already (for the pod, or a sibling's request): the same answer.
  if (auto r = st.reservations.find(key); r != st.reservations.end()) {
    if (r->second.node == req.node)
      return pvc_reservation{r->second.node, r->second.assignment};
    release_reservation(self, key, "reserved again on node " + req.node);
  }

  // The whole pod at once, so that its siblings are answered from this.
  auto pod = pod_of(self, req.pvc_namespace, req.pvc_name);
  if (!pod) {
    // No pod (yet): the PVC alone.
    json::object doc{{"metadata", {{"name", ""}, {"namespace", req.pvc_namespace}}},
                     {"spec",
                      {{"volumes", json::array{json::object{
                                     {"name", "claim"},
                                     {"persistentVolumeClaim", {{"claimName", req.pvc_name}}}}}}}}};
    pod = object{std::move(doc)};
  }
  auto demand = demand_of(*pod, st.idx, st.opts.drivers);
  if (!demand.error.empty())
    return fail(self, errc::invalid_argument, demand.error);
  bool pod_bound = !pod::node_name(*pod).empty();
  placement::pod_demand wanted;
  bool found = false;
  for (auto& v : demand.volumes) {
    if (v.inline_volume) {
      if (!pod_bound) // a bound pod's inline volumes are charged already
        wanted.volumes.push_back(v);
      continue;
    }
    if (st.pv_of_claim.count(v.id) != 0)
      continue; // its PV is charged already
    if (auto r = st.reservations.find(v.id); r != st.reservations.end()) {
      if (r->second.node == req.node)
        continue; // charged on this node already
      release_reservation(self, v.id, "its pod is placed on node " + req.node);
    }
    found = found || v.id == key;
    wanted.volumes.push_back(v);
  }
  if (!found)
    return fail(self, errc::invalid_argument,
                "PersistentVolumeClaim " + key +
                  " is not a local volume of open-local (no StorageClass of ours, or bound)");
  if (st.dirty_nodes.count(req.node) != 0 || st.view_nodes.count(req.node) == 0)
    recompute(self, req.node);
  auto node = st.view_nodes.find(req.node);
  if (node == st.view_nodes.end() || node->second == nullptr)
    return fail(self, errc::not_found, "node " + req.node + " is not known to open-local");
  auto placed = placement::fit(*node->second, wanted, st.opts.strategy);
  if (!placed.fits)
    return fail(self, errc::resource_exhausted,
                "PersistentVolumeClaim " + key + " does not fit node " + req.node + ": " +
                  placed.reason);
  std::optional<pvc_reservation> answer;
  for (auto& a : placed.assignments) {
    if (a.request_id.rfind("inline:", 0) == 0)
      continue;
    reservation_entry e;
    e.node = req.node;
    e.assignment = a;
    e.seq = ++st.next_seq;
    if (auto p = st.idx.pvcs.find(a.request_id); p != st.idx.pvcs.end()) {
      e.pvc_uid = p->second.uid();
      e.selection_seen = pvc::selected_node(p->second) == req.node;
    }
    st.reservations[a.request_id] = e;
    set_charge(self, reservation_key(a.request_id), req.node, a, a.request_id, "Reserved");
    ++st.reserved_total;
    self->delayed_send(self, st.opts.reservation_ttl, placement_expire_atom::value, a.request_id,
                       e.seq);
    log::info(who, "reserved",
              {{"pvc", a.request_id},
               {"node", req.node},
               {"type", placement::to_string(a.kind)},
               {"vg", a.vg},
               {"pool", a.pool},
               {"unit", a.unit},
               {"bytes", a.bytes},
               {"requested_for", key}});
    if (a.request_id == key)
      answer = pvc_reservation{req.node, a};
  }
  if (!answer)
    return fail(self, errc::internal,
                "the placement of PersistentVolumeClaim " + key + " has no assignment for it");
  return *answer;
}

actor_report report(placement_pointer self) {
  auto& st = self->state;
  size_t pvs = 0, inline_volumes = 0, unplaced = 0;
  for (auto& [key, node] : st.charge_node) {
    if (key.rfind("pv/", 0) == 0)
      ++pvs;
    else if (key.rfind("inline:", 0) == 0)
      ++inline_volumes;
  }
  for (auto& [name, m] : st.masters)
    unplaced += m.unplaced;
  json::array reservations;
  for (auto& [key, r] : st.reservations)
    reservations.push_back(json::object{{"pvc", key},
                                        {"node", r.node},
                                        {"type", placement::to_string(r.assignment.kind)},
                                        {"vg", r.assignment.vg},
                                        {"unit", r.assignment.unit},
                                        {"bytes", r.assignment.bytes}});
  json::object state{{"synced", st.synced},
                     {"informersSynced", st.informers_synced},
                     {"informers", st.informers.size()},
                     {"nodes", st.view_nodes.size()},
                     {"pvsCharged", pvs},
                     {"reservationCount", st.reservations.size()},
                     {"inlineVolumes", inline_volumes},
                     {"unplacedCharges", unplaced},
                     {"generation", st.generation},
                     {"reservedTotal", st.reserved_total},
                     {"releasedTotal", st.released_total},
                     {"expiredTotal", st.expired_total},
                     {"reservations", std::move(reservations)}};
  auto summary = std::string{st.synced ? "synced" : "not synced"} + ", " +
                 std::to_string(st.view_nodes.size()) + " nodes, " + std::to_string(pvs) +
                 " PVs, " + std::to_string(st.reservations.size()) + " reservations, " +
                 std::to_string(inline_volumes) + " inline volumes, generation " +
                 std::to_string(st.generation);
  return make_report(self, summary, st.last_error, json::serialize(state));
}

} // namespace

placement_actor spawn_placement(caf::actor_system& sys, std::shared_ptr<client> api,
                                std::shared_ptr<placement_reader> reader, placement_options opts) {
  return sys.spawn([api = std::move(api), reader = std::move(reader), opts = std::move(opts)](
                     placement_pointer self) mutable -> placement_actor::behavior_type {
    auto& st = self->state;
    st.reader = reader;
    st.opts = opts;
    const resource_kind* followed[] = {
      &kinds::node_local_storage,      &kinds::persistent_volume,
      &kinds::persistent_volume_claim, &kinds::pod,
      &kinds::storage_class,           &kinds::node,
      &kinds::volume_snapshot,         &kinds::volume_snapshot_content,
      &kinds::volume_snapshot_class};
    for (auto* kind : followed) {
      informer_options io;
      io.kind = kind;
      auto informer = spawn_informer(self->system(), api, io);
      self->link_to(informer);
      caf::anon_send(informer, subscribe_atom::value, caf::actor_cast<caf::actor>(self));
      self->request(informer, caf::infinite, synced_atom::value)
        .then(
          [self, kind](bool) {
            auto& st = self->state;
            log::debug(who, "informer synced", {{"kind", kind->kind}});
            if (++st.informers_synced < st.informers.size() || st.synced)
              return;
            st.synced = true;
            rebuild(self);
            publish(self);
            log::info(who, "synced",
                      {{"nodes", st.view_nodes.size()},
                       {"pvs", st.pvs.size()},
                       {"pods", st.pods.size()},
                       {"pvcs", st.idx.pvcs.size()}});
          },
          [self, kind](caf::error& err) {
            self->state.last_error = "informer " + std::string{kind->kind} + ": " + render(err);
            log::warn(who, "informer failed", {{"kind", kind->kind}, {"error", render(err)}});
          });
      st.informers.push_back(informer);
    }
    log::info(who, "started",
              {{"strategy", opts.strategy == placement::strategy::binpack ? "binpack" : "spread"},
               {"reservation_ttl_ms", static_cast<int64_t>(opts.reservation_ttl.count())},
               {"thin_overprovision", opts.thin_overprovision}});
    return {
      [self](const reserve_req& req) -> caf::result<pvc_reservation> { return reserve(self, req); },
      [self](inspect_atom) { return report(self); },
      [self](const watch_event& ev) { on_event(self, ev); },
      [self](placement_publish_atom) { publish(self); },
      [self](placement_expire_atom, const std::string& key, uint64_t seq) {
        auto& st = self->state;
        auto it = st.reservations.find(key);
        if (it == st.reservations.end() || it->second.seq != seq)
          return;
        ++st.expired_total;
        release_reservation(self, key, "no PersistentVolume within the reservation TTL");
      },
    };
  });
}

} // namespace olocal::kube
