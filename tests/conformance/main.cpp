// The conformance suite's main: one driver for the whole run.
//
// The open-local binary is the one CMake built next to this suite
// (OLOCAL_CONFORMANCE_BINARY); $OLOCAL_BINARY overrides it.

#include "tests/conformance/conformance.hpp"

#include <cstdlib>

#ifndef OLOCAL_CONFORMANCE_BINARY
#define OLOCAL_CONFORMANCE_BINARY ""
#endif

int main(int argc, char** argv) {
  ::testing::InitGoogleTest(&argc, argv);
  conformance::driver_config cfg;
  cfg.binary = OLOCAL_CONFORMANCE_BINARY;
  if (const char* bin = std::getenv("OLOCAL_BINARY"); bin != nullptr && *bin != '\0')
    cfg.binary = bin;
  // gtest owns (and deletes) the environment.
  ::testing::AddGlobalTestEnvironment(new conformance::driver_env(std::move(cfg)));
  return RUN_ALL_TESTS();
}
