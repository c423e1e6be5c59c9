#!/usr/bin/env bash
# Fuzzes every parser of outside input (tests/fuzz) with clang's libFuzzer under
# AddressSanitizer and UndefinedBehaviorSanitizer.
#
#   bench/fuzz.sh [SECONDS] [TARGET...]   (default: 60 s per target, every target)
#
# Each target runs from a copy of its seed corpus (tests/fuzz/corpus/TARGET) for
# SECONDS or a million executions, whichever comes first, on one core per target
# (as many at once as there are cores). A crash, leak, sanitizer report, timeout or
# out-of-memory is copied into the corpus as crash-HASH, where the ctest case
# fuzz_replay.TARGET replays it from then on. The table at the end gives
# executions, coverage and findings per target (bench/results/fuzz-DATE.txt).
set -euo pipefail
cd "$(dirname "$0")/.."
seconds=${1:-60}
shift || true
if ! command -v clang++ >/dev/null; then
  echo "fuzz: clang++ is not installed (scripts/setup.sh installs clang and libclang-rt-14-dev)" >&2
  exit 1
fi
build=build-fuzz
CC=clang CXX=clang++ cmake -S . -B "$build" -DCMAKE_BUILD_TYPE=RelWithDebInfo -DFOMO_FUZZ=ON \
  -DFOMO_SANITIZE=address,undefined >/dev/null
targets=("$@")
if ((${#targets[@]} == 0)); then
  mapfile -t targets < <(sed -n '/^set(FOMO_FUZZ_TARGETS/,/)/p' tests/CMakeLists.txt | tr ' ()' '\n\n\n' |
    grep -v -e '^$' -e FOMO_FUZZ_TARGETS -e '^set$')
fi
cmake --build "$build" -j"$(nproc)" --target "${targets[@]/#/fuzz_}"

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
export ASAN_OPTIONS=detect_leaks=1:allocator_may_return_null=1
export UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
run_target() {
  local t=$1 dir=$work/$1
  mkdir -p "$dir/corpus" "$dir/findings"
  cp tests/fuzz/corpus/"$t"/* "$dir/corpus/"
  local max_len=65536
  [[ $t == safetensors || $t == object || $t == pack ]] && max_len=1048576
  "$build/fuzz/fuzz_$t" "$dir/corpus" -max_total_time="$seconds" -runs=1000000 -max_len="$max_len" \
    -timeout=10 -rss_limit_mb=2048 -artifact_prefix="$dir/findings/" -print_final_stats=1 \
    >"$dir/log" 2>&1 || true
}
jobs=$(nproc)
for t in "${targets[@]}"; do
  while (($(jobs -r | wc -l) >= jobs)); do sleep 1; done
  run_target "$t" &
done
wait

mkdir -p bench/results
report=bench/results/fuzz-$(date +%Y-%m-%d).txt
{
  echo "fuzz run $(date -u +%Y-%m-%dT%H:%MZ), ${seconds} s per target (or 1M executions), ASan+UBSan, $(clang++ --version | head -1)"
  printf '%-14s %10s %8s %8s %9s\n' target executions exec/s coverage findings
  for t in "${targets[@]}"; do
    log=$work/$t/log
    execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)
    rate=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$log" | tail -1)
    cov=$(grep -o 'cov: [0-9]*' "$log" | tail -1 | cut -d' ' -f2)
    found=0
    for f in "$work/$t"/findings/*; do
      [[ -f $f ]] || continue
      found=$((found + 1))
      name=crash-$(sha1sum "$f" | cut -c1-16)
      cp "$f" "tests/fuzz/corpus/$t/$name"
      echo "  $t: $(basename "$f") -> tests/fuzz/corpus/$t/$name" >&2
      grep -m1 -E 'ERROR|runtime error|unexpected exception|timeout|out-of-memory' "$log" >&2 || true
    done
    printf '%-14s %10s %8s %8s %9s\n' "$t" "${execs:-?}" "${rate:-?}" "${cov:-?}" "$found"
  done
} | tee "$report"
