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
# Reports go to files as well as failing their test, so every one is printed at the
# end, including one from an attempt that a retry then passed.
reports=$(mktemp -d)
trap 'rm -rf "$reports"' EXIT
export ASAN_OPTIONS=detect_leaks=1:halt_on_error=1:abort_on_error=0:detect_odr_violation=0:log_path=$reports/asan
export LSAN_OPTIONS=suppressions=$PWD/scripts/lsan.supp:print_suppressions=0
export UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1:log_path=$reports/ubsan
# A test is retried once: a training test failed once here (2026-12-02) in one of
# four full runs and never in twenty reruns; the retry keeps CI usable while the
# report below is what to look at.
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
