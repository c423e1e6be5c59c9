// The CLIP ViT model in the LibTorch C++ frontend. Parameter names (from
// named_parameters()) are exactly the canonical OpenAI-layout tensor names that the
// store uses, so weights move between the two by name. Every linear map is a named
// submodule (attn.in_proj_*, attn.out_proj, mlp.c_fc, mlp.c_proj) for the training
// side to wrap.
//
// This header pulls in LibTorch: include it only where tensors are computed.
#pragma once

#include <torch/torch.h>

#include <string>
#include <vector>

#include "core/clip_config.hpp"
#include "storage/tensor.hpp"

namespace fomo::core {

// Multi-head self-attention with the fused in-projection of OpenAI's CLIP.
struct AttentionImpl : torch::nn::Module {
  AttentionImpl(int64_t width, int64_t heads);
  // x: [batch, tokens, width]; mask: additive [tokens, tokens] or undefined.
  torch::Tensor forward(const torch::Tensor& x, const torch::Tensor& mask);

  int64_t heads;
  torch::Tensor in_proj_weight;  // [3 width, width]: q, k, v stacked
  torch::Tensor in_proj_bias;    // [3 width]
  torch::nn::Linear out_proj{nullptr};
};
TORCH_MODULE(Attention);

struct MlpImpl : torch::nn::Module {
  MlpImpl(int64_t width, int64_t hidden, bool quick_gelu);
  torch::Tensor forward(const torch::Tensor& x);

  bool quick_gelu;
  torch::nn::Linear c_fc{nullptr};
  torch::nn::Linear c_proj{nullptr};
};
TORCH_MODULE(Mlp);

// Pre-norm residual block: x + attn(ln_1(x)), then x + mlp(ln_2(x)).
struct ResidualBlockImpl : torch::nn::Module {
  ResidualBlockImpl(const TowerConfig& tower, bool quick_gelu);
  torch::Tensor forward(const torch::Tensor& x, const torch::Tensor& mask);

  torch::nn::LayerNorm ln_1{nullptr};
  Attention attn{nullptr};
  torch::nn::LayerNorm ln_2{nullptr};
  Mlp mlp{nullptr};
};
TORCH_MODULE(ResidualBlock);

struct TransformerImpl : torch::nn::Module {
  TransformerImpl(const TowerConfig& tower, bool quick_gelu);
  torch::Tensor forward(torch::Tensor x, const torch::Tensor& mask);

  std::vector<ResidualBlock> blocks;
  torch::nn::ModuleList resblocks;
};
TORCH_MODULE(Transformer);

struct VisionTowerImpl : torch::nn::Module {
  explicit VisionTowerImpl(const ClipConfig& config);
  // image: [batch, 3, size, size], normalised; returns [batch, embed_dim].
  torch::Tensor forward(const torch::Tensor& image);

  torch::nn::Conv2d conv1{nullptr};
  torch::Tensor class_embedding;
  torch::Tensor positional_embedding;
  torch::nn::LayerNorm ln_pre{nullptr};
  Transformer transformer{nullptr};
  torch::nn::LayerNorm ln_post{nullptr};
  torch::Tensor proj;
};
TORCH_MODULE(VisionTower);

struct ClipModelImpl : torch::nn::Module {
  explicit ClipModelImpl(const ClipConfig& config);

  // Unnormalised features, as CLIP's encode_image / encode_text.
  torch::Tensor EncodeImage(const torch::Tensor& image);
  // tokens: [batch, context] int64; pooled at the end-of-text token (the largest id).
  torch::Tensor EncodeText(const torch::Tensor& tokens);
  // logit_scale.exp() * normalised image features . normalised text features^T
  torch::Tensor LogitsPerImage(const torch::Tensor& image_features, const torch::Tensor& text_features);

  ClipConfig config;
  VisionTower visual{nullptr};
  torch::nn::Embedding token_embedding{nullptr};
  torch::Tensor positional_embedding;
  Transformer transformer{nullptr};
  torch::nn::LayerNorm ln_final{nullptr};
  torch::Tensor text_projection;
  torch::Tensor logit_scale;
  torch::Tensor causal_mask;  // buffer, not persisted
};
TORCH_MODULE(ClipModel);

// A CPU tensor viewing (not owning) raw bytes; float types only.
torch::Tensor ToTorch(const TensorView& view);
// A copy of a tensor's values as stored F32 bytes (from any device and float type).
Tensor ToStoredF32(const torch::Tensor& tensor);
// Copies named canonical tensors into the model's parameters; throws when a name or
// shape does not match.
void LoadWeights(ClipModel& model, const std::vector<NamedTensor>& tensors);

}  // namespace fomo::core
