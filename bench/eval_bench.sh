#!/usr/bin/env bash
# Zero-shot evaluation benchmark (issue: model and evaluation). Fashion-MNIST test
# (10,000 images) with the `tiny` config, fomo next to a PyTorch eager script doing
# the same work with the same weights (bench/clip_reference.py, Debian's
# python3-torch), in one run, both on the same number of threads. Times are whole
# runs (process start, loading weights and data, prompts, images, scoring).
#
# usage: bench/eval_bench.sh [WORKDIR]
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
fomo=$top/build/fomo
python=${PYTHON:-/usr/bin/python3}
threads=${THREADS:-$(nproc)}
data=/usr/share/datasets/fashion-mnist
[[ -x $fomo ]] || { echo "build fomo first (scripts/setup.sh)" >&2; exit 1; }
[[ -d $data ]] || { echo "install dataset-fashion-mnist" >&2; exit 1; }
"$python" -c "import torch" 2>/dev/null || { echo "install python3-torch for the reference" >&2; exit 1; }
work=${1:-$(mktemp -d /tmp/fomo-eval-bench.XXXXXX)}
rm -rf "$work/repo" && mkdir -p "$work/repo"
cd "$work/repo"
"$fomo" init -q --arch tiny --seed 0
"$fomo" export -q -o ../weights.safetensors

# The prompts fomo uses for fmnist (core/dataset.cpp), as token ids.
classes=("t-shirt/top" "trouser" "pullover" "dress" "coat" "sandal" "shirt" "sneaker" "bag" "ankle boot")
templates=("a photo of a {}." "a photo of the {}, a type of clothing." "a black and white photo of a {}."
           "a low resolution photo of a {}.")
{
  echo "["
  for i in "${!classes[@]}"; do
    texts=()
    for t in "${templates[@]}"; do texts+=("${t//\{\}/${classes[$i]}}"); done
    "$fomo" tokenize --context 77 --json "${texts[@]}"
    [[ $i -lt $((${#classes[@]} - 1)) ]] && echo ","
  done
  echo "]"
} > ../prompts.json

export OMP_NUM_THREADS=$threads
start=$(date +%s.%N)
fomo_top1=$("$fomo" eval --dataset fmnist --force --json | "$python" -c "
import json, sys
print(next(r['value'] for r in json.load(sys.stdin) if r['metric'] == 'top1'))")
end=$(date +%s.%N)
fomo_s=$(awk -v s="$start" -v e="$end" 'BEGIN { print e - s }')
ref=$("$python" "$top/bench/clip_reference.py" ../weights.safetensors ../prompts.json "$data" --threads "$threads")
start=$(date +%s.%N)
ref=$("$python" "$top/bench/clip_reference.py" ../weights.safetensors ../prompts.json "$data" --threads "$threads")
end=$(date +%s.%N)
ref_s=$(awk -v s="$start" -v e="$end" 'BEGIN { print e - s }')
ref_top1=$(echo "$ref" | "$python" -c "import json, sys; print(json.load(sys.stdin)['top1'])")

awk -v fs="$fomo_s" -v rs="$ref_s" -v ft="$fomo_top1" -v rt="$ref_top1" -v th="$threads" 'BEGIN {
  printf "zero-shot eval, Fashion-MNIST test (10,000 images), tiny config, %d threads\n\n", th
  printf "%-28s %8s %10s %8s\n", "", "seconds", "images/s", "top-1"
  printf "%-28s %8.2f %10.0f %8.2f\n", "fomo eval", fs, 10000 / fs, ft
  printf "%-28s %8.2f %10.0f %8.2f\n", "PyTorch eager (reference)", rs, 10000 / rs, rt
  printf "\nfomo / PyTorch: %.2fx the throughput (target >= 1)\n", rs / fs
}'
