#include "gateways/cmd/file_pool.hpp"

#include "actors/backends/lvm.hpp"
#include "actors/backends/process.hpp"
#include "actors/core/errc.hpp"
#include "actors/core/log.hpp"
#include "actors/node/vg_setup.hpp"

#include <filesystem>
#include <fstream>

namespace olocal {

namespace {

caf::expected<std::string> losetup(std::vector<std::string> argv) {
  auto shown = render_argv(argv);
  auto r = run_command({std::move(argv), std::chrono::seconds{30}});
  if (!r)
    return r.error();
  if (r->exit_code != 0)
    return make_error(errc::command_failed, shown + ": " + r->err);
  auto out = r->out;
  while (!out.empty() && (out.back() == '\n' || out.back() == ' '))
    out.pop_back();
  return out;
}

} // namespace

caf::expected<std::string> ensure_file_pool(const file_pool& pool) {
  namespace fs = std::filesystem;
  if (pool.file.empty() || pool.file.front() != '/')
    return make_error(errc::invalid_argument,
                      "pool file \"" + pool.file + "\" must be an absolute path");
  std::error_code ec;
  if (!fs::exists(pool.file, ec)) {
    fs::create_directories(fs::path{pool.file}.parent_path(), ec);
    std::ofstream{pool.file};
    fs::resize_file(pool.file, pool.size_bytes, ec); // sparse: costs nothing until written
    if (ec)
      return make_error(errc::io_error,
                        "cannot create pool file " + pool.file + ": " + ec.message());
    log::info("standalone", "pool file created", {{"file", pool.file}, {"bytes", pool.size_bytes}});
  }
  // Attached already (a restart)? `losetup -j FILE` prints "/dev/loopN: ...".
  auto found = losetup({"losetup", "-j", pool.file});
  if (!found)
    return found.error();
  std::string loop;
  if (auto colon = found->find(':'); colon != std::string::npos)
    loop = found->substr(0, colon);
  if (loop.empty()) {
    auto attached = losetup({"losetup", "-f", "--show", pool.file});
    if (!attached)
      return attached.error();
    loop = *attached;
    log::info("standalone", "pool file attached", {{"file", pool.file}, {"device", loop}});
  }
  // vgscan makes lvm see a group whose PV just came back.
  auto vgs = lvm::report_argv(lvm::report_kind::vgs);
  if (!vgs)
    return vgs.error();
  auto report = lvm::run_lvm(*vgs, std::chrono::seconds{60});
  if (!report)
    return report.error();
  auto groups = lvm::parse_vgs(*report);
  if (!groups)
    return groups.error();
  for (auto& g : *groups)
    if (g.name == pool.vg)
      return loop;
  auto made = create_volume_group(create_vg_req{pool.vg, {loop}, false});
  if (!made)
    return made.error();
  log::info("standalone", "pool volume group created", {{"vg", pool.vg}, {"device", loop}});
  return loop;
}

} // namespace olocal
