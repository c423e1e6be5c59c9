#!/usr/bin/env bash
# The quick start: set up and build fomo, then version a continually trained CLIP.
# The tiny model is pretrained on Fashion-MNIST classes 0-4 (v1.0.0), two `fomo
# minor` updates teach classes 5-9, and log / diff show accumulation (A_KA, on
# 5-9) rising while retention (A_ZS, on 0-4) falls. About four minutes of CPU
# after the build on two cores.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
fomo=$PWD/build/fomo
work=${FOMO_QUICKSTART_DIR:-$(mktemp -d /tmp/fomo-quickstart.XXXXXX)}
mkdir -p "$work"
cd "$work"
run() { echo; echo "\$ $*"; "$@"; }

run "$fomo" init repo --arch tiny --pretrain fmnist:0-4 --steps 300
cd repo
run "$fomo" minor --data fmnist:5-9
run "$fomo" minor --data fmnist:5-9
run "$fomo" log --metrics --oneline
run "$fomo" diff v1.0.0 HEAD
run "$fomo" show HEAD
run "$fomo" export HEAD -o ../clip-v1.2.0.safetensors
run "$fomo" fsck
echo
echo "quick start done: the repository is in $work/repo"
