// safetensors files: an 8-byte little-endian header length, a JSON header naming
// each tensor's dtype, shape and byte range, then the data area. The reader maps
// the file and validates everything before handing out views into the map.
#pragma once

#include <filesystem>
#include <map>
#include <memory>
#include <string>
#include <unordered_map>
#include <vector>

#include "storage/atomic_file.hpp"
#include "storage/tensor.hpp"

namespace fomo::core {

namespace fs = std::filesystem;

// Headers above this are refused whatever the file size claims (the reference
// implementation uses the same bound).
inline constexpr uint64_t kMaxSafetensorsHeader = 100ull * 1024 * 1024;
// A CLIP has hundreds of tensors, a sharded LLM's shard thousands: far more is an
// attack or an accident, refused with a message before the work grows.
inline constexpr size_t kMaxSafetensorsTensors = 200000;

class SafetensorsFile {
 public:
  // Throws fomo::Error naming the file and the first problem found.
  // kStreamed: the tensors are read one at a time and Released behind, so a
  // large checkpoint is never resident whole.
  static SafetensorsFile Open(const fs::path& path, MapAccess access = MapAccess::kWhole);

  const fs::path& path() const { return map_->path(); }
  // Tensors in file order (by offset).
  const std::vector<NamedTensor>& tensors() const { return tensors_; }
  const NamedTensor* Find(const std::string& name) const;
  const std::map<std::string, std::string>& metadata() const { return metadata_; }
  // Drops the resident pages of a view into this file; false if it is not one.
  bool Release(const TensorView& view) const;

 private:
  std::unique_ptr<MappedFile> map_;
  std::vector<NamedTensor> tensors_;
  std::unordered_map<std::string, size_t> index_;  // name -> position in tensors_
  std::map<std::string, std::string> metadata_;
};

// Writes tensors in the given order, 8-byte aligned header, atomically (temporary
// file, fsync, rename). Tensor data may be written by the caller through fill, which
// receives each tensor's index and destination offset; when fill is empty the views'
// data is copied.
struct SafetensorsEntry {
  std::string name;
  Dtype dtype;
  Shape shape;
};

class SafetensorsWriter {
 public:
  SafetensorsWriter(fs::path path, std::vector<SafetensorsEntry> entries,
                    std::map<std::string, std::string> metadata, bool durable = false);
  uint64_t DataOffset(size_t index) const { return data_start_ + offsets_[index]; }
  uint64_t TotalSize() const { return data_start_ + data_size_; }
  // Thread-safe for different indices.
  void Write(size_t index, const uint8_t* data, uint64_t size);
  void Commit();

 private:
  std::vector<SafetensorsEntry> entries_;
  std::vector<uint64_t> offsets_;
  uint64_t data_start_ = 0;
  uint64_t data_size_ = 0;
  AtomicFileWriter file_;
};

void WriteSafetensors(const fs::path& path, const std::vector<NamedTensor>& tensors,
                      const std::map<std::string, std::string>& metadata);

}  // namespace fomo::core
