#include "actors/node/volume_actor.hpp"

#include "actors/backends/filesystem.hpp"
#include "actors/core/errc.hpp"
#include "actors/core/inspect.hpp"
#include "actors/core/json.hpp"
#include "actors/core/log.hpp"
#include "actors/core/serial_queue.hpp"
#include "actors/node/device_volumes.hpp"
#include "actors/node/vg_actor.hpp"

#include <caf/all.hpp>

#include <algorithm>

namespace olocal {

std::string phase_of(const volume_state& st, bool expanding, bool deleting) {
  if (deleting)
    return "deleting";
  if (!st.lv_present)
    return "lost";
  if (expanding)
    return "expanding";
  if (!st.targets.empty())
    return "published";
  if (!st.staging_path.empty())
    return "staged";
  return "ready";
}

void adopt_mounts(volume_state& st, const std::vector<fs_ops::mount_entry>& mounts) {
  st.targets.clear();
  st.staging_path.clear();
  bool have_fs = false;
  for (auto& m : mounts) {
    if (m.fstype == "devtmpfs") { // a bind of the device node: raw block
      st.block = true;
      st.targets.push_back({m.mount_point, m.read_only});
      continue;
    }
    if (!have_fs) {
      have_fs = true;
      st.block = false;
      st.fstype = m.fstype;
      st.staging_path = m.mount_point;
      continue;
    }
    st.targets.push_back({m.mount_point, m.read_only});
  }
}

std::string validate_path(std::string_view what, std::string_view path) {
  auto name = std::string{what};
  if (path.empty())
    return name + " is empty";
  if (path.front() != '/')
    return name + " \"" + std::string{path} + "\" is not absolute";
  if (path.find('\0') != std::string_view::npos)
    return name + " contains a NUL byte";
  size_t start = 0;
  while (start <= path.size()) {
    auto end = path.find('/', start);
    if (end == std::string_view::npos)
      end = path.size();
    if (path.substr(start, end - start) == "..")
      return name + " \"" + std::string{path} + "\" contains \"..\"";
    start = end + 1;
  }
  return {};
}

std::string validate(const stage_req& req) {
  if (auto bad = validate_path("staging path", req.staging_path); !bad.empty())
    return bad;
  if (req.block)
    return {};
  auto& fss = fs_ops::supported_filesystems;
  if (std::find(std::begin(fss), std::end(fss), req.fstype) == std::end(fss))
    return "filesystem \"" + req.fstype + "\" is not supported (ext4, ext3 or xfs)";
  return {};
}

std::string validate(const publish_req& req) {
  return validate_path("target path", req.target_path);
}

namespace {

struct volume_actor_state {
  volume_state vol;
  lvm::lv_info lv;
  vg_actor vg;
  fs_runner_actor fs;
  volume_options opts;
  serial_queue queue;
  bool expanding = false;
  bool deleting = false;
  bool rebuilt = false;
  uint64_t operations = 0;
  uint64_t failures = 0;
  std::string last_error;
  static inline const char* name = "volume";
};

using volume_pointer = volume_actor::stateful_pointer<volume_actor_state>;
using done_fn = std::function<void(caf::error)>;

std::string who(volume_pointer self) {
  return "volume/" + self->state.vol.id;
}

void refresh_phase(volume_pointer self) {
  auto& st = self->state;
  st.vol.phase = phase_of(st.vol, st.expanding, st.deleting);
}

void take_lv(volume_actor_state& st, const lvm::lv_info& lv) {
  st.lv = lv;
  st.vol.id = lv.name;
  st.vol.vg = lv.vg_name;
  st.vol.device = lv.path.empty() ? "/dev/" + lv.vg_name + "/" + lv.name : lv.path;
  if (!st.opts.source_dir.empty()) // a MountPoint volume lives in its directory
    st.vol.device = st.opts.source_dir;
  st.vol.size_bytes = lv.size_bytes;
  st.vol.kind = lv_tags::value(lv, lv_tags::kind);
  st.vol.snapshot_invalid = lv.invalid_snapshot;
}

/// A Device or MountPoint volume: a claimed device or directory, no LV.
bool claimed(const volume_actor_state& st) {
  return is_claim_kind(st.vol.kind);
}

/// A MountPoint volume: staged by binding its directory.
bool directory(const volume_actor_state& st) {
  return !st.opts.source_dir.empty();
}

/// What a volume whose storage went away lacks, in words.
std::string missing(const volume_actor_state& st) {
  auto& v = st.vol;
  if (directory(st))
    return "mount point " + v.device + " of volume " + v.id + " is not mounted";
  if (claimed(st))
    return "device " + v.device + " of volume " + v.id + " is missing";
  return "volume " + v.id + " has no LV";
}

/// Ends the running operation: answers `rp` with the state or the error.
void conclude(volume_pointer self, caf::typed_response_promise<volume_state> rp,
              const caf::error& err) {
  auto& st = self->state;
  ++st.operations;
  refresh_phase(self);
  if (err) {
    ++st.failures;
    st.last_error = render(err);
    log::warn(who(self), "operation failed", {{"error", st.last_error}});
    rp.deliver(err);
  } else {
    rp.deliver(st.vol);
  }
  st.queue.finish();
}

/// Sends one request to the filesystem runner; `then` gets the answer or the
/// error (STYLE.md rule 6: every request has a timeout and an error branch).
template <class Answer, class Command>
void fs_step(volume_pointer self, Command cmd, std::function<void(caf::error, Answer)> then) {
  self->request(self->state.fs, self->state.opts.fs_timeout, std::move(cmd))
    .then([then](Answer& answer) { then(caf::error{}, std::move(answer)); },
          [then](caf::error& err) { then(std::move(err), Answer{}); });
}

caf::error invalid(std::string message) {
  return make_error(errc::invalid_argument, std::move(message));
}

caf::error precondition(std::string message) {
  return make_error(errc::failed_precondition, std::move(message));
}

// -- the operations (each runs alone, from the queue) -----------------------------

/// A MountPoint volume: its directory bound at the staging path (no mkfs;
/// the filesystem is the one mounted there by the operator). Idempotent: a
/// repeat answers the existing bind.
void stage_directory(volume_pointer self, stage_req req,
                     caf::typed_response_promise<volume_state> rp) {
  auto& st = self->state;
  mount_command cmd{st.opts.source_dir, req.staging_path, "", {}, false};
  fs_step<bool>(self, std::move(cmd), [self, req, rp](caf::error err, bool) mutable {
    if (!err) {
      auto& st = self->state;
      st.vol.block = false;
      st.vol.fstype = st.opts.source_fstype;
      st.vol.staging_path = req.staging_path;
    }
    conclude(self, rp, err);
  });
}

void do_stage(volume_pointer self, stage_req req, caf::typed_response_promise<volume_state> rp) {
  auto& vol = self->state.vol;
  if (!vol.lv_present)
    return conclude(self, rp, make_error(errc::not_found, missing(self->state)));
  if (directory(self->state) && req.block)
    return conclude(self, rp,
                    precondition("volume " + vol.id + " is a MountPoint volume (the directory " +
                                 vol.device + "): it cannot be a block volume"));
  if (!vol.staging_path.empty() && vol.staging_path != req.staging_path)
    return conclude(self, rp,
                    precondition("volume " + vol.id + " is already staged at " + vol.staging_path +
                                 ", not " + req.staging_path));
  if (!vol.staging_path.empty() && vol.block != req.block)
    return conclude(self, rp,
                    precondition("volume " + vol.id + " is staged as a " +
                                 (vol.block ? "block" : "filesystem") + " volume"));
  if (directory(self->state))
    return stage_directory(self, std::move(req), rp);
  if (!vol.staging_path.empty() && !vol.block && vol.fstype != req.fstype)
    return conclude(
      self, rp,
      precondition("volume " + vol.id + " is staged with " + vol.fstype + ", not " + req.fstype));
  if (req.block) {
    vol.block = true;
    vol.staging_path = req.staging_path;
    return conclude(self, rp, {});
  }
  // Format when empty (never reformat), then mount; both steps are
  // idempotent, so a repeated stage repairs a mount that went away.
  auto device = vol.device;
  fs_step<std::string>(
    self, ensure_fs_command{device, req.fstype},
    [self, req, rp, device](caf::error err, std::string mkfs) mutable {
      if (err)
        return conclude(self, rp, err);
      if (!mkfs.empty())
        log::info(who(self), "formatted", {{"command", mkfs}});
      mount_command cmd{device, req.staging_path, req.fstype, req.mount_options, false};
      fs_step<bool>(self, std::move(cmd), [self, req, rp](caf::error err, bool) mutable {
        if (!err) {
          auto& vol = self->state.vol;
          vol.block = false;
          vol.fstype = req.fstype;
          vol.staging_path = req.staging_path;
        }
        conclude(self, rp, err);
      });
    });
}

void do_unstage(volume_pointer self, unstage_req req,
                caf::typed_response_promise<volume_state> rp) {
  auto& vol = self->state.vol;
  if (!vol.targets.empty())
    return conclude(
      self, rp,
      precondition("volume " + vol.id + " is still published at " + vol.targets.front().path));
  if (vol.staging_path.empty())
    return conclude(self, rp, {}); // not staged: nothing to do
  if (vol.staging_path != req.staging_path)
    return conclude(self, rp,
                    precondition("volume " + vol.id + " is staged at " + vol.staging_path +
                                 ", not " + req.staging_path));
  if (vol.block) {
    vol.staging_path.clear();
    return conclude(self, rp, {});
  }
  // The staging directory belongs to the caller (kubelet): unmount, keep it.
  fs_step<bool>(self, unmount_command{req.staging_path, false},
                [self, rp](caf::error err, bool) mutable {
                  if (!err)
                    self->state.vol.staging_path.clear();
                  conclude(self, rp, err);
                });
}

void do_publish(volume_pointer self, publish_req req,
                caf::typed_response_promise<volume_state> rp) {
  auto& vol = self->state.vol;
  if (vol.staging_path.empty())
    return conclude(self, rp, precondition("volume " + vol.id + " is not staged"));
  auto known = std::find_if(vol.targets.begin(), vol.targets.end(),
                            [&](auto& t) { return t.path == req.target_path; });
  if (known != vol.targets.end() && known->read_only != req.read_only)
    return conclude(
      self, rp,
      make_error(errc::already_exists, "volume " + vol.id + " is published at " + req.target_path +
                                         " " + (known->read_only ? "read-only" : "read-write")));
  // A block volume binds its device node; a filesystem volume its staging mount.
  auto source = vol.block ? vol.device : vol.staging_path;
  mount_command cmd{source, req.target_path, "", {}, req.read_only};
  fs_step<bool>(self, std::move(cmd), [self, req, rp](caf::error err, bool) mutable {
    if (!err) {
      auto& targets = self->state.vol.targets;
      if (std::none_of(targets.begin(), targets.end(),
                       [&](auto& t) { return t.path == req.target_path; }))
        targets.push_back({req.target_path, req.read_only});
    }
    conclude(self, rp, err);
  });
}

void do_unpublish(volume_pointer self, unpublish_req req,
                  caf::typed_response_promise<volume_state> rp) {
  // Always asks the kernel (idempotent): after a restart the target may be
  // mounted although this actor did not see it, or gone although it did.
  fs_step<bool>(
    self, unmount_command{req.target_path, true}, [self, req, rp](caf::error err, bool) mutable {
      if (!err) {
        auto& targets = self->state.vol.targets;
        targets.erase(std::remove_if(targets.begin(), targets.end(),
                                     [&](auto& t) { return t.path == req.target_path; }),
                      targets.end());
      }
      conclude(self, rp, err);
    });
}

void grow_filesystem(volume_pointer self, caf::typed_response_promise<volume_state> rp) {
  auto& vol = self->state.vol;
  if (vol.block || vol.staging_path.empty()) {
    self->state.expanding = false;
    return conclude(self, rp, {}); // grown the next time it is mounted (resize at stage)
  }
  fs_step<std::string>(self, grow_command{vol.device, vol.staging_path, vol.fstype},
                       [self, rp](caf::error err, std::string ran) mutable {
                         self->state.expanding = false;
                         if (!err && !ran.empty())
                           log::info(who(self), "filesystem grown", {{"command", ran}});
                         conclude(self, rp, err);
                       });
}

void do_expand(volume_pointer self, expand_req req, caf::typed_response_promise<volume_state> rp) {
  auto& st = self->state;
  if (!st.vol.lv_present)
    return conclude(self, rp, make_error(errc::not_found, missing(st)));
  if (req.size_bytes == 0)
    return conclude(self, rp, invalid("expand of " + st.vol.id + " to 0 bytes"));
  if (claimed(st)) { // a whole device or directory: as large as it will ever be
    if (req.size_bytes <= st.vol.size_bytes)
      return conclude(self, rp, {});
    return conclude(self, rp,
                    precondition(claim_type_of(st.vol.kind) + " volume " + st.vol.id + " (" +
                                 st.vol.device + ", " + std::to_string(st.vol.size_bytes) +
                                 " bytes) cannot be expanded to " + std::to_string(req.size_bytes) +
                                 " bytes"));
  }
  st.expanding = true;
  refresh_phase(self);
  if (req.size_bytes <= st.vol.size_bytes) // the LV is large enough: the filesystem may not be
    return grow_filesystem(self, rp);
  self->request(st.vg, st.opts.vg_timeout, extend_lv_req{st.vol.id, req.size_bytes, false})
    .then(
      [self, rp](lvm::lv_info& lv) mutable {
        take_lv(self->state, lv);
        grow_filesystem(self, rp);
      },
      [self, rp](caf::error& err) mutable {
        self->state.expanding = false;
        conclude(self, rp, err);
      });
}

void rebuild(volume_pointer self) {
  auto& st = self->state;
  if (st.lv.kernel_major < 0 || st.lv.kernel_minor < 0) { // inactive: nothing can be mounted
    st.rebuilt = true;
    refresh_phase(self);
    st.queue.finish();
    return;
  }
  mounts_query q{static_cast<uint32_t>(st.lv.kernel_major),
                 static_cast<uint32_t>(st.lv.kernel_minor)};
  fs_step<std::vector<fs_ops::mount_entry>>(
    self, q, [self](caf::error err, std::vector<fs_ops::mount_entry> mounts) {
      auto& st = self->state;
      if (err) {
        st.last_error = render(err);
        log::warn(who(self), "could not read the mount table", {{"error", st.last_error}});
      } else {
        if (directory(st)) // the operator's mount of the directory is not ours
          mounts.erase(std::remove_if(mounts.begin(), mounts.end(),
                                      [&](auto& m) { return m.mount_point == st.opts.source_dir; }),
                       mounts.end());
        adopt_mounts(st.vol, mounts);
        if (!mounts.empty())
          log::info(
            who(self), "rebuilt from the mount table",
            {{"staging", st.vol.staging_path}, {"targets", std::to_string(st.vol.targets.size())}});
      }
      st.rebuilt = true;
      refresh_phase(self);
      st.queue.finish();
    });
}

std::string summary_of(const volume_actor_state& st) {
  auto s = st.vol.phase + " " + std::to_string(st.vol.size_bytes) + " bytes";
  if (!st.vol.staging_path.empty())
    s += st.vol.block ? ", block" : ", " + st.vol.fstype;
  if (!st.vol.targets.empty())
    s += ", " + std::to_string(st.vol.targets.size()) + " target(s)";
  return s;
}

std::string state_json(const volume_actor_state& st) {
  auto& v = st.vol;
  std::string out =
    "{\"id\":" + json_quote(v.id) + ",\"vg\":" + json_quote(v.vg) +
    ",\"device\":" + json_quote(v.device) + ",\"sizeBytes\":" + std::to_string(v.size_bytes) +
    ",\"kind\":" + json_quote(v.kind) + ",\"phase\":" + json_quote(v.phase) +
    ",\"block\":" + (v.block ? "true" : "false") + ",\"fstype\":" + json_quote(v.fstype) +
    ",\"stagingPath\":" + json_quote(v.staging_path) + ",\"targets\":[";
  for (size_t i = 0; i < v.targets.size(); ++i)
    out += (i ? "," : "") + std::string{"{\"path\":"} + json_quote(v.targets[i].path) +
           ",\"readOnly\":" + (v.targets[i].read_only ? "true" : "false") + "}";
  out += "],\"lvPresent\":" + std::string{v.lv_present ? "true" : "false"} +
         ",\"snapshotInvalid\":" + (v.snapshot_invalid ? "true" : "false") +
         ",\"operations\":" + std::to_string(st.operations) +
         ",\"failures\":" + std::to_string(st.failures) +
         ",\"queued\":" + std::to_string(st.queue.waiting()) + "}";
  return out;
}

/// Runs `fn` now when the state is rebuilt from the mount table, else right
/// after (reads must not answer a state that is not known yet).
void after_rebuild(volume_pointer self, std::function<void()> fn) {
  auto& st = self->state;
  if (st.rebuilt)
    return fn();
  st.queue.push([self, fn] {
    fn();
    self->state.queue.finish();
  });
}

void measure(volume_pointer self, caf::typed_response_promise<volume_stats> rp) {
  auto& st = self->state;
  probe_command cmd{st.vol.device, st.vol.block ? "" : st.vol.staging_path, true};
  if (directory(st)) // statvfs of the directory's filesystem, staged or not
    cmd = probe_command{
      st.lv.path, st.vol.staging_path.empty() ? st.opts.source_dir : st.vol.staging_path, true};
  fs_step<volume_usage>(self, cmd, [self, rp](caf::error err, volume_usage usage) mutable {
    if (err) {
      rp.deliver(err);
      return;
    }
    auto& vol = self->state.vol;
    if (!vol.lv_present && claimed(self->state))
      usage.condition = {true, missing(self->state)};
    else if (!vol.lv_present)
      usage.condition = {true, "logical volume " + vol.vg + "/" + vol.id + " is missing"};
    else if (vol.snapshot_invalid)
      usage.condition = {true, "snapshot " + vol.vg + "/" + vol.id +
                                 " is invalid (its copy-on-write space overflowed)"};
    rp.deliver(volume_stats{vol, std::move(usage)});
  });
}

/// Queues an operation that answers a volume_state.
template <class Req>
caf::typed_response_promise<volume_state>
queue_op(volume_pointer self, Req req,
         void (*op)(volume_pointer, Req, caf::typed_response_promise<volume_state>)) {
  auto rp = self->make_response_promise<volume_state>();
  self->state.queue.push(
    [self, req = std::move(req), rp, op]() mutable { op(self, std::move(req), rp); });
  return rp;
}

volume_actor::behavior_type volume_impl(volume_pointer self, lvm::lv_info lv, vg_actor vg,
                                        fs_runner_actor fs, volume_options opts) {
  auto& st = self->state;
  st.opts = std::move(opts);
  take_lv(st, lv);
  st.vg = std::move(vg);
  st.fs = std::move(fs);
  refresh_phase(self);
  st.queue.push([self] { rebuild(self); });
  return {
    [self](stage_req& req) -> caf::result<volume_state> {
      if (auto bad = validate(req); !bad.empty())
        return invalid(bad);
      return queue_op(self, std::move(req), do_stage);
    },
    [self](unstage_req& req) -> caf::result<volume_state> {
      if (auto bad = validate_path("staging path", req.staging_path); !bad.empty())
        return invalid(bad);
      return queue_op(self, std::move(req), do_unstage);
    },
    [self](publish_req& req) -> caf::result<volume_state> {
      if (auto bad = validate(req); !bad.empty())
        return invalid(bad);
      return queue_op(self, std::move(req), do_publish);
    },
    [self](unpublish_req& req) -> caf::result<volume_state> {
      if (auto bad = validate_path("target path", req.target_path); !bad.empty())
        return invalid(bad);
      return queue_op(self, std::move(req), do_unpublish);
    },
    [self](expand_req& req) -> caf::result<volume_state> { return queue_op(self, req, do_expand); },
    [self](delete_volume_req& req) -> caf::result<bool> {
      auto rp = self->make_response_promise<bool>();
      self->state.queue.push([self, req, rp]() mutable {
        auto& st = self->state;
        if (!st.vol.staging_path.empty() || !st.vol.targets.empty()) {
          auto err = precondition("volume " + st.vol.id + " is in use (" + st.vol.phase + ")");
          st.last_error = render(err);
          rp.deliver(err);
          return st.queue.finish();
        }
        st.deleting = true;
        refresh_phase(self);
        if (claimed(st)) { // the supervisor releases the device or directory
          log::info(who(self), "retired for release", {{"device", st.vol.device}});
          rp.deliver(true);
          self->quit();
          return;
        }
        self->request(st.vg, st.opts.vg_timeout, delete_lv_req{st.vol.id, req.wipe})
          .then(
            [self, rp](bool removed) mutable {
              log::info(who(self), removed ? "deleted" : "already gone");
              rp.deliver(removed);
              self->quit(); // nothing left to manage
            },
            [self, rp](caf::error& err) mutable {
              auto& st = self->state;
              st.deleting = false;
              st.last_error = render(err);
              refresh_phase(self);
              rp.deliver(err);
              st.queue.finish();
            });
      });
      return rp;
    },
    [self](get_atom) -> caf::result<volume_state> {
      if (self->state.rebuilt)
        return self->state.vol;
      auto rp = self->make_response_promise<volume_state>();
      after_rebuild(self, [self, rp]() mutable { rp.deliver(self->state.vol); });
      return rp;
    },
    [self](stats_atom) -> caf::result<volume_stats> {
      auto rp = self->make_response_promise<volume_stats>();
      after_rebuild(self, [self, rp]() mutable { measure(self, rp); });
      return rp;
    },
    [self](lv_update& update) {
      auto& st = self->state;
      if (update.present)
        take_lv(st, update.lv);
      if (st.vol.lv_present != update.present)
        log::warn(who(self), update.present ? "logical volume is back" : "logical volume vanished");
      st.vol.lv_present = update.present;
      refresh_phase(self);
    },
    [self](inspect_atom) {
      auto& st = self->state;
      return make_report(self, summary_of(st), st.last_error, state_json(st));
    },
  };
}

} // namespace

volume_actor spawn_volume_actor(caf::actor_system& sys, lvm::lv_info lv, vg_actor vg,
                                fs_runner_actor fs, volume_options opts) {
  return sys.spawn(volume_impl, std::move(lv), std::move(vg), std::move(fs), std::move(opts));
}

} // namespace olocal
