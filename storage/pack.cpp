#include "storage/pack.hpp"

#include <algorithm>
#include <cstring>

#include <fmt/format.h>

#include "storage/error.hpp"

namespace fomo {

namespace {

constexpr char kPackMagic[4] = {'F', 'M', 'P', 'K'};
constexpr char kIndexMagic[4] = {'F', 'M', 'P', 'X'};
constexpr uint16_t kPackFormat = 1;
constexpr size_t kPackHeaderSize = 8;
constexpr size_t kTrailerSize = 8 + 8 + 4 + 32;
constexpr size_t kEntrySize = 32 + 8 + 4;

void PutLe(uint8_t* p, uint64_t v, int bytes) {
  for (int i = 0; i < bytes; ++i) p[i] = static_cast<uint8_t>(v >> (8 * i));
}

uint64_t GetLe(const uint8_t* p, int bytes) {
  uint64_t v = 0;
  for (int i = 0; i < bytes; ++i) v |= static_cast<uint64_t>(p[i]) << (8 * i);
  return v;
}

std::string NameOf(const ObjectId& checksum) { return "pack-" + checksum.Hex() + kPackSuffix; }

}  // namespace

std::shared_ptr<const PackFile> PackFile::Open(const fs::path& path) {
  std::shared_ptr<PackFile> pack(new PackFile(path));
  const std::string what = path.filename().string();
  const uint8_t* data = pack->file_.data();
  const uint64_t size = pack->file_.size();
  if (size < kPackHeaderSize + kTrailerSize || std::memcmp(data, kPackMagic, 4) != 0) {
    throw CorruptError(fmt::format("pack {} is corrupt: bad header", what));
  }
  const uint64_t format = GetLe(data + 4, 2);
  if (format != kPackFormat) {
    throw CorruptError(fmt::format("pack {} has format {}; this fomo reads format {}", what, format, kPackFormat));
  }
  const uint8_t* trailer = data + size - kTrailerSize;
  if (std::memcmp(trailer + 16, kIndexMagic, 4) != 0) {
    throw CorruptError(fmt::format("pack {} is corrupt: bad trailer", what));
  }
  const uint64_t count = GetLe(trailer, 8), index_offset = GetLe(trailer + 8, 8);
  const uint64_t index_end = size - kTrailerSize;
  if (index_offset < kPackHeaderSize || index_offset > index_end || (index_end - index_offset) / kEntrySize != count ||
      (index_end - index_offset) % kEntrySize != 0) {
    throw CorruptError(fmt::format("pack {} is corrupt: its index does not fit", what));
  }
  pack->index_ = data + index_offset;
  pack->count_ = static_cast<size_t>(count);
  pack->index_offset_ = index_offset;
  for (size_t i = 0; i < pack->count_; ++i) {
    const uint8_t* e = pack->EntryAt(i);
    const uint64_t offset = GetLe(e + 32, 8), length = GetLe(e + 40, 4);
    if (offset < kPackHeaderSize || offset > index_offset || length > index_offset - offset) {
      throw CorruptError(fmt::format("pack {} is corrupt: entry {} points outside its records", what, i));
    }
    if (i > 0 && std::memcmp(pack->EntryAt(i - 1), e, 32) >= 0) {
      throw CorruptError(fmt::format("pack {} is corrupt: its index is not sorted", what));
    }
  }
  return pack;
}

ObjectId PackFile::IdAt(size_t i) const {
  ObjectId id;
  std::memcpy(id.bytes.data(), EntryAt(i), 32);
  return id;
}

PackRecord PackFile::RecordAt(size_t i) const {
  const uint8_t* e = EntryAt(i);
  return PackRecord{file_.data() + GetLe(e + 32, 8), GetLe(e + 40, 4)};
}

std::optional<PackRecord> PackFile::Find(const ObjectId& id) const {
  size_t lo = 0, hi = count_;
  while (lo < hi) {
    const size_t mid = lo + (hi - lo) / 2;
    const int order = std::memcmp(EntryAt(mid), id.bytes.data(), 32);
    if (order == 0) return RecordAt(mid);
    if (order < 0) {
      lo = mid + 1;
    } else {
      hi = mid;
    }
  }
  return std::nullopt;
}

bool PackFile::Verify() const {
  Sha256 hash;
  hash.Update(file_.data(), file_.size() - 32);
  const ObjectId computed = hash.Finish();
  return std::memcmp(computed.bytes.data(), file_.data() + file_.size() - 32, 32) == 0 &&
         path().filename().string() == NameOf(computed);
}

fs::path WritePack(const fs::path& dir, std::vector<std::pair<ObjectId, PackRecord>> records) {
  std::sort(records.begin(), records.end(), [](const auto& a, const auto& b) { return a.first < b.first; });
  for (size_t i = 1; i < records.size(); ++i) {
    if (records[i].first == records[i - 1].first) throw Error("a pack cannot hold one object twice");
  }
  uint8_t header[kPackHeaderSize] = {'F', 'M', 'P', 'K', 0, 0, 0, 0};
  PutLe(header + 4, kPackFormat, 2);
  std::vector<uint8_t> index(records.size() * kEntrySize + kTrailerSize - 32);
  uint64_t offset = kPackHeaderSize;
  for (size_t i = 0; i < records.size(); ++i) {
    const auto& [id, record] = records[i];
    if (record.size > UINT32_MAX) throw Error("an object too large for a pack");
    uint8_t* e = index.data() + i * kEntrySize;
    std::memcpy(e, id.bytes.data(), 32);
    PutLe(e + 32, offset, 8);
    PutLe(e + 40, record.size, 4);
    offset += record.size;
  }
  uint8_t* trailer = index.data() + records.size() * kEntrySize;
  PutLe(trailer, records.size(), 8);
  PutLe(trailer + 8, offset, 8);
  std::memcpy(trailer + 16, kIndexMagic, 4);

  Sha256 hash;
  hash.Update(header, sizeof(header));
  for (const auto& [id, record] : records) hash.Update(record.data, record.size);
  hash.Update(index.data(), index.size());
  const ObjectId checksum = hash.Finish();

  std::error_code ec;
  fs::create_directories(dir, ec);
  if (ec) throw Error(fmt::format("cannot create '{}': {}", dir.string(), ec.message()));
  const fs::path path = dir / NameOf(checksum);
  if (fs::exists(path, ec)) return path;  // the same objects are packed already
  AtomicFileWriter writer(path);
  // Records are small: gather them into large writes.
  std::vector<uint8_t> buffer;
  buffer.reserve(1 << 20);
  uint64_t at = 0;
  auto append = [&](const uint8_t* data, size_t size) {
    if (buffer.size() + size > buffer.capacity()) {
      writer.PWrite(at, buffer.data(), buffer.size());
      at += buffer.size();
      buffer.clear();
    }
    if (size >= buffer.capacity()) {
      writer.PWrite(at, data, size);
      at += size;
    } else {
      buffer.insert(buffer.end(), data, data + size);
    }
  };
  append(header, sizeof(header));
  for (const auto& [id, record] : records) append(record.data, record.size);
  append(index.data(), index.size());
  append(checksum.bytes.data(), 32);
  writer.PWrite(at, buffer.data(), buffer.size());
  writer.Commit();
  return path;
}

}  // namespace fomo
