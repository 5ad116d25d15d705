#pragma once

// Shared by the real-kernel tests in this folder.

#include "actors/backends/lvm.hpp"
#include "actors/backends/process.hpp"
#include "actors/core/errc.hpp"
#include "actors/core/runtime.hpp"

#include <caf/scoped_actor.hpp>
#include <gtest/gtest.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

namespace olocal::test {

/// True inside the VM harness: the kernel has device-mapper.
inline bool in_vm() {
  std::ifstream misc{"/proc/misc"};
  std::string line;
  while (std::getline(misc, line))
    if (line.find("device-mapper") != std::string::npos)
      return true;
  return false;
}

/// Runs a command that must succeed (a test failure otherwise); its stdout.
inline std::string run_ok(std::vector<std::string> argv) {
  using namespace std::chrono_literals;
  auto r = run_command({argv, 120s, {"DM_DISABLE_UDEV=1", "LC_ALL=C"}});
  EXPECT_TRUE(r) << render_argv(argv);
  if (!r)
    return {};
  EXPECT_EQ(r->exit_code, 0) << render_argv(argv) << "\n" << r->err;
  return r->out;
}

/// A VG on a loop device backed by a sparse file on the guest's tmpfs.
struct loop_vg {
  std::string vg;
  std::string image;
  std::string loop;

  loop_vg(std::string name, uint64_t bytes) : vg(std::move(name)) {
    image = "/run/" + vg + ".img";
    std::ofstream{image};
    std::filesystem::resize_file(image, bytes);
    loop = run_ok({"losetup", "-f", "--show", image});
    while (!loop.empty() && loop.back() == '\n')
      loop.pop_back();
    run_ok(*lvm::pvcreate({loop}));
    run_ok(*lvm::vgcreate(vg, {loop}));
  }

  ~loop_vg() {
    run_command({{"vgremove", "-ff", "-y", vg}, std::chrono::seconds{120}, {"DM_DISABLE_UDEV=1"}});
    run_command({{"pvremove", "-ff", "-y", loop}, std::chrono::seconds{60}, {"DM_DISABLE_UDEV=1"}});
    run_command({{"losetup", "-d", loop}, std::chrono::seconds{60}});
    std::filesystem::remove(image);
  }
};

/// Asks an actor from outside the actor system and waits up to 2 minutes.
template <class T, class Handle, class Req>
caf::expected<T> ask(runtime& rt, const Handle& h, Req req) {
  caf::scoped_actor self{rt.system()};
  caf::expected<T> result{caf::error{}};
  self->request(h, std::chrono::seconds{120}, std::move(req))
    .receive([&](T& x) { result = std::move(x); }, [&](caf::error& e) { result = std::move(e); });
  return result;
}

} // namespace olocal::test
