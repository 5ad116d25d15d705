#include "actors/cluster/volume_manager.hpp"

#include "actors/core/errc.hpp"
#include "actors/core/inspect.hpp"
#include "actors/core/json.hpp"
#include "actors/core/log.hpp"
#include "actors/core/serial_queue.hpp"
#include "actors/node/device_volumes.hpp"
#include "actors/node/vg_actor.hpp"

#include <caf/all.hpp>

#include <algorithm>
#include <charconv>
#include <limits>

namespace olocal {

caf::expected<uint64_t> choose_size(uint64_t required, uint64_t limit, uint64_t extent,
                                    uint64_t default_bytes) {
  if (limit != 0 && required > limit)
    return make_error(errc::invalid_argument, "capacity_range: required_bytes " +
                                                std::to_string(required) +
                                                " is above limit_bytes " + std::to_string(limit));
  uint64_t bytes = required;
  if (bytes == 0)
    bytes = limit != 0 ? std::min(limit, default_bytes) : default_bytes;
  extent = std::max<uint64_t>(extent, 512);
  if (bytes > std::numeric_limits<uint64_t>::max() - extent)
    return make_error(errc::out_of_range, "capacity " + std::to_string(bytes) + " is too large");
  auto rounded = (bytes + extent - 1) / extent * extent;
  if (limit != 0 && rounded > limit)
    return make_error(errc::out_of_range, "capacity_range: " + std::to_string(bytes) +
                                            " bytes round up to " + std::to_string(rounded) +
                                            " (extents of " + std::to_string(extent) +
                                            " bytes), above limit_bytes " + std::to_string(limit));
  return rounded;
}

namespace {

bool has_pool(const vg_view& vg, const std::string& pool) {
  auto* lv = vg.find(pool);
  return lv != nullptr && lv->is_thin_pool();
}

} // namespace

caf::expected<std::string> choose_vg(const std::vector<vg_view>& vgs, const volume_params& p,
                                     uint64_t bytes) {
  bool thin = p.lvm_type == "thin";
  auto fits = [&](const vg_view& vg) {
    return thin ? has_pool(vg, p.thin_pool) : vg.vg.free_bytes >= bytes;
  };
  if (!p.vg_name.empty()) {
    auto it = std::find_if(vgs.begin(), vgs.end(), [&](auto& v) { return v.vg.name == p.vg_name; });
    if (it == vgs.end())
      return make_error(errc::invalid_argument, "parameter vgName=\"" + p.vg_name +
                                                  "\": no such volume group on this node");
    if (thin && !has_pool(*it, p.thin_pool))
      return make_error(errc::failed_precondition,
                        "volume group " + p.vg_name + " has no thin pool " + p.thin_pool);
    if (!fits(*it))
      return make_error(errc::resource_exhausted,
                        "volume group " + p.vg_name + " has " + std::to_string(it->vg.free_bytes) +
                          " bytes free, " + std::to_string(bytes) + " needed");
    return p.vg_name;
  }
  const vg_view* best = nullptr;
  for (auto& vg : vgs)
    if (fits(vg) && (best == nullptr || vg.vg.free_bytes < best->vg.free_bytes))
      best = &vg;
  if (best == nullptr) {
    if (thin)
      return make_error(errc::resource_exhausted,
                        "no volume group of this node has a thin pool named " + p.thin_pool);
    uint64_t most = 0;
    for (auto& vg : vgs)
      most = std::max(most, vg.vg.free_bytes);
    return make_error(errc::resource_exhausted, "no volume group has " + std::to_string(bytes) +
                                                  " bytes free (the most is " +
                                                  std::to_string(most) + ")");
  }
  return best->vg.name;
}

caf::expected<std::pair<size_t, size_t>> page_range(size_t total, uint32_t max_entries,
                                                    const std::string& token) {
  size_t first = 0;
  if (!token.empty()) {
    auto [end, ec] = std::from_chars(token.data(), token.data() + token.size(), first);
    if (ec != std::errc{} || end != token.data() + token.size() || first > total)
      return make_error(errc::aborted, "starting_token \"" + token + "\" is not valid");
  }
  size_t last = max_entries == 0 ? total : std::min(total, first + max_entries);
  return std::make_pair(first, last);
}

namespace {

struct manager_state {
  manager_setup setup;
  keyed_queues by_name; ///< per-name serialization
  uint64_t provisioned = 0;
  uint64_t deleted = 0;
  uint64_t snapshots = 0;
  std::string last_error;
  static inline const char* name = "volume-manager";
};

using manager_pointer = volume_manager_actor::stateful_pointer<manager_state>;

/// Runs `op(rp, done)` when every earlier request for `name` has finished.
template <class T, class Op>
caf::typed_response_promise<T> for_name(manager_pointer self, const std::string& name, Op op) {
  return serialized<T>(self, self->state.by_name, name, std::move(op));
}

struct found_lv {
  const vg_view* vg = nullptr;
  const lvm::lv_info* lv = nullptr;
  explicit operator bool() const { return lv != nullptr; }
};

found_lv find_lv(const node_view& view, const std::string& name) {
  for (auto& vg : view.vgs)
    if (auto* lv = vg.find(name))
      return {&vg, lv};
  return {};
}

/// Records the CSI name on an LV whose name is its hash (see lv_name_for).
void keep_name(create_lv_req& lv, const std::string& csi_name) {
  if (lv.name != csi_name)
    lv.tags.push_back(std::string{lv_tags::name} + csi_name);
}

bool is_snapshot(const lvm::lv_info& lv) {
  auto kind = lv_tags::value(lv, lv_tags::kind);
  return kind == "snapshot" || (kind.empty() && lv.is_cow_snapshot());
}

std::string source_of(const lvm::lv_info& lv) {
  auto tagged = lv_tags::value(lv, lv_tags::source);
  return tagged.empty() ? lv.origin : tagged;
}

int64_t created_of(const lvm::lv_info& lv) {
  auto text = lv_tags::value(lv, lv_tags::created);
  int64_t s = 0;
  std::from_chars(text.data(), text.data() + text.size(), s);
  return s;
}

volume_record record_of(const manager_state& st, const vg_view& vg, const lvm::lv_info& lv) {
  volume_record r;
  r.id = lv.name;
  r.capacity_bytes = lv.size_bytes;
  r.node = st.setup.node_name;
  r.vg = vg.vg.name;
  r.context = {{"vgName", vg.vg.name}, {"volumeType", "LVM"}};
  if (lv_tags::value(lv, lv_tags::kind) == "clone") {
    auto src = source_of(lv);
    auto* origin = vg.find(src);
    if (origin != nullptr && is_snapshot(*origin))
      r.source_snapshot = src;
    else
      r.source_volume = src;
  }
  return r;
}

/// The volume type of a claimed (Device or MountPoint) volume `id`, "" when
/// it is none: its actor says so, or the node's claims do (an actor that ended).
std::string claimed_type(const node_view& view, const std::string& id) {
  for (auto& v : view.volumes)
    if (v.id == id && is_claim_kind(v.kind))
      return claim_type_of(v.kind);
  for (auto& c : view.claimables)
    if (c.claimed_by == id)
      return c.kind;
  return {};
}

/// The size of a claimed volume (its whole device or mount point).
uint64_t claimed_size(const node_view& view, const std::string& id) {
  for (auto& v : view.volumes)
    if (v.id == id && is_claim_kind(v.kind))
      return v.size_bytes;
  for (auto& c : view.claimables)
    if (c.claimed_by == id)
      return c.size_bytes;
  return 0;
}

/// A Device or MountPoint volume as its actor sees it: open-local's volume
/// context ("volumeType" and the "Device" or "MountPoint" key with the path).
volume_record claimed_record(const manager_state& st, const volume_state& v,
                             const param_map& params = {}) {
  auto type = claim_type_of(v.kind);
  volume_record r;
  r.id = v.id;
  r.capacity_bytes = v.size_bytes;
  r.node = st.setup.node_name;
  r.context = params;
  r.context["volumeType"] = type;
  r.context[type] = v.device;
  r.abnormal = v.phase == "lost";
  if (r.abnormal)
    r.message = type == std::string{device_type} ? "device " + v.device + " is missing"
                                                 : "mount point " + v.device + " is not mounted";
  if (!v.targets.empty())
    r.published_nodes = {st.setup.node_name};
  return r;
}

/// A volume as a volume actor sees it, with what its LV says.
volume_record record_of(const manager_state& st, const node_view& view, const volume_state& v) {
  if (is_claim_kind(v.kind))
    return claimed_record(st, v);
  auto found = find_lv(view, v.id);
  auto r = found ? record_of(st, *found.vg, *found.lv) : volume_record{};
  r.id = v.id;
  r.vg = v.vg;
  r.capacity_bytes = v.size_bytes;
  r.node = st.setup.node_name;
  r.abnormal = v.phase == "lost" || v.snapshot_invalid;
  r.message = v.phase == "lost"    ? "logical volume " + v.vg + "/" + v.id + " is missing"
              : v.snapshot_invalid ? "snapshot " + v.vg + "/" + v.id + " is invalid"
                                   : "";
  if (!v.targets.empty())
    r.published_nodes = {st.setup.node_name};
  return r;
}

snapshot_record snapshot_of(const manager_state& st, const vg_view& vg, const lvm::lv_info& lv) {
  snapshot_record r;
  r.id = lv.name;
  r.source_volume = source_of(lv);
  auto* origin = vg.find(r.source_volume);
  r.size_bytes = origin != nullptr ? origin->size_bytes : lv.size_bytes;
  r.created_s = created_of(lv);
  r.ready = !lv.invalid_snapshot;
  r.node = st.setup.node_name;
  r.vg = vg.vg.name;
  return r;
}

bool node_allowed(const manager_state& st, const std::vector<std::string>& nodes) {
  return nodes.empty() || std::find(nodes.begin(), nodes.end(), st.setup.node_name) != nodes.end();
}

/// Asks the node for everything it has, then continues with `then`; errors
/// go to `fail`.
template <class Then, class Fail>
void with_view(manager_pointer self, Then then, Fail fail) {
  self->request(self->state.setup.node, self->state.setup.timeout, get_atom::value)
    .then([then](node_view& view) mutable { then(view); },
          [fail](caf::error& err) mutable { fail(err); });
}

/// What ends an operation that failed: the error is remembered, answered and
/// the name's queue moves on.
template <class T>
auto failure(manager_pointer self, caf::typed_response_promise<T> rp, std::function<void()> done) {
  return [self, rp, done](const caf::error& err) mutable {
    self->state.last_error = render(err);
    rp.deliver(err);
    done();
  };
}

/// Answers one page of `all` (sorted by id here), or aborted for a bad token.
template <class Page, class Entry>
void deliver_page(caf::typed_response_promise<Page> rp, std::vector<Entry> all,
                  uint32_t max_entries, const std::string& token) {
  auto page = make_page<Page>(std::move(all), max_entries, token);
  if (!page)
    rp.deliver(page.error());
  else
    rp.deliver(std::move(*page));
}

// -- CreateVolume ---------------------------------------------------------------------

void provision(manager_pointer self, provision_req req, std::string csi_name, volume_params params,
               caf::typed_response_promise<volume_record> rp, std::function<void()> done) {
  auto fail = failure(self, rp, done);
  with_view(
    self,
    [self, req, csi_name, params, rp, done, fail](node_view& view) mutable {
      auto& st = self->state;
      auto extent = view.vgs.empty() ? 4ull << 20 : view.vgs.front().vg.extent_size_bytes;
      if (auto type = claimed_type(view, req.name); !type.empty())
        return fail(make_error(errc::already_exists,
                               "volume " + req.name + " exists as a " + type + " volume"));
      // An existing volume of that name answers when it satisfies the request.
      if (auto existing = find_lv(view, req.name)) {
        auto& lv = *existing.lv;
        auto src = source_of(lv);
        std::string why;
        if (is_snapshot(lv) || !owned_by_us(lv, vg_options{}))
          why = "is not a volume";
        else if (lv.size_bytes < req.required_bytes ||
                 (req.limit_bytes != 0 && lv.size_bytes > req.limit_bytes))
          why = "has " + std::to_string(lv.size_bytes) + " bytes, outside the requested range";
        else if (!req.source_snapshot.empty() && src != req.source_snapshot)
          why = "was not restored from snapshot " + req.source_snapshot;
        else if (!req.source_volume.empty() && src != req.source_volume)
          why = "was not cloned from volume " + req.source_volume;
        if (!why.empty())
          return fail(
            make_error(errc::already_exists, "volume " + req.name + " exists and " + why));
        // The same answer as the first time: the request's parameters are
        // the volume context (a retry must not lose fsType and the like).
        auto r = record_of(st, *existing.vg, lv);
        for (auto& [k, v] : req.params)
          r.context.emplace(k, v);
        rp.deliver(std::move(r));
        return done();
      }
      create_lv_req lv;
      lv.name = req.name;
      lv.kind = "volume";
      keep_name(lv, csi_name);
      if (!params.wipe)
        lv.tags.push_back(std::string{lv_tags::wipe} + "false");
      std::string vg;
      auto source = !req.source_snapshot.empty() ? req.source_snapshot : req.source_volume;
      if (!source.empty()) {
        auto src = find_lv(view, source);
        bool want_snapshot = !req.source_snapshot.empty();
        if (auto type = claimed_type(view, source); !src && !type.empty())
          return fail(
            make_error(errc::invalid_argument, "volume " + source + " is a " + type +
                                                 " volume: only LVM volumes can be cloned"));
        if (!src || is_snapshot(*src.lv) != want_snapshot)
          return fail(
            make_error(errc::not_found, std::string{want_snapshot ? "snapshot " : "volume "} +
                                          source + " does not exist"));
        // A restore or clone lives in its source's group: thin sources give a
        // thin snapshot (writable, instant), thick ones a full copy.
        vg = src.vg->vg.name;
        auto* data = src.lv;
        if (want_snapshot)
          if (auto* origin = src.vg->find(source_of(*src.lv)))
            data = origin;
        if (req.limit_bytes != 0 && req.limit_bytes < data->size_bytes)
          return fail(make_error(errc::out_of_range,
                                 "capacity_range: limit_bytes " + std::to_string(req.limit_bytes) +
                                   " is below the " + std::to_string(data->size_bytes) +
                                   " bytes of the source " + data->name));
        auto size = choose_size(std::max(req.required_bytes, data->size_bytes), req.limit_bytes,
                                src.vg->vg.extent_size_bytes, st.setup.default_bytes);
        if (!size)
          return fail(size.error());
        lv.size_bytes = *size;
        lv.origin = source;
        lv.kind = "clone";
        lv.layout = src.lv->is_thin_volume() ? "thin-snapshot" : "copy";
      } else {
        auto size =
          choose_size(req.required_bytes, req.limit_bytes, extent, st.setup.default_bytes);
        if (!size)
          return fail(size.error());
        auto chosen = choose_vg(view.vgs, params, *size);
        if (!chosen)
          return fail(chosen.error());
        vg = *chosen;
        lv.size_bytes = *size;
        lv.layout = lv_layout(params);
        if (lv.layout == "thin")
          lv.pool = params.thin_pool;
      }
      auto name = req.name;
      self->request(st.setup.node, st.setup.timeout, create_volume_req{vg, lv})
        .then(
          [self, rp, done, req, vg](volume_state& vs) mutable {
            auto& st = self->state;
            ++st.provisioned;
            volume_record r;
            r.id = vs.id;
            r.capacity_bytes = vs.size_bytes;
            r.node = st.setup.node_name;
            r.vg = vg;
            r.context = req.params;
            r.context["vgName"] = vg;
            r.source_snapshot = req.source_snapshot;
            r.source_volume = req.source_volume;
            log::info("volume-manager", "volume created",
                      {{"volume", r.id}, {"vg", vg}, {"bytes", r.capacity_bytes}});
            rp.deliver(std::move(r));
            done();
          },
          [fail](caf::error& err) mutable { fail(err); });
    },
    fail);
}

/// CreateVolume of a Device or MountPoint volume: the node claims the
/// smallest free device or mount point that fits (idempotent there).
void provision_claim(manager_pointer self, provision_req req, volume_params params,
                     caf::typed_response_promise<volume_record> rp, std::function<void()> done) {
  auto fail = failure(self, rp, done);
  with_view(
    self,
    [self, req, params, rp, done, fail](node_view& view) mutable {
      if (find_lv(view, req.name))
        return fail(make_error(errc::already_exists, "volume " + req.name +
                                                       " exists as an LVM volume, not a " +
                                                       params.volume_type + " volume"));
      claim_req claim{req.name,        params.volume_type, req.required_bytes,
                      req.limit_bytes, params.media_type,  params.wipe};
      auto& st = self->state;
      self->request(st.setup.node, st.setup.timeout, std::move(claim))
        .then(
          [self, rp, done, req](volume_state& vs) mutable {
            auto& st = self->state;
            ++st.provisioned;
            auto r = claimed_record(st, vs, req.params);
            log::info("volume-manager", "volume claimed",
                      {{"volume", r.id},
                       {"type", r.context["volumeType"]},
                       {"path", vs.device},
                       {"bytes", r.capacity_bytes}});
            rp.deliver(std::move(r));
            done();
          },
          [fail](caf::error& err) mutable { fail(err); });
    },
    fail);
}

// -- DeleteVolume, ControllerExpandVolume ---------------------------------------------

void unprovision(manager_pointer self, std::string id, caf::typed_response_promise<bool> rp,
                 std::function<void()> done) {
  auto fail = failure(self, rp, done);
  with_view(
    self,
    [self, id, rp, done, fail](node_view& view) mutable {
      auto found = find_lv(view, id);
      if (!found && !claimed_type(view, id).empty()) { // a Device or MountPoint volume
        self
          ->request(self->state.setup.node, self->state.setup.timeout, delete_volume_req{id, true})
          .then(
            [self, rp, done](bool removed) mutable {
              ++self->state.deleted;
              rp.deliver(removed);
              done();
            },
            [fail](caf::error& err) mutable { fail(err); });
        return;
      }
      if (!found || is_snapshot(*found.lv)) { // nothing (or no volume) of that name: done
        rp.deliver(false);
        return done();
      }
      bool wipe = lv_tags::value(*found.lv, lv_tags::wipe) != "false";
      self->request(self->state.setup.node, self->state.setup.timeout, delete_volume_req{id, wipe})
        .then(
          [self, rp, done](bool removed) mutable {
            ++self->state.deleted;
            rp.deliver(removed);
            done();
          },
          [fail](caf::error& err) mutable { fail(err); });
    },
    fail);
}

void resize(manager_pointer self, resize_req req, caf::typed_response_promise<volume_record> rp,
            std::function<void()> done) {
  auto fail = failure(self, rp, done);
  with_view(
    self,
    [self, req, rp, done, fail](node_view& view) mutable {
      auto found = find_lv(view, req.id);
      if (auto type = claimed_type(view, req.id); !found && !type.empty()) {
        auto bytes = claimed_size(view, req.id);
        if (req.required_bytes > bytes)
          return fail(make_error(
            errc::failed_precondition,
            type + " volume " + req.id + " (" + std::to_string(bytes) + " bytes, a whole " +
              (type == device_type ? "device" : "mount point") + ") cannot be expanded to " +
              std::to_string(req.required_bytes) + " bytes"));
        for (auto& v : view.volumes)
          if (v.id == req.id) {
            rp.deliver(claimed_record(self->state, v));
            return done();
          }
        return fail(make_error(errc::not_found, "volume " + req.id + " has no actor on its node"));
      }
      if (!found || is_snapshot(*found.lv))
        return fail(make_error(errc::not_found, "volume " + req.id + " does not exist"));
      auto size = choose_size(req.required_bytes, req.limit_bytes, found.vg->vg.extent_size_bytes,
                              found.lv->size_bytes);
      if (!size)
        return fail(size.error());
      if (req.limit_bytes != 0 && found.lv->size_bytes > req.limit_bytes)
        return fail(make_error(errc::out_of_range,
                               "volume " + req.id + " has " + std::to_string(found.lv->size_bytes) +
                                 " bytes, above limit_bytes " + std::to_string(req.limit_bytes) +
                                 " (volumes never shrink)"));
      auto record = record_of(self->state, *found.vg, *found.lv);
      if (*size <= found.lv->size_bytes) { // already there (never shrinks)
        rp.deliver(record);
        return done();
      }
      auto& st = self->state;
      auto bytes = *size;
      self->request(st.setup.node, st.setup.timeout, volume_lookup{req.id})
        .then(
          [self, rp, done, fail, record, bytes](volume_actor& vol) mutable {
            self->request(vol, self->state.setup.timeout, expand_req{bytes})
              .then(
                [rp, done, record](volume_state& vs) mutable {
                  record.capacity_bytes = vs.size_bytes;
                  rp.deliver(record);
                  done();
                },
                [fail](caf::error& err) mutable { fail(err); });
          },
          [fail](caf::error& err) mutable { fail(err); });
    },
    fail);
}

// -- snapshots ---------------------------------------------------------------------

void snapshot(manager_pointer self, snapshot_req req, std::string csi_name, snapshot_params params,
              caf::typed_response_promise<snapshot_record> rp, std::function<void()> done) {
  auto fail = failure(self, rp, done);
  with_view(
    self,
    [self, req, csi_name, params, rp, done, fail](node_view& view) mutable {
      auto& st = self->state;
      if (auto existing = find_lv(view, req.name)) {
        if (!is_snapshot(*existing.lv) || source_of(*existing.lv) != req.source_volume)
          return fail(
            make_error(errc::already_exists,
                       "snapshot name " + req.name + " is taken by " +
                         (is_snapshot(*existing.lv) ? "a snapshot of " + source_of(*existing.lv)
                                                    : std::string{"a volume"})));
        rp.deliver(snapshot_of(st, *existing.vg, *existing.lv));
        return done();
      }
      auto src = find_lv(view, req.source_volume);
      if (auto type = claimed_type(view, req.source_volume); !src && !type.empty())
        return fail(
          make_error(errc::invalid_argument, "source volume " + req.source_volume + " is a " +
                                               type + " volume: only LVM volumes have snapshots"));
      if (!src || is_snapshot(*src.lv))
        return fail(
          make_error(errc::not_found, "source volume " + req.source_volume + " does not exist"));
      create_lv_req lv;
      lv.name = req.name;
      lv.kind = "snapshot";
      keep_name(lv, csi_name);
      lv.origin = req.source_volume;
      if (src.lv->is_thin_volume()) {
        lv.layout = "thin-snapshot";
      } else {
        lv.layout = "snapshot";
        lv.size_bytes = std::min(params.initial_bytes, src.lv->size_bytes);
        lv.expand_bytes = params.expansion_bytes;
        lv.expand_at_percent = params.expansion_threshold_percent;
      }
      auto vg = src.vg->vg.name;
      self->request(st.setup.node, st.setup.timeout, create_volume_req{vg, lv})
        .then(
          [self, rp, done, req, fail](volume_state&) mutable {
            ++self->state.snapshots;
            // Answer from the group's fresh view, so the creation time is the
            // one every later call reports (the LV's created tag).
            with_view(
              self,
              [self, rp, done, req, fail](node_view& view) mutable {
                auto made = find_lv(view, req.name);
                if (!made)
                  return fail(make_error(errc::internal, "snapshot " + req.name +
                                                           " is missing right after its creation"));
                rp.deliver(snapshot_of(self->state, *made.vg, *made.lv));
                done();
              },
              fail);
          },
          [fail](caf::error& err) mutable { fail(err); });
    },
    fail);
}

void delete_snapshot(manager_pointer self, std::string id, caf::typed_response_promise<bool> rp,
                     std::function<void()> done) {
  auto fail = failure(self, rp, done);
  with_view(
    self,
    [self, id, rp, done, fail](node_view& view) mutable {
      auto found = find_lv(view, id);
      if (!found || !is_snapshot(*found.lv)) {
        rp.deliver(false);
        return done();
      }
      self->request(self->state.setup.node, self->state.setup.timeout, delete_volume_req{id, true})
        .then(
          [rp, done](bool removed) mutable {
            rp.deliver(removed);
            done();
          },
          [fail](caf::error& err) mutable { fail(err); });
    },
    fail);
}

std::string state_json(const manager_state& st) {
  return "{\"node\":" + json_quote(st.setup.node_name) +
         ",\"provisioned\":" + std::to_string(st.provisioned) +
         ",\"deleted\":" + std::to_string(st.deleted) +
         ",\"snapshots\":" + std::to_string(st.snapshots) +
         ",\"namesInFlight\":" + std::to_string(st.by_name.size()) + "}";
}

volume_manager_actor::behavior_type manager_impl(manager_pointer self, manager_setup setup) {
  self->state.setup = std::move(setup);
  return {
    [self](provision_req& req) -> caf::result<volume_record> {
      if (req.name.empty())
        return make_error(errc::invalid_argument, "name is missing");
      auto params = parse_volume_params(req.params);
      if (!params)
        return params.error();
      if (!req.fstype.empty() && params->fstype.empty())
        params->fstype = req.fstype;
      bool claimed = params->volume_type != "LVM";
      if (claimed && (!req.source_snapshot.empty() || !req.source_volume.empty()))
        return make_error(errc::invalid_argument,
                          "volumeType=" + params->volume_type +
                            " volumes cannot be restored from a snapshot or cloned (LVM only)");
      if (claimed && req.limit_bytes != 0 && req.required_bytes > req.limit_bytes)
        return make_error(errc::invalid_argument,
                          "capacity_range: required_bytes " + std::to_string(req.required_bytes) +
                            " is above limit_bytes " + std::to_string(req.limit_bytes));
      if (!node_allowed(self->state, req.nodes))
        return make_error(errc::resource_exhausted,
                          "accessibility_requirements exclude this node (" +
                            self->state.setup.node_name + ")");
      auto p = *params;
      auto csi_name = req.name;
      req.name = lv_name_for(csi_name);
      return for_name<volume_record>(
        self, req.name,
        [self, req, csi_name, p, claimed](auto rp, std::function<void()> done) mutable {
          if (claimed)
            provision_claim(self, req, p, rp, std::move(done));
          else
            provision(self, req, csi_name, p, rp, std::move(done));
        });
    },
    [self](unprovision_req& req) -> caf::result<bool> {
      if (req.id.empty())
        return make_error(errc::invalid_argument, "volume_id is missing");
      return for_name<bool>(self, req.id, [self, req](auto rp, std::function<void()> done) mutable {
        unprovision(self, req.id, rp, std::move(done));
      });
    },
    [self](resize_req& req) -> caf::result<volume_record> {
      if (req.id.empty())
        return make_error(errc::invalid_argument, "volume_id is missing");
      return for_name<volume_record>(self, req.id,
                                     [self, req](auto rp, std::function<void()> done) mutable {
                                       resize(self, req, rp, std::move(done));
                                     });
    },
    [self](snapshot_req& req) -> caf::result<snapshot_record> {
      if (req.name.empty())
        return make_error(errc::invalid_argument, "name is missing");
      if (req.source_volume.empty())
        return make_error(errc::invalid_argument, "source_volume_id is missing");
      auto params = parse_snapshot_params(req.params);
      if (!params)
        return params.error();
      auto p = *params;
      auto csi_name = req.name;
      req.name = lv_name_for(csi_name);
      return for_name<snapshot_record>(
        self, req.name, [self, req, csi_name, p](auto rp, std::function<void()> done) mutable {
          snapshot(self, req, csi_name, p, rp, std::move(done));
        });
    },
    [self](delete_snapshot_req& req) -> caf::result<bool> {
      if (req.id.empty())
        return make_error(errc::invalid_argument, "snapshot_id is missing");
      return for_name<bool>(self, req.id, [self, req](auto rp, std::function<void()> done) mutable {
        delete_snapshot(self, req.id, rp, std::move(done));
      });
    },
    [self](list_snapshots_req& req) -> caf::result<snapshot_page> {
      auto rp = self->make_response_promise<snapshot_page>();
      with_view(
        self,
        [self, req, rp](node_view& view) mutable {
          std::vector<snapshot_record> all;
          for (auto& vg : view.vgs)
            for (auto& lv : vg.lvs)
              if (is_snapshot(lv) && owned_by_us(lv, vg_options{}) &&
                  (req.snapshot_id.empty() || lv.name == req.snapshot_id) &&
                  (req.source_volume.empty() || source_of(lv) == req.source_volume))
                all.push_back(snapshot_of(self->state, vg, lv));
          deliver_page<snapshot_page>(rp, std::move(all), req.max_entries, req.starting_token);
        },
        [rp](const caf::error& err) mutable { rp.deliver(err); });
      return rp;
    },
    [self](list_volumes_req& req) -> caf::result<volume_page> {
      auto rp = self->make_response_promise<volume_page>();
      with_view(
        self,
        [self, req, rp](node_view& view) mutable {
          std::vector<volume_record> all;
          for (auto& v : view.volumes)
            all.push_back(record_of(self->state, view, v));
          deliver_page<volume_page>(rp, std::move(all), req.max_entries, req.starting_token);
        },
        [rp](const caf::error& err) mutable { rp.deliver(err); });
      return rp;
    },
    [self](capacity_req& req) -> caf::result<uint64_t> {
      auto params = parse_volume_params(req.params);
      if (!params)
        return params.error();
      if (!node_allowed(self->state, req.nodes))
        return uint64_t{0};
      auto rp = self->make_response_promise<uint64_t>();
      auto p = *params;
      with_view(
        self,
        [rp, p](node_view& view) mutable {
          if (p.volume_type != "LVM") { // the largest free device or mount point
            rp.deliver(claim_capacity(view.claimables, p.volume_type, p.media_type));
            return;
          }
          uint64_t most = 0;
          for (auto& vg : view.vgs)
            if (p.vg_name.empty() || vg.vg.name == p.vg_name)
              most = std::max(most, vg.vg.free_bytes);
          rp.deliver(most);
        },
        [rp](const caf::error& err) mutable { rp.deliver(err); });
      return rp;
    },
    [self](volume_query& req) -> caf::result<volume_record> {
      auto rp = self->make_response_promise<volume_record>();
      with_view(
        self,
        [self, req, rp](node_view& view) mutable {
          for (auto& v : view.volumes)
            if (v.id == req.id) {
              rp.deliver(record_of(self->state, view, v));
              return;
            }
          rp.deliver(make_error(errc::not_found, "volume " + req.id + " does not exist"));
        },
        [rp](const caf::error& err) mutable { rp.deliver(err); });
      return rp;
    },
    [self](inspect_atom) {
      auto& st = self->state;
      return make_report(self,
                         std::to_string(st.provisioned) + " created, " +
                           std::to_string(st.deleted) + " deleted, " +
                           std::to_string(st.by_name.size()) + " names in flight",
                         st.last_error, state_json(st));
    },
  };
}

} // namespace

volume_manager_actor spawn_volume_manager(caf::actor_system& sys, manager_setup setup) {
  return sys.spawn(manager_impl, std::move(setup));
}

} // namespace olocal
