#include "actors/node/node_supervisor.hpp"

#include "actors/core/errc.hpp"
#include "actors/core/inspect.hpp"
#include "actors/core/json.hpp"
#include "actors/core/log.hpp"
#include "actors/node/disk_actor.hpp"
#include "actors/node/fs_runner.hpp"
#include "actors/node/lvm_runner.hpp"

#include <caf/all.hpp>

#include <algorithm>
#include <map>
#include <memory>
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

struct child_volume {
  std::string vg;
  lvm::lv_info lv;
  volume_actor handle;
  uint32_t restarts = 0;
  bool deleting = false;
  bool follow_vg = false; ///< stopped to follow a restarted VG actor: start again
};

struct child_vg {
  lvm_runner_actor runner;
  vg_actor handle;
  uint32_t restarts = 0;
  uint64_t generation = 0; ///< of the last view reconciled
};

struct supervisor_state {
  node_setup setup;
  std::vector<disk_actor> disks;
  std::map<std::string, child_vg> vgs;         ///< by VG name
  std::map<std::string, child_volume> volumes; ///< by volume id (LV name)
  std::map<std::string, std::string> lv_home;  ///< every owned LV -> its VG (snapshots too)
  std::vector<fs_runner_actor> fs_runners;
  size_t next_fs = 0;
  lvm_runner_actor device_runner;
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
  child.handle =
    spawn_volume_actor(self->system(), child.lv, st.vgs[child.vg].handle, fs, st.setup.volume);
  adopt(self, child.handle, "volume/" + child.lv.name, "volume");
}

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
      st.last_error = "volume " + lv.name + " exists in both " + known->second.vg + " and " + vg;
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
      if (vol.vg == name) {
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
  acc->waiting = st.disks.size() + st.vgs.size() + st.volumes.size() + 1;
  auto timeout = std::chrono::seconds{10};
  for (auto& d : st.disks)
    self->request(d, timeout, get_atom::value)
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
  out += "],\"fsRunners\":" + std::to_string(st.fs_runners.size()) +
         ",\"reconciles\":" + std::to_string(st.reconciles) +
         ",\"restarts\":" + std::to_string(st.restarts) + "}";
  return out;
}

node_supervisor_actor::behavior_type supervisor_impl(sup_pointer self, node_setup setup) {
  auto& st = self->state;
  st.setup = std::move(setup);
  if (!st.setup.make_lvm_runner)
    st.setup.make_lvm_runner = [](caf::actor_system& sys) { return spawn_lvm_runner(sys); };
  if (!st.setup.make_fs_runner)
    st.setup.make_fs_runner = [](caf::actor_system& sys) { return spawn_fs_runner(sys); };
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
    auto disk = spawn_disk_actor(self->system(), dev, st.device_runner);
    st.disks.push_back(disk);
    adopt(self, disk, "disk/" + dev.name, "disk");
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
  if (st.setup.reconcile_interval.count() > 0)
    self->delayed_send(self, st.setup.reconcile_interval, tick_atom::value);

  return {
    [self](create_volume_req& req) -> caf::result<volume_state> {
      auto& st = self->state;
      auto vg = st.vgs.find(req.vg);
      if (vg == st.vgs.end())
        return make_error(errc::not_found, "volume group " + req.vg + " is not managed here");
      auto home = st.lv_home.find(req.lv.name);
      if (home != st.lv_home.end() && home->second != req.vg)
        return make_error(errc::already_exists, "volume " + req.lv.name +
                                                  " already exists in volume group " +
                                                  home->second);
      auto rp = self->make_response_promise<volume_state>();
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
      return rp;
    },
    [self](delete_volume_req& req) -> caf::result<bool> {
      auto& st = self->state;
      auto rp = self->make_response_promise<bool>();
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
        return rp;
      }
      auto home = st.lv_home.find(req.id);
      if (home == st.lv_home.end() || !st.vgs.count(home->second)) {
        rp.deliver(false); // idempotent: nothing of that name here
        return rp;
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
      return rp;
    },
    [self](volume_lookup& req) -> caf::result<volume_actor> {
      auto& st = self->state;
      auto known = st.volumes.find(req.id);
      if (known == st.volumes.end() || known->second.deleting)
        return make_error(errc::not_found, "volume " + req.id + " is not on this node");
      return known->second.handle;
    },
    [self](get_atom) -> caf::result<node_view> {
      auto rp = self->make_response_promise<node_view>();
      gather(self, rp);
      return rp;
    },
    [self](rescan_atom) -> caf::result<uint64_t> {
      auto rp = self->make_response_promise<uint64_t>();
      // Rescan every group first (one lvm process each), then reconcile.
      auto& st = self->state;
      auto pending = std::make_shared<size_t>(st.vgs.size());
      auto after = [self, rp]() mutable {
        reconcile(self, [rp](uint64_t n) mutable { rp.deliver(n); });
      };
      if (*pending == 0) {
        after();
        return rp;
      }
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
      return rp;
    },
    [self](tick_atom) {
      reconcile(self, [](uint64_t) {});
      self->delayed_send(self, self->state.setup.reconcile_interval, tick_atom::value);
    },
    [self](inspect_atom) {
      auto& st = self->state;
      auto summary = std::to_string(st.disks.size()) + " disks, " + std::to_string(st.vgs.size()) +
                     " volume groups, " + std::to_string(st.volumes.size()) + " volumes";
      return make_report(self, summary, st.last_error, state_json(st));
    },
  };
}

} // namespace

node_supervisor_actor spawn_node_supervisor(caf::actor_system& sys, node_setup setup) {
  return sys.spawn(supervisor_impl, std::move(setup));
}

} // namespace olocal
