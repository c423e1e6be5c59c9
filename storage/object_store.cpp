#include "storage/object_store.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>

#include <fmt/format.h>

#include "storage/atomic_file.hpp"
#include "storage/codec.hpp"
#include "storage/error.hpp"
#include "storage/object_record.hpp"
#include "storage/pack.hpp"

namespace fomo {

namespace {

// Unflushed small objects past this many bytes are written as a pack at once.
constexpr uint64_t kMaxPendingBytes = 256ull << 20;
// A delta this much smaller than the raw tensor cannot lose to a full frame of
// float weights (their planes compress to 80 % at best), so the full frame is not
// computed. Below that both are computed and the smaller kept.
constexpr double kDeltaClearlyBetter = 0.6;

}  // namespace

struct ObjectStore::Located {
  const uint8_t* data = nullptr;
  uint64_t size = 0;
  std::shared_ptr<const void> keep;  // the mapping or buffer data points into
  bool packed = false;
};

std::string_view EncodingName(Encoding encoding) {
  switch (encoding) {
    case Encoding::kFull: return "full";
    case Encoding::kDelta: return "delta";
    case Encoding::kLowRank: return "lowrank";
  }
  return "unknown";
}

ObjectStore::ObjectStore(fs::path dir, StoreOptions options)
    : dir_(std::move(dir)), options_(options), format_(ReadStoreFormat(dir_)) {}

ObjectStore::~ObjectStore() = default;

void ObjectStore::Initialize(const fs::path& dir) {
  std::error_code ec;
  fs::create_directories(dir, ec);
  if (ec) throw Error(fmt::format("cannot create '{}': {}", dir.string(), ec.message()));
  WriteStoreFormat(dir, kStoreFormat);
}

fs::path ObjectStore::PathOf(const ObjectId& id) const {
  std::string hex = id.Hex();
  return dir_ / hex.substr(0, 2) / hex.substr(2);
}

// Opens the packs not yet mapped and forgets those gone; packs_mutex_ is held.
void ObjectStore::LoadPacks() const {
  std::set<std::string> present;
  std::error_code ec;
  for (fs::directory_iterator it(PackDir(dir_), ec), end; !ec && it != end; it.increment(ec)) {
    const std::string name = it->path().filename().string();
    if (name.rfind("pack-", 0) == 0 && it->path().extension() == kPackSuffix) present.insert(name);
  }
  std::vector<std::shared_ptr<const PackFile>> kept;
  for (auto& pack : packs_) {
    if (present.count(pack->path().filename().string())) kept.push_back(std::move(pack));
  }
  for (const auto& name : present) {
    if (pack_names_.count(name)) continue;
    try {
      kept.push_back(PackFile::Open(PackDir(dir_) / name));
    } catch (const Error&) {
      // A pack that does not open holds nothing this process can read; fsck names it.
    }
  }
  packs_ = std::move(kept);
  pack_names_ = std::move(present);
}

std::vector<fs::path> ObjectStore::PackPaths() const {
  std::lock_guard<std::mutex> lock(packs_mutex_);
  LoadPacks();
  std::vector<fs::path> paths;
  for (const auto& name : pack_names_) paths.push_back(PackDir(dir_) / name);
  return paths;
}

size_t ObjectStore::PackedCount() const {
  std::lock_guard<std::mutex> lock(packs_mutex_);
  LoadPacks();
  size_t n = 0;
  for (const auto& pack : packs_) n += pack->count();
  return n;
}

std::optional<ObjectStore::Located> ObjectStore::Locate(const ObjectId& id, bool header_only) const {
  {
    std::lock_guard<std::mutex> lock(pending_mutex_);
    auto it = pending_.find(id);
    if (it != pending_.end()) return Located{it->second->data(), it->second->size(), it->second, false};
  }
  auto in_packs = [&]() -> std::optional<Located> {
    for (const auto& pack : packs_) {
      if (auto record = pack->Find(id)) return Located{record->data, record->size, pack, true};
    }
    return std::nullopt;
  };
  {
    std::lock_guard<std::mutex> lock(packs_mutex_);
    if (pack_names_.empty() && packs_.empty()) LoadPacks();
    if (auto found = in_packs()) return found;
  }
  const fs::path path = PathOf(id);
  std::error_code ec;
  if (header_only) {
    // Stat and Contains need the header: read its bytes, do not map the tensor.
    const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd >= 0) {
      struct stat st {};
      std::shared_ptr<std::vector<uint8_t>> prefix;
      if (::fstat(fd, &st) == 0 && S_ISREG(st.st_mode)) {
        prefix = std::make_shared<std::vector<uint8_t>>(std::min<uint64_t>(static_cast<uint64_t>(st.st_size), kHeaderPrefix));
        const ssize_t n = ::pread(fd, prefix->data(), prefix->size(), 0);
        if (n != static_cast<ssize_t>(prefix->size())) prefix.reset();
      }
      ::close(fd);
      if (prefix) return Located{prefix->data(), static_cast<uint64_t>(st.st_size), prefix, false};
    }
  } else if (fs::is_regular_file(path, ec)) {
    try {
      auto file = std::make_shared<MappedFile>(path);
      return Located{file->data(), file->size(), file, false};
    } catch (const Error&) {
      if (fs::exists(path, ec)) throw;  // unreadable, not moved into a pack meanwhile
    }
  }
  // A repack may have moved it since this process mapped the packs.
  std::lock_guard<std::mutex> lock(packs_mutex_);
  LoadPacks();
  return in_packs();
}

ObjectStore::Located ObjectStore::Require(const ObjectId& id, bool header_only) const {
  auto found = Locate(id, header_only);
  if (!found) throw CorruptError(fmt::format("object {} is missing{}", id.Hex(), missing_hint_));
  return std::move(*found);
}

bool ObjectStore::Contains(const ObjectId& id) const { return Locate(id, /*header_only=*/true).has_value(); }

ObjectInfo ObjectStore::Stat(const ObjectId& id) const {
  auto info = FindInfo(id);
  if (!info) throw CorruptError(fmt::format("object {} is missing", id.Hex()));
  return *info;
}

std::optional<ObjectInfo> ObjectStore::FindInfo(const ObjectId& id) const {
  const std::optional<Located> found = Locate(id, /*header_only=*/true);
  if (!found) return std::nullopt;
  const Located& where = *found;
  ObjectHeader h;
  ParseHeader(where.data, where.size, id.Hex(), &h);
  ObjectInfo info;
  info.encoding = h.encoding;
  info.dtype = h.dtype;
  info.shape = h.shape;
  info.raw_size = h.raw_size;
  info.depth = h.depth;
  if (h.encoding != Encoding::kFull) info.base = h.base;
  info.stored_size = where.size;
  info.packed = where.packed;
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
  auto residual = codec::EncodePlanes(base_then_residual, tensor.size, 4, options_.zstd_level, SparsePlanes());
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
  codec::DecodePlanes(payload + 24 + factor_bytes, payload_size - 24 - factor_bytes, 4, dst, size, codec::Apply::kXor);
}

namespace {

// An object's payload as the encoder left it, written piece by piece.
struct Payload {
  codec::EncodedPlanes planes;
  std::vector<uint8_t> flat;  // a low-rank payload, used when planes is empty
  bool in_planes() const { return !planes.table.empty(); }
  uint64_t size() const { return in_planes() ? planes.size() : flat.size(); }
  void ForEachPiece(const std::function<void(const uint8_t*, uint64_t)>& write) const {
    if (in_planes()) {
      planes.ForEachPiece(write);
    } else {
      write(flat.data(), flat.size());
    }
  }
};

}  // namespace

PutResult ObjectStore::Put(const ObjectId& id, const TensorView& tensor, const std::optional<ObjectId>& parent,
                           const LowRankFactors* low_rank, const std::function<void()>& input_done) const {
  auto release_input = [&] {
    if (input_done) input_done();
  };
  if (const auto existing = FindInfo(id)) {
    release_input();
    return PutResult{existing->encoding, existing->stored_size, false};
  }
  const size_t element = DtypeSize(tensor.dtype);
  ObjectHeader header{Encoding::kFull, tensor.dtype, tensor.shape, tensor.size, 0, ObjectId{}};
  Payload payload;

  const std::optional<ObjectInfo> base = parent && *parent != id ? FindInfo(*parent) : std::nullopt;
  if (base && base->dtype == tensor.dtype && base->shape == tensor.shape && base->depth < options_.max_chain) {
    // The input's pages go while the parent is decoded, and again once the
    // XOR has read them: the tensor, its parent and the encoding are never
    // resident at once.
    release_input();
    struct ParentSlot;
    uint8_t* diff = ThreadScratch<ParentSlot>(tensor.size);
    ReadInto(*parent, diff, tensor.size);
    if (low_rank && tensor.dtype == Dtype::kF32 && tensor.shape.size() == 2) {
      payload.flat = EncodeLowRank(diff, tensor, *low_rank);
      header.encoding = Encoding::kLowRank;
      release_input();
    } else {
      codec::XorBytes(tensor.data, diff, diff, tensor.size);
      release_input();
      payload.planes = std::move(*codec::EncodePlanesWithin(diff, tensor.size, element, options_.zstd_level, UINT64_MAX, SparsePlanes()));
      header.encoding = Encoding::kDelta;
    }
    header.depth = base->depth + 1;
    header.base = *parent;
  }
  if (header.encoding == Encoding::kFull) {
    payload.planes = std::move(*codec::EncodePlanesWithin(tensor.data, tensor.size, element, options_.zstd_level, UINT64_MAX, SparsePlanes()));
  } else if (static_cast<double>(payload.size()) > kDeltaClearlyBetter * static_cast<double>(tensor.size)) {
    // A full frame replaces the delta only if it is smaller: its encoding stops as
    // soon as it has grown past the delta, so a losing attempt costs little.
    auto full = codec::EncodePlanesWithin(tensor.data, tensor.size, element, options_.zstd_level, payload.size(),
                                            SparsePlanes());
    if (full) {
      payload.planes = std::move(*full);
      payload.flat.clear();
      header = ObjectHeader{Encoding::kFull, tensor.dtype, tensor.shape, tensor.size, 0, ObjectId{}};
    }
  }
  release_input();

  std::vector<uint8_t> head = SerializeHeader(header);
  const uint64_t record_size = head.size() + payload.size();
  if (format_ >= 2 && record_size < kPackThreshold) {
    head.reserve(record_size);
    payload.ForEachPiece([&](const uint8_t* data, uint64_t n) { head.insert(head.end(), data, data + n); });
    bool flush = false;
    {
      std::lock_guard<std::mutex> lock(pending_mutex_);
      if (pending_.emplace(id, std::make_shared<const std::vector<uint8_t>>(std::move(head))).second) {
        pending_bytes_ += record_size;
      }
      flush = pending_bytes_ > kMaxPendingBytes;
    }
    if (flush) Flush();
    return PutResult{header.encoding, record_size, true};
  }
  fs::path path = PathOf(id);
  std::error_code ec;
  fs::create_directories(path.parent_path(), ec);
  if (ec) throw Error(fmt::format("cannot create '{}': {}", path.parent_path().string(), ec.message()));
  AtomicFileWriter writer(path);
  uint64_t size = record_size;
  Sha256 sum;
  if (format_ >= 2) head[4] = kChecksummedRecord;
  uint64_t at = 0;
  auto write = [&](const uint8_t* data, uint64_t n) {
    writer.PWrite(at, data, n);
    if (format_ >= 2) sum.Update(data, n);
    at += n;
  };
  write(head.data(), head.size());
  payload.ForEachPiece(write);
  if (format_ >= 2) {
    const ObjectId checksum = sum.Finish();
    writer.PWrite(record_size, checksum.bytes.data(), kChecksumSize);
    size += kChecksumSize;
  }
  writer.Commit();
  return PutResult{header.encoding, size, true};
}

size_t ObjectStore::PendingCount() const {
  std::lock_guard<std::mutex> lock(pending_mutex_);
  return pending_.size();
}

void ObjectStore::Flush() const {
  std::map<ObjectId, std::shared_ptr<const std::vector<uint8_t>>> batch;
  {
    std::lock_guard<std::mutex> lock(pending_mutex_);
    batch = pending_;
  }
  if (batch.empty()) return;
  std::vector<std::pair<ObjectId, PackRecord>> records;
  for (const auto& [id, bytes] : batch) records.emplace_back(id, PackRecord{bytes->data(), bytes->size()});
  const fs::path path = WritePack(PackDir(dir_), std::move(records));
  size_t packs = 0;
  {
    std::lock_guard<std::mutex> lock(packs_mutex_);
    LoadPacks();
    packs = packs_.size();
  }
  {
    // Only now, with the pack readable, do the objects leave memory.
    std::lock_guard<std::mutex> lock(pending_mutex_);
    for (const auto& [id, bytes] : batch) {
      if (pending_.erase(id)) pending_bytes_ -= bytes->size();
    }
  }
  if (packs > kMaxPacks) MergePacks();
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

namespace {

// Applies one object's payload: dst holds its base's content (nothing for a full
// object) and ends holding the object's.
template <typename LowRankDecoder>
void ApplyPayload(const ObjectHeader& h, const uint8_t* payload, uint64_t payload_size, uint8_t* dst, uint64_t size,
                  const LowRankDecoder& decode_low_rank) {
  const size_t element = DtypeSize(h.dtype);
  if (h.encoding == Encoding::kFull) {
    codec::DecodePlanes(payload, payload_size, element, dst, size);
  } else if (h.encoding == Encoding::kDelta) {
    codec::DecodePlanes(payload, payload_size, element, dst, size, codec::Apply::kXor);
  } else {
    if (h.dtype != Dtype::kF32 || h.shape.size() != 2) throw CorruptError("low-rank object is not a 2-D F32 tensor");
    decode_low_rank(payload, payload_size, h.shape, dst, size);
  }
}

void NameObjectIn(const std::string& hex, const CorruptError& e) {
  if (std::string(e.what()).rfind("object ", 0) == 0) throw;
  throw CorruptError(fmt::format("object {} is corrupt: {}", hex, e.what()));
}

}  // namespace

void ObjectStore::ReadLinks(const ObjectId& id, uint8_t* dst, uint64_t size, int links) const {
  const std::string hex = id.Hex();
  // Honest chains stop at storage.max_chain (at most 64); a forged one could loop.
  if (links > kMaxDeltaLinks) {
    throw CorruptError(fmt::format("object {} is corrupt: its delta chain is more than {} links long", hex, kMaxDeltaLinks));
  }
  const Located where = Require(id);
  ObjectHeader h;
  const size_t header_size = ParseHeader(where.data, where.size, hex, &h);
  if (h.raw_size != size) {
    throw CorruptError(fmt::format("object {} holds {} bytes, expected {}", hex, h.raw_size, size));
  }
  const uint8_t* payload = where.data + header_size;
  const uint64_t payload_size = where.size - header_size - (h.checksummed ? kChecksumSize : 0);
  try {
    if (h.encoding != Encoding::kFull) {
      if (h.base == id) throw CorruptError("delta refers to itself");
      ReadLinks(h.base, dst, size, links + 1);
    }
    ApplyPayload(h, payload, payload_size, dst, size,
                 [this](const uint8_t* p, uint64_t n, const Shape& shape, uint8_t* out, uint64_t out_size) {
                   DecodeLowRank(p, n, shape, out, out_size);
                 });
  } catch (const CorruptError& e) {
    NameObjectIn(hex, e);
  }
  // The rebuilt tensor's hash proves every link it was built from as well.
  if (links == 0 && TensorId(TensorView{h.dtype, h.shape, dst, size}) != id) {
    // Name the damaged link: a base that fails its own hash is the one (this
    // throws naming it); otherwise this object's own payload is.
    if (h.encoding != Encoding::kFull) {
      ByteBuffer base(size);
      ReadLinks(h.base, base.data(), size, 0);
    }
    throw CorruptError(fmt::format("object {} is corrupt: content does not match its hash", hex));
  }
}

void ObjectStore::DecodeLink(const ObjectId& id, const uint8_t* base_content, uint8_t* dst, uint64_t size) const {
  const std::string hex = id.Hex();
  const Located where = Require(id);
  ObjectHeader h;
  const size_t header_size = ParseHeader(where.data, where.size, hex, &h);
  if (h.raw_size != size) {
    throw CorruptError(fmt::format("object {} holds {} bytes, expected {}", hex, h.raw_size, size));
  }
  if (h.encoding != Encoding::kFull && size > 0) std::memcpy(dst, base_content, size);
  try {
    ApplyPayload(h, where.data + header_size, where.size - header_size - (h.checksummed ? kChecksumSize : 0), dst,
                 size, [this](const uint8_t* p, uint64_t n, const Shape& shape, uint8_t* out, uint64_t out_size) {
                   DecodeLowRank(p, n, shape, out, out_size);
                 });
  } catch (const CorruptError& e) {
    NameObjectIn(hex, e);
  }
}

Tensor ObjectStore::Read(const ObjectId& id) const {
  ObjectInfo info = Stat(id);
  Tensor tensor{info.dtype, info.shape, ByteBuffer(info.raw_size)};
  ReadInto(id, tensor.bytes.data(), info.raw_size);
  return tensor;
}

}  // namespace fomo

namespace fomo {

std::vector<uint8_t> ObjectStore::ReadRecord(const ObjectId& id) const {
  const Located where = Require(id);
  ObjectHeader h;
  ParseHeader(where.data, where.size, id.Hex(), &h);
  const uint64_t size = where.size - (h.checksummed ? kChecksumSize : 0);
  std::vector<uint8_t> record(where.data, where.data + size);
  record[4] = kPlainRecord;
  return record;
}

uint64_t ObjectStore::StoreRecord(const ObjectId& id, std::vector<uint8_t> record) const {
  const uint64_t record_size = record.size();
  if (format_ >= 2 && record_size < kPackThreshold) {
    bool flush = false;
    {
      std::lock_guard<std::mutex> lock(pending_mutex_);
      if (pending_.emplace(id, std::make_shared<const std::vector<uint8_t>>(std::move(record))).second) {
        pending_bytes_ += record_size;
      }
      flush = pending_bytes_ > kMaxPendingBytes;
    }
    if (flush) Flush();
    return record_size;
  }
  const fs::path path = PathOf(id);
  std::error_code ec;
  fs::create_directories(path.parent_path(), ec);
  if (ec) throw Error(fmt::format("cannot create '{}': {}", path.parent_path().string(), ec.message()));
  AtomicFileWriter writer(path);
  if (format_ >= 2) record[4] = kChecksummedRecord;
  writer.PWrite(0, record.data(), record.size());
  uint64_t size = record.size();
  if (format_ >= 2) {
    const ObjectId checksum = Sha256::Of(record.data(), record.size());
    writer.PWrite(size, checksum.bytes.data(), kChecksumSize);
    size += kChecksumSize;
  }
  writer.Commit();
  return size;
}

PutResult ObjectStore::PutRecord(const ObjectId& id, const std::vector<uint8_t>& record,
                                 const std::vector<uint8_t>* base_content, std::vector<uint8_t>* decoded) const {
  const std::string hex = id.Hex();
  ObjectHeader h;
  const size_t header_size = ParseHeader(record.data(), record.size(), hex, &h);
  if (h.checksummed) throw CorruptError(fmt::format("object {} is corrupt: a record in transit carries no checksum", hex));
  if (h.encoding != Encoding::kFull) {
    if (h.base == id) throw CorruptError(fmt::format("object {} is corrupt: delta refers to itself", hex));
    const std::optional<ObjectInfo> base = FindInfo(h.base);
    if (!base) throw CorruptError(fmt::format("object {} needs its base {}, which is not here", hex, h.base.Hex()));
    if (base->raw_size != h.raw_size || base->depth + 1 != h.depth) {
      throw CorruptError(fmt::format("object {} is corrupt: it does not fit its base {}", hex, h.base.Hex()));
    }
  }
  std::vector<uint8_t> content(h.raw_size);
  if (h.encoding != Encoding::kFull) {
    if (base_content && base_content->size() == h.raw_size) {
      content = *base_content;
    } else {
      ReadInto(h.base, content.data(), h.raw_size);
    }
  }
  try {
    ApplyPayload(h, record.data() + header_size, record.size() - header_size, content.data(), content.size(),
                 [this](const uint8_t* p, uint64_t n, const Shape& shape, uint8_t* out, uint64_t out_size) {
                   DecodeLowRank(p, n, shape, out, out_size);
                 });
  } catch (const CorruptError& e) {
    NameObjectIn(hex, e);
  }
  if (TensorId(TensorView{h.dtype, h.shape, content.data(), content.size()}) != id) {
    throw CorruptError(fmt::format("object {} is corrupt: content does not match its hash", hex));
  }
  PutResult result{h.encoding, record.size(), false};
  if (!Contains(id)) {
    result.stored_size = StoreRecord(id, record);
    result.written = true;
  }
  if (decoded) *decoded = std::move(content);
  return result;
}

}  // namespace fomo
