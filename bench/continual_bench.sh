#!/usr/bin/env bash
# The built-in Fashion-MNIST continual setting, one strategy per run, as a table.
#
#   base:   tiny pretrained on classes 0-4 (300 steps, as the quick start)
#   stream: two tasks, classes 5-7 then 8-9 (fomo minor, 100 steps each)
#   A_KA:   top-1 on the full test split of classes 5-9, unseen classes included
#   A_ZS:   top-1 on the test split of classes 0-4, never trained on again
#   line:   from the base (A_KA0, A_ZS0) to the joint upper bound (one update on
#           classes 5-9 with the whole budget, 200 steps); a point is "above" when
#           its A_ZS beats the line's at its A_KA
#
# REPLAY=P/D/B sets every update's --replay (default: fomo.yaml's, 0.33/0.34/0.33);
# REPLAY=0/1/0 runs the stream on the update data alone (no replay, no buffer).
#
# usage: bench/continual_bench.sh merges [WORKDIR]
#        bench/continual_bench.sh methods [WORKDIR]
#   merges:  naive finetuning vs --merge ema|finetune|zeroshot at W 0.85, 0.9, 0.95
#   methods: each --method at an equal MAF budget (the full-finetuning cost of 100
#            steps), with the bytes each version added to the store
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
fomo=${FOMO:-$top/build/fomo}  # FOMO=path: a copy, so rebuilding does not disturb a run
mode=${1:-merges}
work=${2:-$(mktemp -d /tmp/fomo-continual-bench.XXXXXX)}
[[ -x $fomo ]] || { echo "build fomo first (scripts/setup.sh)" >&2; exit 1; }
[[ -d /usr/share/datasets/fashion-mnist ]] || { echo "install dataset-fashion-mnist" >&2; exit 1; }
mkdir -p "$work"
tasks=("fmnist:5-7" "fmnist:8-9")
steps=100
replay=(${REPLAY:+--replay "$REPLAY"})

summary() { # REPO REV -> "A_KA A_ZS stored_bytes"
  "$fomo" -C "$1" show "$2" --json | python3 -c '
import json, sys
j = json.load(sys.stdin)
s = j["summary"]
print("%.1f %.1f %d" % (s["adaptation"], s["retention"], j["storage"]["stored_bytes"]))'
}

# The base, once.
base=$work/base
if [[ ! -f $base/.fomo/done ]]; then
  rm -rf "$base"
  mkdir -p "$base"
  printf 'suites:\n  adaptation: [fmnist:5-9]\n  retention: [fmnist:0-4]\n' >"$base/fomo.yaml"
  (cd "$base" && "$fomo" init --arch tiny --pretrain fmnist:0-4 --steps 300 -q)
  touch "$base/.fomo/done"
fi
read -r ka0 zs0 _ < <(summary "$base" HEAD)

# One strategy: a copy of the base, then the stream. Prints "ka1 zs1 ka2 zs2 bytes".
run_stream() { # NAME ARGS...
  local name=$1
  shift
  local repo=$work/$name
  rm -rf "$repo"
  cp -r "$base" "$repo"
  local out="" bytes=0
  for task in "${tasks[@]}"; do
    (cd "$repo" && "$fomo" minor --data "$task" "${replay[@]}" "$@" -q) >&2
    read -r ka zs b < <(summary "$repo" HEAD)
    out+="$ka $zs "
    bytes=$((bytes + b))
  done
  echo "$out$bytes"
}

# The joint upper bound: one update over every task's data with the whole budget.
joint=$work/joint
rm -rf "$joint"
cp -r "$base" "$joint"
(cd "$joint" && "$fomo" minor --data fmnist:5-9 --steps $((2 * steps)) "${replay[@]}" -q) >&2
read -r ka_j zs_j _ < <(summary "$joint" HEAD)

above() { # KA ZS -> "+0.4 yes": A_ZS minus the line's A_ZS at that A_KA, and whether it is above
  python3 -c "
ka, zs = $1, $2
ka0, zs0, kaj, zsj = $ka0, $zs0, $ka_j, $zs_j
line = zs0 + (zsj - zs0) * (ka - ka0) / (kaj - ka0) if kaj != ka0 else zs0
print('%+.1f %s' % (zs - line, 'yes' if zs > line else 'no'))"
}

echo "Fashion-MNIST, tiny${REPLAY:+, --replay $REPLAY}: base A_KA $ka0 A_ZS $zs0; joint upper bound A_KA $ka_j A_ZS $zs_j"
echo
case $mode in
  merges)
    echo "| strategy | task 1 A_KA | task 1 A_ZS | task 2 A_KA | task 2 A_ZS | A_ZS above the line |"
    echo "|---|---:|---:|---:|---:|:---:|"
    row() { # LABEL ARGS...
      local label=$1
      shift
      read -r ka1 zs1 ka2 zs2 _ < <(run_stream "$(echo "$label" | tr ' :=' '___')" --steps $steps "$@")
      echo "| $label | $ka1 | $zs1 | $ka2 | $zs2 | $(above "$ka2" "$zs2") |"
    }
    row "naive finetuning"
    for strategy in ema finetune zeroshot; do
      for w in 0.85 0.9 0.95; do row "$strategy-merge w=$w" --merge "$strategy:$w"; done
    done
    # Below the study's range, to show the whole trade-off curve.
    for w in 0.5 0.3; do row "ema-merge w=$w" --merge "ema:$w"; done
    ;;
  methods)
    # Equal MAF budget: what 100 full-finetuning steps cost (fomo show reports it).
    budget=$("$fomo" -C "$joint" show HEAD --json | python3 -c '
import json, sys
b = json.load(sys.stdin)["budget"]
print("%.6g" % (b["maf"] / b["steps"] * '"$steps"'))')
    echo "Each method gets --budget $budget MAF per task (100 full-finetuning steps)."
    echo
    echo "| method | steps per task | lr | task 2 A_KA | task 2 A_ZS | stored bytes (both tasks) | A_ZS above the line |"
    echo "|---|---:|---:|---:|---:|---:|:---:|"
    # EWC's Fisher pass is charged to every step (as the study does): 640 samples
    # keep it at 11 steps' worth; GaLore's rank is cut to the tiny model's size;
    # adapters and selective methods train at 10x the learning rate (1e-3), as is
    # usual for them (at 1e-4 they barely move in these budgets).
    peft="--lr 1e-3"
    declare -A extra=([ewc]="--fisher-samples 640" [galore]="--galore-rank 16 --galore-gap 50" [lora]=$peft
      [dora]=$peft [vera]=$peft [ia3]=$peft [bitfit]=$peft [lnfit]=$peft)
    for method in full locked-text locked-image lora dora vera ia3 bitfit lnfit galore ewc si; do
      # shellcheck disable=SC2086
      read -r _ _ ka2 zs2 bytes < <(run_stream "method_$method" --method "$method" --budget "$budget" ${extra[$method]:-})
      steps_m=$("$fomo" -C "$work/method_$method" show HEAD --json | python3 -c 'import json,sys; print(json.load(sys.stdin)["budget"]["steps"])')
      lr=$("$fomo" -C "$work/method_$method" show HEAD --json | python3 -c 'import json,sys; print("%g" % json.load(sys.stdin)["recipe"]["options"]["schedule"]["lr"])')
      echo "| $method | $steps_m | $lr | $ka2 | $zs2 | $bytes | $(above "$ka2" "$zs2") |"
    done
    ;;
  *)
    echo "usage: bench/continual_bench.sh merges|methods [WORKDIR]" >&2
    exit 2
    ;;
esac
