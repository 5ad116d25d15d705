#pragma once

// Shared by the real-kernel tests in this folder.

#include "actors/backends/filesystem.hpp"
#include "actors/backends/lvm.hpp"
#include "actors/backends/process.hpp"
#include "actors/core/errc.hpp"
#include "actors/core/runtime.hpp"
#include "actors/node/node_supervisor.hpp"

#include <caf/all.hpp>
#include <gtest/gtest.h>

#include <cerrno>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <fcntl.h>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <memory>
#include <string>
#include <unistd.h>
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

/// A loop device over a sparse file `dir`/`file` of `size` bytes, detached
/// and the file removed at the end.
struct loop_device {
  std::string image;
  std::string path;
  std::string name; ///< "loopN"
  uint64_t bytes = 0;

  loop_device(const std::string& dir, const std::string& file, uint64_t size) : bytes(size) {
    image = dir + "/" + file;
    std::ofstream{image};
    std::filesystem::resize_file(image, size);
    path = run_ok({"losetup", "-f", "--show", image});
    while (!path.empty() && path.back() == '\n')
      path.pop_back();
    name = std::filesystem::path{path}.filename().string();
  }

  loop_device(const loop_device&) = delete;
  loop_device& operator=(const loop_device&) = delete;

  ~loop_device() {
    if (!path.empty())
      run_command({{"losetup", "-d", path}, std::chrono::seconds{60}});
    std::error_code ignored;
    std::filesystem::remove(image, ignored);
  }
};

/// Fills the first `bytes` of a device with a pattern that holds no zero
/// byte (so every byte a wipe misses shows; with every high bit set it is no
/// signature either), written around the page cache.
inline void write_pattern(const std::string& path, uint64_t bytes) {
  constexpr uint64_t mib = 1ull << 20;
  int fd = ::open(path.c_str(), O_WRONLY | O_DIRECT | O_CLOEXEC);
  ASSERT_GE(fd, 0) << path << ": " << std::strerror(errno);
  void* raw = nullptr;
  ASSERT_EQ(::posix_memalign(&raw, 4096, mib), 0);
  std::unique_ptr<unsigned char, decltype(&std::free)> buf{static_cast<unsigned char*>(raw),
                                                           &std::free};
  for (uint64_t off = 0; off < bytes; off += mib) {
    for (uint64_t i = 0; i < mib; ++i)
      buf.get()[i] = static_cast<unsigned char>(0x80 | ((off + i) * 131 >> 3));
    ASSERT_EQ(::pwrite(fd, buf.get(), mib, static_cast<off_t>(off)), static_cast<ssize_t>(mib))
      << "write " << path << " at " << off << ": " << std::strerror(errno);
  }
  ASSERT_EQ(::fsync(fd), 0);
  ::close(fd);
}

/// Reads the first `bytes` of a device around the page cache: the offset of
/// the first non-zero byte, or -1 when every byte is zero (-2 on a read error).
inline int64_t first_nonzero(const std::string& path, uint64_t bytes) {
  constexpr uint64_t mib = 1ull << 20;
  int fd = ::open(path.c_str(), O_RDONLY | O_DIRECT | O_CLOEXEC);
  if (fd < 0)
    return -2;
  void* raw = nullptr;
  if (::posix_memalign(&raw, 4096, mib) != 0) {
    ::close(fd);
    return -2;
  }
  std::unique_ptr<unsigned char, decltype(&std::free)> buf{static_cast<unsigned char*>(raw),
                                                           &std::free};
  int64_t found = -1;
  for (uint64_t off = 0; off < bytes && found == -1; off += mib) {
    if (::pread(fd, buf.get(), mib, static_cast<off_t>(off)) != static_cast<ssize_t>(mib)) {
      found = -2;
      break;
    }
    for (uint64_t i = 0; i < mib; ++i)
      if (buf.get()[i] != 0) {
        found = static_cast<int64_t>(off + i);
        break;
      }
  }
  ::close(fd);
  return found;
}

inline void write_file(const std::string& path, const std::string& text) {
  std::ofstream out{path, std::ios::binary | std::ios::trunc};
  out << text;
  out.close();
  ASSERT_TRUE(out.good()) << path;
}

inline std::string read_file(const std::string& path) {
  std::ifstream in{path, std::ios::binary};
  return {std::istreambuf_iterator<char>{in}, {}};
}

/// Unmounts everything below `dir` when it goes: declare it after the
/// devices (so that it runs before they are detached or removed).
struct unmount_all {
  std::string dir;

  ~unmount_all() {
    // Innermost first: the mount table lists them in mount order.
    for (int i = 0; i < 8; ++i) {
      auto mounts = fs_ops::read_mounts();
      bool any = false;
      if (mounts)
        for (auto it = mounts->rbegin(); it != mounts->rend(); ++it)
          if (it->mount_point.rfind(dir + "/", 0) == 0) {
            any = true;
            (void) fs_ops::unmount(it->mount_point);
          }
      if (!any)
        break;
    }
  }
};

/// A node supervisor with the real runners in its own actor system.
struct node_harness {
  runtime rt{runtime_options{2}};
  node_supervisor_actor node;
  node_setup setup;

  /// Spawns the supervisor on `setup` and waits for its first scan.
  void start() {
    node = spawn_node_supervisor(rt.system(), setup);
    auto n = ask<uint64_t>(rt, node, rescan_atom::value);
    EXPECT_TRUE(n) << render(n.error());
  }

  /// The node process going away: the mounts stay, as they do when the
  /// real process dies.
  void stop() {
    caf::scoped_actor self{rt.system()};
    self->monitor(node);
    self->send_exit(node, caf::exit_reason::kill);
    self->receive([](caf::down_msg&) {});
    node = nullptr;
  }

  volume_actor volume(const std::string& id) {
    auto v = ask<volume_actor>(rt, node, volume_lookup{id});
    EXPECT_TRUE(v) << render(v.error());
    return v ? *v : volume_actor{};
  }

  ~node_harness() {
    if (node)
      caf::anon_send_exit(node, caf::exit_reason::user_shutdown);
    node = nullptr;
    rt.shutdown();
  }
};

} // namespace olocal::test
