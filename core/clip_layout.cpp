#include "core/clip_layout.hpp"

#include <cstring>

#include <fmt/format.h>

#include "storage/error.hpp"

namespace fomo::core {

namespace {

bool StartsWith(std::string_view s, std::string_view prefix) {
  return s.substr(0, prefix.size()) == prefix;
}
bool EndsWith(std::string_view s, std::string_view suffix) {
  return s.size() >= suffix.size() && s.substr(s.size() - suffix.size()) == suffix;
}

void AddBlocks(std::vector<HfMapping>* out, const std::string& canonical_prefix,
               const std::string& hf_prefix, int layers) {
  static const std::pair<const char*, const char*> kRenames[] = {
      {"ln_1", "layer_norm1"},
      {"ln_2", "layer_norm2"},
      {"attn.out_proj", "self_attn.out_proj"},
      {"mlp.c_fc", "mlp.fc1"},
      {"mlp.c_proj", "mlp.fc2"},
  };
  for (int i = 0; i < layers; ++i) {
    std::string c = fmt::format("{}{}.", canonical_prefix, i);
    std::string h = fmt::format("{}{}.", hf_prefix, i);
    for (const char* kind : {"weight", "bias"}) {
      out->push_back({fmt::format("{}attn.in_proj_{}", c, kind),
                      {fmt::format("{}self_attn.q_proj.{}", h, kind),
                       fmt::format("{}self_attn.k_proj.{}", h, kind),
                       fmt::format("{}self_attn.v_proj.{}", h, kind)},
                      HfTransform::kSplitRows});
    }
    for (const auto& [from, to] : kRenames) {
      for (const char* kind : {"weight", "bias"}) {
        out->push_back({fmt::format("{}{}.{}", c, from, kind), {fmt::format("{}{}.{}", h, to, kind)},
                        HfTransform::kCopy});
      }
    }
  }
}

}  // namespace

std::string_view LayoutName(Layout layout) {
  return layout == Layout::kOpenAI ? "openai" : "hf";
}

std::optional<Layout> ParseLayout(std::string_view name) {
  if (name == "openai" || name == "openclip") return Layout::kOpenAI;
  if (name == "hf" || name == "huggingface") return Layout::kHuggingFace;
  return std::nullopt;
}

Layout DetectLayout(const std::vector<std::string>& names) {
  bool hf = false, openai = false;
  for (const auto& n : names) {
    if (StartsWith(n, "vision_model.") || StartsWith(n, "text_model.")) hf = true;
    if (StartsWith(n, "visual.") || StartsWith(n, "transformer.resblocks.")) openai = true;
  }
  if (hf && !openai) return Layout::kHuggingFace;
  if (openai && !hf) return Layout::kOpenAI;
  if (hf && openai) throw Error("checkpoint mixes the OpenAI and Hugging Face CLIP layouts");
  throw Error("checkpoint is not a CLIP state dict (no visual.* or vision_model.* tensors)");
}

std::vector<HfMapping> HuggingFaceMappings(const ClipConfig& config) {
  std::vector<HfMapping> m;
  auto copy = [&](const char* c, const char* h) { m.push_back({c, {h}, HfTransform::kCopy}); };
  copy("visual.class_embedding", "vision_model.embeddings.class_embedding");
  copy("visual.positional_embedding", "vision_model.embeddings.position_embedding.weight");
  copy("visual.conv1.weight", "vision_model.embeddings.patch_embedding.weight");
  copy("visual.ln_pre.weight", "vision_model.pre_layrnorm.weight");
  copy("visual.ln_pre.bias", "vision_model.pre_layrnorm.bias");
  AddBlocks(&m, "visual.transformer.resblocks.", "vision_model.encoder.layers.", config.vision.layers);
  copy("visual.ln_post.weight", "vision_model.post_layernorm.weight");
  copy("visual.ln_post.bias", "vision_model.post_layernorm.bias");
  m.push_back({"visual.proj", {"visual_projection.weight"}, HfTransform::kTranspose});
  copy("token_embedding.weight", "text_model.embeddings.token_embedding.weight");
  copy("positional_embedding", "text_model.embeddings.position_embedding.weight");
  AddBlocks(&m, "transformer.resblocks.", "text_model.encoder.layers.", config.text.layers);
  copy("ln_final.weight", "text_model.final_layer_norm.weight");
  copy("ln_final.bias", "text_model.final_layer_norm.bias");
  m.push_back({"text_projection", {"text_projection.weight"}, HfTransform::kTranspose});
  copy("logit_scale", "logit_scale");
  return m;
}

bool IsIgnoredHuggingFaceTensor(std::string_view name) { return EndsWith(name, "position_ids"); }

bool IsIgnoredOpenAITensor(std::string_view name) {
  // The JIT archive's scalars, and the causal mask some versions keep as a buffer.
  return name == "input_resolution" || name == "context_length" || name == "vocab_size" || EndsWith(name, "attn_mask");
}

void Transpose2D(const uint8_t* src, uint8_t* dst, int64_t rows, int64_t cols, size_t element_size) {
  // Blocked, so both sides stay in cache for large projections.
  constexpr int64_t kBlock = 32;
  for (int64_t r0 = 0; r0 < rows; r0 += kBlock) {
    for (int64_t c0 = 0; c0 < cols; c0 += kBlock) {
      const int64_t r1 = std::min(rows, r0 + kBlock), c1 = std::min(cols, c0 + kBlock);
      for (int64_t r = r0; r < r1; ++r) {
        for (int64_t c = c0; c < c1; ++c) {
          std::memcpy(dst + (c * rows + r) * element_size, src + (r * cols + c) * element_size,
                      element_size);
        }
      }
    }
  }
}

}  // namespace fomo::core
