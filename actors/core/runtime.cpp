#include "actors/core/runtime.hpp"

#include "actors/core/errc.hpp"
#include "actors/core/log.hpp"
#include "actors/core/registry.hpp"

#include <caf/all.hpp>

#include <sched.h>
#include <thread>

namespace olocal {

unsigned available_cores() {
  cpu_set_t set;
  CPU_ZERO(&set);
  if (sched_getaffinity(0, sizeof(set), &set) == 0) {
    auto n = CPU_COUNT(&set);
    if (n > 0)
      return static_cast<unsigned>(n);
  }
  auto hw = std::thread::hardware_concurrency();
  return hw > 0 ? hw : 1;
}

void configure(caf::actor_system_config& cfg, const runtime_options& opts) {
  auto workers = opts.workers > 0 ? opts.workers : available_cores();
  cfg.set("scheduler.max-threads", static_cast<size_t>(workers));
  cfg.add_error_category(caf::atom("olocal"),
                         [](uint8_t code, caf::atom_value, const caf::message& context) {
                           return render_errc(code, context);
                         });
}

runtime::runtime(runtime_options opts) : cfg_(std::make_unique<caf::actor_system_config>()) {
  configure(*cfg_, opts);
  workers_ = static_cast<unsigned>(opts.workers > 0 ? opts.workers : available_cores());
  sys_ = std::make_unique<caf::actor_system>(*cfg_);
  registry_ = spawn_registry(*sys_);
  log::debug("runtime", "actor system started", {{"workers", workers_}});
}

runtime::~runtime() {
  shutdown();
}

caf::actor_system& runtime::system() {
  return *sys_;
}

caf::expected<uint64_t> runtime::adopt(caf::actor handle, std::string name, std::string kind) {
  if (!registry_)
    return make_error(errc::shutting_down, "cannot register " + name + ": runtime stopped");
  caf::scoped_actor self{*sys_};
  caf::expected<uint64_t> result{caf::error{}};
  self
    ->request(registry_, std::chrono::seconds{10},
              register_actor_req{std::move(name), std::move(kind), std::move(handle)})
    .receive([&](uint64_t id) { result = id; }, [&](caf::error& err) { result = std::move(err); });
  return result;
}

void runtime::shutdown(std::chrono::milliseconds request_timeout) {
  if (!sys_)
    return;
  if (registry_) {
    caf::scoped_actor self{*sys_};
    self->request(registry_, request_timeout, stop_all_atom::value)
      .receive(
        [](uint64_t n) {
          log::debug("runtime", "stopping actors", {{"count", n}});
        },
        [](caf::error& err) {
          log::warn("runtime", "registry did not answer stop_all", {{"error", render(err)}});
        });
    self->send_exit(registry_, caf::exit_reason::user_shutdown);
    registry_ = nullptr;
  }
  sys_->await_all_actors_done();
  // Spawning (scoped_actor included) leaves a thread-local reference to the
  // system's logger in the calling thread; ~actor_system waits until the
  // logger is gone, so this thread must drop its reference first.
  caf::logger::set_current_actor_system(nullptr);
  sys_.reset();
  cfg_.reset();
  log::debug("runtime", "actor system stopped");
}

} // namespace olocal
