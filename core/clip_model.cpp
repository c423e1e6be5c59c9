#include "core/clip_model.hpp"

#include <cstring>

#include <torch/version.h>

#include <cmath>
#include <map>

#include <fmt/format.h>

#include "storage/error.hpp"

namespace fomo::core {

namespace {

torch::nn::LayerNorm Norm(int64_t width) {
  return torch::nn::LayerNorm(torch::nn::LayerNormOptions({width}).eps(1e-5));
}

torch::Tensor Activation(const torch::Tensor& x, bool quick_gelu) {
  return quick_gelu ? x * torch::sigmoid(1.702 * x) : torch::gelu(x);
}

torch::ScalarType ScalarTypeOf(Dtype dtype) {
  switch (dtype) {
    case Dtype::kF32: return torch::kFloat32;
    case Dtype::kF16: return torch::kFloat16;
    case Dtype::kBF16: return torch::kBFloat16;
    case Dtype::kF64: return torch::kFloat64;
    case Dtype::kI64: return torch::kInt64;
    case Dtype::kI32: return torch::kInt32;
    case Dtype::kI16: return torch::kInt16;
    case Dtype::kI8: return torch::kInt8;
    case Dtype::kU8: return torch::kUInt8;
    case Dtype::kBool: return torch::kBool;
  }
  throw Error("unsupported dtype");
}

}  // namespace

AttentionImpl::AttentionImpl(int64_t width, int64_t heads) : heads(heads) {
  in_proj_weight = register_parameter("in_proj_weight", torch::empty({3 * width, width}));
  in_proj_bias = register_parameter("in_proj_bias", torch::zeros({3 * width}));
  out_proj = register_module("out_proj", torch::nn::Linear(width, width));
  torch::nn::init::xavier_uniform_(in_proj_weight);
}

torch::Tensor AttentionImpl::forward(const torch::Tensor& x, const torch::Tensor& mask) {
  const int64_t batch = x.size(0), tokens = x.size(1), width = x.size(2), head_dim = width / heads;
  auto qkv = torch::nn::functional::linear(x, in_proj_weight, in_proj_bias)
                 .view({batch, tokens, 3, heads, head_dim})
                 .permute({2, 0, 3, 1, 4});  // [3, batch, heads, tokens, head_dim]
  auto q = qkv[0], k = qkv[1], v = qkv[2];
#if TORCH_VERSION_MAJOR >= 2
  auto out = at::scaled_dot_product_attention(q, k, v, mask.defined() ? c10::optional<torch::Tensor>(mask)
                                                                       : c10::nullopt);
#else
  auto scores = torch::matmul(q, k.transpose(-2, -1)) / std::sqrt(static_cast<double>(head_dim));
  if (mask.defined()) scores = scores + mask;
  auto out = torch::matmul(torch::softmax(scores, -1), v);
#endif
  out = out.transpose(1, 2).reshape({batch, tokens, width});
  return out_proj(out);
}

MlpImpl::MlpImpl(int64_t width, int64_t hidden, bool quick_gelu) : quick_gelu(quick_gelu) {
  c_fc = register_module("c_fc", torch::nn::Linear(width, hidden));
  c_proj = register_module("c_proj", torch::nn::Linear(hidden, width));
}

torch::Tensor MlpImpl::forward(const torch::Tensor& x) { return c_proj(Activation(c_fc(x), quick_gelu)); }

ResidualBlockImpl::ResidualBlockImpl(const TowerConfig& tower, bool quick_gelu) {
  ln_1 = register_module("ln_1", Norm(tower.width));
  attn = register_module("attn", Attention(tower.width, tower.heads));
  ln_2 = register_module("ln_2", Norm(tower.width));
  mlp = register_module("mlp", Mlp(tower.width, tower.mlp_dim, quick_gelu));
}

torch::Tensor ResidualBlockImpl::forward(const torch::Tensor& x, const torch::Tensor& mask) {
  auto h = x + attn(ln_1(x), mask);
  return h + mlp(ln_2(h));
}

TransformerImpl::TransformerImpl(const TowerConfig& tower, bool quick_gelu) {
  for (int i = 0; i < tower.layers; ++i) {
    blocks.push_back(ResidualBlock(tower, quick_gelu));
    resblocks->push_back(blocks.back());
  }
  resblocks = register_module("resblocks", resblocks);
}

torch::Tensor TransformerImpl::forward(torch::Tensor x, const torch::Tensor& mask) {
  for (auto& block : blocks) x = block(x, mask);
  return x;
}

VisionTowerImpl::VisionTowerImpl(const ClipConfig& c) {
  const int64_t w = c.vision.width, g = c.grid_size();
  conv1 = register_module(
      "conv1", torch::nn::Conv2d(torch::nn::Conv2dOptions(3, w, c.patch_size).stride(c.patch_size).bias(false)));
  const double scale = std::pow(static_cast<double>(w), -0.5);
  class_embedding = register_parameter("class_embedding", scale * torch::randn({w}));
  positional_embedding = register_parameter("positional_embedding", scale * torch::randn({g * g + 1, w}));
  ln_pre = register_module("ln_pre", Norm(w));
  transformer = register_module("transformer", Transformer(c.vision, c.quick_gelu));
  ln_post = register_module("ln_post", Norm(w));
  proj = register_parameter("proj", scale * torch::randn({w, c.embed_dim}));
}

torch::Tensor VisionTowerImpl::forward(const torch::Tensor& image) {
  auto x = conv1(image);                                    // [batch, width, grid, grid]
  x = x.flatten(2).transpose(1, 2);                         // [batch, grid^2, width]
  auto cls = class_embedding.to(x.dtype()).expand({x.size(0), 1, x.size(2)});
  x = torch::cat({cls, x}, 1) + positional_embedding.to(x.dtype());
  x = transformer(ln_pre(x), torch::Tensor());
  return torch::matmul(ln_post(x.select(1, 0)), proj);
}

ClipModelImpl::ClipModelImpl(const ClipConfig& c) : config(c) {
  c.Validate();
  visual = register_module("visual", VisionTower(c));
  token_embedding = register_module("token_embedding", torch::nn::Embedding(c.vocab_size, c.text.width));
  torch::nn::init::normal_(token_embedding->weight, 0.0, 0.02);
  positional_embedding = register_parameter("positional_embedding", 0.01 * torch::randn({c.context_length, c.text.width}));
  transformer = register_module("transformer", Transformer(c.text, c.quick_gelu));
  ln_final = register_module("ln_final", Norm(c.text.width));
  text_projection = register_parameter(
      "text_projection", std::pow(static_cast<double>(c.text.width), -0.5) * torch::randn({c.text.width, c.embed_dim}));
  logit_scale = register_parameter("logit_scale", torch::full({}, std::log(1 / 0.07)));
  causal_mask = register_buffer(
      "causal_mask",
      torch::full({c.context_length, c.context_length}, -std::numeric_limits<float>::infinity()).triu(1));
}

torch::Tensor ClipModelImpl::EncodeImage(const torch::Tensor& image) { return visual(image); }

torch::Tensor ClipModelImpl::EncodeText(const torch::Tensor& tokens) {
  const int64_t n = tokens.size(1);
  if (n > config.context_length) {
    throw Error(fmt::format("{} tokens exceed the model's context length {}", n, config.context_length));
  }
  auto x = token_embedding(tokens) + positional_embedding.slice(0, 0, n);
  auto mask = causal_mask.slice(0, 0, n).slice(1, 0, n).to(x.dtype());
  x = ln_final(transformer(x, mask));
  auto eot = tokens.argmax(-1);
  auto pooled = x.index({torch::arange(x.size(0), tokens.options().dtype(torch::kLong)), eot});
  return torch::matmul(pooled, text_projection);
}

torch::Tensor ClipModelImpl::LogitsPerImage(const torch::Tensor& image_features, const torch::Tensor& text_features) {
  auto image = image_features / image_features.norm(2, -1, true);
  auto text = text_features / text_features.norm(2, -1, true);
  return logit_scale.exp() * torch::matmul(image, text.t());
}

Tensor ToStoredF32(const torch::Tensor& tensor) {
  torch::Tensor cpu = tensor.detach().to(torch::kCPU, torch::kFloat32).contiguous();
  Tensor out{Dtype::kF32, Shape(cpu.sizes().vec()), ByteBuffer(static_cast<size_t>(cpu.numel()) * 4)};
  std::memcpy(out.bytes.data(), cpu.data_ptr(), out.bytes.size());
  return out;
}

torch::Tensor ToTorch(const TensorView& view) {
  std::vector<int64_t> shape(view.shape.begin(), view.shape.end());
  return torch::from_blob(const_cast<uint8_t*>(view.data), shape,
                          torch::TensorOptions().dtype(ScalarTypeOf(view.dtype)));
}

void LoadWeights(ClipModel& model, const std::vector<NamedTensor>& tensors) {
  std::map<std::string, const NamedTensor*> by_name;
  for (const auto& t : tensors) by_name[t.name] = &t;
  torch::NoGradGuard no_grad;
  size_t loaded = 0;
  for (auto& item : model->named_parameters()) {
    auto it = by_name.find(item.key());
    if (it == by_name.end()) throw Error(fmt::format("weights lack tensor '{}'", item.key()));
    torch::Tensor source = ToTorch(it->second->view);
    if (source.sizes() != item.value().sizes()) {
      throw Error(fmt::format("tensor '{}' has shape {}, the model needs {}", item.key(),
                              ShapeString(it->second->view.shape), ShapeString(Shape(item.value().sizes().vec()))));
    }
    item.value().copy_(source);
    ++loaded;
  }
  if (loaded != tensors.size()) {
    for (const auto& t : tensors) {
      if (!model->named_parameters().contains(t.name)) {
        throw Error(fmt::format("tensor '{}' is not a parameter of the model", t.name));
      }
    }
  }
}

}  // namespace fomo::core
