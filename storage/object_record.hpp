// How objects and the store lie on disk: an object's record (header, payload and,
// for loose objects of a format-2 store, the SHA-256 of both), the store's FORMAT
// file and its pack directory. storage/object_store.cpp decides what goes where.
#pragma once

#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

#include "storage/object_store.hpp"

namespace fomo {

inline constexpr char kObjectMagic[4] = {'F', 'M', 'O', 'B'};
// Object records: 1 as fomo has always written them; 2 the same followed by the
// SHA-256 of the bytes before it (loose objects of a format-2 store).
inline constexpr uint16_t kPlainRecord = 1;
inline constexpr uint16_t kChecksummedRecord = 2;
inline constexpr size_t kChecksumSize = 32;
// The most bytes an object header takes (kFixedHeaderSize + 8 * kMaxDims, rounded up).
inline constexpr uint64_t kHeaderPrefix = 256;
inline constexpr size_t kFixedHeaderSize = 4 + 2 + 1 + 1 + 1 + 1 + 2 + 8 + 32;
inline constexpr int kMaxDims = 16;
static_assert(kFixedHeaderSize + 8 * kMaxDims <= kHeaderPrefix, "a header must fit the prefix Stat reads");

struct ObjectHeader {
  Encoding encoding;
  Dtype dtype;
  Shape shape;
  uint64_t raw_size;
  int depth;
  ObjectId base;
  bool checksummed = false;
};

std::vector<uint8_t> SerializeHeader(const ObjectHeader& h);
// Parses and checks an object header; returns its size in bytes.
size_t ParseHeader(const uint8_t* data, uint64_t size, const std::string& what, ObjectHeader* h);
void StoreU64(uint8_t* p, uint64_t v);
uint64_t LoadU64(const uint8_t* p);

fs::path FormatPath(const fs::path& dir);
fs::path PackDir(const fs::path& dir);
// The store's format: 1 when dir has no FORMAT file; refuses a newer one.
int ReadStoreFormat(const fs::path& dir);
void WriteStoreFormat(const fs::path& dir, int format);

}  // namespace fomo
