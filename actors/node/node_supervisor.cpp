#include "actors/node/node_supervisor.hpp"

#include "actors/backends/lvm.hpp"
#include "actors/core/errc.hpp"
#include "actors/core/inspect.hpp"
#include "actors/core/json.hpp"
#include "actors/core/log.hpp"
#include "actors/core/serial_queue.hpp"
#include "actors/node/device_volumes.hpp"
#include "actors/node/disk_actor.hpp"
#include "actors/node/fs_runner.hpp"
#include "actors/node/lvm_runner.hpp"

#include <caf/all.hpp>

#include <algorithm>
#include <filesystem>
#include <map>
#include <memory>
#include <optional>
#include <set>

namespace olocal {

bool is_volume_lv(const lvm::lv_info& lv, const vg_options& opts) {
  if (lv.hidden || lv.is_thin_pool() || !owned_by_us(lv, opts))
    return false;
  auto kind = lv_tags::value(lv, lv_tags::kind);
  if (kind.empty()) // open-local's volumes carry no kind tag; its snapshots are CoW snapshots
    return !lv.is_cow_snapshot();
  return kind == "volume" || kind == "clone" || kind == "ephemeral";
}

namespace {

/// How long a scan or a claims-file write of the claim runner may take.
constexpr auto claim_step_timeout = std::chrono::seconds{60};

struct child_volume {
  std::string vg; ///< "" for a claimed device or mount point
  lvm::lv_info lv;
  volume_actor handle;
  uint32_t restarts = 0;
  bool deleting = false;
  bool follow_vg = false; ///< stopped to follow a restarted VG actor: start again
  bool claimed = false;   ///< a Device or MountPoint volume
  bool present = true;    ///< claims: the device or mount point is where it was claimed
  volume_options opts;    ///< claims: their own (source_dir for mount points)
};

struct child_vg {
  lvm_runner_actor runner;
  vg_actor handle;
  uint32_t restarts = 0;
  uint64_t generation = 0; ///< of the last view reconciled
};

struct supervisor_state {
  node_setup setup;
  std::map<std::string, disk_actor> disks;     ///< by kernel name
  std::map<std::string, child_vg> vgs;         ///< by VG name
  std::map<std::string, child_volume> volumes; ///< by volume id (LV name)
  std::map<std::string, std::string> lv_home;  ///< every owned LV -> its VG (snapshots too)
  std::vector<fs_runner_actor> fs_runners;
  size_t next_fs = 0;
  lvm_runner_actor device_runner;
  // claims
  std::map<std::string, block_device> device_facts; ///< by kernel name, from the last scan
  std::vector<mount_point_facts> mount_points;      ///< from the last scan
  std::optional<device_filter> devices_wanted;      ///< none: no device is eligible
  std::string filter_error;                         ///< a bad include/exclude expression
  claim_runner_actor claim_runner;                  ///< none without a state directory
  std::map<std::string, claim_record> claims;       ///< by volume id
  std::string claims_error; ///< the claims file is unreadable: claims are refused
  bool claims_ready = false;
  std::vector<std::function<void()>> until_ready; ///< requests waiting for the claims file
  serial_queue claim_ops;                         ///< claims and their releases, one at a time
  uint64_t claims_made = 0;
  uint64_t claims_released = 0;
  /// Every child, for the exit cascade (shared: it outlives the state).
  std::shared_ptr<std::vector<caf::actor>> children = std::make_shared<std::vector<caf::actor>>();
  uint64_t reconciles = 0;
  uint64_t restarts = 0;
  std::string last_error;
  static inline const char* name = "node";
};

using sup_pointer = node_supervisor_actor::stateful_pointer<supervisor_state>;

template <class Handle>
void adopt(sup_pointer self, const Handle& handle, std::string name, std::string kind) {
  auto& st = self->state;
  auto plain = caf::actor_cast<caf::actor>(handle);
  st.children->push_back(plain);
  self->monitor(plain);
  if (st.setup.registry)
    caf::anon_send(st.setup.registry, register_actor_req{std::move(name), std::move(kind), plain});
}

void spawn_disk(sup_pointer self, const block_device& dev) {
  auto& st = self->state;
  auto disk = spawn_disk_actor(self->system(), dev, st.device_runner, st.setup.release_timeout);
  st.disks[dev.name] = disk;
  adopt(self, disk, "disk/" + dev.name, "disk");
}

void spawn_vg(sup_pointer self, const std::string& name) {
  auto& st = self->state;
  auto& child = st.vgs[name];
  // The VG actor is linked to its runner (each ends the other): a new VG
  // actor gets a new runner.
  child.runner = st.setup.make_lvm_runner(self->system());
  child.handle = spawn_vg_actor(self->system(), name, child.runner, st.setup.vg);
  child.generation = 0;
  adopt(self, child.handle, "vg/" + name, "vg");
}

void spawn_volume(sup_pointer self, child_volume& child) {
  auto& st = self->state;
  auto& fs = st.fs_runners[st.next_fs++ % st.fs_runners.size()];
  if (child.claimed) {
    child.handle = spawn_volume_actor(self->system(), child.lv, vg_actor{}, fs, child.opts);
    if (!child.present) // the device or mount point is not (or no longer) where it was claimed
      self->send(child.handle, lv_update{child.lv, false});
  } else {
    child.handle =
      spawn_volume_actor(self->system(), child.lv, st.vgs[child.vg].handle, fs, st.setup.volume);
  }
  adopt(self, child.handle, "volume/" + child.lv.name, "volume");
}

// -- claims: facts, candidates, the file --------------------------------------------

/// The directory a mount point lives in ("/mnt/ol/d1" -> "/mnt/ol").
std::string parent_of(const std::string& path) {
  auto slash = path.find_last_of('/');
  return slash == 0 ? std::string{"/"} : path.substr(0, slash);
}

std::string without_trailing_slash(std::string path) {
  while (path.size() > 1 && path.back() == '/')
    path.pop_back();
  return path;
}

bool is_claimed_path(const supervisor_state& st, std::string_view kind, const std::string& path) {
  return std::any_of(st.claims.begin(), st.claims.end(),
                     [&](auto& kv) { return kv.second.kind == kind && kv.second.path == path; });
}

std::vector<claim_record> claim_list(const supervisor_state& st) {
  std::vector<claim_record> out;
  for (auto& [id, c] : st.claims)
    out.push_back(c);
  return out;
}

/// The candidates of the node from the last facts: included devices, the
/// mount points under the configured root, and everything claimed.
std::vector<claim_candidate> current_candidates(const supervisor_state& st) {
  std::vector<block_device> devices;
  for (auto& [name, dev] : st.device_facts)
    devices.push_back(dev);
  auto root = without_trailing_slash(st.setup.mount_path);
  std::vector<mount_point_facts> mount_points;
  for (auto& mp : st.mount_points)
    if ((!root.empty() && parent_of(mp.path) == root) ||
        is_claimed_path(st, mount_point_type, mp.path))
      mount_points.push_back(mp);
  return claim_candidates(devices, st.devices_wanted ? &*st.devices_wanted : nullptr, mount_points,
                          claim_list(st));
}

const block_device* device_at(const supervisor_state& st, const std::string& path) {
  for (auto& [name, dev] : st.device_facts)
    if (dev.path == path)
      return &dev;
  return nullptr;
}

const mount_point_facts* mount_point_at(const supervisor_state& st, const std::string& path) {
  for (auto& mp : st.mount_points)
    if (mp.path == path)
      return &mp;
  return nullptr;
}

/// True when `dev` is the device `claim` holds: same size, and the same
/// identity when the claim recorded one (kernel names move between disks
/// across reboots; a disk of the same size may take the claimed one's name).
bool is_claimed_device(const claim_record& claim, const block_device* dev) {
  return dev != nullptr && dev->size_bytes == claim.size_bytes &&
         (claim.stable_id.empty() || dev->stable_id == claim.stable_id);
}

/// Where a claim is now: the lv_info its volume actor works on, and whether
/// the device or mount point is there (another device at the claimed path
/// is not the claimed one: it is never touched).
std::pair<lvm::lv_info, bool> locate(const supervisor_state& st, const claim_record& claim) {
  if (claim.kind == device_type) {
    auto* dev = device_at(st, claim.path);
    bool present = is_claimed_device(claim, dev);
    auto lv = present ? claim_lv(claim, dev->path, dev->major, dev->minor, dev->size_bytes)
                      : claim_lv(claim, claim.path, 0, 0, claim.size_bytes);
    if (!present)
      lv.kernel_major = lv.kernel_minor = -1;
    return {lv, present};
  }
  auto* mp = mount_point_at(st, claim.path);
  if (mp == nullptr) {
    auto lv = claim_lv(claim, "", 0, 0, claim.size_bytes);
    lv.kernel_major = lv.kernel_minor = -1;
    return {lv, false};
  }
  return {claim_lv(claim, mp->source, mp->major, mp->minor, mp->total_bytes), true};
}

/// Starts the volume actor of a claim (when it has none).
void start_claimed(sup_pointer self, const claim_record& claim) {
  auto& st = self->state;
  if (st.volumes.count(claim.id))
    return;
  auto [lv, present] = locate(st, claim);
  auto& child = st.volumes[claim.id];
  child.claimed = true;
  child.lv = lv;
  child.present = present;
  child.opts = st.setup.volume;
  if (claim.kind == mount_point_type) {
    child.opts.source_dir = claim.path;
    auto* mp = mount_point_at(st, claim.path);
    child.opts.source_fstype = mp != nullptr ? mp->fstype : claim.fstype;
  }
  spawn_volume(self, child);
  if (!present)
    log::warn("node", "claimed storage is not where it was claimed",
              {{"volume", claim.id}, {"kind", claim.kind}, {"path", claim.path}});
}

/// Tells the volume actors of claims what the last scans found.
void sync_claimed(sup_pointer self) {
  auto& st = self->state;
  for (auto& [id, claim] : st.claims) {
    auto child = st.volumes.find(id);
    if (child == st.volumes.end() || !child->second.claimed || child->second.deleting)
      continue;
    auto [lv, present] = locate(st, claim);
    auto& c = child->second;
    if (present == c.present && lv.kernel_major == c.lv.kernel_major &&
        lv.kernel_minor == c.lv.kernel_minor && lv.path == c.lv.path &&
        lv.size_bytes == c.lv.size_bytes)
      continue;
    if (present != c.present)
      log::warn("node", present ? "claimed storage is back" : "claimed storage went away",
                {{"volume", id}, {"path", claim.path}});
    c.present = present;
    if (present)
      c.lv = lv;
    self->send(c.handle, lv_update{c.lv, present});
  }
}

/// Fresh device facts from the claim runner: every disk actor is told; a
/// new device gets one when it may hold a Device volume (the disk actor
/// wipes it at release); `then` runs afterwards (also after a failed scan,
/// with the facts as they were).
void refresh_devices(sup_pointer self, std::function<void()> then) {
  auto& st = self->state;
  if (!st.claim_runner)
    return then();
  self->request(st.claim_runner, claim_step_timeout, device_scan_req{st.setup.sysfs_root})
    .then(
      [self, then](std::vector<block_device>& devices) {
        auto& st = self->state;
        st.device_facts.clear();
        for (auto& dev : devices) {
          // Every device has a disk actor, as at start: one that appeared
          // since (a new disk, a partition) gets its own now.
          if (auto disk = st.disks.find(dev.name); disk != st.disks.end())
            self->send(disk->second, dev);
          else
            spawn_disk(self, dev);
          st.device_facts[dev.name] = dev;
        }
        sync_claimed(self);
        then();
      },
      [self, then](caf::error& err) {
        self->state.last_error = "device scan: " + render(err);
        log::warn("node", "device scan failed", {{"error", self->state.last_error}});
        then();
      });
}

/// Fresh mount-point facts (the configured root and every directory a
/// claimed mount point lives in); `then` runs afterwards.
void refresh_mount_points(sup_pointer self, std::function<void()> then) {
  auto& st = self->state;
  std::set<std::string> roots;
  if (!st.setup.mount_path.empty())
    roots.insert(without_trailing_slash(st.setup.mount_path));
  for (auto& [id, c] : st.claims)
    if (c.kind == mount_point_type)
      roots.insert(parent_of(c.path));
  if (!st.claim_runner || roots.empty())
    return then();
  struct pending_scan {
    size_t waiting = 0;
    std::vector<mount_point_facts> found;
    bool failed = false;
  };
  auto acc = std::make_shared<pending_scan>();
  acc->waiting = roots.size();
  auto one_done = [self, acc, then] {
    if (--acc->waiting > 0)
      return;
    if (!acc->failed) // a failed scan keeps the facts as they were
      self->state.mount_points = std::move(acc->found);
    sync_claimed(self);
    then();
  };
  for (auto& root : roots)
    self->request(st.claim_runner, claim_step_timeout, mount_scan_req{root, st.setup.sysfs_root})
      .then(
        [acc, one_done](std::vector<mount_point_facts>& found) {
          for (auto& mp : found)
            acc->found.push_back(std::move(mp));
          one_done();
        },
        [self, acc, one_done](caf::error& err) {
          acc->failed = true;
          self->state.last_error = "mount-point scan: " + render(err);
          log::warn("node", "mount-point scan failed", {{"error", self->state.last_error}});
          one_done();
        });
}

/// Writes `claims` to the claims file; `then` gets the error (none on success).
void save(sup_pointer self, std::vector<claim_record> claims,
          std::function<void(caf::error)> then) {
  auto& st = self->state;
  save_claims_req req{claims_path(st.setup.state_dir), std::move(claims)};
  self->request(st.claim_runner, claim_step_timeout, std::move(req))
    .then([then](uint64_t) { then(caf::error{}); },
          [then](caf::error& err) { then(std::move(err)); });
}

void claims_loaded(sup_pointer self) {
  auto& st = self->state;
  st.claims_ready = true;
  auto waiting = std::move(st.until_ready);
  st.until_ready.clear();
  for (auto& fn : waiting)
    fn();
}

/// Reads the claims file, scans the mount points and starts one volume
/// actor per claim; requests that depend on claims wait until then.
void load_claims_file(sup_pointer self) {
  auto& st = self->state;
  auto path = claims_path(st.setup.state_dir);
  self->request(st.claim_runner, claim_step_timeout, load_claims_req{path})
    .then(
      [self, path](std::vector<claim_record>& claims) {
        auto& st = self->state;
        for (auto& c : claims)
          st.claims[c.id] = c;
        if (!claims.empty())
          log::info("node", "claims loaded", {{"file", path}, {"claims", claims.size()}});
        // Fresh facts first: claimed devices are recognised by their identity.
        bool devices =
          std::any_of(claims.begin(), claims.end(), [](auto& c) { return c.kind == device_type; });
        auto start_all = [self] {
          refresh_mount_points(self, [self] {
            for (auto& [id, claim] : self->state.claims)
              start_claimed(self, claim);
            claims_loaded(self);
          });
        };
        if (devices)
          return refresh_devices(self, start_all);
        start_all();
      },
      [self, path](caf::error& err) {
        auto& st = self->state;
        st.claims_error = render(err) +
                          "; Device and MountPoint volumes are refused until the file is repaired "
                          "(it is never overwritten)";
        st.last_error = st.claims_error;
        log::error("node", "claims file unreadable", {{"file", path}, {"error", st.claims_error}});
        refresh_mount_points(self, [self] { claims_loaded(self); });
      });
}

/// Runs `fn` once the claims file is read (at once when it is).
void when_ready(sup_pointer self, std::function<void()> fn) {
  auto& st = self->state;
  if (st.claims_ready)
    return fn();
  st.until_ready.push_back(std::move(fn));
}

// -- claims: the operations ------------------------------------------------------------

using state_promise = caf::typed_response_promise<volume_state>;
using bool_promise = caf::typed_response_promise<bool>;

/// Answers the state of a claimed volume's actor and ends the claim operation.
void answer_claim(sup_pointer self, const std::string& id, state_promise rp) {
  auto& st = self->state;
  auto finish = [self] { self->state.claim_ops.finish(); };
  auto child = st.volumes.find(id);
  if (child == st.volumes.end()) { // its actor ended: what the claim says
    auto& claim = st.claims[id];
    volume_state vs;
    vs.id = id;
    vs.device = claim.path;
    vs.size_bytes = claim.size_bytes;
    vs.kind = claim_kind_tag(claim.kind);
    vs.phase = "lost";
    vs.lv_present = false;
    rp.deliver(std::move(vs));
    return finish();
  }
  self->request(child->second.handle, std::chrono::seconds{30}, get_atom::value)
    .then(
      [rp, finish](volume_state& vs) mutable {
        rp.deliver(std::move(vs));
        finish();
      },
      [rp, finish](caf::error& err) mutable {
        rp.deliver(std::move(err));
        finish();
      });
}

/// Records the claim of `chosen` for req.id (file first), then starts its actor.
void make_claim(sup_pointer self, claim_req req, claim_candidate chosen, state_promise rp) {
  claim_record rec;
  rec.id = req.id;
  rec.kind = req.kind;
  rec.path = chosen.path;
  rec.name = chosen.name;
  rec.size_bytes = chosen.size_bytes;
  rec.media_type = chosen.media_type;
  rec.fstype = chosen.fstype;
  rec.wipe = req.wipe;
  if (auto* dev = device_at(self->state, chosen.path); dev != nullptr && req.kind == device_type)
    rec.stable_id = dev->stable_id;
  rec.created_s = std::chrono::duration_cast<std::chrono::seconds>(
                    std::chrono::system_clock::now().time_since_epoch())
                    .count();
  auto all = claim_list(self->state);
  all.push_back(rec);
  save(self, std::move(all), [self, rec, rp](caf::error err) mutable {
    auto& st = self->state;
    if (err) {
      st.last_error = render(err);
      rp.deliver(std::move(err));
      return st.claim_ops.finish();
    }
    st.claims[rec.id] = rec;
    ++st.claims_made;
    log::info(
      "node", "claimed",
      {{"volume", rec.id}, {"kind", rec.kind}, {"path", rec.path}, {"bytes", rec.size_bytes}});
    start_claimed(self, rec);
    answer_claim(self, rec.id, rp);
  });
}

void claim(sup_pointer self, claim_req req, state_promise rp) {
  auto& st = self->state;
  auto fail = [self, rp](caf::error err) mutable {
    self->state.last_error = render(err);
    rp.deliver(std::move(err));
    self->state.claim_ops.finish();
  };
  if (!st.claims_error.empty())
    return fail(make_error(errc::failed_precondition, st.claims_error));
  if (st.setup.state_dir.empty())
    return fail(make_error(errc::failed_precondition,
                           "this node keeps no claims file (no state directory): Device and "
                           "MountPoint volumes are off"));
  auto known = st.volumes.find(req.id);
  if (st.lv_home.count(req.id) || (known != st.volumes.end() && !known->second.claimed))
    return fail(make_error(errc::already_exists, "volume " + req.id + " exists as an LVM volume"));
  if (auto existing = st.claims.find(req.id); existing != st.claims.end()) {
    auto why = claim_mismatch(existing->second, req);
    if (!why.empty())
      return fail(make_error(errc::already_exists, "volume " + req.id + " exists and " + why));
    return answer_claim(self, req.id, rp);
  }
  auto choose = [self, req, rp, fail]() mutable {
    auto chosen = choose_claim(current_candidates(self->state), req);
    if (!chosen)
      return fail(chosen.error());
    make_claim(self, req, *chosen, rp);
  };
  if (req.kind == device_type) {
    if (!st.filter_error.empty())
      return fail(make_error(errc::config_invalid, st.filter_error));
    if (!st.devices_wanted)
      return fail(make_error(errc::resource_exhausted,
                             "no device of this node may become a Device volume for " + req.id +
                               " (the operator included none)"));
    return refresh_devices(self, choose);
  }
  if (st.setup.mount_path.empty())
    return fail(make_error(errc::resource_exhausted,
                           "this node offers no mount points for MountPoint volume " + req.id +
                             " (no mount-point root is configured)"));
  refresh_mount_points(self, choose);
}

/// Drops the claim of `id` from the file, then from memory.
void drop_claim(sup_pointer self, std::string id, bool_promise rp) {
  std::vector<claim_record> rest;
  for (auto& [other, c] : self->state.claims)
    if (other != id)
      rest.push_back(c);
  save(self, std::move(rest), [self, id, rp](caf::error err) mutable {
    auto& st = self->state;
    if (err) {
      st.last_error = render(err);
      rp.deliver(std::move(err));
    } else {
      st.claims.erase(id);
      ++st.claims_released;
      log::info("node", "claim released", {{"volume", id}});
      rp.deliver(true);
    }
    st.claim_ops.finish();
  });
}

/// Releases what the claim of `id` holds (its actor is gone): the device is
/// wiped through its disk actor, the mount point's directory cleared; a
/// device or mount point that is not where it was claimed is left alone.
void release_claim(sup_pointer self, std::string id, bool wipe, bool_promise rp) {
  auto claim = self->state.claims[id];
  auto fail = [self, rp](caf::error err) mutable {
    self->state.last_error = render(err);
    rp.deliver(std::move(err));
    self->state.claim_ops.finish();
  };
  auto gone = [self, id, claim, rp]() mutable {
    log::warn("node", "claimed storage is gone: claim dropped, nothing wiped",
              {{"volume", id}, {"path", claim.path}});
    drop_claim(self, id, rp);
  };
  auto timeout = self->state.setup.release_timeout + std::chrono::minutes{1};
  if (claim.kind == device_type) {
    // Fresh facts first: the disk actor refuses a device it believes mounted.
    refresh_devices(self, [self, id, claim, wipe, rp, fail, gone, timeout]() mutable {
      auto& st = self->state;
      auto* dev = device_at(st, claim.path);
      if (!is_claimed_device(claim, dev))
        return gone();
      auto disk = st.disks.find(dev->name);
      if (disk == st.disks.end())
        return fail(make_error(errc::internal, "no disk actor for " + dev->name));
      self->request(disk->second, timeout, release_device_req{wipe && claim.wipe})
        .then(
          [self, id, rp](std::string& method) mutable {
            log::info("node", "device released", {{"volume", id}, {"method", method}});
            drop_claim(self, id, rp);
          },
          [fail](caf::error& err) mutable { fail(std::move(err)); });
    });
    return;
  }
  refresh_mount_points(self, [self, id, claim, rp, fail, gone, timeout]() mutable {
    auto& st = self->state;
    auto* mp = mount_point_at(st, claim.path);
    if (mp == nullptr)
      return gone();
    self->request(st.claim_runner, timeout, clear_dir_command{claim.path, mp->major, mp->minor})
      .then(
        [self, id, rp](uint64_t removed) mutable {
          log::info("node", "mount point cleared", {{"volume", id}, {"entries", removed}});
          drop_claim(self, id, rp);
        },
        [fail](caf::error& err) mutable { fail(std::move(err)); });
  });
}

/// Deletes a claimed volume: its actor first (refused while staged or
/// published), then the release.
void delete_claimed(sup_pointer self, delete_volume_req req, bool_promise rp) {
  auto& st = self->state;
  auto child = st.volumes.find(req.id);
  if (child == st.volumes.end())
    return release_claim(self, req.id, req.wipe, rp);
  auto id = req.id;
  self->request(child->second.handle, st.setup.volume.vg_timeout, req)
    .then(
      [self, id, req, rp](bool) mutable {
        auto& st = self->state;
        if (auto it = st.volumes.find(id); it != st.volumes.end())
          it->second.deleting = true; // its exit is expected
        release_claim(self, id, req.wipe, rp);
      },
      [self, rp](caf::error& err) mutable {
        rp.deliver(std::move(err));
        self->state.claim_ops.finish();
      });
}

// -- volume groups -------------------------------------------------------------------

/// Brings the volume actors in line with one VG's view: a volume LV without
/// an actor gets one, known ones get the LV's facts, vanished ones are told.
void reconcile_view(sup_pointer self, const std::string& vg, const vg_view& view) {
  auto& st = self->state;
  auto& opts = st.setup.vg;
  std::set<std::string> seen;
  for (auto it = st.lv_home.begin(); it != st.lv_home.end();)
    it = it->second == vg ? st.lv_home.erase(it) : std::next(it);
  for (auto& lv : view.lvs) {
    if (lv.hidden || !owned_by_us(lv, opts))
      continue;
    st.lv_home.emplace(lv.name, vg);
    if (!is_volume_lv(lv, opts))
      continue;
    seen.insert(lv.name);
    auto known = st.volumes.find(lv.name);
    if (known == st.volumes.end()) {
      auto& child = st.volumes[lv.name];
      child.vg = vg;
      child.lv = lv;
      spawn_volume(self, child);
      log::info("node", "volume found", {{"volume", lv.name}, {"vg", vg}});
    } else if (known->second.vg == vg) {
      known->second.lv = lv;
      self->send(known->second.handle, lv_update{lv, true});
    } else {
      auto where = known->second.claimed ? std::string{"a claim"} : known->second.vg;
      st.last_error = "volume " + lv.name + " exists in both " + where + " and " + vg;
      log::warn("node", "duplicate volume name", {{"volume", lv.name}, {"vgs", st.last_error}});
    }
  }
  for (auto& [id, child] : st.volumes)
    if (child.vg == vg && !seen.count(id) && !child.deleting)
      self->send(child.handle, lv_update{child.lv, false});
}

/// Reads every VG actor's cached view (no lvm process) and reconciles;
/// `then` gets the number of volume actors afterwards.
void reconcile(sup_pointer self, std::function<void(uint64_t)> then) {
  auto& st = self->state;
  ++st.reconciles;
  auto pending = std::make_shared<size_t>(st.vgs.size());
  if (*pending == 0)
    return then(st.volumes.size());
  for (auto& [name, child] : st.vgs) {
    auto vg = name;
    self->request(child.handle, std::chrono::seconds{30}, get_atom::value)
      .then(
        [self, vg, pending, then](vg_view& view) {
          auto& st = self->state;
          if (view.generation > 0) { // scanned at least once
            st.vgs[vg].generation = view.generation;
            reconcile_view(self, vg, view);
          }
          if (--*pending == 0)
            then(st.volumes.size());
        },
        [self, vg, pending, then](caf::error& err) {
          self->state.last_error = "vg/" + vg + ": " + render(err);
          if (--*pending == 0)
            then(self->state.volumes.size());
        });
  }
}

void on_down(sup_pointer self, const caf::down_msg& dm) {
  auto& st = self->state;
  bool crashed =
    dm.reason != caf::exit_reason::normal && dm.reason != caf::exit_reason::user_shutdown;
  auto& kids = *st.children;
  kids.erase(
    std::remove_if(kids.begin(), kids.end(),
                   [&](auto& h) { return caf::actor_cast<caf::actor_addr>(h) == dm.source; }),
    kids.end());
  for (auto& [name, child] : st.vgs) {
    if (caf::actor_cast<caf::actor_addr>(child.handle) != dm.source)
      continue;
    if (!crashed || child.restarts >= st.setup.max_restarts) {
      log::warn("node", "volume group actor ended",
                {{"vg", name}, {"reason", to_string(dm.reason)}});
      return;
    }
    ++child.restarts;
    ++st.restarts;
    log::warn("node", "restarting volume group actor",
              {{"vg", name}, {"reason", to_string(dm.reason)}});
    spawn_vg(self, name);
    // The volume actors keep talking to the old handle: point them at the
    // new one by restarting them as well (they rebuild from the mount table).
    for (auto& [id, vol] : st.volumes)
      if (!vol.claimed && vol.vg == name) {
        vol.follow_vg = true;
        self->send_exit(vol.handle, caf::exit_reason::user_shutdown);
      }
    return;
  }
  for (auto it = st.volumes.begin(); it != st.volumes.end(); ++it) {
    auto& child = it->second;
    if (caf::actor_cast<caf::actor_addr>(child.handle) != dm.source)
      continue;
    if (child.deleting || dm.reason == caf::exit_reason::normal) { // deleted
      st.volumes.erase(it);
      return;
    }
    bool restart_for_vg = child.follow_vg;
    child.follow_vg = false;
    if (!restart_for_vg && (!crashed || child.restarts >= st.setup.max_restarts)) {
      log::warn("node", "volume actor ended",
                {{"volume", it->first}, {"reason", to_string(dm.reason)}});
      st.volumes.erase(it);
      return;
    }
    if (crashed) {
      ++child.restarts;
      ++st.restarts;
    }
    log::warn("node", "restarting volume actor",
              {{"volume", it->first}, {"reason", to_string(dm.reason)}});
    spawn_volume(self, child);
    return;
  }
}

/// Collects a node_view from every child (answers after the last reply).
void gather(sup_pointer self, caf::typed_response_promise<node_view> rp) {
  auto& st = self->state;
  struct pending_view {
    node_view view;
    size_t waiting = 0;
    caf::typed_response_promise<node_view> rp;
    void one_done() {
      if (--waiting == 0)
        rp.deliver(std::move(view));
    }
  };
  auto acc = std::make_shared<pending_view>();
  acc->rp = rp;
  acc->view.claimables = current_candidates(st);
  acc->waiting = st.disks.size() + st.vgs.size() + st.volumes.size() + 1;
  auto timeout = std::chrono::seconds{10};
  for (auto& [name, disk] : st.disks)
    self->request(disk, timeout, get_atom::value)
      .then(
        [acc](block_device& dev) { acc->view.devices.push_back(std::move(dev)), acc->one_done(); },
        [acc](caf::error&) { acc->one_done(); });
  for (auto& [name, child] : st.vgs)
    self->request(child.handle, timeout, get_atom::value)
      .then([acc](vg_view& v) { acc->view.vgs.push_back(std::move(v)), acc->one_done(); },
            [acc](caf::error&) { acc->one_done(); });
  for (auto& [id, child] : st.volumes)
    self->request(child.handle, timeout, get_atom::value)
      .then([acc](volume_state& v) { acc->view.volumes.push_back(std::move(v)), acc->one_done(); },
            [acc](caf::error&) { acc->one_done(); });
  acc->one_done();
}

std::string state_json(const supervisor_state& st) {
  std::string out = "{\"disks\":" + std::to_string(st.disks.size()) + ",\"vgs\":[";
  size_t i = 0;
  for (auto& [name, child] : st.vgs)
    out += (i++ ? "," : "") + std::string{"{\"name\":"} + json_quote(name) +
           ",\"restarts\":" + std::to_string(child.restarts) +
           ",\"generation\":" + std::to_string(child.generation) + "}";
  out += "],\"volumes\":[";
  i = 0;
  for (auto& [id, child] : st.volumes)
    out += (i++ ? "," : "") + std::string{"{\"id\":"} + json_quote(id) +
           ",\"vg\":" + json_quote(child.vg) + ",\"restarts\":" + std::to_string(child.restarts) +
           "}";
  out += "],\"claims\":[";
  i = 0;
  for (auto& [id, c] : st.claims)
    out += (i++ ? "," : "") + std::string{"{\"id\":"} + json_quote(id) +
           ",\"kind\":" + json_quote(c.kind) + ",\"path\":" + json_quote(c.path) +
           ",\"sizeBytes\":" + std::to_string(c.size_bytes) + "}";
  out += "],\"claimsError\":" + json_quote(st.claims_error) +
         ",\"claimsMade\":" + std::to_string(st.claims_made) +
         ",\"claimsReleased\":" + std::to_string(st.claims_released) +
         ",\"fsRunners\":" + std::to_string(st.fs_runners.size()) +
         ",\"reconciles\":" + std::to_string(st.reconciles) +
         ",\"restarts\":" + std::to_string(st.restarts) + "}";
  return out;
}

// -- the LVM requests ------------------------------------------------------------------

void create_volume(sup_pointer self, create_volume_req req, state_promise rp) {
  auto& st = self->state;
  auto vg = st.vgs.find(req.vg);
  if (vg == st.vgs.end()) {
    rp.deliver(make_error(errc::not_found, "volume group " + req.vg + " is not managed here"));
    return;
  }
  if (auto claim = st.claims.find(req.lv.name); claim != st.claims.end()) {
    rp.deliver(make_error(errc::already_exists, "volume " + req.lv.name + " is a " +
                                                  claim->second.kind + " volume on " +
                                                  claim->second.path));
    return;
  }
  auto home = st.lv_home.find(req.lv.name);
  if (home != st.lv_home.end() && home->second != req.vg) {
    rp.deliver(
      make_error(errc::already_exists,
                 "volume " + req.lv.name + " already exists in volume group " + home->second));
    return;
  }
  auto vg_name = req.vg;
  self->request(vg->second.handle, st.setup.volume.vg_timeout, req.lv)
    .then(
      [self, rp, vg_name](lvm::lv_info& lv) mutable {
        auto& st = self->state;
        st.lv_home[lv.name] = vg_name;
        auto known = st.volumes.find(lv.name);
        if (known == st.volumes.end() && is_volume_lv(lv, st.setup.vg)) {
          auto& child = st.volumes[lv.name];
          child.vg = vg_name;
          child.lv = lv;
          spawn_volume(self, child);
          known = st.volumes.find(lv.name);
        }
        if (known == st.volumes.end()) { // a snapshot or a pool: no volume actor
          volume_state vs;
          vs.id = lv.name;
          vs.vg = vg_name;
          vs.device = lv.path;
          vs.size_bytes = lv.size_bytes;
          vs.kind = lv_tags::value(lv, lv_tags::kind);
          vs.phase = "ready";
          rp.deliver(std::move(vs));
          return;
        }
        self->request(known->second.handle, std::chrono::seconds{30}, get_atom::value)
          .then([rp](volume_state& vs) mutable { rp.deliver(std::move(vs)); },
                [rp](caf::error& err) mutable { rp.deliver(std::move(err)); });
      },
      [rp](caf::error& err) mutable { rp.deliver(std::move(err)); });
}

void delete_volume(sup_pointer self, delete_volume_req req, bool_promise rp) {
  auto& st = self->state;
  if (st.claims.count(req.id)) {
    st.claim_ops.push([self, req, rp]() mutable { delete_claimed(self, req, rp); });
    return;
  }
  auto known = st.volumes.find(req.id);
  if (known != st.volumes.end()) {
    auto id = req.id;
    self->request(known->second.handle, st.setup.volume.vg_timeout, req)
      .then(
        [self, rp, id](bool removed) mutable {
          auto& st = self->state;
          if (auto it = st.volumes.find(id); it != st.volumes.end())
            it->second.deleting = true; // its exit is expected
          st.lv_home.erase(id);
          rp.deliver(removed);
        },
        [rp](caf::error& err) mutable { rp.deliver(std::move(err)); });
    return;
  }
  auto home = st.lv_home.find(req.id);
  if (home == st.lv_home.end() || !st.vgs.count(home->second)) {
    if (!st.claims_error.empty()) // it may be one of the claims that could not be read
    {
      rp.deliver(make_error(errc::failed_precondition, st.claims_error));
      return;
    }
    {
      rp.deliver(false);
      return;
    } // idempotent: nothing of that name here
  }
  auto id = req.id;
  self
    ->request(st.vgs[home->second].handle, st.setup.volume.vg_timeout,
              delete_lv_req{req.id, req.wipe})
    .then(
      [self, rp, id](bool removed) mutable {
        self->state.lv_home.erase(id);
        rp.deliver(removed);
      },
      [rp](caf::error& err) mutable { rp.deliver(std::move(err)); });
}

/// Rescans every group first (one lvm process each), then reconciles; `then`
/// gets the number of volume actors afterwards.
void rescan_then(sup_pointer self, std::function<void(uint64_t)> then) {
  auto& st = self->state;
  auto pending = std::make_shared<size_t>(st.vgs.size());
  auto after = [self, then]() mutable { reconcile(self, then); };
  if (*pending == 0)
    return after();
  for (auto& [name, child] : st.vgs)
    self->request(child.handle, st.setup.volume.vg_timeout, rescan_atom::value)
      .then(
        [pending, after](uint64_t) mutable {
          if (--*pending == 0)
            after();
        },
        [self, pending, after](caf::error& err) mutable {
          self->state.last_error = render(err);
          if (--*pending == 0)
            after();
        });
}

void rescan(sup_pointer self, caf::typed_response_promise<uint64_t> rp) {
  rescan_then(self, [rp](uint64_t n) mutable { rp.deliver(n); });
}

/// Inline ephemeral volumes live as long as their publication: one that a
/// crash left behind (published nowhere any more) is unstaged and deleted
/// when the node starts.
void collect_orphaned_ephemerals(sup_pointer self) {
  auto timeout = self->state.setup.volume.vg_timeout;
  for (auto& [id, child] : self->state.volumes) {
    if (lv_tags::value(child.lv, lv_tags::kind) != "ephemeral")
      continue;
    auto vol = child.handle;
    auto name = id;
    auto failed = [self, name](caf::error& err) {
      self->state.last_error = "collecting ephemeral volume " + name + ": " + render(err);
      log::warn("node", "ephemeral volume not collected",
                {{"volume", name}, {"error", render(err)}});
    };
    self->request(vol, timeout, get_atom::value)
      .then(
        [self, vol, name, timeout, failed](volume_state& vs) {
          if (!vs.targets.empty())
            return; // still in use by its pod
          auto remove = [self, vol, name, timeout, failed] {
            self->request(vol, timeout, delete_volume_req{name, true})
              .then(
                [name](bool) {
                  log::info("node", "orphaned ephemeral volume collected", {{"volume", name}});
                },
                failed);
          };
          if (vs.staging_path.empty())
            return remove();
          self->request(vol, timeout, unstage_req{vs.staging_path})
            .then([remove](volume_state&) { remove(); }, failed);
        },
        failed);
  }
}

/// Rescans what claims are made of (when this node offers or holds any, or
/// with `all_devices`: an explicit rescan also finds devices that appeared).
void refresh_claim_facts(sup_pointer self, std::function<void()> then, bool all_devices = false) {
  auto& st = self->state;
  bool devices = all_devices || st.devices_wanted.has_value() ||
                 std::any_of(st.claims.begin(), st.claims.end(),
                             [](auto& kv) { return kv.second.kind == device_type; });
  auto mounts = [self, then] { refresh_mount_points(self, then); };
  if (devices)
    return refresh_devices(self, mounts);
  mounts();
}

node_supervisor_actor::behavior_type supervisor_impl(sup_pointer self, node_setup setup) {
  auto& st = self->state;
  st.setup = std::move(setup);
  if (!st.setup.make_lvm_runner)
    st.setup.make_lvm_runner = [](caf::actor_system& sys) { return spawn_lvm_runner(sys); };
  if (!st.setup.make_fs_runner)
    st.setup.make_fs_runner = [](caf::actor_system& sys) { return spawn_fs_runner(sys); };
  if (!st.setup.make_claim_runner)
    st.setup.make_claim_runner = [](caf::actor_system& sys) { return spawn_claim_runner(sys); };
  auto children = st.children;
  self->attach_functor([children] {
    for (auto& child : *children)
      caf::anon_send_exit(child, caf::exit_reason::user_shutdown);
  });
  self->set_down_handler([self](caf::down_msg& dm) { on_down(self, dm); });

  // One runner wipes released devices for all disk actors: whole-device
  // wipes run one at a time, whatever the number of devices.
  st.device_runner = st.setup.make_lvm_runner(self->system());
  for (auto& dev : st.setup.devices) {
    st.device_facts[dev.name] = dev;
    spawn_disk(self, dev);
  }
  for (size_t i = 0; i < std::max<size_t>(st.setup.fs_runners, 1); ++i)
    st.fs_runners.push_back(st.setup.make_fs_runner(self->system()));
  // The shared runners (detached threads) end with the supervisor too; a
  // detached actor nobody stops keeps the actor system from shutting down.
  st.children->push_back(caf::actor_cast<caf::actor>(st.device_runner));
  for (auto& fs : st.fs_runners)
    st.children->push_back(caf::actor_cast<caf::actor>(fs));
  for (auto& name : st.setup.volume_groups)
    spawn_vg(self, name);

  // Claims: the operator's device expressions, then the claims file.
  if (!st.setup.device_include.empty()) {
    auto filter = device_filter::make(st.setup.device_include, st.setup.device_exclude);
    if (filter) {
      st.devices_wanted = std::move(*filter);
    } else {
      st.filter_error = "device include/exclude: " + render(filter.error());
      st.last_error = st.filter_error;
      log::error("node", "bad device expressions", {{"error", st.filter_error}});
    }
  }
  if (st.setup.state_dir.empty()) {
    st.claims_ready = true;
  } else {
    st.claim_runner = st.setup.make_claim_runner(self->system());
    st.children->push_back(caf::actor_cast<caf::actor>(st.claim_runner));
    load_claims_file(self);
  }
  if (st.setup.reconcile_interval.count() > 0) {
    // A running node (not a test driving every step): volume actors exist as
    // soon as the groups are scanned, not one reconcile interval later.
    when_ready(
      self, [self] { rescan_then(self, [self](uint64_t) { collect_orphaned_ephemerals(self); }); });
    self->delayed_send(self, st.setup.reconcile_interval, tick_atom::value);
  }

  return {
    [self](create_volume_req& req) -> caf::result<volume_state> {
      auto rp = self->make_response_promise<volume_state>();
      when_ready(self, [self, req, rp]() mutable { create_volume(self, std::move(req), rp); });
      return rp;
    },
    [self](claim_req& req) -> caf::result<volume_state> {
      if (req.id.empty())
        return make_error(errc::invalid_argument, "claim without a volume id");
      if (req.kind != device_type && req.kind != mount_point_type)
        return make_error(errc::invalid_argument, "claim of " + req.id + ": kind \"" + req.kind +
                                                    "\" is not Device or MountPoint");
      if (!req.media_type.empty() && req.media_type != "ssd" && req.media_type != "hdd")
        return make_error(errc::invalid_argument, "claim of " + req.id + ": media type \"" +
                                                    req.media_type + "\" is not ssd or hdd");
      auto rp = self->make_response_promise<volume_state>();
      when_ready(self, [self, req, rp]() mutable {
        self->state.claim_ops.push([self, req, rp]() mutable { claim(self, req, rp); });
      });
      return rp;
    },
    [self](delete_volume_req& req) -> caf::result<bool> {
      auto rp = self->make_response_promise<bool>();
      when_ready(self, [self, req, rp]() mutable { delete_volume(self, std::move(req), rp); });
      return rp;
    },
    [self](manage_vgs_req& req) -> caf::result<uint64_t> {
      auto rp = self->make_response_promise<uint64_t>();
      when_ready(self, [self, req, rp]() mutable {
        auto& st = self->state;
        bool added = false;
        for (auto& name : req.names) {
          if (st.vgs.count(name) != 0)
            continue;
          if (auto err = lvm::validate_vg_name(name, "vg name")) {
            rp.deliver(std::move(err));
            return;
          }
          log::info("node", "managing volume group", {{"vg", name}});
          spawn_vg(self, name);
          added = true;
        }
        if (!added) {
          rp.deliver(uint64_t{st.vgs.size()});
          return;
        }
        // The new groups' volumes get their actors from the first scan.
        rescan_then(self,
                    [self, rp](uint64_t) mutable { rp.deliver(uint64_t{self->state.vgs.size()}); });
      });
      return rp;
    },
    [self](tag_lv_req& req) -> caf::result<lvm::lv_info> {
      // Adds and removes tags of an LV this node owns (any kind, snapshots
      // too) through its group's actor, which validates them.
      auto rp = self->make_response_promise<lvm::lv_info>();
      when_ready(self, [self, req, rp]() mutable {
        auto& st = self->state;
        auto home = st.lv_home.find(req.name);
        auto vg = home == st.lv_home.end() ? st.vgs.end() : st.vgs.find(home->second);
        if (vg == st.vgs.end()) {
          rp.deliver(make_error(errc::not_found,
                                "logical volume " + req.name + " is not one of this node's"));
          return;
        }
        self->request(vg->second.handle, self->state.setup.volume.vg_timeout, std::move(req))
          .then([rp](lvm::lv_info& lv) mutable { rp.deliver(std::move(lv)); },
                [rp](caf::error& err) mutable { rp.deliver(std::move(err)); });
      });
      return rp;
    },
    [self](volume_lookup& req) -> caf::result<volume_actor> {
      auto rp = self->make_response_promise<volume_actor>();
      when_ready(self, [self, req, rp]() mutable {
        auto& st = self->state;
        auto known = st.volumes.find(req.id);
        if (known == st.volumes.end() || known->second.deleting) {
          rp.deliver(make_error(errc::not_found, "volume " + req.id + " is not on this node"));
          return;
        }
        rp.deliver(known->second.handle);
      });
      return rp;
    },
    [self](get_atom) -> caf::result<node_view> {
      auto rp = self->make_response_promise<node_view>();
      when_ready(self, [self, rp]() mutable { gather(self, rp); });
      return rp;
    },
    [self](rescan_atom) -> caf::result<uint64_t> {
      auto rp = self->make_response_promise<uint64_t>();
      when_ready(self, [self, rp]() mutable {
        refresh_claim_facts(
          self, [self, rp]() mutable { rescan(self, rp); }, true);
      });
      return rp;
    },
    [self](tick_atom) {
      reconcile(self, [](uint64_t) {});
      self->delayed_send(self, self->state.setup.reconcile_interval, tick_atom::value);
    },
    [self](inspect_atom) {
      auto& st = self->state;
      auto summary = std::to_string(st.disks.size()) + " disks, " + std::to_string(st.vgs.size()) +
                     " volume groups, " + std::to_string(st.volumes.size()) + " volumes, " +
                     std::to_string(st.claims.size()) + " claims";
      return make_report(self, summary, st.last_error, state_json(st));
    },
  };
}

} // namespace

node_supervisor_actor spawn_node_supervisor(caf::actor_system& sys, node_setup setup) {
  return sys.spawn(supervisor_impl, std::move(setup));
}

} // namespace olocal
