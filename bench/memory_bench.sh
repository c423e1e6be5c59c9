#!/usr/bin/env bash
# Peak memory of the commands that move whole models (issue 15): on a generated
# ViT-L/14-shaped fp32 checkpoint (1.71 GB), the peak resident set of fomo init,
# a dense commit on top of it, the export of the base and of the delta tip, a
# two-version merge, an import of the base in the Hugging Face layout and a commit
# of an f16 copy converted back with --dtype f32, each as a ratio to the model's
# size, next to the bound the store aims at: the largest tensor times (threads + 2)
# plus a fixed overhead.
# RSS counts the pages of a mapped checkpoint that are resident in the process,
# so a command that maps its input and touches all of it reads as the whole model.
#
# usage: bench/memory_bench.sh [WORKDIR]   (FOMO= another build; about 8 GB of disk)
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
fomo=${FOMO:-$top/build/fomo}
gen=${FOMO_GEN:-$top/build/fomo-gen}
[[ -x $fomo && -x $gen ]] || { echo "build fomo first (scripts/setup.sh)" >&2; exit 1; }
work=${1:-$(mktemp -d /tmp/fomo-memory.XXXXXX)}
mkdir -p "$work"
cd "$work"
[[ -f base.safetensors ]] || "$gen" base --shape vit-l-14 -o base.safetensors --seed 1
[[ -f dense.safetensors ]] || "$gen" update base.safetensors -o dense.safetensors --kind dense --scale 1e-3 --seed 2
rm -rf repo repo-hf hf ./*.out.safetensors time.txt
model=$(stat -c %s base.safetensors)
threads=$(nproc)

peak() {  # peak RSS in bytes and seconds of one command
  /usr/bin/time -f "%M %e" -o time.txt "$@" >/dev/null
  read -r kb seconds <time.txt
  echo "$((kb * 1024)) $seconds"
}
report() {
  read -r bytes seconds <<<"$2"
  awk -v name="$1" -v b="$bytes" -v s="$seconds" -v m="$model" \
    'BEGIN { printf "%-36s %9.0f MB %8.2f %8.1f s\n", name, b / 1e6, b / m, s }'
}

printf "fomo memory benchmark: ViT-L/14-shaped fp32 checkpoint, %.0f MB, %d threads\n\n" \
  "$(awk -v m="$model" 'BEGIN { print m / 1e6 }')" "$threads"
printf "%-36s %12s %8s %10s\n" "command" "peak RSS" "/model" "time"
mkdir repo
report "fomo init --from (base)" "$(peak "$fomo" -C repo init -q --no-eval --from ../base.safetensors)"
report "fomo commit (dense update)" "$(peak "$fomo" -C repo commit -q --no-eval ../dense.safetensors)"
report "fomo export v1.0.0 (base)" "$(peak "$fomo" -C repo export v1.0.0 -o ../base.out.safetensors)"
report "fomo export v1.0.1 (delta tip)" "$(peak "$fomo" -C repo export v1.0.1 -o ../tip.out.safetensors)"
# The exported tip holds the committed weights: committing it again finds nothing new.
"$fomo" -C repo commit --no-eval ../tip.out.safetensors | grep -q "nothing to commit" \
  || { echo "the exported tip differs from what was committed" >&2; exit 1; }
report "fomo merge v1.0.0 v1.0.1 (linear)" \
  "$(peak "$fomo" -C repo merge v1.0.0 v1.0.1 --method linear --no-eval -q)"
# Imports that convert: a Hugging Face directory (q, k, v joined, projections
# transposed back) and an f16 file committed with --dtype f32.
"$fomo" -C repo export v1.0.0 --layout hf -o ../hf -q
report "fomo init --from (Hugging Face dir)" "$(peak "$fomo" init -q --no-eval repo-hf --from hf)"
"$fomo" -C repo export v1.0.1 --dtype f16 -o ../f16.out.safetensors -q
report "fomo commit --dtype f32 (f16 file)" \
  "$(peak "$fomo" -C repo commit -q --no-eval --allow-empty --dtype f32 ../f16.out.safetensors)"
echo
echo "the exported tip holds what was committed (committing it again finds nothing new)"
"$fomo" -C repo fsck -q && echo "fsck: the repository is consistent"
echo "work dir: $work"
