#include "storage/repo_config.hpp"

#include <fmt/format.h>

#include <set>

#include "storage/atomic_file.hpp"
#include "storage/error.hpp"
#include "storage/yaml_text.hpp"

namespace fomo {

namespace {

// Sections other layers own; storage/ accepts them without looking inside.
const std::set<std::string> kKnownSections = {"storage", "datasets", "suites", "defaults", "eval"};

int ReadInt(const YAML::Node& node, const std::string& origin, const std::string& key, int lo, int hi) {
  int value = 0;
  try {
    value = node.as<int>();
  } catch (const YAML::Exception&) {
    throw Error(fmt::format("{}: line {}: {} must be an integer", origin, node.Mark().line + 1, key));
  }
  if (value < lo || value > hi) {
    throw Error(fmt::format("{}: line {}: {} must be between {} and {}, not {}", origin,
                            node.Mark().line + 1, key, lo, hi, value));
  }
  return value;
}

}  // namespace

RepoConfig RepoConfig::Load(const fs::path& path) {
  if (!fs::exists(path)) return Parse("", path.filename().string());
  return Parse(ReadFileToString(path), path.filename().string());
}

RepoConfig RepoConfig::Parse(const std::string& text, const std::string& origin) {
  return WithYamlOrigin(origin, [&] {
    RepoConfig config;
    config.document = LoadYamlText(text, origin);
    const YAML::Node& doc = config.document;
    if (doc.IsNull()) return config;
    if (!doc.IsMap()) throw Error(fmt::format("{}: the top level must be a mapping", origin));
    for (const auto& item : doc) {
      auto key = item.first.as<std::string>();
      if (!kKnownSections.count(key)) {
        throw Error(fmt::format("{}: line {}: unknown section '{}'", origin,
                                item.first.Mark().line + 1, key));
      }
    }
    if (const YAML::Node storage = doc["storage"]) {
      if (!storage.IsMap()) throw Error(fmt::format("{}: 'storage' must be a mapping", origin));
      for (const auto& item : storage) {
        auto key = item.first.as<std::string>();
        if (key == "zstd_level") {
          config.storage.zstd_level = ReadInt(item.second, origin, "storage.zstd_level", 1, 19);
        } else if (key == "max_chain") {
          config.storage.max_chain = ReadInt(item.second, origin, "storage.max_chain", 0, 64);
        } else if (key == "threads") {
          config.storage.threads =
              static_cast<size_t>(ReadInt(item.second, origin, "storage.threads", 0, 1024));
        } else {
          throw Error(fmt::format("{}: line {}: unknown key 'storage.{}'", origin,
                                  item.first.Mark().line + 1, key));
        }
      }
    }
    return config;
  });
}

std::string RepoConfig::Template(const std::string& retention) {
  std::string text = R"yaml(# fomo.yaml: the settings of this fomo repository. Every fomo command reads it;
# edit it freely. Unknown keys are errors, so a typo never goes unnoticed.

# How tensor objects are stored under .fomo/objects.
storage:
  # zstd level for the byte planes of each tensor (1-19). 1 is the fastest and, on
  # the planes of weights, smaller than 3 and about as small as 9 (measured by
  # bench/codec_bench.cpp); higher levels commit several times slower for a few
  # per cent on sparse deltas. Export speed hardly changes.
  zstd_level: 1
  # Delta links (XOR against the parent version) allowed before a tensor is stored
  # as a full frame again. Longer chains save space and slow down export.
  max_chain: 8
  # Compression threads; 0 uses every core.
  threads: 0

# Datasets by name. fmnist (Fashion-MNIST, from Debian's dataset-fashion-mnist,
# with its ten class names and prompt templates) is built in. Add your own:
# datasets:
#   shoes:
#     kind: idx                     # MNIST-style IDX files, gzipped or not
#     path: /data/shoes
#     classes: [sandal, sneaker, boot]
#     templates: ["a photo of a {}.", "a close-up photo of a {}."]
#   products:
#     kind: csv                     # or tsv: an image path and a caption per row
#     # Each split its own table, so a version is never evaluated on what it
#     # trained on: a {split} in the path (products-train.csv, products-test.csv)
#     # or a mapping. With one table for both, fomo refuses to evaluate a version
#     # on the data its line trained on (fomo eval --allow-overlap to insist).
#     splits: {train: /data/products-train.csv, test: /data/products-test.csv}
#     path_column: filepath
#     caption_column: title
#   cars:
#     kind: csv                     # with classes: a class name or index per row
#     path: /data/cars-{split}.csv
#     classes: [sedan, truck]
#     label_column: label
#     time_column: year             # years or dates per sample (time-incremental)
#   tiles:
#     kind: wds                     # WebDataset .tar shards, a folder per split
#     path: /data/tiles-{split}
#     classes: [dark, light]        # with classes: .cls members are class indices;
#                                   # without: .txt members are captions

# Evaluation suites: dataset selectors, NAME[:CLASSES][@SPLIT][#CAP] (split test
# by default). Top-1 accuracy averaged over `adaptation` is A_KA (what updates
# teach), over `retention` A_ZS (held out, never trained on). `adaptation: auto`
# adds the test split of whatever an update (fomo patch/minor/major) trains on;
# a list fixes the suite.
suites:
  adaptation: auto
  retention: [@RETENTION@]

# How `fomo eval` runs.
eval:
  batch_size: 256
  # Seed of the class-balanced draw when a selector caps the sample count (#N).
  seed: 0

# Training defaults per level of fomo patch / minor / major (and `pretrain` for
# fomo init --pretrain); command-line options override them. Keys: data, method,
# schedule, lr, warmup, cooldown, steps | samples | budget, replay, batch_size,
# seed, weight_decay, clip_norm, temperature, device. The built-in values suit
# the tiny model on Fashion-MNIST on a CPU (lr 1e-4, batch 64, cosine, 30 / 100 /
# 300 steps); ViT-B scale models want lr 1e-5 and batch 512.
# defaults:
#   minor:
#     steps: 100
#     schedule: autoregressive-rsqrt
#     replay: 0.33/0.34/0.33
)yaml";
  const std::string marker = "@RETENTION@";
  text.replace(text.find(marker), marker.size(), retention);
  return text;
}

}  // namespace fomo
