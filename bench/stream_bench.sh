#!/usr/bin/env bash
# The study's long update cycle on the built-in Fashion-MNIST setting, as streams
# (fomo stream run), with their reports and the accumulation-retention picture.
#
#   base:      tiny pretrained on classes 0-4 (300 steps, as the quick start)
#   stream:    classes 5-9 as 5 one-class tasks, STEPS (60) steps of batch 64
#              each, fomo.yaml's replay mixture (a third pretraining data, a third
#              the task, a third the buffer of every earlier task)
#   methods:   naive full finetuning (cosine); full with the autoregressive-rsqrt
#              meta schedule; BitFit; LoRA; full with ema-merge W=0.9
#   orderings: random (seed 0) and easy-to-hard (the base's zero-shot top-1 per class)
#   joint:     one update on all five classes with the five tasks' steps (on the
#              naive streams: fomo stream run --joint)
#   A_KA:      mean top-1 over the tasks' test sets; A_ZS: top-1 on classes 0-4
#
# usage: bench/stream_bench.sh [WORKDIR]   (OUT=DIR: where the pictures go)
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
fomo=${FOMO:-$top/build/fomo}  # FOMO=path: a copy, so rebuilding does not disturb a run
work=${1:-$(mktemp -d /tmp/fomo-stream-bench.XXXXXX)}
out=${OUT:-$work}
steps=${STEPS:-60}
[[ -x $fomo ]] || { echo "build fomo first (scripts/setup.sh)" >&2; exit 1; }
[[ -d /usr/share/datasets/fashion-mnist ]] || { echo "install dataset-fashion-mnist" >&2; exit 1; }
mkdir -p "$work" "$out"
started=$(date +%s)
repo=$work/repo

echo "fomo $(git -C "$top" rev-parse --short HEAD 2>/dev/null || echo '?'), $(nproc) cores, $(date -u +%FT%TZ)"
rm -rf "$repo"
mkdir -p "$repo"
printf 'suites:\n  adaptation: auto\n  retention: [fmnist:0-4]\n' >"$repo/fomo.yaml"
(cd "$repo" && "$fomo" init --arch tiny --pretrain fmnist:0-4 --steps 300 -q --no-eval)
echo "base: tiny pretrained on fmnist:0-4 for 300 steps ($(($(date +%s) - started)) s)"

declare -A method_keys=(
  [naive]="method: full"
  [rsqrt]="method: full, schedule: autoregressive-rsqrt"
  [bitfit]="method: bitfit"
  [lora]="method: lora"
  [ema]="method: full, merge: ema:0.9"
)
methods=(naive rsqrt bitfit lora ema)
orderings=(random easy-to-hard)

for ordering in "${orderings[@]}"; do
  for method in "${methods[@]}"; do
    name=$method-$ordering
    cat >"$repo/$name.yaml" <<EOF
name: $name
base: v1.0.0
concepts: ['fmnist:5-9']
tasks: 5
ordering: {kind: $ordering, seed: 0}
update: {level: minor, steps: $steps, ${method_keys[$method]}}
buffer: all
EOF
    joint=()
    [[ $method == naive ]] && joint=(--joint)
    t0=$(date +%s)
    (cd "$repo" && "$fomo" stream run "$name.yaml" "${joint[@]}" --no-eval -q)
    echo "stream $name: $(($(date +%s) - t0)) s"
  done
done

# The reports (they evaluate every point on the same suites), then one table.
for ordering in "${orderings[@]}"; do
  for method in "${methods[@]}"; do
    (cd "$repo" && "$fomo" stream report "$method-$ordering" --json -q) \
      >"$work/$method-$ordering.json"
  done
done
echo
(cd "$repo" && "$fomo" stream report naive-random)
echo
python3 - "$work" "${orderings[@]}" <<'EOF'
import json, math, sys
work, orderings = sys.argv[1], sys.argv[2:]
methods = ["naive", "rsqrt", "bitfit", "lora", "ema"]
label = {"naive": "naive full finetuning", "rsqrt": "full, autoregressive-rsqrt", "bitfit": "BitFit",
         "lora": "LoRA", "ema": "full, ema-merge W=0.9"}
for ordering in orderings:
    naive = json.load(open(f"{work}/naive-{ordering}.json"))
    b, j = naive["points"][0], naive["joint"]
    bx, by, jx, jy = b["accumulation"], b["retention"], j["accumulation"], j["retention"]
    def dist(p):  # signed distance from the base-to-joint line, positive above (as the report's)
        dx, dy = jx - bx, jy - by
        cross = dx * (p["retention"] - by) - dy * (p["accumulation"] - bx)
        return (-cross if dx < 0 else cross) / math.hypot(dx, dy)
    print(f"{ordering}: base A_KA {bx:.1f} A_ZS {by:.1f}; joint A_KA {jx:.1f} A_ZS {jy:.1f}")
    print("| method | final A_KA | final A_ZS | mean A_KA | mean A_ZS | final distance | mean distance |")
    print("|---|---:|---:|---:|---:|---:|---:|")
    for m in methods:
        r = json.load(open(f"{work}/{m}-{ordering}.json"))
        tasks = r["points"][1:]
        last = tasks[-1]
        mean = lambda k: sum(p[k] for p in tasks) / len(tasks)
        d = [dist(p) for p in tasks]
        print(f"| {label[m]} | {last['accumulation']:.1f} | {last['retention']:.1f} | {mean('accumulation'):.1f} | "
              f"{mean('retention'):.1f} | {d[-1]:+.1f} | {sum(d) / len(d):+.1f} |")
    print()
EOF

for ordering in "${orderings[@]}"; do
  streams=()
  for method in "${methods[@]}"; do streams+=(--stream "$method-$ordering"); done
  (cd "$repo" && "$fomo" plot "${streams[@]}" --title "Fashion-MNIST 5-9 after 0-4: $ordering ordering" \
    -o "$out/stream-$ordering.svg")
done
echo "total: $(($(date +%s) - started)) s"
