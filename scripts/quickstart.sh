#!/usr/bin/env bash
# Sets up and builds fomo, then walks through a repository: import the tiny
# reference CLIP checkpoint, commit two derived versions, log, diff and export.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
top=$PWD
fomo=$top/build/fomo
gen=$top/build/fomo-gen
work=${FOMO_QUICKSTART_DIR:-$(mktemp -d /tmp/fomo-quickstart.XXXXXX)}
mkdir -p "$work"
cd "$work"
run() { echo; echo "\$ $*"; "$@"; }

# Two derived checkpoints: a small dense update of every tensor, then a
# BitFit-style update that only moves biases and LayerNorm weights.
"$gen" update "$top/tests/data/openai_clip_tiny.safetensors" -o dense.safetensors --kind dense --seed 1
"$gen" update dense.safetensors -o bitfit.safetensors --kind bitfit --seed 2

run "$fomo" init repo --from "$top/tests/data/openai_clip_tiny.safetensors" -m "tiny reference CLIP" --no-eval
cd repo
run "$fomo" commit ../dense.safetensors -m "dense update of every tensor" --no-eval
run "$fomo" commit ../bitfit.safetensors --bump minor -m "biases and norms only" --no-eval
run "$fomo" log --oneline
run "$fomo" show v1.1.0
run "$fomo" diff v1.0.0 HEAD --no-eval
run "$fomo" export v1.0.1 -o ../v1.0.1-hf.safetensors --layout hf
run "$fomo" fsck
echo
echo "quick start done: the repository is in $work/repo"
