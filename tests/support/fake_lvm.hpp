#pragma once

// An in-memory LVM for unit tests of the actors that drive LVM. It answers
// the same argv our command builders produce, with lvm2's JSON reports and
// lvm2's failure texts (classified by the real lvm::classify_failure), and
// keeps the state a real volume group would: extents, free space, tags,
// snapshot origins and thin pools. Real LVM is tested in the VM; this fake
// makes the actors' logic testable deterministically, including failures.

#include "actors/core/interfaces.hpp"

#include <caf/fwd.hpp>
#include <caf/typed_response_promise.hpp>

#include <deque>
#include <map>
#include <memory>
#include <string>
#include <vector>

namespace olocal::test {

struct fake_lv {
  uint64_t size_bytes = 0;
  std::string segtype = "linear";
  std::string origin;
  std::string pool;
  std::vector<std::string> tags;
  uint32_t stripes = 1;
  bool read_only = false;
  uint32_t minor = 0;
  uint64_t used_bytes = 0; ///< pools, thin volumes, CoW snapshots: what is written
};

struct fake_failure {
  std::string program; ///< argv[0] to fail ("lvcreate"), "" = any
  int exit_code = 5;
  std::string stderr_text;
};

struct fake_lvm_state {
  std::string vg = "vg0";
  uint64_t extent = 4u << 20;
  std::vector<std::pair<std::string, uint64_t>> pvs = {{"/dev/loop0", 1ull << 30}};
  std::map<std::string, fake_lv> lvs;
  bool vg_exists = true;

  std::vector<std::vector<std::string>> commands; ///< every argv received, in order
  std::vector<wipe_command> wipes;                ///< every wipe received, in order
  bool fail_wipes = false;                        ///< answer wipes with io_error
  std::vector<copy_command> copies;               ///< every copy received, in order
  bool fail_copies = false;                       ///< answer copies with io_error
  size_t fill_queries = 0;                        ///< device-mapper fill reads
  std::deque<fake_failure> failures;              ///< injected, consumed in order
  /// When true, answers wait until release() (to observe what is in flight).
  bool hold = false;
  std::deque<std::pair<lvm_command, caf::typed_response_promise<std::string>>> held;
  uint32_t next_minor = 0;

  uint64_t size() const;
  uint64_t used() const;
  uint64_t free() const { return size() - used(); }
  /// Commands received that change something (not reports).
  size_t changes() const;
  std::vector<std::string> vg_rows() const;
  std::vector<std::string> pv_rows() const;
  std::vector<std::string> lv_rows(bool with_segments) const;
  /// `lvm fullreport`: every section of the VG in one document.
  std::string fullreport() const;

  /// Runs one command against the state (what the fake actor does).
  caf::expected<std::string> execute(const std::vector<std::string>& argv);
};

using release_atom = caf::atom_constant<caf::atom("frelease")>;

/// The fake runner: the runner interface plus release_atom, which answers
/// the oldest held command (promises are delivered by their own actor).
using fake_lvm_actor = caf::typed_actor<
  caf::replies_to<lvm_command>::with<std::string>, caf::replies_to<wipe_command>::with<std::string>,
  caf::replies_to<copy_command>::with<std::string>,
  caf::replies_to<fill_query>::with<std::vector<fill_entry>>, caf::reacts_to<release_atom>>;

/// Spawns an event-based runner on `state` (deterministic under the test
/// coordinator, unlike the real detached runner). Converts to lvm_runner_actor.
fake_lvm_actor spawn_fake_lvm(caf::actor_system& sys, std::shared_ptr<fake_lvm_state> state);

} // namespace olocal::test
