// The manifest of a version: which object holds each tensor, and how it is stored.
// Serialized as manifest.json in the version's commit tree.
#pragma once

#include <cstdint>
#include <string>
#include <unordered_map>
#include <vector>

#include "storage/object_store.hpp"

namespace fomo {

struct ManifestEntry {
  std::string name;
  ObjectId id;
  Dtype dtype = Dtype::kF32;
  Shape shape;
  Encoding encoding = Encoding::kFull;
  uint64_t stored_bytes = 0;  // size of the object file holding this tensor

  uint64_t raw_bytes() const { return ByteSize(dtype, shape); }
};

struct Manifest {
  std::vector<ManifestEntry> tensors;

  // By name: through the index FromJson builds (a version's manifest, looked up
  // once per tensor by every commit on top of it), else a scan.
  const ManifestEntry* Find(const std::string& name) const;
  uint64_t RawBytes() const;
  std::string ToJson() const;
  // Throws fomo::CorruptError on malformed input or a newer format version.
  // Names are unique and every shape's size is representable.
  static Manifest FromJson(const std::string& text);

 private:
  std::unordered_map<std::string, size_t> index_;  // valid while tensors is as FromJson left it
};

}  // namespace fomo
