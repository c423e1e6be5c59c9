#!/usr/bin/env bash
# Installs what fomo needs from Debian 12 (when root, or through sudo), then
# configures and builds it in build/. Safe to run again: it only does what is missing.
set -euo pipefail
cd "$(dirname "$0")/.."

packages=(
  build-essential cmake pkg-config ccache git
  libtorch-dev libopenblas0-pthread
  libgit2-dev libsqlite3-dev libcli11-dev libzstd-dev zstd libyaml-cpp-dev catch2
  nlohmann-json3-dev libfmt-dev libssl-dev libutf8proc-dev zlib1g-dev libjpeg62-turbo-dev libpng-dev
  man-db groff-base bash-completion zsh
  python3-torch librsvg2-bin
  clang libclang-rt-14-dev
  dataset-fashion-mnist
  libcurl4-openssl-dev docker-registry skopeo
)
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
  echo "setup: installing ${missing[*]}"
  if [[ $(id -u) -eq 0 ]]; then
    apt_get=(apt-get)
  elif command -v sudo >/dev/null; then
    apt_get=(sudo apt-get)
  else
    echo "setup: missing packages: ${missing[*]}; install them as root" >&2
    exit 1
  fi
  export DEBIAN_FRONTEND=noninteractive
  "${apt_get[@]}" update -qq
  "${apt_get[@]}" install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

jobs=$(nproc 2>/dev/null || echo 2)
cmake -S . -B build -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build build -j"$jobs"
