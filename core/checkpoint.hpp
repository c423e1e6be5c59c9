// CLIP checkpoints on disk: import (any supported layout -> canonical tensors and a
// model config) and export (stored version -> safetensors in a chosen layout).
#pragma once

#include <filesystem>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "core/clip_config.hpp"
#include "core/clip_layout.hpp"
#include "core/config_resolution.hpp"
#include "core/safetensors.hpp"
#include "storage/manifest.hpp"

namespace fomo::core {

namespace fs = std::filesystem;

struct Checkpoint {
  fs::path path;
  std::string kind;  // "safetensors file", "Hugging Face directory, 2 shards", ...
  Layout layout = Layout::kOpenAI;
  ClipConfig config;
  std::string config_source;  // "--config FILE", "config.json beside the checkpoint", "metadata", "shapes", ...
  ConfigProvenance provenance;
  std::vector<std::string> notes;    // what the import did that a user should know
  std::vector<NamedTensor> tensors;  // canonical names, ExpectedTensors order

  // What the views point into.
  std::vector<std::shared_ptr<SafetensorsFile>> files;
  std::vector<std::shared_ptr<ByteBuffer>> owned;
  std::vector<std::shared_ptr<Tensor>> owned_tensors;

  // Tensors made on demand, by index into tensors (empty where the view holds the
  // bytes): a Hugging Face layout's q, k and v rows joined, a transposed map, a
  // --dtype conversion. Such a view has dtype, shape and size but no data until
  // Produce writes it; a commit stores them so, one tensor at a time.
  std::vector<std::function<void(uint8_t* out)>> producers;

  // Drops the resident pages of a tensor read from a mapped file (a no-op for
  // converted, owned tensors): a commit releases each tensor once stored, so the
  // checkpoint is never in memory whole.
  void Release(const TensorView& view) const;
  bool OnDemand(size_t index) const { return index < producers.size() && producers[index]; }
  // Writes tensor index's bytes (view.size of them) to out.
  void Produce(size_t index, uint8_t* out) const;
  // Makes every tensor resident, for code that reads the weights themselves.
  void Materialize();
};

// Reads a checkpoint (any format core/checkpoint_source.hpp locates), detects its
// layout, resolves its config (core/config_resolution.hpp) and converts it to the
// canonical layout. Throws fomo::Error naming the checkpoint and the problem.
// With on_demand, converted tensors are left to Checkpoint::Produce (a commit's
// way); otherwise every tensor is resident.
Checkpoint LoadCheckpoint(const fs::path& path, const ConfigSource& source, bool on_demand = false);

// Every floating-point tensor converted to `to` when produced (commit --dtype):
// the conversion costs a tensor's memory at a time, not the model's.
void ConvertOnDemand(Checkpoint& checkpoint, Dtype to);

// Throws unless tensors are exactly the config's tensors with its shapes.
void CheckTensorsMatch(const std::vector<NamedTensor>& tensors, const ClipConfig& config,
                       const std::string& origin);

// What is wrong with a stored version's manifest for its model config: tensors
// missing, unexpected or renamed, shapes other than the config's, dtypes that are
// not floating point. Empty when it fits. A forged manifest (no tensors, a renamed
// one) must not export as a checkpoint that looks fine.
std::vector<std::string> ManifestProblems(const Manifest& manifest, const ClipConfig& config);
// Throws fomo::CorruptError with the first problem, naming the version.
void CheckManifest(const Manifest& manifest, const ClipConfig& config, const std::string& version);

// A stored version's tensors decoded into memory (hashes verified), in manifest order.
struct StoredWeights {
  std::vector<Tensor> tensors;
  std::vector<NamedTensor> named;  // views into tensors
};
StoredWeights ReadWeights(const ObjectStore& store, const Manifest& manifest, size_t threads);

struct ExportOptions {
  Layout layout = Layout::kOpenAI;
  std::optional<Dtype> dtype;  // floating-point tensors converted to it; unset: as stored
  std::map<std::string, std::string> metadata;  // added to fomo's own keys
  size_t threads = 0;
};

// Writes a stored version as a safetensors checkpoint, atomically. Every object is
// verified against its hash on the way out.
void ExportCheckpoint(const ObjectStore& store, const Manifest& manifest, const ClipConfig& config,
                      const fs::path& out, const ExportOptions& options);

}  // namespace fomo::core
