#include "storage/manifest.hpp"

#include <fmt/format.h>

#include <nlohmann/json.hpp>

#include "storage/error.hpp"
#include "storage/json_number.hpp"

namespace fomo {

namespace {
constexpr int kManifestVersion = 1;
using nlohmann::json;

Encoding ParseEncoding(const std::string& name) {
  for (Encoding e : {Encoding::kFull, Encoding::kDelta, Encoding::kLowRank}) {
    if (EncodingName(e) == name) return e;
  }
  throw CorruptError(fmt::format("manifest names an unknown encoding '{}'", name));
}
}  // namespace

const ManifestEntry* Manifest::Find(const std::string& name) const {
  if (!index_.empty() && index_.size() == tensors.size()) {
    auto it = index_.find(name);
    if (it != index_.end() && it->second < tensors.size() && tensors[it->second].name == name) return &tensors[it->second];
  }
  for (const auto& entry : tensors) {
    if (entry.name == name) return &entry;
  }
  return nullptr;
}

uint64_t Manifest::RawBytes() const {
  uint64_t total = 0;
  for (const auto& entry : tensors) total += entry.raw_bytes();
  return total;
}

std::string Manifest::ToJson() const {
  json list = json::array();
  for (const auto& e : tensors) {
    list.push_back({{"name", e.name},
                    {"id", e.id.Hex()},
                    {"dtype", std::string(DtypeName(e.dtype))},
                    {"shape", e.shape},
                    {"encoding", std::string(EncodingName(e.encoding))},
                    {"stored_bytes", e.stored_bytes}});
  }
  json doc = {{"format", "fomo-manifest"}, {"version", kManifestVersion}, {"tensors", list}};
  return doc.dump(1) + "\n";
}

Manifest Manifest::FromJson(const std::string& text) {
  Manifest manifest;
  try {
    json doc = json::parse(text);
    if (doc.value("format", "") != "fomo-manifest") throw CorruptError("not a fomo manifest");
    int version = static_cast<int>(JsonInteger(doc.at("version"), "the manifest's version", 0, 1 << 20));
    if (version > kManifestVersion) {
      throw CorruptError(fmt::format("manifest version {} is newer than this fomo reads ({})",
                                     version, kManifestVersion));
    }
    for (const auto& t : doc.at("tensors")) {
      ManifestEntry e;
      e.name = t.at("name").get<std::string>();
      auto id = ObjectId::FromHex(t.at("id").get<std::string>());
      if (!id) throw CorruptError(fmt::format("manifest entry '{}' has a bad object id", e.name));
      e.id = *id;
      auto dtype = ParseDtype(t.at("dtype").get<std::string>());
      if (!dtype) throw CorruptError(fmt::format("manifest entry '{}' has an unknown dtype", e.name));
      e.dtype = *dtype;
      const json& shape = t.at("shape");
      if (!shape.is_array()) throw CorruptError(fmt::format("tensor '{}': shape is not a list", e.name));
      for (const json& dim : shape) {
        e.shape.push_back(JsonInteger(dim, fmt::format("a dimension of '{}'", e.name), 0, INT64_MAX));
      }
      try {
        ByteSize(e.dtype, e.shape);
      } catch (const Error&) {
        throw CorruptError(fmt::format("manifest entry '{}' has an impossible shape {}", e.name, ShapeString(e.shape)));
      }
      e.encoding = ParseEncoding(t.at("encoding").get<std::string>());
      e.stored_bytes = JsonUnsigned(t.at("stored_bytes"), fmt::format("stored_bytes of '{}'", e.name));
      if (!manifest.index_.emplace(e.name, manifest.tensors.size()).second) {
        throw CorruptError(fmt::format("manifest names tensor '{}' twice", e.name));
      }
      manifest.tensors.push_back(std::move(e));
    }
  } catch (const json::exception& e) {
    throw CorruptError(fmt::format("manifest is malformed: {}", e.what()));
  }
  return manifest;
}

}  // namespace fomo
