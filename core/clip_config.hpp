// The shape of a CLIP model. fomo keeps it in OpenCLIP's model-config JSON form
// (embed_dim, quick_gelu, vision_cfg, text_cfg) and reads it from there, from a
// Hugging Face config.json, from a checkpoint's metadata, or from tensor shapes.
#pragma once

#include <map>
#include <string>
#include <utility>
#include <vector>

#include "storage/dtype.hpp"

namespace fomo::core {

struct TowerConfig {
  int width = 0;
  int layers = 0;
  int heads = 0;
  int mlp_dim = 0;
};

struct ClipConfig {
  int embed_dim = 0;
  int image_size = 0;
  int patch_size = 0;
  TowerConfig vision;
  int context_length = 0;
  int vocab_size = 0;
  TowerConfig text;
  bool quick_gelu = true;  // QuickGELU (OpenAI CLIP) or exact GELU
  // The config file a checkpoint came with, whole ("hf": a config.json, "openclip":
  // an open_clip_config.json or model config), so fields fomo does not use (token
  // ids, preprocessing, ...) are written back on export. Empty for other sources.
  std::string source_format;
  std::string source_json;

  int grid_size() const { return patch_size ? image_size / patch_size : 0; }

  // Throws fomo::Error naming the first inconsistent field.
  void Validate() const;
  // Canonical (OpenAI layout) tensor names and shapes, in a fixed order.
  std::vector<std::pair<std::string, Shape>> ExpectedTensors() const;

  std::string ToJson() const;  // OpenCLIP model-config form, with the source config
  std::string ModelJson() const;  // the model-defining fields alone
  // Reads an OpenCLIP model config, an open_clip_config.json ({"model_cfg": ..}) or a
  // Hugging Face config.json (detected). Refuses fields that would make fomo's model
  // differ from the one the file describes (another norm epsilon, a text tower
  // from Hugging Face, attention pooling, ...).
  static ClipConfig FromJsonText(const std::string& text, const std::string& origin);
  // Reads fomo's own "fomo.config" key or the original CLIP keys (embed_dim,
  // vision_width, transformer_heads, ...); false when the metadata has neither.
  static bool FromMetadata(const std::map<std::string, std::string>& metadata, ClipConfig* out);
  // Sizes from shapes; heads are not visible in shapes and are taken as width / 64
  // (at least 1), as the original CLIP build_model does: callers decide whether
  // that rule applies (it does for the OpenAI layout only).
  static ClipConfig InferFromShapes(const std::map<std::string, Shape>& canonical_shapes);

  // The same model (the source config's unused fields aside).
  bool operator==(const ClipConfig& o) const { return ModelJson() == o.ModelJson(); }
};

}  // namespace fomo::core
