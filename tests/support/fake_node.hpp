#pragma once

// A node supervisor's backends, all fakes: every runner the supervisor starts
// (per-VG LVM runners, fs runners, the claim runner) is an in-memory fake on
// the given shared states, so a test sees one LVM and one kernel however many
// runners the supervisor makes.

#include "actors/node/node_supervisor.hpp"
#include "tests/support/fake_fs.hpp"
#include "tests/support/fake_lvm.hpp"

#include <caf/actor_cast.hpp>

#include <memory>
#include <vector>

namespace olocal::test {

/// Points the runner factories of `setup` at fakes on `lvm` and `fs`; every
/// fake started is appended to `fakes` (the test stops them at its end).
inline void use_fakes(node_setup& setup, std::shared_ptr<fake_lvm_state> lvm,
                      std::shared_ptr<fake_fs_state> fs, std::vector<caf::actor>& fakes) {
  setup.make_lvm_runner = [lvm, &fakes](caf::actor_system& sys) -> lvm_runner_actor {
    auto a = spawn_fake_lvm(sys, lvm);
    fakes.push_back(caf::actor_cast<caf::actor>(a));
    return a;
  };
  setup.make_fs_runner = [fs, &fakes](caf::actor_system& sys) -> fs_runner_actor {
    auto a = spawn_fake_fs(sys, fs);
    fakes.push_back(caf::actor_cast<caf::actor>(a));
    return a;
  };
  setup.make_claim_runner = [fs, &fakes](caf::actor_system& sys) -> claim_runner_actor {
    auto a = spawn_fake_claim_runner(sys, fs);
    fakes.push_back(caf::actor_cast<caf::actor>(a));
    return a;
  };
}

} // namespace olocal::test
