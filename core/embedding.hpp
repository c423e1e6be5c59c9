// Image and text features of a stored model, behind a header free of LibTorch so
// the commands that use it compile quickly.
#pragma once

#include <optional>
#include <vector>

#include "core/clip_config.hpp"
#include "core/image_decode.hpp"
#include "storage/tensor.hpp"

namespace fomo::core {

struct EmbedInputs {
  std::optional<TensorView> images;  // [n, 3, size, size], float, CLIP-normalised
  std::optional<TensorView> tokens;  // [m, tokens], integer token ids
  std::vector<Image> files;          // decoded image files, CLIP-preprocessed here
};

struct EmbedOutputs {
  std::optional<Tensor> image_features;    // [n, embed_dim] F32
  std::optional<Tensor> text_features;     // [m, embed_dim] F32
  std::optional<Tensor> logits_per_image;  // [n, m] F32, when both sides are given
};

// Runs the model with these weights. normalize: L2-normalised features (logits
// are computed from normalised features either way, as CLIP does).
EmbedOutputs Embed(const ClipConfig& config, const std::vector<NamedTensor>& weights,
                   const EmbedInputs& inputs, bool normalize);

}  // namespace fomo::core
