#include "actors/node/disk_actor.hpp"

#include "actors/core/errc.hpp"
#include "actors/core/inspect.hpp"
#include "actors/core/json.hpp"
#include "actors/core/log.hpp"
#include "actors/node/block_devices.hpp"

#include <caf/all.hpp>

namespace olocal {

std::string release_refusal(const block_device& facts) {
  // in_use_reason() names these four before signatures and probe errors.
  if (facts.read_only || !facts.mountpoints.empty() || !facts.holders.empty() ||
      !facts.partitions.empty())
    return facts.in_use_reason();
  return {};
}

namespace {

struct disk_state {
  block_device facts;
  lvm_runner_actor runner;
  std::chrono::milliseconds wipe_timeout{0};
  uint64_t updates = 0;
  bool releasing = false;  ///< a release is in flight (one at a time)
  uint64_t releases = 0;   ///< completed, with or without wipe
  std::string last_method; ///< of the last completed release ("skipped" without wipe)
  std::string last_error;  ///< rendered, of the last failed release
  static inline const char* name = "disk";
};

using disk_pointer = disk_actor::stateful_pointer<disk_state>;

std::string who(disk_pointer self) {
  return "disk/" + self->state.facts.name;
}

std::string summary_of(const disk_state& st) {
  const auto& d = st.facts;
  std::string s = d.kind + " " + std::to_string(d.size_bytes) + " bytes " + d.media_type();
  auto reason = d.in_use_reason();
  s += reason.empty() ? ", free" : ", in use: " + reason;
  if (st.releasing)
    s += ", releasing";
  return s;
}

std::string state_json(const disk_state& st) {
  return "{\"device\":" + to_json(st.facts) + ",\"updates\":" + std::to_string(st.updates) +
         ",\"releasing\":" + (st.releasing ? "true" : "false") +
         ",\"releases\":" + std::to_string(st.releases) +
         ",\"lastMethod\":" + json_quote(st.last_method) + "}";
}

caf::result<std::string> release(disk_pointer self, const release_device_req& req) {
  auto& st = self->state;
  const auto& path = st.facts.path;
  if (st.releasing)
    return make_error(errc::aborted, "a release of " + path + " is already in flight");
  if (auto reason = release_refusal(st.facts); !reason.empty())
    return make_error(errc::device_busy, "cannot release " + path + ": " + reason);
  if (!req.wipe) {
    ++st.releases;
    st.last_method = "skipped";
    log::info(who(self), "released without wipe", {{"device", path}});
    return std::string{"skipped"};
  }
  wipe_command cmd{path, st.facts.size_bytes, "/sys/class/block/" + st.facts.name,
                   st.wipe_timeout.count()};
  st.releasing = true;
  log::info(who(self), "wiping before release", {{"device", path}, {"bytes", cmd.bytes}});
  auto rp = self->make_response_promise<std::string>();
  self->request(st.runner, st.wipe_timeout + std::chrono::seconds{5}, std::move(cmd))
    .then(
      [self, rp](std::string& method) mutable {
        auto& st = self->state;
        st.releasing = false;
        // The device now reads as zeroes: nothing is left to find on it.
        st.facts.signatures.clear();
        st.facts.probe_error.clear();
        ++st.releases;
        st.last_method = method;
        log::info(who(self), "released", {{"device", st.facts.path}, {"method", method}});
        rp.deliver(std::move(method));
      },
      [self, rp](caf::error& err) mutable {
        // The facts stay as they were: what was on the device may still be.
        auto& st = self->state;
        st.releasing = false;
        st.last_error = render(err);
        log::warn(who(self), "release failed", {{"error", st.last_error}});
        rp.deliver(std::move(err));
      });
  return rp;
}

disk_actor::behavior_type disk_impl(disk_pointer self, block_device facts, lvm_runner_actor runner,
                                    std::chrono::milliseconds wipe_timeout) {
  self->state.facts = std::move(facts);
  self->state.runner = std::move(runner);
  self->state.wipe_timeout = wipe_timeout;
  return {
    [self](get_atom) { return self->state.facts; },
    [self](block_device& update) {
      if (update.name != self->state.facts.name) {
        log::warn(who(self), "ignored facts of another device", {{"device", update.name}});
        return;
      }
      self->state.facts = std::move(update);
      ++self->state.updates;
    },
    [self](release_device_req& req) { return release(self, req); },
    [self](inspect_atom) {
      auto& st = self->state;
      return make_report(self, summary_of(st), st.last_error, state_json(st));
    },
  };
}

} // namespace

disk_actor spawn_disk_actor(caf::actor_system& sys, block_device facts, lvm_runner_actor runner,
                            std::chrono::milliseconds wipe_timeout) {
  return sys.spawn(disk_impl, std::move(facts), std::move(runner), wipe_timeout);
}

} // namespace olocal
