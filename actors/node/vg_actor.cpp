#include "actors/node/vg_actor.hpp"

#include "actors/backends/lvm.hpp"
#include "actors/backends/process.hpp"
#include "actors/core/errc.hpp"
#include "actors/core/inspect.hpp"
#include "actors/core/json.hpp"
#include "actors/core/log.hpp"

#include <caf/all.hpp>

#include <cmath>
#include <deque>
#include <functional>
#include <set>

namespace olocal {

std::string lv_tags::value(const lvm::lv_info& lv, std::string_view key) {
  for (auto& tag : lv.tags)
    if (tag.size() >= key.size() && std::string_view{tag}.substr(0, key.size()) == key)
      return tag.substr(key.size());
  return {};
}

bool owned_by_us(const lvm::lv_info& lv, const vg_options& opts) {
  if (lv_tags::value(lv, lv_tags::owner) == opts.owner)
    return true;
  if (!lv_tags::value(lv, lv_tags::owner).empty())
    return false; // another owner's
  for (auto& prefix : opts.legacy_prefixes)
    if (!prefix.empty() && lv.name.rfind(prefix, 0) == 0)
      return true;
  return false;
}

namespace {

struct vg_state {
  std::string vg_name;
  lvm_runner_actor runner;
  vg_options opts;
  vg_view view;
  bool scanned = false;
  std::deque<std::function<void()>> queue; ///< changes and scans, in arrival order
  bool busy = false;
  bool scan_queued = false;
  uint64_t commands_run = 0;
  uint64_t changes_done = 0;
  uint64_t auto_extensions = 0;
  uint64_t wipes = 0;
  uint64_t fill_checks = 0;
  std::set<std::string> extending; ///< automatic extensions queued or running
  std::string last_error;
  static inline const char* name = "vg";
};

using vg_pointer = vg_actor::stateful_pointer<vg_state>;
using done_fn = std::function<void()>;

std::string who(vg_pointer self) {
  return "vg/" + self->state.vg_name;
}

/// Runs the next queued operation, if any. Every operation ends by calling
/// finish(), which comes back here: one operation at a time, in order.
void pump(vg_pointer self) {
  auto& st = self->state;
  if (st.busy || st.queue.empty())
    return;
  st.busy = true;
  auto op = std::move(st.queue.front());
  st.queue.pop_front();
  op();
}

void finish(vg_pointer self) {
  self->state.busy = false;
  pump(self);
}

void enqueue(vg_pointer self, std::function<void()> op) {
  self->state.queue.push_back(std::move(op));
  pump(self);
}

void note_error(vg_pointer self, const caf::error& err) {
  self->state.last_error = render(err);
  log::warn(who(self), "operation failed", {{"error", self->state.last_error}});
}

/// Runs one command through the runner; `then` gets stdout or the error.
void run(vg_pointer self, std::vector<std::string> argv,
         std::function<void(caf::expected<std::string>)> then) {
  auto timeout = self->state.opts.command_timeout;
  ++self->state.commands_run;
  log::debug(who(self), "running", {{"command", render_argv(argv)}});
  self
    ->request(self->state.runner, timeout + std::chrono::seconds{5},
              lvm_command{std::move(argv), timeout.count()})
    .then([then](std::string& out) { then(std::move(out)); },
          [then](caf::error& err) { then(caf::expected<std::string>{std::move(err)}); });
}

/// Reads the VG, its PVs and LVs with one `lvm fullreport` (one process per
/// scan) and replaces the view when the report parses.
void scan(vg_pointer self, std::function<void(caf::error)> then) {
  auto argv = lvm::fullreport_argv(self->state.vg_name);
  if (!argv) {
    then(argv.error());
    return;
  }
  run(self, std::move(*argv), [self, then](caf::expected<std::string> out) {
    if (!out)
      return then(out.error());
    auto reports = lvm::parse_fullreport(*out);
    if (!reports)
      return then(reports.error());
    auto& name = self->state.vg_name;
    auto mine =
      std::find_if(reports->begin(), reports->end(), [&](auto& r) { return r.vg.name == name; });
    if (mine == reports->end())
      return then(make_error(errc::not_found, "volume group " + name + " not found"));
    auto& view = self->state.view;
    view.vg = std::move(mine->vg);
    view.pvs = std::move(mine->pvs);
    view.lvs = std::move(mine->lvs);
    std::sort(view.lvs.begin(), view.lvs.end(), [](auto& a, auto& b) { return a.name < b.name; });
    ++view.generation;
    view.scanned_at_ms = std::chrono::duration_cast<std::chrono::milliseconds>(
                           std::chrono::system_clock::now().time_since_epoch())
                           .count();
    self->state.scanned = true;
    then(caf::error{});
  });
}

uint64_t round_up(uint64_t bytes, uint64_t extent) {
  if (extent == 0)
    return bytes;
  return (bytes + extent - 1) / extent * extent;
}

/// The group's allocation unit: its extent size (512 bytes, lvm2's minimum
/// size granularity, before the first scan has told it).
uint64_t alloc_unit(const vg_state& st) {
  return std::max<uint64_t>(st.view.vg.extent_size_bytes, 512);
}

double tag_number(const lvm::lv_info& lv, std::string_view key, double fallback) {
  auto text = lv_tags::value(lv, key);
  if (text.empty())
    return fallback;
  char* end = nullptr;
  auto value = std::strtod(text.c_str(), &end);
  return end && *end == '\0' && value > 0 ? value : fallback;
}

void queue_scan(vg_pointer self, std::function<void(caf::expected<uint64_t>)> then);

/// Grows full thin pools and CoW snapshots from the VG's free space before
/// they overflow (an overflowing CoW snapshot becomes invalid; a full pool
/// stops its volumes). Runs after every scan; each extension is queued like
/// any other change and followed by a scan.
size_t plan_extensions(vg_pointer self) {
  size_t planned = 0;
  auto& st = self->state;
  auto extent = alloc_unit(st);
  auto free = st.view.vg.free_bytes / extent * extent;
  for (auto& lv : st.view.lvs) {
    if (!owned_by_us(lv, st.opts) || st.extending.count(lv.name))
      continue;
    uint64_t grow = 0;
    if (lv.is_thin_pool() &&
        std::max(lv.data_percent, lv.metadata_percent) >= st.opts.thin_extend_at_percent)
      grow = round_up(static_cast<uint64_t>(static_cast<double>(lv.size_bytes) *
                                            st.opts.thin_extend_by_percent / 100),
                      extent);
    else if (lv.is_cow_snapshot() && !lv.invalid_snapshot &&
             lv.snap_percent >=
               tag_number(lv, lv_tags::expand_at, st.opts.snapshot_extend_at_percent))
      grow =
        round_up(static_cast<uint64_t>(tag_number(
                   lv, lv_tags::expand_bytes, static_cast<double>(st.opts.snapshot_extend_bytes))),
                 extent);
    if (grow == 0)
      continue;
    if (free < extent) {
      note_error(self,
                 make_error(errc::resource_exhausted, lv.name + " needs to grow but volume group " +
                                                        st.vg_name + " has no free space"));
      continue;
    }
    grow = std::min(grow, free);
    free -= grow;
    auto target = lv.size_bytes + grow;
    auto argv = lvm::lvextend(st.vg_name, lv.name, target, false);
    if (!argv)
      continue;
    st.extending.insert(lv.name);
    ++planned;
    log::info(who(self), "growing before it fills up",
              {{"lv", lv.name}, {"bytes", target}, {"by", grow}});
    enqueue(self, [self, argv = *argv, name = lv.name] {
      run(self, argv, [self, name](caf::expected<std::string> out) {
        self->state.extending.erase(name);
        if (!out)
          note_error(self, out.error());
        else
          ++self->state.auto_extensions;
        scan(self, [self](caf::error err) {
          if (err)
            note_error(self, err);
          finish(self);
        });
      });
    });
  }
  return planned;
}

/// Queues a scan unless one is already waiting.
void queue_scan(vg_pointer self, std::function<void(caf::expected<uint64_t>)> then) {
  if (self->state.scan_queued && !then)
    return;
  self->state.scan_queued = true;
  enqueue(self, [self, then] {
    self->state.scan_queued = false;
    scan(self, [self, then](caf::error err) {
      size_t planned = 0;
      if (err)
        note_error(self, err);
      else
        planned = plan_extensions(self);
      if (then && planned > 0) {
        // Answer once the automatic extensions are done, so that the caller's
        // next read shows their effect.
        enqueue(self, [self, then] {
          then(self->state.view.generation);
          finish(self);
        });
      } else if (then) {
        then(err ? caf::expected<uint64_t>{err} : self->state.view.generation);
      }
      finish(self);
    });
  });
}

std::vector<std::string> dependents_of(const vg_view& view, std::string_view name) {
  std::vector<std::string> result;
  for (auto& lv : view.lvs)
    if (lv.origin == name || lv.pool_lv == name)
      result.push_back(lv.name);
  return result;
}

/// Why an existing LV cannot be the answer to `req` ("" when it can).
std::string incompatibility(const lvm::lv_info& lv, const create_lv_req& req, const vg_state& st) {
  if (!owned_by_us(lv, st.opts))
    return "exists and is not managed by open-local";
  auto kind = lv_tags::value(lv, lv_tags::kind);
  if (!kind.empty() && kind != req.kind)
    return "exists as a " + kind + ", requested a " + req.kind;
  auto origin = lv.origin.empty() ? lv_tags::value(lv, lv_tags::source) : lv.origin;
  if (!req.origin.empty() && origin != req.origin)
    return "exists with origin '" + origin + "', requested '" + req.origin + "'";
  if (req.layout == "thin-snapshot")
    return {};
  auto wanted = round_up(req.size_bytes, alloc_unit(st));
  if (req.layout == "copy") // sized by its origin's data, at least as requested
    return lv.size_bytes >= wanted ? std::string{}
                                   : "exists with " + std::to_string(lv.size_bytes) +
                                       " bytes, requested " + std::to_string(req.size_bytes);
  if (lv.size_bytes != wanted)
    return "exists with " + std::to_string(lv.size_bytes) + " bytes, requested " +
           std::to_string(req.size_bytes) + " (" + std::to_string(wanted) + " after rounding)";
  return {};
}

caf::expected<std::vector<std::string>> create_argv(const vg_state& st, const create_lv_req& req) {
  auto now = std::chrono::duration_cast<std::chrono::seconds>(
               std::chrono::system_clock::now().time_since_epoch())
               .count();
  std::vector<std::string> tags = {
    std::string{lv_tags::owner} + st.opts.owner, std::string{lv_tags::id} + req.name,
    std::string{lv_tags::kind} + req.kind, std::string{lv_tags::created} + std::to_string(now)};
  if (!req.origin.empty())
    tags.push_back(std::string{lv_tags::source} + req.origin);
  if (req.layout == "snapshot" && req.expand_bytes > 0)
    tags.push_back(std::string{lv_tags::expand_bytes} + std::to_string(req.expand_bytes));
  if (req.layout == "snapshot" && req.expand_at_percent > 0)
    tags.push_back(std::string{lv_tags::expand_at} + std::to_string(req.expand_at_percent));
  tags.insert(tags.end(), req.tags.begin(), req.tags.end());
  auto& vg = st.vg_name;
  // LVM allocates whole extents anyway; asking for them keeps the byte count
  // valid for lvm2 (a multiple of 512) whatever size the caller chose.
  auto size = round_up(req.size_bytes, alloc_unit(st));
  if (req.layout == "linear")
    return lvm::lvcreate_linear(vg, req.name, size, tags);
  if (req.layout == "copy") {
    tags.emplace_back(lv_tags::copying);
    return lvm::lvcreate_linear(vg, req.name, size, tags);
  }
  if (req.layout == "striped") {
    auto stripes = req.stripes > 0 ? req.stripes : static_cast<uint32_t>(st.view.pvs.size());
    return lvm::lvcreate_striped(vg, req.name, size, stripes, 0, tags);
  }
  if (req.layout == "thin")
    return lvm::lvcreate_thin(vg, req.pool, req.name, size, tags);
  if (req.layout == "thin-pool")
    return lvm::lvcreate_thin_pool(vg, req.name, size, 0, tags);
  if (req.layout == "snapshot")
    return lvm::lvcreate_cow_snapshot(vg, req.origin, req.name, size, tags);
  if (req.layout == "thin-snapshot")
    return lvm::lvcreate_thin_snapshot(vg, req.origin, req.name, tags);
  return make_error(errc::invalid_argument,
                    "layout: unknown value '" + req.layout +
                      "' (linear, striped, thin, thin-pool, snapshot, thin-snapshot or copy)");
}

/// Why a new thin volume of `bytes` cannot go into `pool_name` ("" if it can).
caf::error thin_admission(const vg_state& st, const std::string& pool_name, uint64_t bytes) {
  auto pool = st.view.find(pool_name);
  if (!pool)
    return make_error(errc::not_found, "thin pool " + st.vg_name + "/" + pool_name + " not found");
  if (!pool->is_thin_pool())
    return make_error(errc::invalid_argument,
                      "pool: " + st.vg_name + "/" + pool_name + " is not a thin pool");
  uint64_t provisioned = 0;
  for (auto& lv : st.view.lvs)
    if (lv.pool_lv == pool_name)
      provisioned += lv.size_bytes;
  auto limit = static_cast<uint64_t>(
    std::floor(static_cast<double>(pool->size_bytes) * st.opts.thin_overprovision_ratio));
  if (provisioned + bytes > limit)
    return make_error(errc::resource_exhausted,
                      "thin pool " + st.vg_name + "/" + pool_name + ": " +
                        std::to_string(provisioned) + " bytes provisioned + " +
                        std::to_string(bytes) + " requested exceeds " + std::to_string(limit) +
                        " (over-provisioning ratio " +
                        std::to_string(st.opts.thin_overprovision_ratio) + " x " +
                        std::to_string(pool->size_bytes) + " bytes)");
  auto fill = std::max(pool->data_percent, pool->metadata_percent);
  if (fill >= st.opts.thin_refuse_at_percent)
    return make_error(errc::resource_exhausted,
                      "thin pool " + st.vg_name + "/" + pool_name + " is " + std::to_string(fill) +
                        "% full (new volumes refused from " +
                        std::to_string(st.opts.thin_refuse_at_percent) + "%)");
  return {};
}

/// Finishes a change: rescans, then answers from the fresh view.
template <class T>
void after_change(vg_pointer self, caf::typed_response_promise<T> rp,
                  std::function<caf::expected<T>(const vg_view&)> answer) {
  scan(self, [self, rp, answer](caf::error err) mutable {
    if (err) {
      note_error(self, err);
      rp.deliver(err);
    } else {
      ++self->state.changes_done;
      auto result = answer(self->state.view);
      if (result)
        rp.deliver(std::move(*result));
      else
        rp.deliver(result.error());
    }
    finish(self);
  });
}

/// not_found for a missing LV, permission_denied for one that is not ours.
caf::error may_change(const vg_state& st, const std::string& name) {
  auto lv = st.view.find(name);
  if (!lv)
    return make_error(errc::not_found, "logical volume " + st.vg_name + "/" + name + " not found");
  if (!owned_by_us(*lv, st.opts))
    return make_error(errc::permission_denied, "logical volume " + st.vg_name + "/" + name +
                                                 " is not managed by open-local");
  return {};
}

caf::expected<lvm::lv_info> lv_named(const vg_view& view, const std::string& name);

/// Runs one change to LV `name`; on success rescans and answers the LV, on
/// failure answers the error. Either way the next operation starts.
void change_then_answer(vg_pointer self, caf::typed_response_promise<lvm::lv_info> rp,
                        std::vector<std::string> argv, std::string name) {
  run(self, std::move(argv), [self, rp, name](caf::expected<std::string> out) mutable {
    if (!out) {
      note_error(self, out.error());
      rp.deliver(out.error());
      return finish(self);
    }
    after_change<lvm::lv_info>(self, rp, [name](const vg_view& v) { return lv_named(v, name); });
  });
}

/// Copies `bytes` of `source` into the new LV `name`, then removes its
/// copying tag and answers it. A failed copy leaves the LV tagged as
/// copying: an identical create redoes the copy, a delete wipes it.
void copy_into(vg_pointer self, caf::typed_response_promise<lvm::lv_info> rp, std::string source,
               std::string name, uint64_t bytes) {
  auto& st = self->state;
  copy_command cmd{std::move(source), "/dev/" + st.vg_name + "/" + name, bytes};
  log::info(who(self), "copying data into the new volume",
            {{"lv", name}, {"from", cmd.source}, {"bytes", bytes}});
  ++st.commands_run;
  self->request(st.runner, std::chrono::milliseconds{cmd.timeout_ms + 5'000}, cmd)
    .then(
      [self, rp, name](std::string& how) mutable {
        log::info(who(self), "copied", {{"lv", name}, {"engine", how}});
        auto argv =
          lvm::lvchange_deltag(self->state.vg_name, name, {std::string{lv_tags::copying}});
        change_then_answer(self, rp, std::move(*argv), name);
      },
      [self, rp](caf::error& err) mutable {
        note_error(self, err);
        rp.deliver(err);
        scan(self, [self](caf::error) { finish(self); });
      });
}

caf::expected<lvm::lv_info> lv_named(const vg_view& view, const std::string& name) {
  if (auto lv = view.find(name))
    return *lv;
  return make_error(errc::internal, "logical volume " + name + " missing after the change");
}

std::string summary_of(const vg_state& st) {
  if (!st.scanned)
    return "not scanned yet" + (st.last_error.empty() ? "" : ": " + st.last_error);
  auto& vg = st.view.vg;
  return std::to_string(vg.size_bytes) + " bytes, " + std::to_string(vg.free_bytes) + " free, " +
         std::to_string(st.view.lvs.size()) + " LVs, " + (st.busy ? "busy" : "idle") +
         (st.queue.empty() ? "" : ", " + std::to_string(st.queue.size()) + " queued");
}

std::string state_json(const vg_state& st) {
  auto& v = st.view;
  std::string out =
    "{\"vg\":" + json_quote(st.vg_name) + ",\"scanned\":" + (st.scanned ? "true" : "false") +
    ",\"generation\":" + std::to_string(v.generation) +
    ",\"scannedAtMs\":" + std::to_string(v.scanned_at_ms) +
    ",\"sizeBytes\":" + std::to_string(v.vg.size_bytes) +
    ",\"freeBytes\":" + std::to_string(v.vg.free_bytes) +
    ",\"extentBytes\":" + std::to_string(v.vg.extent_size_bytes) +
    ",\"commandsRun\":" + std::to_string(st.commands_run) +
    ",\"changesDone\":" + std::to_string(st.changes_done) +
    ",\"autoExtensions\":" + std::to_string(st.auto_extensions) +
    ",\"wipes\":" + std::to_string(st.wipes) + ",\"fillChecks\":" + std::to_string(st.fill_checks) +
    ",\"queued\":" + std::to_string(st.queue.size()) + ",\"pvs\":[";
  for (size_t i = 0; i < v.pvs.size(); ++i)
    out += (i ? "," : "") + std::string{"{\"name\":"} + json_quote(v.pvs[i].name) +
           ",\"sizeBytes\":" + std::to_string(v.pvs[i].size_bytes) +
           ",\"freeBytes\":" + std::to_string(v.pvs[i].free_bytes) + "}";
  out += "],\"lvs\":[";
  for (size_t i = 0; i < v.lvs.size(); ++i) {
    auto& lv = v.lvs[i];
    out += (i ? "," : "") + std::string{"{\"name\":"} + json_quote(lv.name) +
           ",\"sizeBytes\":" + std::to_string(lv.size_bytes) +
           ",\"segtype\":" + json_quote(lv.segtype) + ",\"attr\":" + json_quote(lv.attr) +
           ",\"owned\":" + (owned_by_us(lv, st.opts) ? "true" : "false");
    if (!lv.origin.empty())
      out += ",\"origin\":" + json_quote(lv.origin);
    if (!lv.pool_lv.empty())
      out += ",\"pool\":" + json_quote(lv.pool_lv);
    if (lv.data_percent >= 0)
      out += ",\"dataPercent\":" + std::to_string(lv.data_percent);
    if (lv.snap_percent >= 0)
      out += ",\"snapPercent\":" + std::to_string(lv.snap_percent);
    out += "}";
  }
  return out + "]}";
}

vg_actor::behavior_type vg_impl(vg_pointer self, std::string vg_name, lvm_runner_actor runner,
                                vg_options opts) {
  auto& st = self->state;
  st.vg_name = std::move(vg_name);
  st.runner = std::move(runner);
  st.opts = std::move(opts);
  // The runner lives and dies with its group.
  self->link_to(st.runner);
  queue_scan(self, {});
  if (st.opts.rescan_interval.count() > 0)
    self->delayed_send(self, st.opts.rescan_interval, tick_atom::value);
  if (st.opts.watch_interval.count() > 0)
    self->delayed_send(self, st.opts.watch_interval, watch_atom::value);
  return {
    [self](create_lv_req& req) -> caf::result<lvm::lv_info> {
      auto rp = self->make_response_promise<lvm::lv_info>();
      enqueue(self, [self, rp, req]() mutable {
        auto& st = self->state;
        // A copy is sized by what its origin holds: a CoW snapshot shows its
        // origin's size, not the size of its COW area.
        uint64_t copy_bytes = 0;
        std::string copy_source;
        if (req.layout == "copy") {
          auto source = st.view.find(req.origin);
          if (!source) {
            rp.deliver(make_error(errc::not_found, "origin " + st.vg_name + "/" + req.origin +
                                                     " of the copy not found"));
            return finish(self);
          }
          auto data = source;
          if (source->is_cow_snapshot())
            if (auto o = st.view.find(source->origin))
              data = o;
          copy_bytes = data->size_bytes;
          copy_source = source->path;
          req.size_bytes = std::max(req.size_bytes, copy_bytes);
        }
        auto existing = st.view.find(req.name);
        if (existing && req.layout == "copy" && existing->has_tag(lv_tags::copying) &&
            incompatibility(*existing, req, st).empty())
          return copy_into(self, rp, copy_source, req.name, copy_bytes); // unfinished copy
        if (existing) {
          if (auto why = incompatibility(*existing, req, st); !why.empty())
            rp.deliver(make_error(errc::already_exists,
                                  "logical volume " + st.vg_name + "/" + req.name + " " + why));
          else
            rp.deliver(*existing);
          return finish(self);
        }
        if (req.layout == "thin")
          if (auto err = thin_admission(st, req.pool, round_up(req.size_bytes, alloc_unit(st)))) {
            rp.deliver(err);
            return finish(self);
          }
        auto argv = create_argv(st, req);
        if (!argv) {
          rp.deliver(argv.error());
          return finish(self);
        }
        log::info(who(self), "creating logical volume",
                  {{"lv", req.name}, {"bytes", req.size_bytes}, {"layout", req.layout}});
        run(self, std::move(*argv),
            [self, rp, name = req.name, copy_source,
             copy_bytes](caf::expected<std::string> out) mutable {
              if (!out) {
                note_error(self, out.error());
                // Rescan anyway: a failed lvcreate may have left state behind.
                scan(self, [self, rp, err = out.error()](caf::error) mutable {
                  rp.deliver(err);
                  finish(self);
                });
                return;
              }
              if (!copy_source.empty())
                return copy_into(self, rp, copy_source, name, copy_bytes);
              after_change<lvm::lv_info>(self, rp,
                                         [name](const vg_view& v) { return lv_named(v, name); });
            });
      });
      return rp;
    },
    [self](delete_lv_req& req) -> caf::result<bool> {
      auto rp = self->make_response_promise<bool>();
      enqueue(self, [self, rp, req]() mutable {
        auto& st = self->state;
        auto existing = st.view.find(req.name);
        if (!existing) {
          rp.deliver(false); // already gone: deleting is idempotent
          return finish(self);
        }
        if (auto err = may_change(st, req.name)) {
          rp.deliver(err);
          return finish(self);
        }
        if (auto deps = dependents_of(st.view, req.name); !deps.empty()) {
          std::string list;
          for (auto& d : deps)
            list += (list.empty() ? "" : ", ") + d;
          rp.deliver(make_error(errc::failed_precondition,
                                "logical volume " + req.name + " still has dependents: " + list));
          return finish(self);
        }
        auto argv = lvm::lvremove(st.vg_name, req.name);
        if (!argv) {
          rp.deliver(argv.error());
          return finish(self);
        }
        auto remove = [self, rp, argv = std::move(*argv), name = req.name]() mutable {
          log::info(who(self), "removing logical volume", {{"lv", name}});
          run(self, std::move(argv), [self, rp](caf::expected<std::string> out) mutable {
            if (!out) {
              note_error(self, out.error());
              rp.deliver(out.error());
              return finish(self);
            }
            after_change<bool>(self, rp, [](const vg_view&) { return caf::expected<bool>{true}; });
          });
        };
        // Thin volumes need no wipe: the pool zeroes blocks before reuse (-Z y).
        // CoW snapshots hold only copies of their origin's blocks.
        if (!req.wipe || existing->is_thin_volume() || existing->is_cow_snapshot() ||
            existing->is_thin_pool())
          return remove();
        wipe_command cmd{existing->path, existing->size_bytes,
                         "/sys/block/dm-" + std::to_string(existing->kernel_minor)};
        log::info(who(self), "wiping before release", {{"lv", req.name}, {"bytes", cmd.bytes}});
        ++st.commands_run;
        self->request(st.runner, std::chrono::milliseconds{cmd.timeout_ms + 5'000}, cmd)
          .then(
            [self, remove, name = req.name](std::string& method) mutable {
              ++self->state.wipes;
              log::info(who(self), "wiped", {{"lv", name}, {"method", method}});
              remove();
            },
            [self, rp](caf::error& err) mutable {
              // The data stays where it was: better a failed delete than
              // space handed out with someone else's data in it.
              note_error(self, err);
              rp.deliver(
                make_error(code_of(err), "secure wipe failed, volume kept: " + render(err)));
              finish(self);
            });
      });
      return rp;
    },
    [self](extend_lv_req& req) -> caf::result<lvm::lv_info> {
      auto rp = self->make_response_promise<lvm::lv_info>();
      enqueue(self, [self, rp, req]() mutable {
        auto& st = self->state;
        if (auto err = may_change(st, req.name)) {
          rp.deliver(err);
          return finish(self);
        }
        auto existing = st.view.find(req.name);
        auto wanted = round_up(req.size_bytes, alloc_unit(st));
        if (wanted < existing->size_bytes) {
          rp.deliver(make_error(errc::out_of_range,
                                "logical volume " + req.name + " has " +
                                  std::to_string(existing->size_bytes) + " bytes; shrinking to " +
                                  std::to_string(req.size_bytes) + " is not supported"));
          return finish(self);
        }
        if (wanted == existing->size_bytes) {
          rp.deliver(*existing); // already that size
          return finish(self);
        }
        auto argv = lvm::lvextend(st.vg_name, req.name, wanted, req.resize_fs);
        if (!argv) {
          rp.deliver(argv.error());
          return finish(self);
        }
        log::info(who(self), "extending logical volume",
                  {{"lv", req.name}, {"bytes", req.size_bytes}});
        change_then_answer(self, rp, std::move(*argv), req.name);
      });
      return rp;
    },
    [self](tag_lv_req& req) -> caf::result<lvm::lv_info> {
      auto rp = self->make_response_promise<lvm::lv_info>();
      enqueue(self, [self, rp, req]() mutable {
        auto& st = self->state;
        if (auto err = may_change(st, req.name)) {
          rp.deliver(err);
          return finish(self);
        }
        std::vector<std::vector<std::string>> commands;
        for (auto* list : {&req.add, &req.remove}) {
          if (list->empty())
            continue;
          auto argv = list == &req.add ? lvm::lvchange_addtag(st.vg_name, req.name, *list)
                                       : lvm::lvchange_deltag(st.vg_name, req.name, *list);
          if (!argv) {
            rp.deliver(argv.error());
            return finish(self);
          }
          commands.push_back(std::move(*argv));
        }
        // Run the commands in order, then rescan once.
        auto step = std::make_shared<std::function<void(size_t)>>();
        *step = [self, rp, commands, step, name = req.name](size_t i) mutable {
          if (i == commands.size()) {
            after_change<lvm::lv_info>(self, rp,
                                       [name](const vg_view& v) { return lv_named(v, name); });
            *step = nullptr; // break the cycle
            return;
          }
          run(self, commands[i], [self, rp, step, i](caf::expected<std::string> out) mutable {
            if (!out) {
              note_error(self, out.error());
              rp.deliver(out.error());
              *step = nullptr;
              return finish(self);
            }
            (*step)(i + 1);
          });
        };
        (*step)(0);
      });
      return rp;
    },
    [self](get_atom) -> caf::result<vg_view> {
      if (self->state.scanned)
        return self->state.view;
      // Nobody is served an empty view: wait for the first scan.
      auto rp = self->make_response_promise<vg_view>();
      enqueue(self, [self, rp]() mutable {
        if (self->state.scanned)
          rp.deliver(self->state.view);
        else
          rp.deliver(
            make_error(errc::unavailable, "volume group " + self->state.vg_name +
                                            " has not been scanned: " + self->state.last_error));
        finish(self);
      });
      return rp;
    },
    [self](rescan_atom) -> caf::result<uint64_t> {
      auto rp = self->make_response_promise<uint64_t>();
      queue_scan(self, [rp](caf::expected<uint64_t> gen) mutable {
        if (gen)
          rp.deliver(*gen);
        else
          rp.deliver(gen.error());
      });
      return rp;
    },
    [self](tick_atom) {
      queue_scan(self, {});
      self->delayed_send(self, self->state.opts.rescan_interval, tick_atom::value);
    },
    [self](watch_atom) {
      auto& st = self->state;
      self->delayed_send(self, st.opts.watch_interval, watch_atom::value);
      if (!st.scanned || st.busy || !st.queue.empty())
        return; // a scan or change is coming anyway
      fill_query q{st.vg_name, {}, {}};
      for (auto& lv : st.view.lvs) {
        if (!owned_by_us(lv, st.opts))
          continue;
        if (lv.is_thin_pool())
          q.pools.push_back(lv.name);
        else if (lv.is_cow_snapshot() && !lv.invalid_snapshot)
          q.snapshots.push_back(lv.name);
      }
      if (q.pools.empty() && q.snapshots.empty())
        return;
      ++st.fill_checks;
      self->request(st.runner, std::chrono::seconds{30}, std::move(q))
        .then(
          [self](std::vector<fill_entry>& fills) {
            auto& view = self->state.view;
            for (auto& f : fills) {
              if (!f.error.empty())
                continue;
              for (auto& lv : view.lvs) {
                if (lv.name != f.lv)
                  continue;
                if (lv.is_thin_pool()) {
                  lv.data_percent = f.data_percent;
                  lv.metadata_percent = f.metadata_percent;
                } else {
                  lv.snap_percent = f.data_percent;
                  lv.invalid_snapshot = f.invalid;
                }
              }
            }
            plan_extensions(self);
          },
          [self](caf::error& err) { note_error(self, err); });
    },
    [self](inspect_atom) {
      auto& st = self->state;
      return make_report(self, summary_of(st), st.last_error, state_json(st));
    },
  };
}

} // namespace

vg_actor spawn_vg_actor(caf::actor_system& sys, std::string vg_name, lvm_runner_actor runner,
                        vg_options opts) {
  return sys.spawn(vg_impl, std::move(vg_name), std::move(runner), std::move(opts));
}

} // namespace olocal
