#!/usr/bin/env bash
# Can four ViT-L/14-sized versions be merged on a machine with 8 GB of memory?
# Generates a ViT-L/14-shaped base (fp32, 1.7 GB) and four dense updates of it,
# commits them, then runs a TIES merge of the four against the base under an
# 8 GiB address-space limit (prlimit --as: stricter than resident memory, since
# every thread's stack and every malloc arena counts), and reports fomo's peak
# resident memory next to the size of the inputs it merged.
#
# usage: bench/merge_memory_bench.sh [WORKDIR]   (needs about 12 GB of disk)
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
fomo=${FOMO:-$top/build/fomo}
gen=${FOMO_GEN:-$top/build/fomo-gen}
work=${1:-$(mktemp -d /tmp/fomo-merge-memory.XXXXXX)}
limit=$((8 * 1024 * 1024 * 1024))
[[ -x $fomo && -x $gen ]] || { echo "build fomo first (scripts/setup.sh)" >&2; exit 1; }
mkdir -p "$work"
cd "$work"
if [[ ! -f repo/.fomo/done ]]; then
  rm -rf repo
  "$gen" base --shape vit-l-14 -o base.safetensors --seed 1
  "$fomo" init repo --from base.safetensors --no-eval -q
  for i in 1 2 3 4; do
    "$gen" update base.safetensors -o update.safetensors --kind dense --seed $((i + 1))
    "$fomo" -C repo commit "$PWD/update.safetensors" --no-eval -q
    rm update.safetensors
  done
  rm base.safetensors
  touch repo/.fomo/done
fi
model_bytes=$("$fomo" -C repo show v1.0.0 --json | python3 -c 'import json,sys; print(json.load(sys.stdin)["storage"]["raw_bytes"])')
/usr/bin/time -f "%M %e" -o time.txt prlimit --as=$limit \
  "$fomo" -C repo merge v1.0.4 v1.0.3 v1.0.2 v1.0.1 --method ties --base v1.0.0 --no-eval -q
read -r peak_kb seconds <time.txt
python3 - "$model_bytes" "$peak_kb" "$seconds" <<'EOF'
import sys
model, peak_kb, seconds = int(sys.argv[1]), int(sys.argv[2]), float(sys.argv[3])
peak = peak_kb * 1024
print(f"TIES merge of 4 ViT-L/14-sized versions against their base, under an 8 GiB address-space limit:")
print(f"  model {model / 1e9:.2f} GB; inputs read {5 * model / 1e9:.1f} GB; "
      f"peak RSS {peak / 1e9:.2f} GB = {peak / model:.2f} models; {seconds:.0f} s")
EOF
"$fomo" -C repo fsck -q && echo "  fsck: the repository is consistent"
