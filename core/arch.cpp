#include "core/arch.hpp"

namespace fomo::core {

namespace {

struct Arch {
  const char* name;
  ClipConfig config;
};

ClipConfig Make(int embed, int image, int patch, TowerConfig vision, TowerConfig text, bool quick_gelu) {
  ClipConfig c;
  c.embed_dim = embed;
  c.image_size = image;
  c.patch_size = patch;
  c.vision = vision;
  c.context_length = 77;
  c.vocab_size = 49408;
  c.text = text;
  c.quick_gelu = quick_gelu;
  return c;
}

const std::vector<Arch>& Table() {
  static const std::vector<Arch> kArchs = {
      {"tiny", Make(64, 28, 7, {96, 3, 3, 384}, {64, 3, 2, 256}, true)},
      {"vit-b-32", Make(512, 224, 32, {768, 12, 12, 3072}, {512, 12, 8, 2048}, false)},
      {"vit-b-16", Make(512, 224, 16, {768, 12, 12, 3072}, {512, 12, 8, 2048}, false)},
      {"vit-l-14", Make(768, 224, 14, {1024, 24, 16, 4096}, {768, 12, 12, 3072}, false)},
  };
  return kArchs;
}

std::string Normalize(std::string name) {
  for (char& c : name) c = c == '_' ? '-' : static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return name;
}

}  // namespace

std::optional<ClipConfig> BuiltinArch(const std::string& name) {
  for (const auto& arch : Table()) {
    if (Normalize(name) == arch.name) return arch.config;
  }
  return std::nullopt;
}

std::vector<std::string> BuiltinArchNames() {
  std::vector<std::string> names;
  for (const auto& arch : Table()) names.emplace_back(arch.name);
  return names;
}

}  // namespace fomo::core
