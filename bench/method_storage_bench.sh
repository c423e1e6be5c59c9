#!/usr/bin/env bash
# What each method's version of a ViT-B/16-shaped model costs in the store.
# A ViT-B/16-shaped base (fomo-gen, fp32, 599 MB) gets one real training step
# per method (batch 2 on Fashion-MNIST); the table gives the bytes each version
# added to the store next to what it trained. Targets: a rank-4 LoRA version at
# most 1.2x the raw size of its factors, a BitFit version at most 1 % of the
# model's raw size.
#
# usage: bench/method_storage_bench.sh [WORKDIR]
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
fomo=${FOMO:-$top/build/fomo}
gen=$(dirname "$fomo")/fomo-gen
[[ -x $gen ]] || gen=$top/build/fomo-gen
work=${1:-$(mktemp -d /tmp/fomo-method-storage.XXXXXX)}
mkdir -p "$work"
cd "$work"
if [[ ! -f repo/.fomo/done ]]; then
  rm -rf repo
  "$gen" base --shape vit-b-16 -o base.safetensors --seed 1
  "$fomo" init repo --from base.safetensors --no-eval -q
  rm base.safetensors
  touch repo/.fomo/done
fi
echo "| method | trained values | raw bytes of what trained | stored bytes | stored / trained | stored / model |"
echo "|---|---:|---:|---:|---:|---:|"
for method in lora dora vera ia3 bitfit lnfit full; do
  out=$("$fomo" -C repo minor --from v1.0.0 --method "$method" --data fmnist:5-9#16 --steps 1 --batch-size 2 \
    --no-eval --json)
  python3 - "$method" "$out" <<'PY'
import json, sys
method, j = sys.argv[1], json.loads(sys.argv[2])
trained = j["recipe"]["trained_parameters"]
stored, raw = j["storage"]["stored_bytes"], j["storage"]["raw_bytes"]
print(f"| {method} | {trained:,} | {4 * trained:,} | {stored:,} | {stored / (4 * trained):.2f}x | {100 * stored / raw:.2f} % |")
PY
done
