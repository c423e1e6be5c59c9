#!/usr/bin/env bash
# Builds fomo and its whole test suite under AddressSanitizer and
# UndefinedBehaviorSanitizer in build-sanitize/ and runs the suite there.
#
#   scripts/sanitize.sh [CTEST ARGS...]     e.g. scripts/sanitize.sh -R fuzz_replay
#
# Any sanitizer report fails the test that caused it (halt_on_error). LibTorch
# itself is not instrumented; its allocations pass through ASan's allocator and
# the leak check (the suppressions in scripts/lsan.supp name LibTorch's and
# Python's own start-up allocations, which live until exit by design).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh >/dev/null
sanitizers=${FOMO_SANITIZERS:-address,undefined}
cmake -S . -B build-sanitize -DCMAKE_BUILD_TYPE=Release -DFOMO_SANITIZE="$sanitizers" >/dev/null
cmake --build build-sanitize -j"$(nproc 2>/dev/null || echo 2)"
export ASAN_OPTIONS=detect_leaks=1:halt_on_error=1:abort_on_error=0:detect_odr_violation=0
export LSAN_OPTIONS=suppressions=$PWD/scripts/lsan.supp:print_suppressions=0
export UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1
ctest --test-dir build-sanitize --output-on-failure -j"$(nproc 2>/dev/null || echo 2)" "$@"
