#include "storage/object_record.hpp"

#include <cstring>

#include <fmt/format.h>

#include "storage/atomic_file.hpp"
#include "storage/error.hpp"

namespace fomo {

std::vector<uint8_t> SerializeHeader(const ObjectHeader& h) {
  std::vector<uint8_t> out(kFixedHeaderSize + 8 * h.shape.size());
  std::memcpy(out.data(), kObjectMagic, 4);
  out[4] = kPlainRecord;
  out[5] = 0;
  out[6] = static_cast<uint8_t>(h.encoding);
  out[7] = static_cast<uint8_t>(h.dtype);
  out[8] = static_cast<uint8_t>(h.shape.size());
  out[9] = static_cast<uint8_t>(h.depth);
  for (int i = 0; i < 8; ++i) out[12 + i] = static_cast<uint8_t>(h.raw_size >> (8 * i));
  std::memcpy(out.data() + 20, h.base.bytes.data(), 32);
  for (size_t d = 0; d < h.shape.size(); ++d) {
    auto dim = static_cast<uint64_t>(h.shape[d]);
    for (int i = 0; i < 8; ++i) out[kFixedHeaderSize + 8 * d + i] = static_cast<uint8_t>(dim >> (8 * i));
  }
  return out;
}

void StoreU64(uint8_t* p, uint64_t v) {
  for (int i = 0; i < 8; ++i) p[i] = static_cast<uint8_t>(v >> (8 * i));
}

uint64_t LoadU64(const uint8_t* p) {
  uint64_t v = 0;
  for (int i = 0; i < 8; ++i) v |= static_cast<uint64_t>(p[i]) << (8 * i);
  return v;
}

size_t ParseHeader(const uint8_t* data, uint64_t size, const std::string& what, ObjectHeader* h) {
  if (size < kFixedHeaderSize || std::memcmp(data, kObjectMagic, 4) != 0) {
    throw CorruptError(fmt::format("object {} is corrupt: bad header", what));
  }
  uint16_t version = static_cast<uint16_t>(data[4] | data[5] << 8);
  if (version != kPlainRecord && version != kChecksummedRecord) {
    throw CorruptError(fmt::format("object {} has format version {}; this fomo reads versions {} and {}", what,
                                   version, kPlainRecord, kChecksummedRecord));
  }
  h->checksummed = version == kChecksummedRecord;
  uint8_t encoding = data[6];
  if (encoding < 1 || encoding > 3) {
    throw CorruptError(fmt::format("object {} is corrupt: unknown encoding {}", what, encoding));
  }
  h->encoding = static_cast<Encoding>(encoding);
  auto dtype = DtypeFromCode(data[7]);
  if (!dtype) throw CorruptError(fmt::format("object {} is corrupt: unknown dtype {}", what, data[7]));
  h->dtype = *dtype;
  int ndim = data[8];
  if (ndim > kMaxDims) throw CorruptError(fmt::format("object {} is corrupt: {} dimensions", what, ndim));
  h->depth = data[9];
  h->raw_size = LoadU64(data + 12);
  std::memcpy(h->base.bytes.data(), data + 20, 32);
  size_t header_size = kFixedHeaderSize + 8 * static_cast<size_t>(ndim);
  if (size < header_size + (h->checksummed ? kChecksumSize : 0)) {
    throw CorruptError(fmt::format("object {} is corrupt: truncated header", what));
  }
  h->shape.resize(ndim);
  for (int d = 0; d < ndim; ++d) {
    h->shape[d] = static_cast<int64_t>(LoadU64(data + kFixedHeaderSize + 8 * d));
  }
  uint64_t expected = 0;
  try {
    expected = ByteSize(h->dtype, h->shape);
  } catch (const Error&) {
    throw CorruptError(fmt::format("object {} is corrupt: bad shape", what));
  }
  if (expected != h->raw_size) {
    throw CorruptError(fmt::format("object {} is corrupt: size does not match its shape", what));
  }
  if ((h->encoding == Encoding::kFull) != (h->depth == 0)) {
    throw CorruptError(fmt::format("object {} is corrupt: inconsistent chain depth", what));
  }
  return header_size;
}

fs::path FormatPath(const fs::path& dir) { return dir / "FORMAT"; }
fs::path PackDir(const fs::path& dir) { return dir / "pack"; }

int ReadStoreFormat(const fs::path& dir) {
  std::error_code ec;
  if (!fs::exists(FormatPath(dir), ec)) return 1;
  const std::string text = ReadFileToString(FormatPath(dir));
  int format = 0;
  try {
    format = std::stoi(text);
  } catch (const std::exception&) {
    throw CorruptError(fmt::format("'{}' is corrupt: it should hold the store's format number", FormatPath(dir).string()));
  }
  if (format < 1) throw CorruptError(fmt::format("'{}' names format {}", FormatPath(dir).string(), format));
  if (format > kStoreFormat) {
    throw Error(fmt::format("the object store in '{}' has format {}; this fomo reads formats up to {}: use a newer fomo",
                            dir.string(), format, kStoreFormat));
  }
  return format;
}

void WriteStoreFormat(const fs::path& dir, int format) {
  const std::string text = std::to_string(format) + "\n";
  WriteFileAtomic(FormatPath(dir), text.data(), text.size());
}

}  // namespace fomo
