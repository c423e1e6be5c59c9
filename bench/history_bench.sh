#!/usr/bin/env bash
# How reading commands scale with history: a repository of the tiny model grows
# to 1,000 versions (each a generated perturbation of the base, committed), and at
# 10, 100 and 1,000 versions each command is timed (median of 3) next to git's log
# on the same graph. A command linear in history grows 10x per row; `log -n 10`
# should not grow at all. At each size one more commit is timed, then export of
# the oldest and newest version, du and fsck (median of 3), and gc once on a copy
# of the repository; disk/cont is the store's disk blocks over its content bytes.
#
#   bench/history_bench.sh [COUNTS...]     default: 10 100 1000
#
# Prints one table; bench/results/history-DATE.txt keeps it.
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
fomo=${FOMO:-$top/build/fomo}
gen=${FOMO_GEN:-$top/build/fomo-gen}
counts=("${@:-10 100 1000}")
read -r -a counts <<<"${counts[*]}"
work=$(mktemp -d /tmp/fomo-history-bench.XXXXXX)
trap 'rm -rf "$work"' EXIT
repo=$work/repo
mkdir -p "$repo"
printf 'suites:\n  adaptation: auto\n  retention: []\n' >"$repo/fomo.yaml"
(cd "$repo" && "$fomo" init --arch tiny --no-eval -q && "$fomo" export -o "$work/base.safetensors" -q)

median3() {  # command... ; prints the median wall time of three runs in ms
  local times=() s e
  for _ in 1 2 3; do
    s=$(date +%s%N)
    (cd "$repo" && "$@" >/dev/null 2>&1)
    e=$(date +%s%N)
    times+=($(((e - s) / 1000000)))
  done
  printf '%s\n' "${times[@]}" | sort -n | sed -n 2p
}

out=${HISTORY_OUT:-$top/bench/results/history-$(date +%Y-%m-%d).txt}
mkdir -p "$(dirname "$out")"
{
  echo "fomo $("$fomo" --version | cut -d' ' -f2) ($fomo), $(nproc) cores, $(date -u +%Y-%m-%dT%H:%MZ); milliseconds, median of 3"
  printf '%9s %9s %9s %9s %9s %9s %9s %9s %9s %9s %9s %9s %9s %9s %9s %9s %9s %12s\n' versions "git log" "log" "log -n10" \
    "log -m" status show tag branch diff commit "exp old" "exp new" du fsck gc "disk/cont" "log/git log"
} | tee "$out"
have=1
for n in "${counts[@]}"; do
  while ((have < n)); do
    "$gen" update "$work/base.safetensors" -o "$work/u.safetensors" --kind dense --seed "$have" >/dev/null
    (cd "$repo" && "$fomo" commit "$work/u.safetensors" --no-eval -q -m "perturbation $have")
    have=$((have + 1))
    # A tag and a branch now and then, so ref lookups have something to find.
    if ((have % 50 == 0)); then (cd "$repo" && "$fomo" tag "mark-$have" -q && "$fomo" branch "line-$have" -q); fi
  done
  git_ms=$(median3 git --git-dir=.fomo/graph log --oneline)
  log_ms=$(median3 "$fomo" log --oneline)
  row=$(printf '%9d %9d %9d %9d %9d %9d %9d %9d %9d %9d' "$n" "$git_ms" "$log_ms" \
    "$(median3 "$fomo" log -n 10 --oneline)" "$(median3 "$fomo" log --metrics --oneline)" \
    "$(median3 "$fomo" status)" "$(median3 "$fomo" show)" "$(median3 "$fomo" tag)" "$(median3 "$fomo" branch)" \
    "$(median3 "$fomo" diff v1.0.0 HEAD --no-eval)")
  # One more commit (once: it adds a version), an export of HEAD, du and fsck;
  # gc once on a copy, so later rows still measure a repository never collected.
  "$gen" update "$work/base.safetensors" -o "$work/u.safetensors" --kind dense --seed "$((have + 100000))" >/dev/null
  s0=$(date +%s%N)
  (cd "$repo" && "$fomo" commit "$work/u.safetensors" --no-eval -q -m "timed commit at $n")
  commit_ms=$((($(date +%s%N) - s0) / 1000000))
  have=$((have + 1))
  export_old_ms=$(median3 "$fomo" export v1.0.0 -o "$work/x.safetensors" -q)
  export_new_ms=$(median3 "$fomo" export -o "$work/x.safetensors" -q)
  du_ms=$(median3 "$fomo" du)
  disk=$(cd "$repo" && "$fomo" du --json | python3 -c 'import json,sys; s=json.load(sys.stdin)["store"]; print("%.2f" % (s["disk_bytes"] / s["bytes"]))')
  fsck_ms=$(median3 "$fomo" fsck -q)
  rm -rf "$work/gc-copy" && cp -a "$repo" "$work/gc-copy"
  s0=$(date +%s%N)
  (cd "$work/gc-copy" && "$fomo" gc -q)
  gc_ms=$((($(date +%s%N) - s0) / 1000000))
  rm -rf "$work/gc-copy"
  printf '%s %9d %9d %9d %9d %9d %9d %9s %12s\n' "$row" "$commit_ms" "$export_old_ms" "$export_new_ms" "$du_ms" \
    "$fsck_ms" "$gc_ms" "$disk" \
    "$(echo "scale=1; $log_ms / ($git_ms + 1)" | bc)x" | tee -a "$out"
done
