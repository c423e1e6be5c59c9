// CLIP checkpoints on disk: import (any supported layout -> canonical tensors and a
// model config) and export (stored version -> safetensors in a chosen layout).
#pragma once

#include <filesystem>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "core/clip_config.hpp"
#include "core/clip_layout.hpp"
#include "core/safetensors.hpp"
#include "storage/manifest.hpp"

namespace fomo::core {

namespace fs = std::filesystem;

struct Checkpoint {
  fs::path path;
  Layout layout = Layout::kOpenAI;
  ClipConfig config;
  std::string config_source;  // "--config FILE", "metadata" or "shapes"
  std::vector<NamedTensor> tensors;  // canonical names, ExpectedTensors order

  // What the views point into.
  std::shared_ptr<SafetensorsFile> file;
  std::vector<std::shared_ptr<ByteBuffer>> owned;
};

// Where the model config of an imported checkpoint comes from, in order: a config
// file, a config already known (the repository's), the file's metadata, its shapes.
struct ConfigSource {
  std::optional<fs::path> file;
  std::optional<ClipConfig> known;
};

// Reads a checkpoint, detects its layout and converts it to the canonical one.
// Throws fomo::Error naming the file and the problem.
Checkpoint LoadCheckpoint(const fs::path& path, const ConfigSource& source);

// Throws unless tensors are exactly the config's tensors with its shapes.
void CheckTensorsMatch(const std::vector<NamedTensor>& tensors, const ClipConfig& config,
                       const std::string& origin);

// A stored version's tensors decoded into memory (hashes verified), in manifest order.
struct StoredWeights {
  std::vector<Tensor> tensors;
  std::vector<NamedTensor> named;  // views into tensors
};
StoredWeights ReadWeights(const ObjectStore& store, const Manifest& manifest, size_t threads);

struct ExportOptions {
  Layout layout = Layout::kOpenAI;
  std::map<std::string, std::string> metadata;  // added to fomo's own keys
  size_t threads = 0;
};

// Writes a stored version as a safetensors checkpoint, atomically. Every object is
// verified against its hash on the way out.
void ExportCheckpoint(const ObjectStore& store, const Manifest& manifest, const ClipConfig& config,
                      const fs::path& out, const ExportOptions& options);

}  // namespace fomo::core
