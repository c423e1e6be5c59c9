// Which model config an imported checkpoint has, and where each part of it came
// from. Never silently wrong: head counts are not visible in shapes, so shapes
// decide them only where the layout's own code does (OpenAI's width / 64);
// anything else needs a config file, the checkpoint's metadata, or --heads.
#pragma once

#include <filesystem>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "core/clip_config.hpp"
#include "core/clip_layout.hpp"

namespace fomo::core {

namespace fs = std::filesystem;

struct HeadCounts {
  int vision = 0;
  int text = 0;
};
// "N" (both towers) or "V,T"; throws fomo::UsageError otherwise.
HeadCounts ParseHeadCounts(const std::string& text);
// "quick_gelu" / "quickgelu" -> true, "gelu" -> false; throws fomo::UsageError otherwise.
bool ParseActivation(const std::string& text);

// Where the model config of an imported checkpoint comes from, in order: --config,
// a config file beside the checkpoint, the checkpoint's metadata, its shapes; a
// config already known (the repository's) stands in for shapes and must agree
// with the others.
struct ConfigSource {
  ConfigSource() = default;
  ConfigSource(std::optional<fs::path> config_file, std::optional<ClipConfig> known_config)
      : file(std::move(config_file)), known(std::move(known_config)) {}

  std::optional<fs::path> file;
  std::optional<ClipConfig> known;
  std::optional<HeadCounts> heads;   // --heads
  std::optional<bool> quick_gelu;    // --activation
};

struct ConfigProvenance {
  std::string dimensions;  // widths, layers, sizes
  std::string heads;
  std::string activation;
};

struct ConfigEvidence {
  std::string origin;  // the checkpoint, for messages
  Layout layout = Layout::kOpenAI;
  std::map<std::string, Shape> canonical_shapes;
  std::map<std::string, std::string> metadata;    // safetensors __metadata__
  std::map<std::string, std::string> attributes;  // TorchScript attributes
  std::optional<fs::path> beside;                  // config.json / open_clip_config.json
};

struct ResolvedConfig {
  ClipConfig config;
  ConfigProvenance provenance;
  std::string summary;  // one phrase: "--config FILE", "config.json beside the checkpoint", "metadata", ...
  std::vector<std::string> notes;
};

// Throws fomo::Error naming the checkpoint and what is missing or contradictory.
ResolvedConfig ResolveConfig(const ConfigEvidence& evidence, const ConfigSource& source);

// "vision 12 x 768 (12 heads, patch 32, 224 px), text 12 x 512 (8 heads, context 77,
// vocab 49408), embed 512, QuickGELU"
std::string DescribeConfig(const ClipConfig& config);

}  // namespace fomo::core
