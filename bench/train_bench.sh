#!/usr/bin/env bash
# Training-throughput benchmark (issue: training core). fomo's training step next
# to a PyTorch eager loop of the same architecture, batch, optimizer and data
# (bench/train_reference.py, Debian's python3-torch), in one run, on the same
# number of threads, for two models on the CPU:
#   tiny                      batch 64, Fashion-MNIST classes 5-9
#   ViT-B/32 shape at 64 px   batch 16 (the text tower, 77 tokens x 12 layers
#                             of width 512, dominates)
# Both sides time the steps after a warmup: fomo from the per-step log it writes
# to fomo.sqlite, the reference with time.time() around its loop.
#
# usage: bench/train_bench.sh [WORKDIR]
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
fomo=$top/build/fomo
python=${PYTHON:-/usr/bin/python3}
threads=${THREADS:-$(nproc)}
data=/usr/share/datasets/fashion-mnist
[[ -x $fomo ]] || { echo "build fomo first (scripts/setup.sh)" >&2; exit 1; }
[[ -d $data ]] || { echo "install dataset-fashion-mnist" >&2; exit 1; }
"$python" -c "import torch" 2>/dev/null || { echo "install python3-torch for the reference" >&2; exit 1; }
work=${1:-$(mktemp -d /tmp/fomo-train-bench.XXXXXX)}
mkdir -p "$work"
export OMP_NUM_THREADS=$threads

classes=("t-shirt/top" "trouser" "pullover" "dress" "coat" "sandal" "shirt" "sneaker" "bag" "ankle boot")
prompts() {
  echo "["
  for i in "${!classes[@]}"; do
    "$fomo" tokenize --context 77 --json "a photo of a ${classes[$i]}."
    [[ $i -lt $((${#classes[@]} - 1)) ]] && echo ","
  done
  echo "]"
}

# fomo's samples/s over steps (warmup, steps]: the step log holds each step's
# cumulative rate, so the time at step k is k * batch / rate_k.
fomo_rate() {
  "$python" - "$1" "$2" "$3" <<'PY'
import sqlite3, sys
db, warmup, batch = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
rows = sqlite3.connect(db).execute(
    "SELECT step, samples_per_second FROM training_steps WHERE run_id = (SELECT max(id) FROM training_runs) ORDER BY step").fetchall()
t = {step: step * batch / rate for step, rate in rows}
last = rows[-1][0]
print((last - warmup) * batch / (t[last] - t[warmup]))
PY
}

# bench NAME INIT_ARGS BATCH STEPS WARMUP
bench() {
  local name=$1 init=$2 batch=$3 steps=$4 warmup=$5
  local dir="$work/$name"
  rm -rf "$dir" && mkdir -p "$dir" && cd "$dir"
  printf 'suites:\n  adaptation: []\n  retention: []\n' > fomo.yaml
  # shellcheck disable=SC2086
  "$fomo" init -q --no-eval $init
  "$fomo" export -q -o weights.safetensors
  prompts > prompts.json
  "$fomo" minor -q --no-eval --data fmnist:5-9 --replay 0/1/0 --batch-size "$batch" --steps "$steps" --lr 1e-4
  local ours theirs
  ours=$(fomo_rate .fomo/fomo.sqlite "$warmup" "$batch")
  theirs=$("$python" "$top/bench/train_reference.py" weights.safetensors prompts.json "$data" --batch "$batch" \
    --steps "$steps" --warmup "$warmup" --threads "$threads" |
    "$python" -c "import json, sys; print(json.load(sys.stdin)['samples_per_second'])")
  awk -v n="$name" -v o="$ours" -v t="$theirs" -v b="$batch" 'BEGIN {
    printf "%-26s %6d %12.1f %12.1f %8.2fx\n", n, b, o, t, o / t }'
}

cat > "$work/vit-b-32-64px.json" <<'JSON'
{"embed_dim": 512, "quick_gelu": false,
 "vision_cfg": {"image_size": 64, "layers": 12, "width": 768, "patch_size": 32, "head_width": 64, "mlp_ratio": 4.0},
 "text_cfg": {"context_length": 77, "vocab_size": 49408, "width": 512, "heads": 8, "layers": 12}}
JSON

echo "training throughput on the CPU, $threads threads (samples/s over the steps after warmup)"
echo
printf "%-26s %6s %12s %12s %9s\n" "model" "batch" "fomo" "PyTorch" "ratio"
bench tiny "--arch tiny" 64 60 10
bench vit-b-32-64px "--config $work/vit-b-32-64px.json" 16 8 3
