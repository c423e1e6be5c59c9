#include "core/embedding.hpp"

#include <cstring>

#include <fmt/format.h>

#include "core/clip_model.hpp"
#include "core/preprocess.hpp"
#include "storage/error.hpp"

namespace fomo::core {

namespace {

Tensor FromTorch(const torch::Tensor& t) {
  torch::Tensor contiguous = t.to(torch::kFloat32).contiguous().cpu();
  Shape shape(contiguous.sizes().begin(), contiguous.sizes().end());
  Tensor out{Dtype::kF32, shape, ByteBuffer(ByteSize(Dtype::kF32, shape))};
  std::memcpy(out.bytes.data(), contiguous.data_ptr(), out.bytes.size());
  return out;
}

}  // namespace

EmbedOutputs Embed(const ClipConfig& config, const std::vector<NamedTensor>& weights,
                   const EmbedInputs& inputs, bool normalize) {
  ClipModel model(config);
  LoadWeights(model, weights);
  model->eval();
  // Inference mode skips autograd's version counters and views bookkeeping.
  c10::InferenceMode inference;
  EmbedOutputs out;
  torch::Tensor image_features, text_features;
  if (inputs.images && !inputs.files.empty()) throw Error("give images as files or as a tensor, not both");
  if (!inputs.files.empty()) {
    const int64_t n = static_cast<int64_t>(inputs.files.size());
    image_features = model->EncodeImage(PreprocessImages(inputs.files, 0, n, config.image_size));
  }
  if (inputs.images) {
    const Shape& s = inputs.images->shape;
    if (s.size() != 4 || s[1] != 3 || s[2] != config.image_size || s[3] != config.image_size) {
      throw Error(fmt::format("images have shape {}, the model takes [n, 3, {}, {}]", ShapeString(s),
                              config.image_size, config.image_size));
    }
    if (!IsFloatingPoint(inputs.images->dtype)) throw Error("images must be a floating-point tensor");
    image_features = model->EncodeImage(ToTorch(*inputs.images).to(torch::kFloat32));
  }
  if (inputs.tokens) {
    const Shape& s = inputs.tokens->shape;
    if (s.size() != 2 || s[1] > config.context_length) {
      throw Error(fmt::format("tokens have shape {}, the model takes [m, at most {}]", ShapeString(s),
                              config.context_length));
    }
    if (IsFloatingPoint(inputs.tokens->dtype) || inputs.tokens->dtype == Dtype::kBool) {
      throw Error("tokens must be an integer tensor");
    }
    torch::Tensor tokens = ToTorch(*inputs.tokens).to(torch::kLong);
    if (tokens.numel() && (tokens.min().item<int64_t>() < 0 || tokens.max().item<int64_t>() >= config.vocab_size)) {
      throw Error(fmt::format("token ids must lie in [0, {})", config.vocab_size));
    }
    text_features = model->EncodeText(tokens);
  }
  if (image_features.defined() && text_features.defined()) {
    out.logits_per_image = FromTorch(model->LogitsPerImage(image_features, text_features));
  }
  auto finish = [&](const torch::Tensor& f) { return FromTorch(normalize ? f / f.norm(2, -1, true) : f); };
  if (image_features.defined()) out.image_features = finish(image_features);
  if (text_features.defined()) out.text_features = finish(text_features);
  return out;
}

}  // namespace fomo::core
