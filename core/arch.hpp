// Built-in model configs by name (--arch): `tiny` for CPUs and tests (28x28 grey
// input replicated to three channels, patch 7, the real CLIP vocabulary) and the
// OpenCLIP ViT-B-32, ViT-B-16 and ViT-L-14 shapes.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "core/clip_config.hpp"

namespace fomo::core {

std::optional<ClipConfig> BuiltinArch(const std::string& name);
std::vector<std::string> BuiltinArchNames();

}  // namespace fomo::core
