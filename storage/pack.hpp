// Pack files: many small objects in one file, as git and restic keep them, so a
// store of biases, norms and adapter updates does not spend a disk block on each.
//
// Layout of objects/pack/pack-<checksum>.fpk:
//   "FMPK" u16 format (1) u16 0
//   records: each exactly the bytes a loose object file of that object holds
//   index:   count entries {id[32], offset u64, size u32}, sorted by id
//   trailer: u64 count, u64 index offset, "FMPX", SHA-256 of every byte before it
// The file is named by that SHA-256, written under a temporary name and renamed
// into place, and never changed after: repacking writes a new pack and removes the
// old ones. Integers are little-endian.
#pragma once

#include <cstdint>
#include <filesystem>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "storage/atomic_file.hpp"
#include "storage/sha256.hpp"

namespace fomo {

namespace fs = std::filesystem;

inline constexpr const char* kPackSuffix = ".fpk";

struct PackRecord {
  const uint8_t* data = nullptr;
  uint64_t size = 0;
};

class PackFile {
 public:
  // Maps the pack and checks its trailer and index (bounds, order); the records'
  // bytes are checked by Verify or by decoding them.
  static std::shared_ptr<const PackFile> Open(const fs::path& path);

  const fs::path& path() const { return file_.path(); }
  uint64_t size() const { return file_.size(); }
  size_t count() const { return count_; }
  ObjectId IdAt(size_t i) const;
  PackRecord RecordAt(size_t i) const;
  std::optional<PackRecord> Find(const ObjectId& id) const;

  // Hashes the pack and compares the result with its recorded checksum and its name.
  bool Verify() const;

 private:
  explicit PackFile(const fs::path& path) : file_(path) {}
  const uint8_t* EntryAt(size_t i) const { return index_ + i * kEntrySize; }

  static constexpr size_t kEntrySize = 32 + 8 + 4;
  MappedFile file_;
  const uint8_t* index_ = nullptr;
  size_t count_ = 0;
  uint64_t index_offset_ = 0;
};

// Writes records (ids need not be sorted; each id once) as one pack in dir and
// returns its path. The pack is durable and complete when this returns.
fs::path WritePack(const fs::path& dir, std::vector<std::pair<ObjectId, PackRecord>> records);

}  // namespace fomo
