#include "tests/support/fake_fs.hpp"

#include "actors/backends/filesystem.hpp"
#include "actors/backends/process.hpp"
#include "actors/core/errc.hpp"

#include <caf/all.hpp>

#include <algorithm>

namespace olocal::test {

namespace {

/// The filesystem a plain (unmounted) directory lives on: the host's root.
constexpr uint32_t host_major = 8;
constexpr uint32_t host_minor = 1;
/// devtmpfs, where device nodes live.
constexpr uint32_t devtmpfs_major = 0;
constexpr uint32_t devtmpfs_minor = 5;
/// mkfs.ext4's default bytes per inode.
constexpr uint64_t bytes_per_inode = 16384;

bool is_ext(std::string_view fstype) {
  return fstype == "ext2" || fstype == "ext3" || fstype == "ext4";
}

std::string numbers(uint32_t major, uint32_t minor) {
  return std::to_string(major) + ":" + std::to_string(minor);
}

/// As fs_ops describes a mount in its messages.
std::string describe(const fs_ops::mount_entry& e) {
  std::string text =
    e.source + " (" + numbers(e.major, e.minor) + ", " + e.fstype + (e.read_only ? ", ro" : ", rw");
  if (e.root != "/")
    text += ", root " + e.root;
  return text + ")";
}

} // namespace

std::string_view to_string(fs_command kind) {
  switch (kind) {
  case fs_command::ensure_fs:
    return "ensure_fs";
  case fs_command::mount:
    return "mount";
  case fs_command::unmount:
    return "unmount";
  case fs_command::grow:
    return "grow";
  case fs_command::probe:
    return "probe";
  case fs_command::mounts:
    return "mounts";
  case fs_command::device_scan:
    return "device_scan";
  case fs_command::mount_scan:
    return "mount_scan";
  case fs_command::clear_dir:
    return "clear_dir";
  case fs_command::load_claims:
    return "load_claims";
  case fs_command::save_claims:
    return "save_claims";
  }
  return "unknown";
}

// -- set-up -------------------------------------------------------------------

fake_fs_device& fake_fs_state::add_device(const std::string& path, uint64_t size_bytes,
                                          uint32_t major, uint32_t minor, std::string fstype) {
  fake_fs_device dev;
  dev.size_bytes = size_bytes;
  dev.major = major;
  dev.minor = minor;
  dev.kernel_name = "dm-" + std::to_string(minor);
  dev.fstype = std::move(fstype);
  dev.fs_size_bytes = dev.fstype.empty() ? 0 : size_bytes;
  return devices[path] = std::move(dev);
}

void fake_fs_state::remove_device(const std::string& path) {
  auto dev = devices.find(path);
  if (dev != devices.end())
    dev->second.present = false;
}

void fake_fs_state::resize_device(const std::string& path, uint64_t size_bytes) {
  auto dev = devices.find(path);
  if (dev != devices.end())
    dev->second.size_bytes = size_bytes;
}

void fake_fs_state::set_read_only(const std::string& mountpoint) {
  auto* at = mount_at(mountpoint);
  if (at == nullptr)
    return;
  auto major = at->major;
  auto minor = at->minor;
  for (auto& [path, dev] : devices)
    if (dev.major == major && dev.minor == minor)
      dev.read_only = true;
  for (auto& e : mounts)
    if (e.major == major && e.minor == minor) {
      e.read_only = true;
      e.super_options = "ro";
    }
}

void fake_fs_state::set_used_bytes(const std::string& device, uint64_t bytes) {
  auto dev = devices.find(device);
  if (dev != devices.end())
    dev->second.used_bytes = bytes;
}

// -- fault injection and observation ----------------------------------------

void fake_fs_state::fail_next(fs_command kind, errc code, std::string message) {
  if (message.empty())
    message = "injected failure of " + std::string{to_string(kind)};
  failures.push_back({kind, code, std::move(message)});
}

void fake_fs_state::hold(std::optional<fs_command> kind) {
  if (kind) {
    held_kinds.insert(*kind);
    return;
  }
  for (size_t i = 0; i < fs_command_count; ++i)
    held_kinds.insert(static_cast<fs_command>(i));
}

size_t fake_fs_state::total() const {
  size_t sum = 0;
  for (auto n : counts)
    sum += n;
  return sum;
}

const fs_ops::mount_entry* fake_fs_state::mount_at(const std::string& target) const {
  for (auto e = mounts.rbegin(); e != mounts.rend(); ++e)
    if (e->mount_point == target)
      return &*e;
  return nullptr;
}

const fake_fs_device* fake_fs_state::device_of(uint32_t major, uint32_t minor) const {
  for (auto& [path, dev] : devices)
    if (dev.major == major && dev.minor == minor)
      return &dev;
  return nullptr;
}

void fake_fs_state::arrived(fs_command kind) {
  ++counts[static_cast<size_t>(kind)];
  log.push_back(kind);
}

std::optional<caf::error> fake_fs_state::take_failure(fs_command kind) {
  auto f = std::find_if(failures.begin(), failures.end(),
                        [kind](auto& failure) { return failure.kind == kind; });
  if (f == failures.end())
    return std::nullopt;
  auto err = make_error(f->code, f->message);
  failures.erase(f);
  return err;
}

// -- the commands ----------------------------------------------------------------

caf::expected<std::string> fake_fs_state::ensure_fs(const ensure_fs_command& cmd) {
  auto dev = devices.find(cmd.device);
  if (dev == devices.end() || !dev->second.present)
    return make_error(errc::not_found, "detect filesystem on " + cmd.device + ": open " +
                                         cmd.device + ": No such file or directory");
  auto& d = dev->second;
  auto refuse = [&](const std::string& content) {
    return make_error(errc::failed_precondition, cmd.device + " holds " + content + ", not " +
                                                   cmd.fstype + "; a volume is never reformatted");
  };
  if (d.fstype == cmd.fstype)
    return std::string{};
  if (!d.fstype.empty())
    return refuse(d.fstype);
  if (!d.signature.empty())
    return refuse(d.signature);
  fs_ops::format_options opts;
  opts.timeout_ms = cmd.timeout_ms;
  auto argv = fs_ops::mkfs_argv(cmd.device, cmd.fstype, opts);
  if (!argv)
    return argv.error();
  d.fstype = cmd.fstype;
  d.fs_size_bytes = d.size_bytes;
  d.used_bytes = 0;
  d.used_inodes = 0;
  d.read_only = false;
  return render_argv(*argv);
}

caf::expected<bool> fake_fs_state::mount(const mount_command& cmd) {
  bool bind = cmd.fstype.empty();
  std::string op = std::string{cmd.read_only ? "read-only " : ""} +
                   (bind ? "bind mount " : "mount ") + cmd.source + " at " + cmd.target;
  if (cmd.source.empty() || cmd.target.empty())
    return make_error(errc::invalid_argument, op + ": source and target are required");
  auto parsed = fs_ops::parse_mount_options(cmd.options);
  if (!parsed)
    return make_error(errc::invalid_argument, op + ": " + message_of(parsed.error()));
  bool read_only = cmd.read_only || parsed->read_only();
  // What would be mounted at the target.
  fs_ops::mount_entry wanted;
  wanted.parent_id = 1;
  wanted.mount_point = cmd.target;
  auto dev = devices.find(cmd.source);
  if (dev != devices.end() && !dev->second.present)
    return make_error(errc::not_found, op + ": stat " + cmd.source + ": No such file or directory");
  if (!bind) {
    if (dev == devices.end())
      return make_error(errc::not_found,
                        op + ": stat " + cmd.source + ": No such file or directory");
    auto& d = dev->second;
    wanted.major = d.major;
    wanted.minor = d.minor;
    wanted.root = "/";
    wanted.fstype = cmd.fstype;
    wanted.source = cmd.source;
    wanted.super_options = d.read_only ? "ro" : "rw";
    wanted.read_only = read_only || d.read_only;
  } else if (dev != devices.end()) { // the device node (raw block volumes)
    wanted.major = devtmpfs_major;
    wanted.minor = devtmpfs_minor;
    wanted.root = "/" + dev->second.kernel_name;
    wanted.fstype = "devtmpfs";
    wanted.source = "devtmpfs";
    wanted.super_options = "rw";
    wanted.read_only = read_only;
  } else if (auto* source = mount_at(cmd.source)) { // a mounted directory
    wanted.major = source->major;
    wanted.minor = source->minor;
    wanted.root = source->root;
    wanted.fstype = source->fstype;
    wanted.source = source->source;
    wanted.super_options = source->super_options;
    wanted.read_only = read_only || source->super_options == "ro";
  } else if (exists(cmd.source)) { // a plain directory of the host
    wanted.major = host_major;
    wanted.minor = host_minor;
    wanted.root = cmd.source;
    wanted.fstype = "ext4";
    wanted.source = "/dev/sda1";
    wanted.super_options = "rw";
    wanted.read_only = read_only;
  } else {
    return make_error(errc::not_found, op + ": stat " + cmd.source + ": No such file or directory");
  }
  wanted.options = std::string{wanted.read_only ? "ro" : "rw"} + ",relatime";
  if (auto* existing = mount_at(cmd.target)) {
    bool same = existing->major == wanted.major && existing->minor == wanted.minor &&
                existing->root == wanted.root && existing->fstype == wanted.fstype &&
                existing->read_only == wanted.read_only;
    if (!same)
      return make_error(errc::already_exists, op + ": " + cmd.target + " already has " +
                                                describe(*existing) + " mounted; requested " +
                                                describe(wanted));
    return false;
  }
  if (!bind && dev->second.fstype != cmd.fstype)
    return make_error(errc::invalid_argument, op + " as " + cmd.fstype + ": Invalid argument");
  wanted.mount_id = next_mount_id++;
  mounts.push_back(std::move(wanted));
  paths.insert(cmd.target);
  return true;
}

caf::expected<bool> fake_fs_state::unmount(const unmount_command& cmd) {
  if (cmd.target.empty())
    return make_error(errc::invalid_argument, "find mount: empty or malformed target");
  bool unmounted = false;
  for (auto e = mounts.rbegin(); e != mounts.rend(); ++e)
    if (e->mount_point == cmd.target) {
      mounts.erase(std::next(e).base());
      unmounted = true;
      break;
    }
  if (cmd.remove_target && exists(cmd.target) && mount_at(cmd.target) == nullptr) {
    paths.erase(cmd.target);
    removed_targets.push_back(cmd.target);
  }
  return unmounted;
}

caf::expected<std::string> fake_fs_state::grow(const grow_command& cmd) {
  std::string op = "grow " + cmd.fstype + " on " + cmd.device;
  if (!is_ext(cmd.fstype) && cmd.fstype != "xfs")
    return make_error(errc::invalid_argument, "grow " + cmd.device + ": unsupported fstype '" +
                                                cmd.fstype +
                                                "' (supported: ext2, ext3, ext4, xfs)");
  auto dev = devices.find(cmd.device);
  if (dev == devices.end() || !dev->second.present)
    return make_error(errc::not_found, op + ": stat " + cmd.device + ": No such file or directory");
  auto& d = dev->second;
  bool matches = is_ext(cmd.fstype) ? is_ext(d.fstype) : d.fstype == cmd.fstype;
  if (!matches)
    return make_error(errc::failed_precondition,
                      op + ": device holds " + (d.fstype.empty() ? "no filesystem" : d.fstype));
  const fs_ops::mount_entry* at = nullptr;
  if (!cmd.mountpoint.empty()) {
    at = mount_at(cmd.mountpoint);
    if (at != nullptr && (at->major != d.major || at->minor != d.minor))
      return make_error(errc::failed_precondition, op + ": " + cmd.mountpoint + " is served by " +
                                                     describe(*at) + ", not by " + cmd.device);
  }
  std::string ran;
  if (cmd.fstype == "xfs") {
    if (at == nullptr)
      return make_error(errc::failed_precondition,
                        op + ": xfs grows only while mounted, and " +
                          (cmd.mountpoint.empty() ? std::string{"no mountpoint was given"}
                                                  : cmd.mountpoint + " is not mounted"));
    ran = "xfs_growfs -d " + at->mount_point;
  } else {
    bool mounted = std::any_of(mounts.begin(), mounts.end(),
                               [&](auto& e) { return e.major == d.major && e.minor == d.minor; });
    ran = mounted ? "resize2fs " + cmd.device
                  : "e2fsck -f -p " + cmd.device + " && resize2fs " + cmd.device;
  }
  d.fs_size_bytes = d.size_bytes;
  return ran;
}

volume_usage fake_fs_state::probe(const probe_command& cmd) const {
  volume_usage usage;
  auto abnormal = [&](std::string message) {
    usage.condition = fs_ops::volume_condition{true, std::move(message)};
  };
  auto dev = devices.find(cmd.device);
  bool present = dev != devices.end() && dev->second.present;
  if (cmd.mountpoint.empty()) {
    if (!present)
      abnormal("device " + cmd.device + " is missing: No such file or directory");
    else
      usage.stats.total_bytes = dev->second.size_bytes;
    return usage;
  }
  auto* at = mount_at(cmd.mountpoint);
  if (at != nullptr)
    if (auto* fs = device_of(at->major, at->minor)) {
      auto& s = usage.stats;
      s.total_bytes = fs->fs_size_bytes;
      s.used_bytes = std::min(fs->used_bytes, fs->fs_size_bytes);
      s.available_bytes = s.total_bytes - s.used_bytes;
      s.total_inodes = fs->fs_size_bytes / bytes_per_inode;
      s.used_inodes = std::min(fs->used_inodes, s.total_inodes);
      s.free_inodes = s.total_inodes - s.used_inodes;
    }
  if (!present)
    abnormal("device " + cmd.device + " is missing: No such file or directory");
  else if (at == nullptr)
    abnormal(cmd.mountpoint + " is not mounted (expected " + cmd.device + ")");
  else if (at->major != dev->second.major || at->minor != dev->second.minor)
    abnormal(cmd.mountpoint + " is served by " + describe(*at) + ", not by " + cmd.device + " (" +
             numbers(dev->second.major, dev->second.minor) + ")");
  else if (cmd.expect_writable && at->read_only)
    abnormal(cmd.mountpoint + " is mounted read-only");
  return usage;
}

std::vector<fs_ops::mount_entry> fake_fs_state::mounts_of(const mounts_query& q) const {
  auto* dev = device_of(q.major, q.minor);
  std::string node_root = dev != nullptr ? "/" + dev->kernel_name : std::string{};
  std::vector<fs_ops::mount_entry> found;
  for (auto& e : mounts)
    if ((e.major == q.major && e.minor == q.minor) ||
        (!node_root.empty() && e.fstype == "devtmpfs" && e.root == node_root))
      found.push_back(e);
  return found; // table order, as the real runner answers
}

std::vector<mount_point_facts> fake_fs_state::mount_scan(const mount_scan_req& q) const {
  auto root = q.root;
  while (root.size() > 1 && root.back() == '/')
    root.pop_back();
  auto prefix = root + "/";
  std::map<std::string, const fs_ops::mount_entry*> topmost;
  for (auto& e : mounts)
    if (e.mount_point.size() > prefix.size() && e.mount_point.rfind(prefix, 0) == 0 &&
        e.mount_point.find('/', prefix.size()) == std::string::npos)
      topmost[e.mount_point] = &e;
  std::vector<mount_point_facts> out;
  for (auto& [point, e] : topmost) {
    mount_point_facts mp;
    mp.path = point;
    mp.name = point.substr(prefix.size());
    mp.fstype = e->fstype;
    mp.source = e->source;
    mp.major = e->major;
    mp.minor = e->minor;
    mp.read_only = e->read_only;
    if (auto* dev = device_of(e->major, e->minor)) {
      mp.total_bytes = dev->fs_size_bytes;
      mp.available_bytes = dev->fs_size_bytes - std::min(dev->used_bytes, dev->fs_size_bytes);
      mp.rotational = dev->rotational;
    }
    if (auto entries = dir_entries.find(point); entries != dir_entries.end())
      mp.entries = static_cast<uint64_t>(std::count_if(
        entries->second.begin(), entries->second.end(), [](auto& n) { return n != "lost+found"; }));
    out.push_back(std::move(mp));
  }
  return out;
}

caf::expected<uint64_t> fake_fs_state::clear_dir(const clear_dir_command& cmd) {
  auto* at = mount_at(cmd.path);
  if (at == nullptr || at->major != cmd.major || at->minor != cmd.minor)
    return make_error(errc::failed_precondition,
                      "clear " + cmd.path + ": not the root of filesystem " +
                        numbers(cmd.major, cmd.minor) + " (is it still mounted there?)");
  auto& entries = dir_entries[cmd.path];
  auto removed = static_cast<uint64_t>(entries.size());
  entries.clear();
  cleared.push_back(cmd);
  return removed;
}

caf::expected<std::vector<claim_record>> fake_fs_state::load_claims(const load_claims_req& req) {
  if (corrupt_claim_files.count(req.path))
    return make_error(errc::parse_error, "claims file " + req.path + ": not valid JSON");
  if (load_claims_fn)
    return load_claims_fn(req.path);
  auto file = claim_files.find(req.path);
  return file == claim_files.end() ? std::vector<claim_record>{} : file->second;
}

caf::expected<uint64_t> fake_fs_state::save_claims(const save_claims_req& req) {
  if (save_claims_fn)
    return save_claims_fn(req.path, req.claims);
  claim_files[req.path] = req.claims;
  return static_cast<uint64_t>(req.claims.size());
}

// -- the actor -------------------------------------------------------------------

namespace {

/// Counts the command, then runs it (failing it when a failure is injected)
/// at once or, when its kind is held, at release_atom.
template <class T, class Self, class Run>
caf::result<T> serve(Self self, const std::shared_ptr<fake_fs_state>& state, fs_command kind,
                     Run run) {
  state->arrived(kind);
  auto execute = [state, kind, run]() mutable -> caf::expected<T> {
    if (auto err = state->take_failure(kind))
      return std::move(*err);
    return run();
  };
  if (state->held_kinds.count(kind) != 0) {
    auto rp = self->template make_response_promise<T>();
    state->held.emplace_back([execute, rp]() mutable {
      auto result = execute();
      if (result)
        rp.deliver(std::move(*result));
      else
        rp.deliver(result.error());
    });
    return rp;
  }
  auto result = execute();
  if (!result)
    return std::move(result.error());
  return std::move(*result);
}

} // namespace

fake_fs_actor spawn_fake_fs(caf::actor_system& sys, std::shared_ptr<fake_fs_state> state) {
  return sys.spawn([state](fake_fs_actor::pointer self) -> fake_fs_actor::behavior_type {
    return {
      [self, state](ensure_fs_command& cmd) {
        return serve<std::string>(self, state, fs_command::ensure_fs,
                                  [state, cmd] { return state->ensure_fs(cmd); });
      },
      [self, state](mount_command& cmd) {
        return serve<bool>(self, state, fs_command::mount,
                           [state, cmd] { return state->mount(cmd); });
      },
      [self, state](unmount_command& cmd) {
        return serve<bool>(self, state, fs_command::unmount,
                           [state, cmd] { return state->unmount(cmd); });
      },
      [self, state](grow_command& cmd) {
        return serve<std::string>(self, state, fs_command::grow,
                                  [state, cmd] { return state->grow(cmd); });
      },
      [self, state](probe_command& cmd) {
        return serve<volume_usage>(self, state, fs_command::probe, [state, cmd] {
          return caf::expected<volume_usage>{state->probe(cmd)};
        });
      },
      [self, state](mounts_query& q) {
        return serve<std::vector<fs_ops::mount_entry>>(self, state, fs_command::mounts, [state, q] {
          return caf::expected<std::vector<fs_ops::mount_entry>>{state->mounts_of(q)};
        });
      },
      [state](release_atom) {
        if (state->held.empty())
          return;
        auto next = std::move(state->held.front());
        state->held.pop_front();
        next();
      },
    };
  });
}

} // namespace olocal::test

namespace olocal::test {

fake_claim_actor spawn_fake_claim_runner(caf::actor_system& sys,
                                         std::shared_ptr<fake_fs_state> state) {
  return sys.spawn([state](fake_claim_actor::pointer self) -> fake_claim_actor::behavior_type {
    return {
      [self, state](device_scan_req&) {
        return serve<std::vector<block_device>>(self, state, fs_command::device_scan, [state] {
          return caf::expected<std::vector<block_device>>{state->block_devices};
        });
      },
      [self, state](mount_scan_req& q) {
        return serve<std::vector<mount_point_facts>>(
          self, state, fs_command::mount_scan, [state, q] {
            return caf::expected<std::vector<mount_point_facts>>{state->mount_scan(q)};
          });
      },
      [self, state](clear_dir_command& cmd) {
        return serve<uint64_t>(self, state, fs_command::clear_dir,
                               [state, cmd] { return state->clear_dir(cmd); });
      },
      [self, state](load_claims_req& req) {
        return serve<std::vector<claim_record>>(self, state, fs_command::load_claims,
                                                [state, req] { return state->load_claims(req); });
      },
      [self, state](save_claims_req& req) {
        return serve<uint64_t>(self, state, fs_command::save_claims,
                               [state, req] { return state->save_claims(req); });
      },
      [state](release_atom) {
        if (state->held.empty())
          return;
        auto next = std::move(state->held.front());
        state->held.pop_front();
        next();
      },
    };
  });
}

} // namespace olocal::test
