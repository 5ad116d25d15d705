#include "tests/support/actor_fixture.hpp"

namespace olocal::test {

caf::actor_system_config& actor_fixture::prepare(caf::actor_system_config& cfg) {
  configure(cfg, runtime_options{1});
  cfg.set("scheduler.policy", caf::atom("testing"));
  cfg.set("logger.inline-output", true);
  return cfg;
}

actor_fixture::actor_fixture()
  : sys(prepare(cfg)), sched(dynamic_cast<caf::scheduler::test_coordinator&>(sys.scheduler())) {
  // Tests end with actors still alive; the drain below is the teardown.
  sys.await_actors_before_shutdown(false);
}

actor_fixture::~actor_fixture() {
  // Drain: run everything, fire every pending timeout (regardless of its
  // time), repeat until quiet. Otherwise ~actor_system waits forever.
  run();
  for (int i = 0; sched.clock().trigger_timeout(); ++i) {
    run();
    if (i == 10'000) {
      ADD_FAILURE() << "timeouts keep re-arming: a periodic actor is still alive at teardown "
                       "(send it an exit message at the end of the test)";
      break;
    }
  }
}

} // namespace olocal::test
