#include "actors/node/lvm_runner.hpp"

#include "actors/backends/data_mover.hpp"
#include "actors/backends/devmapper.hpp"
#include "actors/backends/lvm.hpp"
#include "actors/core/errc.hpp"

#include <caf/all.hpp>

namespace olocal {

lvm_runner_actor spawn_lvm_runner(caf::actor_system& sys) {
  return sys.spawn<caf::detached>([]() -> lvm_runner_actor::behavior_type {
    return {
      [](lvm_command& cmd) -> caf::result<std::string> {
        auto out = lvm::run_lvm(cmd.argv, std::chrono::milliseconds{cmd.timeout_ms});
        if (!out)
          return std::move(out.error());
        return std::move(*out);
      },
      [](wipe_command& cmd) -> caf::result<std::string> {
        mover_options opts;
        auto deadline =
          std::chrono::steady_clock::now() + std::chrono::milliseconds{cmd.timeout_ms};
        opts.cancelled = [deadline] { return std::chrono::steady_clock::now() > deadline; };
        auto method = secure_wipe(cmd.device, cmd.bytes, cmd.sysfs_dir, opts);
        if (!method)
          return std::move(method.error());
        return std::move(*method);
      },
      [](fill_query& q) {
        std::vector<fill_entry> result;
        for (auto& pool : q.pools) {
          fill_entry e{pool};
          if (auto st = dm::lvm_thin_pool(q.vg, pool)) {
            e.data_percent = st->data_fill * 100;
            e.metadata_percent = st->metadata_fill * 100;
          } else {
            e.error = render(st.error());
          }
          result.push_back(std::move(e));
        }
        for (auto& snap : q.snapshots) {
          fill_entry e{snap};
          if (auto st = dm::snapshot(dm::dm_name(q.vg, snap))) {
            e.data_percent = st->fill * 100;
            e.invalid = st->invalid;
          } else {
            e.error = render(st.error());
          }
          result.push_back(std::move(e));
        }
        return result;
      },
      [](copy_command& cmd) -> caf::result<std::string> {
        mover_options opts;
        auto deadline =
          std::chrono::steady_clock::now() + std::chrono::milliseconds{cmd.timeout_ms};
        opts.cancelled = [deadline] { return std::chrono::steady_clock::now() > deadline; };
        auto done = copy_range(cmd.source, cmd.destination, cmd.bytes, opts);
        if (!done)
          return std::move(done.error());
        auto seconds = std::chrono::duration<double>(done->elapsed).count();
        auto mib_s = seconds > 0 ? static_cast<double>(done->bytes) / seconds / (1 << 20) : 0.0;
        return done->engine + (done->direct ? " direct " : " buffered ") +
               std::to_string(static_cast<uint64_t>(mib_s)) + " MiB/s" +
               (done->fallback_reason.empty() ? "" : " (" + done->fallback_reason + ")");
      },
    };
  });
}

} // namespace olocal
