#!/usr/bin/env bash
# Disk usage and integrity checks as history grows: a repository of the tiny model
# takes N updates (BitFit and dense in turn, so small and large objects both come),
# and at each count it reports the stored content (du's store.bytes), the bytes of
# the files holding it and the disk blocks they take, before and after `fomo gc`,
# with the graph's files beside them; then fsck and fsck --quick next to sha256sum
# over the same files (MB/s of stored bytes, median of 3).
#
#   bench/store_disk_bench.sh [COUNTS...]     default: 10 100
#   FOMO_OLD=/path/to/old/fomo bench/store_disk_bench.sh   also the layout before packs
#
# Prints one table; bench/results/store-disk-DATE.txt keeps it.
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
fomo=${FOMO:-$top/build/fomo}
gen=${FOMO_GEN:-$top/build/fomo-gen}
counts=("${@:-10 100}")
read -r -a counts <<<"${counts[*]}"
work=$(mktemp -d /tmp/fomo-disk-bench.XXXXXX)
trap 'rm -rf "$work"' EXIT

ms() {  # dir command... ; median wall time of three runs in ms
  local dir=$1 times=() s e
  shift
  for _ in 1 2 3; do
    s=$(date +%s%N)
    (cd "$dir" && "$@" >/dev/null 2>&1)
    e=$(date +%s%N)
    times+=($(((e - s) / 1000000)))
  done
  printf '%s\n' "${times[@]}" | sort -n | sed -n 2p
}
kib() { echo $(($1 / 1024)); }
disk_blocks() { find "$1" -type f -printf '%b\n' | awk '{s += $1 * 512} END {print s + 0}'; }
file_bytes() { find "$1" -type f -printf '%s\n' | awk '{s += $1} END {print s + 0}'; }
files() { find "$1" -type f | wc -l; }

out=$top/bench/results/store-disk-$(date +%Y-%m-%d).txt
mkdir -p "$(dirname "$out")"
{
  echo "fomo $("$fomo" --version | cut -d' ' -f2), $(nproc) cores, $(date -u +%Y-%m-%dT%H:%MZ); KiB; MB/s of stored bytes, median of 3"
  printf '%-8s %8s %9s %9s %8s %9s %8s %9s %9s %8s %8s %8s\n' layout versions content "files" "disk" "disk/c" \
    "graph" "graph-gc" "disk-gc" "disk/c" "fsck" "--quick" 
} | tee "$out"
sha_line=""

run_layout() {  # name fomo-binary
  local name=$1 bin=$2 repo=$work/$1 have=1
  mkdir -p "$repo"
  printf 'suites:\n  adaptation: auto\n  retention: []\n' >"$repo/fomo.yaml"
  (cd "$repo" && "$bin" init --arch tiny --no-eval -q && "$bin" export -o "$work/base.safetensors" -q)
  for n in "${counts[@]}"; do
    while ((have < n)); do
      kind=bitfit
      ((have % 2 == 0)) && kind=dense
      "$gen" update "$work/base.safetensors" -o "$work/u.safetensors" --kind "$kind" --seed "$have" >/dev/null
      (cd "$repo" && "$bin" commit "$work/u.safetensors" --no-eval -q -m "update $have")
      have=$((have + 1))
    done
    local content objects_disk objects_files graph graph_gc disk_gc size fsck_ms quick_ms
    content=$(cd "$repo" && "$bin" du --json | python3 -c 'import json,sys; print(json.load(sys.stdin)["store"]["bytes"])')
    objects_disk=$(disk_blocks "$repo/.fomo/objects")
    objects_files=$(files "$repo/.fomo/objects")
    graph=$(disk_blocks "$repo/.fomo/graph/objects")
    # gc on a copy, so the next count grows the same history
    rm -rf "$work/copy" && cp -a "$repo" "$work/copy"
    (cd "$work/copy" && "$bin" gc -q)
    graph_gc=$(disk_blocks "$work/copy/.fomo/graph/objects")
    disk_gc=$(disk_blocks "$work/copy/.fomo/objects")
    size=$(file_bytes "$work/copy/.fomo/objects")
    fsck_ms=$(ms "$work/copy" "$bin" fsck)
    quick_ms=$(ms "$work/copy" "$bin" fsck --quick)
    sha_ms=$(ms "$work/copy" sh -c 'find .fomo/objects -type f -print0 | xargs -0 sha256sum')
    printf '%-8s %8d %9d %9d %8d %9s %8d %9d %9d %8s %8d %8d\n' "$name" "$n" "$(kib "$content")" "$objects_files" \
      "$(kib "$objects_disk")" "$(echo "scale=2; $objects_disk / $content" | bc)" "$(kib "$graph")" "$(kib "$graph_gc")" \
      "$(kib "$disk_gc")" "$(echo "scale=2; $disk_gc / $content" | bc)" \
      "$((size / 1000 / (fsck_ms + 1)))" "$((size / 1000 / (quick_ms + 1)))" | tee -a "$out"
    sha_line="$sha_line $name@$n: sha256sum $((size / 1000 / (sha_ms + 1))) MB/s;"
  done
}

run_layout packs "$fomo"
if [[ -n ${FOMO_OLD:-} ]]; then run_layout loose "$FOMO_OLD"; fi
echo "files = object files before gc; disk = their blocks; disk-gc after gc;$sha_line" | tee -a "$out"
