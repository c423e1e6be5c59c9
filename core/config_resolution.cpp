#include "core/config_resolution.hpp"

#include <fmt/format.h>

#include "storage/atomic_file.hpp"
#include "storage/error.hpp"

namespace fomo::core {

namespace {

int ParsePositive(const std::string& text, const std::string& what) {
  size_t used = 0;
  int value = 0;
  try {
    value = std::stoi(text, &used);
  } catch (const std::exception&) {
    used = 0;
  }
  if (used != text.size() || value <= 0) throw UsageError(fmt::format("{}: '{}' is not a positive integer", what, text));
  return value;
}

// OpenAI's JIT archives carry these; they must agree with the shapes.
void CheckAttributes(const ConfigEvidence& e, const ClipConfig& c) {
  const std::pair<const char*, int> expected[] = {
      {"input_resolution", c.image_size}, {"context_length", c.context_length}, {"vocab_size", c.vocab_size}};
  for (const auto& [key, value] : expected) {
    auto it = e.attributes.find(key);
    if (it != e.attributes.end() && it->second != std::to_string(value)) {
      throw Error(fmt::format("cannot import '{}': its attribute {} is {}, its tensors say {}", e.origin, key,
                              it->second, value));
    }
  }
}

// A config from a file or metadata; nullopt when the file is JSON but not a CLIP
// config (a config.json of some other program beside the checkpoint).
std::optional<ClipConfig> ReadBeside(const fs::path& file, std::vector<std::string>* notes) {
  std::string text = ReadFileToString(file);
  try {
    return ClipConfig::FromJsonText(text, file.string());
  } catch (const Error& e) {
    if (std::string(e.what()).find("neither an OpenCLIP") == std::string::npos) throw;
    notes->push_back(fmt::format("ignored '{}' beside the checkpoint: not a CLIP config", file.string()));
    return std::nullopt;
  }
}

}  // namespace

HeadCounts ParseHeadCounts(const std::string& text) {
  auto comma = text.find(',');
  if (comma == std::string::npos) {
    int n = ParsePositive(text, "--heads");
    return {n, n};
  }
  return {ParsePositive(text.substr(0, comma), "--heads (vision)"), ParsePositive(text.substr(comma + 1), "--heads (text)")};
}

bool ParseActivation(const std::string& text) {
  if (text == "quick_gelu" || text == "quickgelu" || text == "QuickGELU") return true;
  if (text == "gelu" || text == "GELU") return false;
  throw UsageError(fmt::format("--activation must be quick_gelu or gelu, not '{}'", text));
}

std::string DescribeConfig(const ClipConfig& c) {
  return fmt::format("vision {} x {} ({} heads, patch {}, {} px), text {} x {} ({} heads, context {}, vocab {}), "
                     "embed {}, {}",
                     c.vision.layers, c.vision.width, c.vision.heads, c.patch_size, c.image_size, c.text.layers,
                     c.text.width, c.text.heads, c.context_length, c.vocab_size, c.embed_dim,
                     c.quick_gelu ? "QuickGELU" : "GELU");
}

ResolvedConfig ResolveConfig(const ConfigEvidence& e, const ConfigSource& source) {
  ResolvedConfig r;
  std::optional<ClipConfig> stated;  // from a file or the metadata
  std::string origin;
  if (source.file) {
    std::error_code ec;
    if (!fs::exists(*source.file, ec)) {
      throw Error(fmt::format("cannot read config '{}': no such file", source.file->string()));
    }
    if (!fs::is_regular_file(*source.file, ec)) {
      throw Error(fmt::format("cannot read config '{}': not a regular file", source.file->string()));
    }
    stated = ClipConfig::FromJsonText(ReadFileToString(*source.file), source.file->string());
    origin = "--config " + source.file->string();
    r.summary = origin;
  } else if (e.beside && (stated = ReadBeside(*e.beside, &r.notes))) {
    origin = fmt::format("{} beside the checkpoint", e.beside->filename().string());
    r.summary = origin;
  } else {
    ClipConfig from_metadata;
    if (ClipConfig::FromMetadata(e.metadata, &from_metadata)) {
      stated = from_metadata;
      origin = "the checkpoint's metadata";
      r.summary = "metadata";
    }
  }

  if (stated) {
    r.config = *stated;
    r.provenance = {origin, origin, origin};
    // OpenAI's metadata keys carry the text heads only; the vision heads follow its rule.
    if (r.summary == "metadata" && !e.metadata.count("fomo.config") && !e.metadata.count("vision_heads")) {
      r.provenance.heads = "the checkpoint's metadata (vision heads: OpenAI's rule, width / 64)";
    }
    if (source.heads && (source.heads->vision != r.config.vision.heads || source.heads->text != r.config.text.heads)) {
      throw Error(fmt::format("cannot import '{}': --heads {},{} contradicts {} ({},{} heads)", e.origin,
                              source.heads->vision, source.heads->text, origin, r.config.vision.heads,
                              r.config.text.heads));
    }
    if (source.quick_gelu && *source.quick_gelu != r.config.quick_gelu) {
      throw Error(fmt::format("cannot import '{}': --activation contradicts {} ({})", e.origin, origin,
                              r.config.quick_gelu ? "QuickGELU" : "GELU"));
    }
    if (source.known && !(r.config == *source.known)) {
      throw Error(fmt::format("cannot import '{}': its model config ({}) differs from the repository's: {} against {}",
                              e.origin, origin, DescribeConfig(r.config), DescribeConfig(*source.known)));
    }
    CheckAttributes(e, r.config);
    return r;
  }

  if (source.known) {
    r.config = *source.known;
    r.provenance = {"the repository", "the repository", "the repository"};
    r.summary = "repository";
    return r;
  }

  // Shapes: sizes, layers and widths are visible; heads and the activation are not.
  try {
    r.config = ClipConfig::InferFromShapes(e.canonical_shapes);
  } catch (const Error& err) {
    throw Error(fmt::format("cannot import '{}': {}", e.origin, err.what()));
  }
  r.summary = "shapes";
  r.provenance.dimensions = e.attributes.empty() ? "tensor shapes" : "tensor shapes and TorchScript attributes";
  if (source.heads) {
    r.config.vision.heads = source.heads->vision;
    r.config.text.heads = source.heads->text;
    r.provenance.heads = "--heads";
  } else if (e.layout == Layout::kOpenAI) {
    r.provenance.heads = "OpenAI's rule, width / 64 (the OpenAI layout's code uses it)";
  } else {
    throw Error(fmt::format("cannot import '{}': a {} state dict does not show its attention head counts and no "
                            "config.json is beside it; give --config FILE (the model's config.json) or --heads N "
                            "(or --heads VISION,TEXT)",
                            e.origin, e.layout == Layout::kHuggingFace ? "Hugging Face" : "CLIP"));
  }
  if (source.quick_gelu) {
    r.config.quick_gelu = *source.quick_gelu;
    r.provenance.activation = "--activation";
  } else {
    r.config.quick_gelu = true;
    r.provenance.activation = fmt::format("QuickGELU, the {} layout's default (--activation gelu for OpenCLIP's "
                                          "own models)",
                                          e.layout == Layout::kHuggingFace ? "Hugging Face" : "OpenAI");
  }
  CheckAttributes(e, r.config);
  try {
    r.config.Validate();
  } catch (const Error& err) {
    throw Error(fmt::format("cannot import '{}': {}", e.origin, err.what()));
  }
  return r;
}

}  // namespace fomo::core
