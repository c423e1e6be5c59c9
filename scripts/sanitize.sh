#!/usr/bin/env bash
# Builds fomo and its whole test suite under AddressSanitizer and
# UndefinedBehaviorSanitizer in build-sanitize/ and runs the suite there.
#
#   scripts/sanitize.sh [CTEST ARGS...]     e.g. scripts/sanitize.sh -R fuzz_replay
#
# Any sanitizer report fails the test that caused it (halt_on_error). LibTorch
# itself is not instrumented; its allocations pass through ASan's allocator.
# scripts/lsan.supp names LibTorch's and Python's start-up allocations for a run
# with leak checking (ASAN_OPTIONS=detect_leaks=1), which is off by default.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh >/dev/null
sanitizers=${FOMO_SANITIZERS:-address,undefined}
cmake -S . -B build-sanitize -DCMAKE_BUILD_TYPE=Release -DFOMO_SANITIZE="$sanitizers" >/dev/null
cmake --build build-sanitize -j"$(nproc 2>/dev/null || echo 2)"
# Reports go to files as well as failing their test, so every one is printed at the
# end, including one from an attempt that a retry then passed.
reports=$(mktemp -d)
trap 'rm -rf "$reports"' EXIT
# Leak checking is off: LeakSanitizer's tracer itself crashes now and then at the
# exit of a process that ran LibTorch's thread pools ("Tracer caught signal 11 ...
# LeakSanitizer has encountered a fatal error"), failing a test that did nothing
# wrong (three times in one CI run on 2026-12-02). ASan's memory errors and UBSan
# stay on.
export ASAN_OPTIONS=detect_leaks=0:halt_on_error=1:abort_on_error=0:detect_odr_violation=0:log_path=$reports/asan
export LSAN_OPTIONS=suppressions=$PWD/scripts/lsan.supp:print_suppressions=0
export UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1:log_path=$reports/ubsan
# A test is retried once, and every report is printed below either way.
status=0
ctest --test-dir build-sanitize --output-on-failure -j"$(nproc 2>/dev/null || echo 2)" --repeat until-pass:2 "$@" ||
  status=$?
if compgen -G "$reports/*" >/dev/null; then
  echo "sanitize: reports written during the run:" >&2
  for f in "$reports"/*; do
    echo "== $(basename "$f")" >&2
    head -n 60 "$f" >&2
  done
fi
exit "$status"
