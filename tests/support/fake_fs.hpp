#pragma once

// An in-memory filesystem runner for unit tests of the actors that format,
// mount and measure volumes. It keeps what the kernel would: block devices
// (size, major:minor, the filesystem on them), a mount table in mountinfo's
// shape (filesystem mounts, bind mounts of mounts and of device nodes) and
// the mount targets that exist, and answers like the real runner
// (actors/node/fs_runner.hpp) with the same error codes. Real filesystems are
// tested on the host and in the VM; this fake makes the actors' logic
// testable deterministically, including failures.

#include "actors/core/errc.hpp"
#include "actors/core/interfaces.hpp"

#include <caf/fwd.hpp>
#include <caf/typed_response_promise.hpp>

#include <array>
#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <vector>

namespace olocal::test {

/// The commands of fs_runner_actor and of the claim runner (spawn_fake_claim_runner),
/// for counters, holds and injected failures.
enum class fs_command : uint8_t {
  ensure_fs,
  mount,
  unmount,
  grow,
  probe,
  mounts,
  device_scan,
  mount_scan,
  clear_dir,
  load_claims,
  save_claims,
};

inline constexpr size_t fs_command_count = 11;

std::string_view to_string(fs_command kind);

struct fake_fs_device {
  uint64_t size_bytes = 0;
  uint32_t major = 0;
  uint32_t minor = 0;
  std::string kernel_name;    ///< "dm-<minor>" unless given: the root of its node's bind mounts
  std::string fstype;         ///< "" = no filesystem
  std::string signature;      ///< other content ("LVM2_member", "gpt"): ensure_fs refuses it
  uint64_t fs_size_bytes = 0; ///< the filesystem's size (grow makes it size_bytes)
  uint64_t used_bytes = 0;    ///< what probe reports as used
  uint64_t used_inodes = 0;
  bool present = true;     ///< false after remove_device: the node is gone, its mounts stay
  bool read_only = false;  ///< the filesystem went read-only (errors=remount-ro)
  bool rotational = false; ///< the medium under it (mount-point scans report "hdd")
};

struct fake_fs_failure {
  fs_command kind;
  errc code;
  std::string message;
};

struct fake_fs_state {
  std::map<std::string, fake_fs_device> devices; ///< by path ("/dev/vg0/local-1")
  /// The mount table, in mount order (mount ids increase).
  std::vector<fs_ops::mount_entry> mounts;
  /// Mount targets that exist (created by a mount, removed by an unmount
  /// with remove_target), and those removed, in order.
  std::set<std::string> paths;
  std::vector<std::string> removed_targets;
  std::deque<fake_fs_failure> failures; ///< injected, consumed by the next command of their kind
  std::array<size_t, fs_command_count> counts{}; ///< commands received, by kind
  std::vector<fs_command> log;                   ///< every command received, in order
  std::set<fs_command> held_kinds;               ///< commands of these kinds wait for release
  /// Held commands (run and answered by release_atom, oldest first).
  std::deque<std::function<void()>> held;
  uint32_t next_mount_id = 100;

  // -- what the claim runner sees ----------------------------------------------

  /// What a device scan answers (facts built by hand).
  std::vector<block_device> block_devices;
  /// What is inside directories (mount points), by path: names of entries.
  std::map<std::string, std::set<std::string>> dir_entries;
  /// Every clear that succeeded, in order.
  std::vector<clear_dir_command> cleared;
  /// The claims files, by path, kept in memory, unless the two functions
  /// below are set (e.g. to the real load_claims and save_claims over a
  /// temporary directory). A path in corrupt_claim_files fails to load.
  std::map<std::string, std::vector<claim_record>> claim_files;
  std::set<std::string> corrupt_claim_files;
  std::function<caf::expected<std::vector<claim_record>>(const std::string&)> load_claims_fn;
  std::function<caf::expected<uint64_t>(const std::string&, const std::vector<claim_record>&)>
    save_claims_fn;

  // -- set-up -------------------------------------------------------------------

  /// Registers a block device; with fstype it already holds a filesystem
  /// filling it. Answers the record for further tweaks.
  fake_fs_device& add_device(const std::string& path, uint64_t size_bytes, uint32_t major,
                             uint32_t minor, std::string fstype = {});
  /// The device node disappears (the LV was removed behind our back): its
  /// mounts stay, ensure_fs, mount and grow answer not_found, probe is abnormal.
  void remove_device(const std::string& path);
  /// The device grew (lvextend): grow makes the filesystem follow.
  void resize_device(const std::string& path, uint64_t size_bytes);
  /// The filesystem mounted at `mountpoint` goes read-only as after an I/O
  /// error (errors=remount-ro): every mount of it shows ro, probe with
  /// expect_writable is abnormal.
  void set_read_only(const std::string& mountpoint);
  /// What probe reports as used on `device`'s filesystem.
  void set_used_bytes(const std::string& device, uint64_t bytes);

  // -- fault injection and observation ----------------------------------------

  /// The next command of `kind` fails with `code` (queued: several may wait).
  void fail_next(fs_command kind, errc code, std::string message = {});
  /// Commands of `kind` (every kind without an argument) wait until release_atom.
  void hold(std::optional<fs_command> kind = std::nullopt);
  /// Commands arriving from now on run at once (held ones still wait for release_atom).
  void unhold() { held_kinds.clear(); }
  size_t count(fs_command kind) const { return counts[static_cast<size_t>(kind)]; }
  size_t total() const;
  /// The topmost mount at `target`, nullptr if none.
  const fs_ops::mount_entry* mount_at(const std::string& target) const;
  bool exists(const std::string& path) const { return paths.count(path) != 0; }
  /// The device with major:minor, nullptr if none.
  const fake_fs_device* device_of(uint32_t major, uint32_t minor) const;

  // -- the commands, as the fake actor runs them (no counting, no failures) ----

  caf::expected<std::string> ensure_fs(const ensure_fs_command& cmd);
  caf::expected<bool> mount(const mount_command& cmd);
  caf::expected<bool> unmount(const unmount_command& cmd);
  caf::expected<std::string> grow(const grow_command& cmd);
  volume_usage probe(const probe_command& cmd) const;
  std::vector<fs_ops::mount_entry> mounts_of(const mounts_query& q) const;
  /// The mount points directly under q.root, as the real runner reports them.
  std::vector<mount_point_facts> mount_scan(const mount_scan_req& q) const;
  caf::expected<uint64_t> clear_dir(const clear_dir_command& cmd);
  caf::expected<std::vector<claim_record>> load_claims(const load_claims_req& req);
  caf::expected<uint64_t> save_claims(const save_claims_req& req);

  /// Counts a command of `kind` arriving (what the actor does first).
  void arrived(fs_command kind);
  /// The injected failure for a command of `kind` about to run, if any
  /// (consumed).
  std::optional<caf::error> take_failure(fs_command kind);
};

/// Answers the oldest held command (promises are delivered by their own
/// actor). The same atom as fake_lvm's, so one name serves both fakes.
using release_atom = caf::atom_constant<caf::atom("frelease")>;

/// The fake runner: the runner interface plus release_atom.
using fake_fs_actor = caf::typed_actor<
  caf::replies_to<ensure_fs_command>::with<std::string>, caf::replies_to<mount_command>::with<bool>,
  caf::replies_to<unmount_command>::with<bool>, caf::replies_to<grow_command>::with<std::string>,
  caf::replies_to<probe_command>::with<volume_usage>,
  caf::replies_to<mounts_query>::with<std::vector<fs_ops::mount_entry>>,
  caf::reacts_to<release_atom>>;

/// Spawns an event-based runner on `state` (deterministic under the test
/// coordinator, unlike the real detached runner). Converts to fs_runner_actor.
fake_fs_actor spawn_fake_fs(caf::actor_system& sys, std::shared_ptr<fake_fs_state> state);

/// The fake claim runner: the claim runner interface plus release_atom.
using fake_claim_actor =
  caf::typed_actor<caf::replies_to<device_scan_req>::with<std::vector<block_device>>,
                   caf::replies_to<mount_scan_req>::with<std::vector<mount_point_facts>>,
                   caf::replies_to<clear_dir_command>::with<uint64_t>,
                   caf::replies_to<load_claims_req>::with<std::vector<claim_record>>,
                   caf::replies_to<save_claims_req>::with<uint64_t>, caf::reacts_to<release_atom>>;

/// Spawns an event-based claim runner on the same `state`: device scans
/// answer block_devices, mount-point scans the mounts of the fake mount
/// table, clears empty dir_entries (refused unless the filesystem is still
/// mounted there), claims files as claim_files or the injected functions
/// say. Counted, held and failed like the filesystem commands. Converts to
/// claim_runner_actor.
fake_claim_actor spawn_fake_claim_runner(caf::actor_system& sys,
                                         std::shared_ptr<fake_fs_state> state);

} // namespace olocal::test
