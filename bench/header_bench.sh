#!/usr/bin/env bash
# How long fomo takes to refuse a safetensors file with N tensors (none of them a
# CLIP's): the header is parsed, duplicate names checked, every entry validated,
# then the import says what is wrong. The landed code (before issue 13) grew
# quadratically here; give its build as BASELINE to see both side by side:
#
#   bench/header_bench.sh [BASELINE_FOMO]   e.g. /tmp/base/build/fomo
#
# Prints seconds per tensor count for this build and the baseline, and the ratio.
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
fomo=${FOMO:-$top/build/fomo}
baseline=${1:-}
work=$(mktemp -d /tmp/fomo-header-bench.XXXXXX)
trap 'rm -rf "$work"' EXIT
"$fomo" init "$work/repo" --from "$top/tests/data/openai_clip_tiny.safetensors" --no-eval -q
seconds() {  # binary file
  local start end
  start=$(date +%s.%N)
  (cd "$work/repo" && timeout 300 "$1" commit "$2" >/dev/null 2>&1) || true
  end=$(date +%s.%N)
  echo "$end - $start" | bc
}
printf '%10s %12s %14s %8s\n' tensors "fomo (s)" "baseline (s)" ratio
for n in 10000 20000 40000 100000; do
  python3 - "$work/h$n.safetensors" "$n" <<'PY'
import json, struct, sys
n = int(sys.argv[2])
header = {f"t{i}": {"dtype": "F32", "shape": [1], "data_offsets": [4 * i, 4 * i + 4]} for i in range(n)}
text = json.dumps(header).encode()
with open(sys.argv[1], "wb") as f:
    f.write(struct.pack("<Q", len(text)) + text + bytes(4 * n))
PY
  ours=$(seconds "$fomo" "$work/h$n.safetensors")
  if [[ -n $baseline ]]; then
    theirs=$(seconds "$baseline" "$work/h$n.safetensors")
    printf '%10s %12.2f %14.2f %7.0fx\n' "$n" "$ours" "$theirs" "$(echo "$theirs / $ours" | bc -l)"
  else
    printf '%10s %12.2f %14s %8s\n' "$n" "$ours" - -
  fi
done
