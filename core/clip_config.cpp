#include "core/clip_config.hpp"

#include <cmath>

#include <fmt/format.h>

#include <nlohmann/json.hpp>

#include "storage/error.hpp"
#include "storage/json_number.hpp"

namespace fomo::core {

namespace {

using nlohmann::json;

constexpr int kClipHeadWidth = 64;

int GetInt(const json& j, const char* key, int fallback) {
  auto it = j.find(key);
  if (it == j.end() || it->is_null()) return fallback;
  if (!it->is_number_integer()) throw Error(fmt::format("config field '{}' must be an integer", key));
  return static_cast<int>(JsonInteger(*it, fmt::format("config field '{}'", key), INT32_MIN, INT32_MAX));
}

double GetDouble(const json& j, const char* key, double fallback) {
  auto it = j.find(key);
  if (it == j.end() || it->is_null()) return fallback;
  if (!it->is_number()) throw Error(fmt::format("config field '{}' must be a number", key));
  return it->get<double>();
}

int MlpDim(int width, double ratio) { return static_cast<int>(std::lround(width * ratio)); }

// Fields that change the model fomo builds: a config may carry them at their
// default only (null, false, the default value).
void RefuseUnsupported(const json& cfg, const char* where, const std::vector<std::pair<const char*, json>>& defaults) {
  for (const auto& [key, allowed] : defaults) {
    auto it = cfg.find(key);
    if (it == cfg.end() || it->is_null() || *it == allowed) continue;
    throw Error(fmt::format("{} '{}' is {}: fomo's CLIP supports only {}", where, key, it->dump(), allowed.dump()));
  }
}

void CheckNormEps(const json& cfg, const char* where) {
  auto it = cfg.find("layer_norm_eps");
  if (it == cfg.end() || it->is_null()) return;
  if (!it->is_number() || std::fabs(it->get<double>() - 1e-5) > 1e-12) {
    throw Error(fmt::format("{} 'layer_norm_eps' is {}: fomo's CLIP uses 1e-05", where, it->dump()));
  }
}

ClipConfig FromOpenClip(const json& j) {
  RefuseUnsupported(j, "model config", {{"init_logit_bias", nullptr}});
  RefuseUnsupported(j.at("vision_cfg"), "vision_cfg",
                    {{"ls_init_value", nullptr}, {"attentional_pool", false}, {"no_ln_pre", false},
                     {"pool_type", "tok"}, {"final_ln_after_pool", false}, {"global_average_pool", false},
                     {"timm_model_name", nullptr}, {"output_tokens", false}, {"act_kwargs", nullptr},
                     {"norm_kwargs", nullptr}, {"layers_per_stage", nullptr}});
  RefuseUnsupported(j.at("text_cfg"), "text_cfg",
                    {{"hf_model_name", nullptr}, {"ls_init_value", nullptr}, {"pool_type", "argmax"},
                     {"proj_bias", false}, {"embed_cls", false}, {"no_causal_mask", false},
                     {"act_kwargs", nullptr}, {"norm_kwargs", nullptr}, {"final_ln_after_pool", false}});
  if (j.at("vision_cfg").value("layers", json(12)).is_array()) {
    throw Error("vision_cfg 'layers' is a list (a ResNet tower): fomo's CLIP is a ViT");
  }
  ClipConfig c;
  c.embed_dim = GetInt(j, "embed_dim", 0);
  c.quick_gelu = j.value("quick_gelu", false);
  const json& v = j.at("vision_cfg");
  const json& t = j.at("text_cfg");
  c.image_size = GetInt(v, "image_size", 224);
  c.patch_size = GetInt(v, "patch_size", 16);
  c.vision.width = GetInt(v, "width", 768);
  c.vision.layers = GetInt(v, "layers", 12);
  int head_width = GetInt(v, "head_width", kClipHeadWidth);
  c.vision.heads = head_width > 0 ? c.vision.width / head_width : 0;
  c.vision.mlp_dim = MlpDim(c.vision.width, GetDouble(v, "mlp_ratio", 4.0));
  c.context_length = GetInt(t, "context_length", 77);
  c.vocab_size = GetInt(t, "vocab_size", 49408);
  c.text.width = GetInt(t, "width", 512);
  c.text.layers = GetInt(t, "layers", 12);
  c.text.heads = GetInt(t, "heads", 8);
  c.text.mlp_dim = MlpDim(c.text.width, GetDouble(t, "mlp_ratio", 4.0));
  return c;
}

// Defaults are those of transformers' CLIPConfig.
ClipConfig FromHuggingFace(const json& j) {
  ClipConfig c;
  c.embed_dim = GetInt(j, "projection_dim", 512);
  json v = j.value("vision_config", json::object());
  json t = j.value("text_config", json::object());
  CheckNormEps(v, "vision_config");
  CheckNormEps(t, "text_config");
  RefuseUnsupported(v, "vision_config", {{"num_channels", 3}});
  c.image_size = GetInt(v, "image_size", 224);
  c.patch_size = GetInt(v, "patch_size", 32);
  c.vision.width = GetInt(v, "hidden_size", 768);
  c.vision.layers = GetInt(v, "num_hidden_layers", 12);
  c.vision.heads = GetInt(v, "num_attention_heads", 12);
  c.vision.mlp_dim = GetInt(v, "intermediate_size", 3072);
  c.context_length = GetInt(t, "max_position_embeddings", 77);
  c.vocab_size = GetInt(t, "vocab_size", 49408);
  c.text.width = GetInt(t, "hidden_size", 512);
  c.text.layers = GetInt(t, "num_hidden_layers", 12);
  c.text.heads = GetInt(t, "num_attention_heads", 8);
  c.text.mlp_dim = GetInt(t, "intermediate_size", 2048);
  std::string vision_act = v.value("hidden_act", "quick_gelu");
  std::string text_act = t.value("hidden_act", "quick_gelu");
  if (vision_act != text_act) {
    throw Error(fmt::format("towers use different activations ('{}', '{}'); fomo needs one",
                            vision_act, text_act));
  }
  if (vision_act != "quick_gelu" && vision_act != "gelu") {
    throw Error(fmt::format("unsupported activation '{}'", vision_act));
  }
  c.quick_gelu = vision_act == "quick_gelu";
  return c;
}

int HeadsFromWidth(int width) { return width >= kClipHeadWidth ? width / kClipHeadWidth : 1; }

}  // namespace

void ClipConfig::Validate() const {
  auto positive = [](int v, const char* name) {
    if (v <= 0) throw Error(fmt::format("model config: {} must be positive, not {}", name, v));
  };
  positive(embed_dim, "embed_dim");
  positive(image_size, "image_size");
  positive(patch_size, "patch_size");
  positive(vision.width, "vision width");
  positive(vision.layers, "vision layers");
  positive(vision.heads, "vision heads");
  positive(vision.mlp_dim, "vision mlp width");
  positive(context_length, "context_length");
  positive(vocab_size, "vocab_size");
  positive(text.width, "text width");
  positive(text.layers, "text layers");
  positive(text.heads, "text heads");
  positive(text.mlp_dim, "text mlp width");
  if (image_size % patch_size != 0) {
    throw Error(fmt::format("model config: image_size {} is not a multiple of patch_size {}",
                            image_size, patch_size));
  }
  if (vision.width % vision.heads != 0 || text.width % text.heads != 0) {
    throw Error("model config: a tower's width is not a multiple of its head count");
  }
}

std::vector<std::pair<std::string, Shape>> ClipConfig::ExpectedTensors() const {
  std::vector<std::pair<std::string, Shape>> out;
  auto add = [&](std::string name, Shape shape) { out.emplace_back(std::move(name), std::move(shape)); };
  auto blocks = [&](const std::string& prefix, const TowerConfig& t) {
    const int64_t w = t.width, m = t.mlp_dim;
    for (int i = 0; i < t.layers; ++i) {
      std::string p = fmt::format("{}{}.", prefix, i);
      add(p + "ln_1.weight", {w});
      add(p + "ln_1.bias", {w});
      add(p + "attn.in_proj_weight", {3 * w, w});
      add(p + "attn.in_proj_bias", {3 * w});
      add(p + "attn.out_proj.weight", {w, w});
      add(p + "attn.out_proj.bias", {w});
      add(p + "ln_2.weight", {w});
      add(p + "ln_2.bias", {w});
      add(p + "mlp.c_fc.weight", {m, w});
      add(p + "mlp.c_fc.bias", {m});
      add(p + "mlp.c_proj.weight", {w, m});
      add(p + "mlp.c_proj.bias", {w});
    }
  };
  const int64_t vw = vision.width, tw = text.width, g = grid_size();
  add("visual.class_embedding", {vw});
  add("visual.positional_embedding", {g * g + 1, vw});
  add("visual.conv1.weight", {vw, 3, patch_size, patch_size});
  add("visual.ln_pre.weight", {vw});
  add("visual.ln_pre.bias", {vw});
  blocks("visual.transformer.resblocks.", vision);
  add("visual.ln_post.weight", {vw});
  add("visual.ln_post.bias", {vw});
  add("visual.proj", {vw, embed_dim});
  add("token_embedding.weight", {vocab_size, tw});
  add("positional_embedding", {context_length, tw});
  blocks("transformer.resblocks.", text);
  add("ln_final.weight", {tw});
  add("ln_final.bias", {tw});
  add("text_projection", {tw, embed_dim});
  add("logit_scale", {});
  return out;
}

std::string ClipConfig::ToJson() const {
  if (source_format.empty()) return ModelJson();
  json j = json::parse(ModelJson());
  j["source"] = {{"format", source_format}, {"config", json::parse(source_json)}};
  return j.dump(2) + "\n";
}

std::string ClipConfig::ModelJson() const {
  auto ratio = [](int mlp, int width) { return static_cast<double>(mlp) / width; };
  json j = {
      {"embed_dim", embed_dim},
      {"quick_gelu", quick_gelu},
      {"vision_cfg",
       {{"image_size", image_size},
        {"layers", vision.layers},
        {"width", vision.width},
        {"patch_size", patch_size},
        {"head_width", vision.width / std::max(1, vision.heads)},
        {"mlp_ratio", ratio(vision.mlp_dim, vision.width)}}},
      {"text_cfg",
       {{"context_length", context_length},
        {"vocab_size", vocab_size},
        {"width", text.width},
        {"heads", text.heads},
        {"layers", text.layers},
        {"mlp_ratio", ratio(text.mlp_dim, text.width)}}},
  };
  return j.dump(2) + "\n";
}

ClipConfig ClipConfig::FromJsonText(const std::string& text, const std::string& origin) {
  json j;
  try {
    j = json::parse(text);
  } catch (const json::exception& e) {
    throw Error(fmt::format("cannot read config '{}': not valid JSON ({})", origin, e.what()));
  }
  try {
    if (!j.is_object()) throw Error("not a JSON object");
    ClipConfig c;
    if (j.contains("model_cfg") && j["model_cfg"].is_object()) {
      // open_clip_config.json: the model config and the preprocessing beside it.
      c = FromOpenClip(j["model_cfg"]);
      c.source_format = "openclip";
      c.source_json = j.dump();
    } else if (j.contains("vision_cfg") && j.contains("text_cfg")) {
      c = FromOpenClip(j);
      if (j.contains("source") && j["source"].is_object()) {
        // fomo's own form: the source config rides along.
        c.source_format = j["source"].value("format", "");
        c.source_json = j["source"].value("config", json::object()).dump();
      }
    } else if (j.contains("vision_config") || j.contains("text_config") ||
               j.value("model_type", "") == "clip") {
      c = FromHuggingFace(j);
      c.source_format = "hf";
      c.source_json = j.dump();
    } else {
      throw Error("neither an OpenCLIP model config nor a Hugging Face CLIP config.json");
    }
    c.Validate();
    return c;
  } catch (const nlohmann::json::exception& e) {
    throw Error(fmt::format("cannot read config '{}': {}", origin, e.what()));
  } catch (const Error& e) {
    throw Error(fmt::format("cannot read config '{}': {}", origin, e.what()));
  }
}

bool ClipConfig::FromMetadata(const std::map<std::string, std::string>& metadata, ClipConfig* out) {
  auto fomo_config = metadata.find("fomo.config");
  if (fomo_config != metadata.end()) {
    *out = FromJsonText(fomo_config->second, "checkpoint metadata");
    return true;
  }
  static const char* kKeys[] = {"embed_dim",        "image_resolution",  "vision_layers",
                                "vision_width",     "vision_patch_size", "context_length",
                                "vocab_size",       "transformer_width", "transformer_heads",
                                "transformer_layers"};
  std::map<std::string, int> v;
  for (const char* key : kKeys) {
    auto it = metadata.find(key);
    if (it == metadata.end()) return false;
    try {
      size_t used = 0;
      v[key] = std::stoi(it->second, &used);
      if (used != it->second.size()) throw std::invalid_argument(key);
    } catch (const std::exception&) {
      throw Error(fmt::format("checkpoint metadata '{}' is not an integer: '{}'", key, it->second));
    }
  }
  ClipConfig c;
  c.embed_dim = v["embed_dim"];
  c.image_size = v["image_resolution"];
  c.patch_size = v["vision_patch_size"];
  c.vision = {v["vision_width"], v["vision_layers"], HeadsFromWidth(v["vision_width"]),
              4 * v["vision_width"]};
  if (auto it = metadata.find("vision_heads"); it != metadata.end()) c.vision.heads = std::stoi(it->second);
  c.context_length = v["context_length"];
  c.vocab_size = v["vocab_size"];
  c.text = {v["transformer_width"], v["transformer_layers"], v["transformer_heads"],
            4 * v["transformer_width"]};
  auto act = metadata.find("act");
  c.quick_gelu = act == metadata.end() || act->second == "quick_gelu";
  c.Validate();
  *out = c;
  return true;
}

ClipConfig ClipConfig::InferFromShapes(const std::map<std::string, Shape>& shapes) {
  auto shape = [&](const std::string& name, size_t rank) -> const Shape& {
    auto it = shapes.find(name);
    if (it == shapes.end()) throw Error(fmt::format("checkpoint lacks tensor '{}'", name));
    if (it->second.size() != rank) {
      throw Error(fmt::format("tensor '{}' has shape {}, expected {} dimensions", name,
                              ShapeString(it->second), rank));
    }
    return it->second;
  };
  auto count_layers = [&](const std::string& prefix) {
    int layers = 0;
    while (shapes.count(fmt::format("{}{}.ln_1.weight", prefix, layers))) ++layers;
    return layers;
  };
  ClipConfig c;
  const Shape& conv = shape("visual.conv1.weight", 4);
  c.vision.width = static_cast<int>(conv[0]);
  c.patch_size = static_cast<int>(conv[3]);
  int64_t positions = shape("visual.positional_embedding", 2)[0];
  int grid = static_cast<int>(std::lround(std::sqrt(static_cast<double>(positions - 1))));
  c.image_size = grid * c.patch_size;
  c.vision.layers = count_layers("visual.transformer.resblocks.");
  c.vision.heads = HeadsFromWidth(c.vision.width);
  if (c.vision.layers > 0) {
    c.vision.mlp_dim = static_cast<int>(shape("visual.transformer.resblocks.0.mlp.c_fc.weight", 2)[0]);
  }
  c.embed_dim = static_cast<int>(shape("text_projection", 2)[1]);
  c.context_length = static_cast<int>(shape("positional_embedding", 2)[0]);
  c.vocab_size = static_cast<int>(shape("token_embedding.weight", 2)[0]);
  c.text.width = static_cast<int>(shape("ln_final.weight", 1)[0]);
  c.text.layers = count_layers("transformer.resblocks.");
  c.text.heads = HeadsFromWidth(c.text.width);
  if (c.text.layers > 0) {
    c.text.mlp_dim = static_cast<int>(shape("transformer.resblocks.0.mlp.c_fc.weight", 2)[0]);
  }
  c.Validate();
  return c;
}

}  // namespace fomo::core
