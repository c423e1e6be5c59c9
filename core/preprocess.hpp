// CLIP's image transforms in LibTorch (include only in LibTorch files).
#pragma once

#include <torch/torch.h>

#include <random>
#include <vector>

#include "core/image_decode.hpp"

namespace fomo::core {

// Eval transform of images [begin, end): shorter side resized to size (bicubic),
// center crop, grey replicated to three channels, scaled to [0, 1], normalised with
// CLIP's mean and std. Returns [n, 3, size, size] float.
torch::Tensor PreprocessImages(const std::vector<Image>& images, int64_t begin, int64_t end, int64_t size);

// Train transform: RandomResizedCrop (area share in [min_scale, max_scale], aspect
// ratio in [3/4, 4/3], log-uniform, as torchvision draws it, centre crop after ten
// failed draws), bicubic resize to size, then the eval normalisation. Returns
// [1, 3, size, size]; the draw comes from rng, so a seed fixes it.
torch::Tensor TrainTransform(const Image& image, int64_t size, std::mt19937_64& rng, double min_scale = 0.9,
                             double max_scale = 1.0);

}  // namespace fomo::core
