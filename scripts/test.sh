#!/usr/bin/env bash
# The test command: installs what is missing, checks formatting, builds, and runs
#   1. the unit tests (label "unit") in a Debug build,
#   2. the same unit tests under AddressSanitizer + UndefinedBehaviorSanitizer,
#   3. the real-kernel tests (label "vm") inside the VM harness,
#   4. the CSI conformance suite (label "conformance") inside the VM harness.
# Exits non-zero when anything fails.
set -euo pipefail
source "$(dirname "$0")/lib.sh"
cd "$root"
started=$SECONDS

step "dependencies"
bash scripts/install-deps.sh

step "formatting"
bash scripts/format.sh --check

step "build (Debug)"
build_tree build -DCMAKE_BUILD_TYPE=Debug

step "unit tests"
(cd build && ctest -L unit -j "$jobs" --output-on-failure)

step "build (ASan + UBSan)"
build_tree build-asan -DCMAKE_BUILD_TYPE=Debug -DOLOCAL_SANITIZE=ON -DOLOCAL_BUILD_BENCH=OFF

step "unit tests under sanitizers"
# (ASAN_OPTIONS and UBSAN_OPTIONS are set per test by CMake: any report fails it.)
(cd build-asan && ctest -L unit -j "$jobs" --output-on-failure)

step "real-kernel tests in the VM"
(cd build && ctest -L vm --output-on-failure)

step "CSI conformance tests in the VM"
(cd build && ctest -L conformance --output-on-failure)

step "all tests passed in $((SECONDS - started)) s"
