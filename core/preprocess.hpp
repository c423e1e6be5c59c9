// CLIP's image transforms in LibTorch (include only in LibTorch files).
#pragma once

#include <torch/torch.h>

#include <vector>

#include "core/image_decode.hpp"

namespace fomo::core {

// Eval transform of images [begin, end): shorter side resized to size (bicubic),
// center crop, grey replicated to three channels, scaled to [0, 1], normalised with
// CLIP's mean and std. Returns [n, 3, size, size] float.
torch::Tensor PreprocessImages(const std::vector<Image>& images, int64_t begin, int64_t end, int64_t size);

}  // namespace fomo::core
