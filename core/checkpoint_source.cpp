#include "core/checkpoint_source.hpp"

#include <cstring>
#include <fstream>
#include <regex>
#include <set>

#include <fmt/format.h>

#include <nlohmann/json.hpp>

#include "storage/atomic_file.hpp"
#include "storage/error.hpp"

namespace fomo::core {

namespace {

const char* const kHfConfig = "config.json";
const char* const kOpenClipConfig = "open_clip_config.json";
// Weight files of a model directory, in the order they are preferred.
const char* const kHfWeights[] = {"model.safetensors", "model.safetensors.index.json", "pytorch_model.bin",
                                  "pytorch_model.bin.index.json"};
const char* const kOpenClipWeights[] = {"open_clip_model.safetensors", "open_clip_pytorch_model.bin"};

bool EndsWith(const std::string& s, const std::string& suffix) {
  return s.size() >= suffix.size() && s.compare(s.size() - suffix.size(), suffix.size(), suffix) == 0;
}

bool IsIndexFile(const fs::path& path) { return EndsWith(path.filename().string(), ".index.json"); }

// model-00001-of-00002.safetensors and the like.
bool IsShardName(const std::string& name) {
  static const std::regex shard(R"(.*-[0-9]+-of-[0-9]+\.[A-Za-z]+)");
  return std::regex_match(name, shard);
}

std::vector<fs::path> ShardsOfIndex(const fs::path& index) {
  nlohmann::json j;
  try {
    j = nlohmann::json::parse(ReadFileToString(index));
  } catch (const nlohmann::json::exception& e) {
    throw Error(fmt::format("cannot read shard index '{}': not valid JSON ({})", index.string(), e.what()));
  }
  if (!j.is_object() || !j.contains("weight_map") || !j["weight_map"].is_object() || j["weight_map"].empty()) {
    throw Error(fmt::format("cannot read shard index '{}': it has no 'weight_map' object", index.string()));
  }
  std::vector<fs::path> shards;
  std::set<std::string> seen;
  for (const auto& [tensor, file] : j["weight_map"].items()) {
    if (!file.is_string()) {
      throw Error(fmt::format("cannot read shard index '{}': the shard of '{}' is not a file name", index.string(), tensor));
    }
    const std::string name = file.get<std::string>();
    // Shards lie beside their index: a path elsewhere is refused, not followed.
    if (name.empty() || name.find('/') != std::string::npos || name == "." || name == "..") {
      throw Error(fmt::format("cannot read shard index '{}': shard '{}' is not a file beside the index",
                              index.string(), name));
    }
    if (seen.insert(name).second) shards.push_back(index.parent_path() / name);
  }
  std::sort(shards.begin(), shards.end());
  for (const auto& shard : shards) {
    if (!fs::is_regular_file(shard)) {
      throw Error(fmt::format("cannot import '{}': shard '{}' is missing", index.string(), shard.filename().string()));
    }
  }
  return shards;
}

std::optional<fs::path> Beside(const fs::path& dir, const char* name) {
  fs::path p = dir / name;
  if (fs::is_regular_file(p)) return p;
  return std::nullopt;
}

// Fills weight_files (and formats) from a weights file or a shard index.
void SetWeights(std::vector<fs::path> files, CheckpointSource* source) {
  source->weight_files = std::move(files);
  for (const auto& f : source->weight_files) source->formats.push_back(DetectWeightFormat(f));
}

void AddWeights(const fs::path& file, CheckpointSource* source) {
  SetWeights(IsIndexFile(file) ? ShardsOfIndex(file) : std::vector<fs::path>{file}, source);
}

}  // namespace

std::string_view WeightFormatName(WeightFormat format) {
  switch (format) {
    case WeightFormat::kSafetensors: return "safetensors";
    case WeightFormat::kPytorchZip: return "PyTorch";
    case WeightFormat::kLegacyPickle: return "legacy PyTorch";
  }
  return "?";
}

WeightFormat DetectWeightFormat(const fs::path& file) {
  std::error_code ec;
  if (!fs::exists(file, ec)) throw Error(fmt::format("cannot read '{}': no such file", file.string()));
  if (!fs::is_regular_file(file, ec)) throw Error(fmt::format("cannot read '{}': not a regular file", file.string()));
  std::ifstream in(file, std::ios::binary);
  unsigned char head[16] = {};
  in.read(reinterpret_cast<char*>(head), sizeof head);
  const std::streamsize got = in.gcount();
  if (!in && !in.eof()) throw Error(fmt::format("cannot read '{}': {}", file.string(), std::strerror(errno)));
  if (got >= 4 && std::memcmp(head, "PK\x03\x04", 4) == 0) return WeightFormat::kPytorchZip;
  // torch.save's legacy format is a pickle (protocol 2) that starts with a magic number.
  if (got >= 2 && head[0] == 0x80 && head[1] <= 5) return WeightFormat::kLegacyPickle;
  if (got >= 9) {
    uint64_t header = 0;
    for (int i = 7; i >= 0; --i) header = header << 8 | head[i];
    if (head[8] == '{' && header >= 2) return WeightFormat::kSafetensors;
  }
  throw Error(fmt::format("cannot import '{}': not a checkpoint fomo reads (safetensors, a torch.save or "
                          "TorchScript archive, a Hugging Face or OpenCLIP directory)",
                          file.string()));
}

bool IsModelDirectory(const fs::path& dir) {
  for (const char* name : kHfWeights) {
    if (Beside(dir, name)) return true;
  }
  for (const char* name : kOpenClipWeights) {
    if (Beside(dir, name)) return true;
  }
  return false;
}

CheckpointSource LocateCheckpoint(const fs::path& path) {
  std::error_code ec;
  if (!fs::exists(path, ec)) throw Error(fmt::format("cannot read '{}': no such file or directory", path.string()));
  CheckpointSource source;
  if (fs::is_directory(path, ec)) {
    if (auto config = Beside(path, kOpenClipConfig)) {
      for (const char* name : kOpenClipWeights) {
        if (auto weights = Beside(path, name)) {
          source.config_file = config;
          source.kind = "OpenCLIP directory";
          AddWeights(*weights, &source);
          return source;
        }
      }
      throw Error(fmt::format("cannot import '{}': an OpenCLIP directory without open_clip_model.safetensors or "
                              "open_clip_pytorch_model.bin",
                              path.string()));
    }
    for (const char* name : kHfWeights) {
      if (auto weights = Beside(path, name)) {
        source.config_file = Beside(path, kHfConfig);
        AddWeights(*weights, &source);
        source.kind = source.weight_files.size() > 1
                          ? fmt::format("Hugging Face directory, {} shards", source.weight_files.size())
                          : "Hugging Face directory";
        return source;
      }
    }
    throw Error(fmt::format("cannot import '{}': a directory without a model (config.json with model.safetensors, "
                            "pytorch_model.bin or a shard index; or open_clip_config.json with its weights)",
                            path.string()));
  }
  const fs::path dir = path.parent_path().empty() ? fs::path(".") : path.parent_path();
  const std::string name = path.filename().string();
  if (IsIndexFile(path)) {
    AddWeights(path, &source);
    source.kind = fmt::format("sharded checkpoint, {} shards", source.weight_files.size());
  } else if (IsShardName(name)) {
    // One shard given: the whole checkpoint is what its index lists.
    for (const char* index : {"model.safetensors.index.json", "pytorch_model.bin.index.json"}) {
      auto found = Beside(dir, index);
      if (!found) continue;
      auto shards = ShardsOfIndex(*found);
      if (std::find(shards.begin(), shards.end(), dir / name) == shards.end()) continue;
      SetWeights(std::move(shards), &source);
      source.kind = fmt::format("sharded checkpoint, {} shards (from {})", source.weight_files.size(), index);
      break;
    }
    if (source.weight_files.empty()) {
      throw Error(fmt::format("cannot import '{}': it is one shard of a checkpoint, and no index beside it lists it "
                              "(model.safetensors.index.json)",
                              path.string()));
    }
  } else {
    AddWeights(path, &source);
    source.kind = fmt::format("{} file", WeightFormatName(source.formats[0]));
  }
  if (name == kOpenClipWeights[0] || name == kOpenClipWeights[1]) {
    source.config_file = Beside(dir, kOpenClipConfig);
  } else {
    source.config_file = Beside(dir, kHfConfig);
    if (!source.config_file) source.config_file = Beside(dir, kOpenClipConfig);
  }
  return source;
}

}  // namespace fomo::core
