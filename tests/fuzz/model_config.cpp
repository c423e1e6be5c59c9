// Model configs beside checkpoints and given with --config: OpenCLIP model
// configs, open_clip_config.json and Hugging Face config.json, then the round trip
// through the forms fomo writes.
#include "core/clip_config.hpp"
#include "core/model_directory.hpp"
#include "fuzz_target.hpp"

FOMO_FUZZ_TARGET(model_config) {
  auto config = fomo::core::ClipConfig::FromJsonText(input, "config.json");
  config.Validate();
  auto again = fomo::core::ClipConfig::FromJsonText(config.ToJson(), "fomo's own config");
  if (!(again == config)) __builtin_trap();
  fomo::core::ClipConfig::FromJsonText(fomo::core::HuggingFaceConfigJson(config, fomo::Dtype::kF32), "hf");
  fomo::core::ClipConfig::FromJsonText(fomo::core::OpenClipConfigJson(config), "openclip");
}
