#include "storage/object_store.hpp"

#include <algorithm>
#include <cstring>

#include <fmt/format.h>

#include "storage/atomic_file.hpp"
#include "storage/codec.hpp"
#include "storage/error.hpp"

namespace fomo {

namespace {

constexpr char kMagic[4] = {'F', 'M', 'O', 'B'};
constexpr uint16_t kFormatVersion = 1;
constexpr size_t kFixedHeaderSize = 4 + 2 + 1 + 1 + 1 + 1 + 2 + 8 + 32;
constexpr int kMaxDims = 16;
// A delta this much smaller than the raw tensor cannot lose to a full frame of
// float weights (their planes compress to 80 % at best), so the full frame is not
// computed. Below that both are computed and the smaller kept.
constexpr double kDeltaClearlyBetter = 0.6;

struct Header {
  Encoding encoding;
  Dtype dtype;
  Shape shape;
  uint64_t raw_size;
  int depth;
  ObjectId base;
};

std::vector<uint8_t> SerializeHeader(const Header& h) {
  std::vector<uint8_t> out(kFixedHeaderSize + 8 * h.shape.size());
  std::memcpy(out.data(), kMagic, 4);
  out[4] = kFormatVersion & 0xff;
  out[5] = kFormatVersion >> 8;
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

// Parses and checks an object header; returns its size in bytes.
size_t ParseHeader(const uint8_t* data, uint64_t size, const std::string& what, Header* h) {
  if (size < kFixedHeaderSize || std::memcmp(data, kMagic, 4) != 0) {
    throw CorruptError(fmt::format("object {} is corrupt: bad header", what));
  }
  uint16_t version = static_cast<uint16_t>(data[4] | data[5] << 8);
  if (version != kFormatVersion) {
    throw CorruptError(fmt::format(
        "object {} has format version {}; this fomo reads version {}", what, version, kFormatVersion));
  }
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
  if (size < header_size) throw CorruptError(fmt::format("object {} is corrupt: truncated header", what));
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

}  // namespace

std::string_view EncodingName(Encoding encoding) {
  switch (encoding) {
    case Encoding::kFull: return "full";
    case Encoding::kDelta: return "delta";
    case Encoding::kLowRank: return "lowrank";
  }
  return "unknown";
}

ObjectStore::ObjectStore(fs::path dir, StoreOptions options)
    : dir_(std::move(dir)), options_(options) {}

fs::path ObjectStore::PathOf(const ObjectId& id) const {
  std::string hex = id.Hex();
  return dir_ / hex.substr(0, 2) / hex.substr(2);
}

bool ObjectStore::Contains(const ObjectId& id) const {
  std::error_code ec;
  return fs::is_regular_file(PathOf(id), ec);
}

ObjectInfo ObjectStore::Stat(const ObjectId& id) const {
  fs::path path = PathOf(id);
  if (!Contains(id)) throw CorruptError(fmt::format("object {} is missing", id.Hex()));
  MappedFile file(path);
  Header h;
  ParseHeader(file.data(), file.size(), id.Hex(), &h);
  ObjectInfo info;
  info.encoding = h.encoding;
  info.dtype = h.dtype;
  info.shape = h.shape;
  info.raw_size = h.raw_size;
  info.depth = h.depth;
  if (h.encoding != Encoding::kFull) info.base = h.base;
  info.stored_size = file.size();
  return info;
}

// lowrank payload: u64 rank, u64 has_magnitude, u64 factor bytes, the byte
// planes of the factors (a, b, magnitude as F32), then the byte planes of the
// XOR residual against the weight they make.
std::vector<uint8_t> ObjectStore::EncodeLowRank(uint8_t* base_then_residual, const TensorView& tensor,
                                               const LowRankFactors& f) const {
  const int64_t rows = tensor.shape[0], cols = tensor.shape[1];
  f.Check(rows, cols);
  float* made = reinterpret_cast<float*>(base_then_residual);
  ApplyLowRank(made, rows, cols, f, made);
  codec::XorBytes(tensor.data, base_then_residual, base_then_residual, tensor.size);
  std::vector<float> floats(f.a);
  floats.insert(floats.end(), f.b.begin(), f.b.end());
  floats.insert(floats.end(), f.magnitude.begin(), f.magnitude.end());
  auto factors = codec::EncodePlanes(reinterpret_cast<const uint8_t*>(floats.data()), floats.size() * 4, 4,
                                     options_.zstd_level);
  auto residual = codec::EncodePlanes(base_then_residual, tensor.size, 4, options_.zstd_level);
  std::vector<uint8_t> out(24);
  StoreU64(out.data(), static_cast<uint64_t>(f.rank));
  StoreU64(out.data() + 8, f.magnitude.empty() ? 0 : 1);
  StoreU64(out.data() + 16, factors.size());
  out.insert(out.end(), factors.begin(), factors.end());
  out.insert(out.end(), residual.begin(), residual.end());
  return out;
}

void ObjectStore::DecodeLowRank(const uint8_t* payload, uint64_t payload_size, const Shape& shape, uint8_t* dst,
                                uint64_t size) const {
  if (payload_size < 24) throw CorruptError("truncated low-rank payload");
  const int64_t rows = shape[0], cols = shape[1];
  LowRankFactors f;
  const uint64_t rank = LoadU64(payload), has_magnitude = LoadU64(payload + 8), factor_bytes = LoadU64(payload + 16);
  if (rank == 0 || rank > static_cast<uint64_t>(std::max(rows, cols)) || has_magnitude > 1 ||
      factor_bytes > payload_size - 24) {
    throw CorruptError("bad low-rank header");
  }
  f.rank = static_cast<int64_t>(rank);
  const uint64_t count = rank * static_cast<uint64_t>(cols + rows) + (has_magnitude ? static_cast<uint64_t>(rows) : 0);
  std::vector<float> floats(count);
  codec::DecodePlanes(payload + 24, factor_bytes, 4, reinterpret_cast<uint8_t*>(floats.data()), count * 4);
  auto at = floats.begin();
  f.a.assign(at, at + static_cast<int64_t>(rank) * cols);
  at += static_cast<int64_t>(rank) * cols;
  f.b.assign(at, at + rows * static_cast<int64_t>(rank));
  at += rows * static_cast<int64_t>(rank);
  f.magnitude.assign(at, floats.end());
  float* made = reinterpret_cast<float*>(dst);
  ApplyLowRank(made, rows, cols, f, made);
  struct ResidualSlot;
  uint8_t* residual = ThreadScratch<ResidualSlot>(size);
  codec::DecodePlanes(payload + 24 + factor_bytes, payload_size - 24 - factor_bytes, 4, residual, size);
  codec::XorBytes(dst, residual, dst, size);
}

PutResult ObjectStore::Put(const ObjectId& id, const TensorView& tensor, const std::optional<ObjectId>& parent,
                           const LowRankFactors* low_rank) const {
  if (Contains(id)) {
    ObjectInfo info = Stat(id);
    return PutResult{info.encoding, info.stored_size, false};
  }
  const size_t element = DtypeSize(tensor.dtype);
  Header header{Encoding::kFull, tensor.dtype, tensor.shape, tensor.size, 0, ObjectId{}};
  std::vector<uint8_t> payload;

  if (parent && *parent != id && Contains(*parent)) {
    ObjectInfo base = Stat(*parent);
    if (base.dtype == tensor.dtype && base.shape == tensor.shape && base.depth < options_.max_chain) {
      struct ParentSlot;
      uint8_t* diff = ThreadScratch<ParentSlot>(tensor.size);
      ReadInto(*parent, diff, tensor.size);
      if (low_rank && tensor.dtype == Dtype::kF32 && tensor.shape.size() == 2) {
        payload = EncodeLowRank(diff, tensor, *low_rank);
        header.encoding = Encoding::kLowRank;
      } else {
        codec::XorBytes(tensor.data, diff, diff, tensor.size);
        payload = codec::EncodePlanes(diff, tensor.size, element, options_.zstd_level);
        header.encoding = Encoding::kDelta;
      }
      header.depth = base.depth + 1;
      header.base = *parent;
    }
  }
  if (header.encoding == Encoding::kFull ||
      static_cast<double>(payload.size()) > kDeltaClearlyBetter * static_cast<double>(tensor.size)) {
    auto full = codec::EncodePlanes(tensor.data, tensor.size, element, options_.zstd_level);
    if (header.encoding == Encoding::kFull || full.size() <= payload.size()) {
      payload = std::move(full);
      header = Header{Encoding::kFull, tensor.dtype, tensor.shape, tensor.size, 0, ObjectId{}};
    }
  }

  std::vector<uint8_t> head = SerializeHeader(header);
  fs::path path = PathOf(id);
  std::error_code ec;
  fs::create_directories(path.parent_path(), ec);
  if (ec) throw Error(fmt::format("cannot create '{}': {}", path.parent_path().string(), ec.message()));
  AtomicFileWriter writer(path);
  writer.PWrite(0, head.data(), head.size());
  writer.PWrite(head.size(), payload.data(), payload.size());
  writer.Commit();
  return PutResult{header.encoding, head.size() + payload.size(), true};
}

void ObjectStore::ReadInto(const ObjectId& id, uint8_t* dst, uint64_t size) const { ReadLinks(id, dst, size, 0); }

void ObjectStore::ReadAs(const ObjectId& id, Dtype dtype, const Shape& shape, uint8_t* dst) const {
  const ObjectInfo info = Stat(id);
  if (info.dtype != dtype || info.shape != shape) {
    throw CorruptError(fmt::format("object {} holds {} {}, the manifest says {} {}", id.Hex(), DtypeName(info.dtype),
                                   ShapeString(info.shape), DtypeName(dtype), ShapeString(shape)));
  }
  ReadLinks(id, dst, info.raw_size, 0);
}

void ObjectStore::ReadLinks(const ObjectId& id, uint8_t* dst, uint64_t size, int links) const {
  const std::string hex = id.Hex();
  // Honest chains stop at storage.max_chain (at most 64); a forged one could loop.
  if (links > kMaxDeltaLinks) {
    throw CorruptError(fmt::format("object {} is corrupt: its delta chain is more than {} links long", hex, kMaxDeltaLinks));
  }
  if (!Contains(id)) throw CorruptError(fmt::format("object {} is missing", hex));
  MappedFile file(PathOf(id));
  Header h;
  size_t header_size = ParseHeader(file.data(), file.size(), hex, &h);
  if (h.raw_size != size) {
    throw CorruptError(fmt::format("object {} holds {} bytes, expected {}", hex, h.raw_size, size));
  }
  const uint8_t* payload = file.data() + header_size;
  const uint64_t payload_size = file.size() - header_size;
  const size_t element = DtypeSize(h.dtype);
  try {
    if (h.encoding == Encoding::kFull) {
      codec::DecodePlanes(payload, payload_size, element, dst, size);
    } else if (h.encoding == Encoding::kDelta) {
      if (h.base == id) throw CorruptError("delta refers to itself");
      ReadLinks(h.base, dst, size, links + 1);
      struct DeltaSlot;
      uint8_t* diff = ThreadScratch<DeltaSlot>(size);
      codec::DecodePlanes(payload, payload_size, element, diff, size);
      codec::XorBytes(dst, diff, dst, size);
    } else {
      if (h.base == id) throw CorruptError("low-rank object refers to itself");
      if (h.dtype != Dtype::kF32 || h.shape.size() != 2) throw CorruptError("low-rank object is not a 2-D F32 tensor");
      ReadLinks(h.base, dst, size, links + 1);
      DecodeLowRank(payload, payload_size, h.shape, dst, size);
    }
  } catch (const CorruptError& e) {
    if (std::string(e.what()).rfind("object ", 0) == 0) throw;
    throw CorruptError(fmt::format("object {} is corrupt: {}", hex, e.what()));
  }
  TensorView view{h.dtype, h.shape, dst, size};
  if (TensorId(view) != id) {
    throw CorruptError(fmt::format("object {} is corrupt: content does not match its hash", hex));
  }
}

Tensor ObjectStore::Read(const ObjectId& id) const {
  ObjectInfo info = Stat(id);
  Tensor tensor{info.dtype, info.shape, ByteBuffer(info.raw_size)};
  ReadInto(id, tensor.bytes.data(), info.raw_size);
  return tensor;
}

std::vector<ObjectId> ObjectStore::List() const {
  std::vector<ObjectId> ids;
  std::error_code ec;
  if (!fs::is_directory(dir_, ec)) return ids;
  for (const auto& fan : fs::directory_iterator(dir_)) {
    if (!fan.is_directory()) continue;
    std::string prefix = fan.path().filename().string();
    if (prefix.size() != 2) continue;
    for (const auto& entry : fs::directory_iterator(fan.path())) {
      auto id = ObjectId::FromHex(prefix + entry.path().filename().string());
      if (id && entry.is_regular_file()) ids.push_back(*id);
    }
  }
  std::sort(ids.begin(), ids.end());
  return ids;
}

void ObjectStore::Remove(const ObjectId& id) const {
  std::error_code ec;
  fs::remove(PathOf(id), ec);
  if (ec) throw Error(fmt::format("cannot remove object {}: {}", id.Hex(), ec.message()));
}

size_t ObjectStore::RemoveTemporaryFiles() const {
  size_t removed = 0;
  std::error_code ec;
  if (!fs::is_directory(dir_, ec)) return 0;
  for (const auto& entry : fs::recursive_directory_iterator(dir_)) {
    if (entry.is_regular_file() && entry.path().filename().string().rfind(".tmp-", 0) == 0) {
      fs::remove(entry.path(), ec);
      if (!ec) ++removed;
    }
  }
  return removed;
}

}  // namespace fomo
