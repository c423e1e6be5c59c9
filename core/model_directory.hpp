// Exports as directories that load where users load models:
//   Hugging Face: config.json, model.safetensors, vocab.json, merges.txt,
//     tokenizer_config.json, special_tokens_map.json, preprocessor_config.json
//     (what CLIPModel.from_pretrained and CLIPProcessor.from_pretrained read);
//   OpenCLIP: open_clip_config.json and open_clip_model.safetensors (what
//     open_clip.create_model_and_transforms reads from a hub-style local directory).
// The directory is built beside its target and renamed into place, so a failed
// export leaves nothing half-written. No LibTorch here.
#pragma once

#include <filesystem>
#include <string>
#include <vector>

#include "core/checkpoint.hpp"

namespace fomo::core {

enum class DirectoryFormat { kHuggingFace, kOpenClip };

// config.json for transformers' CLIPModel: the source config.json when the model
// came with one (every field kept), the model's own fields written over it.
std::string HuggingFaceConfigJson(const ClipConfig& config, Dtype dtype);
// open_clip_config.json: {"model_cfg": ..., "preprocess_cfg": ...}.
std::string OpenClipConfigJson(const ClipConfig& config);

// Writes the directory; returns the files written, by name. Throws fomo::Error
// when dir exists and is not an empty directory.
std::vector<std::string> ExportModelDirectory(const ObjectStore& store, const Manifest& manifest,
                                              const ClipConfig& config, const fs::path& dir,
                                              DirectoryFormat format, const ExportOptions& options);

}  // namespace fomo::core
