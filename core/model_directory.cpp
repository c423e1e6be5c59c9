#include "core/model_directory.hpp"

#include <unistd.h>

#include <fmt/format.h>

#include <nlohmann/json.hpp>

#include "core/tokenizer.hpp"
#include "core/weight_dtype.hpp"
#include "storage/atomic_file.hpp"
#include "storage/error.hpp"

namespace fomo::core {

namespace {

using nlohmann::json;

// CLIP's image normalisation, as OpenAI trained it.
const std::vector<double> kImageMean = {0.48145466, 0.4578275, 0.40821073};
const std::vector<double> kImageStd = {0.26862954, 0.26130258, 0.27577711};

std::string TorchDtypeName(Dtype dtype) {
  switch (dtype) {
    case Dtype::kF16: return "float16";
    case Dtype::kBF16: return "bfloat16";
    case Dtype::kF64: return "float64";
    default: return "float32";
  }
}

json SourceOr(const ClipConfig& config, const char* format, json fallback) {
  if (config.source_format != format || config.source_json.empty()) return fallback;
  json j = json::parse(config.source_json, nullptr, false);
  return j.is_object() ? j : fallback;
}

void WriteText(const fs::path& path, const std::string& text) { WriteFileAtomic(path, text.data(), text.size()); }

std::vector<std::string> WriteTokenizerFiles(const fs::path& dir, int context_length) {
  const ClipTokenizer& tokenizer = ClipTokenizer::Default();
  json vocab = json::object();
  const auto& tokens = tokenizer.vocabulary();
  for (size_t i = 0; i < tokens.size(); ++i) vocab[tokens[i]] = i;
  WriteText(dir / "vocab.json", vocab.dump());
  std::string merges = "#version: 0.2\n";
  for (const auto& m : tokenizer.merges()) merges += m + "\n";
  WriteText(dir / "merges.txt", merges);
  const json special = {{"bos_token", "<|startoftext|>"},
                        {"eos_token", "<|endoftext|>"},
                        {"unk_token", "<|endoftext|>"},
                        {"pad_token", "<|endoftext|>"}};
  json config = special;
  config["tokenizer_class"] = "CLIPTokenizer";
  config["model_max_length"] = context_length;
  config["do_lower_case"] = true;
  config["errors"] = "replace";
  config["add_prefix_space"] = false;
  WriteText(dir / "tokenizer_config.json", config.dump(2) + "\n");
  WriteText(dir / "special_tokens_map.json", special.dump(2) + "\n");
  return {"vocab.json", "merges.txt", "tokenizer_config.json", "special_tokens_map.json"};
}

std::string PreprocessorConfigJson(const ClipConfig& config) {
  json j = {{"image_processor_type", "CLIPImageProcessor"},
            {"processor_class", "CLIPProcessor"},
            {"do_resize", true},
            {"size", {{"shortest_edge", config.image_size}}},
            {"resample", 3},
            {"do_center_crop", true},
            {"crop_size", {{"height", config.image_size}, {"width", config.image_size}}},
            {"do_rescale", true},
            {"rescale_factor", 1.0 / 255.0},
            {"do_normalize", true},
            {"image_mean", kImageMean},
            {"image_std", kImageStd},
            {"do_convert_rgb", true}};
  return j.dump(2) + "\n";
}

// The dtype the exported weights have.
Dtype ExportedDtype(const Manifest& manifest, const ExportOptions& options) {
  if (options.dtype) return *options.dtype;
  return CommonFloatDtype(manifest).value_or(Dtype::kF32);
}

}  // namespace

std::string HuggingFaceConfigJson(const ClipConfig& c, Dtype dtype) {
  const char* act = c.quick_gelu ? "quick_gelu" : "gelu";
  // transformers' own defaults for what fomo's config does not describe; OpenAI's
  // published configs use bos 0, eos 2 (pooling at the highest token id, as CLIP).
  json j = SourceOr(c, "hf",
                    {{"model_type", "clip"},
                     {"architectures", {"CLIPModel"}},
                     {"initializer_factor", 1.0},
                     {"logit_scale_init_value", 2.6592},
                     {"text_config",
                      {{"model_type", "clip_text_model"}, {"bos_token_id", 0}, {"eos_token_id", 2},
                       {"pad_token_id", 1}, {"layer_norm_eps", 1e-5}, {"attention_dropout", 0.0}}},
                     {"vision_config",
                      {{"model_type", "clip_vision_model"}, {"num_channels", 3}, {"layer_norm_eps", 1e-5},
                       {"attention_dropout", 0.0}}}});
  if (!j.contains("text_config") || !j["text_config"].is_object()) j["text_config"] = json::object();
  if (!j.contains("vision_config") || !j["vision_config"].is_object()) j["vision_config"] = json::object();
  j["projection_dim"] = c.embed_dim;
  j["torch_dtype"] = TorchDtypeName(dtype);
  json& t = j["text_config"];
  t["hidden_size"] = c.text.width;
  t["intermediate_size"] = c.text.mlp_dim;
  t["num_attention_heads"] = c.text.heads;
  t["num_hidden_layers"] = c.text.layers;
  t["max_position_embeddings"] = c.context_length;
  t["vocab_size"] = c.vocab_size;
  t["hidden_act"] = act;
  json& v = j["vision_config"];
  v["hidden_size"] = c.vision.width;
  v["intermediate_size"] = c.vision.mlp_dim;
  v["num_attention_heads"] = c.vision.heads;
  v["num_hidden_layers"] = c.vision.layers;
  v["image_size"] = c.image_size;
  v["patch_size"] = c.patch_size;
  v["hidden_act"] = act;
  return j.dump(2) + "\n";
}

std::string OpenClipConfigJson(const ClipConfig& c) {
  json j = SourceOr(c, "openclip", {{"preprocess_cfg", {{"mean", kImageMean}, {"std", kImageStd}}}});
  json model = json::parse(c.ModelJson());
  json& cfg = j["model_cfg"];
  if (!cfg.is_object()) cfg = json::object();
  // The model's fields over the source's, the source's other fields kept.
  for (const auto& [key, value] : model.items()) {
    if (value.is_object()) {
      if (!cfg[key].is_object()) cfg[key] = json::object();
      for (const auto& [k, v] : value.items()) cfg[key][k] = v;
    } else {
      cfg[key] = value;
    }
  }
  return j.dump(2) + "\n";
}

std::vector<std::string> ExportModelDirectory(const ObjectStore& store, const Manifest& manifest,
                                              const ClipConfig& config, const fs::path& dir,
                                              DirectoryFormat format, const ExportOptions& options) {
  std::error_code ec;
  if (fs::exists(dir, ec)) {
    if (!fs::is_directory(dir, ec)) {
      throw Error(fmt::format("cannot export to '{}': it exists and is not a directory", dir.string()));
    }
    if (!fs::is_empty(dir, ec)) {
      throw Error(fmt::format("cannot export to '{}': the directory exists and is not empty", dir.string()));
    }
  }
  fs::path parent = dir.parent_path().empty() ? fs::path(".") : dir.parent_path();
  fs::path staging = parent / fmt::format(".{}.fomo-export-{}", dir.filename().string(), ::getpid());
  fs::remove_all(staging, ec);
  if (!fs::create_directories(staging, ec) || ec) {
    throw Error(fmt::format("cannot create '{}': {}", staging.string(), ec ? ec.message() : "exists"));
  }
  std::vector<std::string> files;
  try {
    ExportOptions o = options;
    o.layout = format == DirectoryFormat::kHuggingFace ? Layout::kHuggingFace : Layout::kOpenAI;
    if (format == DirectoryFormat::kHuggingFace) {
      ExportCheckpoint(store, manifest, config, staging / "model.safetensors", o);
      WriteText(staging / "config.json", HuggingFaceConfigJson(config, ExportedDtype(manifest, options)));
      WriteText(staging / "preprocessor_config.json", PreprocessorConfigJson(config));
      files = {"config.json", "model.safetensors", "preprocessor_config.json"};
      for (const auto& f : WriteTokenizerFiles(staging, config.context_length)) files.push_back(f);
    } else {
      ExportCheckpoint(store, manifest, config, staging / "open_clip_model.safetensors", o);
      WriteText(staging / "open_clip_config.json", OpenClipConfigJson(config));
      files = {"open_clip_config.json", "open_clip_model.safetensors"};
    }
    if (fs::exists(dir, ec)) fs::remove(dir, ec);  // the empty directory checked above
    fs::rename(staging, dir);
  } catch (const fs::filesystem_error& e) {
    fs::remove_all(staging, ec);
    throw Error(fmt::format("cannot export to '{}': {}", dir.string(), e.code().message()));
  } catch (...) {
    fs::remove_all(staging, ec);
    throw;
  }
  return files;
}

}  // namespace fomo::core
