// Where a checkpoint's weights and config are: a single file (safetensors, a
// torch.save archive, a TorchScript archive), a Hugging Face or OpenCLIP model
// directory, or a sharded checkpoint with its index. Formats are told by content,
// never by extension. No LibTorch here.
#pragma once

#include <filesystem>
#include <optional>
#include <string>
#include <vector>

namespace fomo::core {

namespace fs = std::filesystem;

enum class WeightFormat {
  kSafetensors,
  kPytorchZip,    // torch.save (PyTorch >= 1.6) or a TorchScript archive
  kLegacyPickle,  // torch.save before PyTorch 1.6: LibTorch cannot read it
};

// Looks at the first bytes; throws fomo::Error when they fit no format fomo reads.
WeightFormat DetectWeightFormat(const fs::path& file);
std::string_view WeightFormatName(WeightFormat format);

struct CheckpointSource {
  std::vector<fs::path> weight_files;   // one file, or the shards in the index's order
  std::vector<WeightFormat> formats;    // one per weight file
  std::optional<fs::path> config_file;  // config.json / open_clip_config.json that goes with it
  std::string kind;                     // "safetensors file", "Hugging Face directory", ...
};

// Throws fomo::Error naming the path and what is missing or wrong.
CheckpointSource LocateCheckpoint(const fs::path& path);

// A directory that holds one model (model.safetensors, pytorch_model.bin, a shard
// index, open_clip_model.safetensors, ...), as opposed to a folder of checkpoints
// (which may hold a config.json of its own).
bool IsModelDirectory(const fs::path& dir);

}  // namespace fomo::core
