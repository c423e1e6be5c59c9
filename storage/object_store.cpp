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
#include "storage/pack.hpp"

namespace fomo {

namespace {

constexpr char kMagic[4] = {'F', 'M', 'O', 'B'};
// Object records: 1 as fomo has always written them; 2 the same followed by the
// SHA-256 of the bytes before it (loose objects of a format-2 store).
constexpr uint16_t kPlainRecord = 1;
constexpr uint16_t kChecksummedRecord = 2;
constexpr size_t kChecksumSize = 32;
// The most bytes an object header takes (kFixedHeaderSize + 8 * kMaxDims, rounded up).
constexpr uint64_t kHeaderPrefix = 256;
// Unflushed small objects past this many bytes are written as a pack at once.
constexpr uint64_t kMaxPendingBytes = 256ull << 20;
constexpr size_t kFixedHeaderSize = 4 + 2 + 1 + 1 + 1 + 1 + 2 + 8 + 32;
constexpr int kMaxDims = 16;
static_assert(kFixedHeaderSize + 8 * kMaxDims <= kHeaderPrefix, "a header must fit the prefix Stat reads");
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
  bool checksummed = false;
};

std::vector<uint8_t> SerializeHeader(const Header& h) {
  std::vector<uint8_t> out(kFixedHeaderSize + 8 * h.shape.size());
  std::memcpy(out.data(), kMagic, 4);
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

// Parses and checks an object header; returns its size in bytes.
size_t ParseHeader(const uint8_t* data, uint64_t size, const std::string& what, Header* h) {
  if (size < kFixedHeaderSize || std::memcmp(data, kMagic, 4) != 0) {
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
  if (!found) throw CorruptError(fmt::format("object {} is missing", id.Hex()));
  return std::move(*found);
}

bool ObjectStore::Contains(const ObjectId& id) const { return Locate(id, /*header_only=*/true).has_value(); }

ObjectInfo ObjectStore::Stat(const ObjectId& id) const {
  const Located where = Require(id, /*header_only=*/true);
  Header h;
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
  if (Contains(id)) {
    ObjectInfo info = Stat(id);
    release_input();
    return PutResult{info.encoding, info.stored_size, false};
  }
  const size_t element = DtypeSize(tensor.dtype);
  Header header{Encoding::kFull, tensor.dtype, tensor.shape, tensor.size, 0, ObjectId{}};
  Payload payload;

  if (parent && *parent != id && Contains(*parent)) {
    ObjectInfo base = Stat(*parent);
    if (base.dtype == tensor.dtype && base.shape == tensor.shape && base.depth < options_.max_chain) {
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
        payload.planes = std::move(*codec::EncodePlanesWithin(diff, tensor.size, element, options_.zstd_level, UINT64_MAX));
        header.encoding = Encoding::kDelta;
      }
      header.depth = base.depth + 1;
      header.base = *parent;
    }
  }
  if (header.encoding == Encoding::kFull) {
    payload.planes = std::move(*codec::EncodePlanesWithin(tensor.data, tensor.size, element, options_.zstd_level, UINT64_MAX));
  } else if (static_cast<double>(payload.size()) > kDeltaClearlyBetter * static_cast<double>(tensor.size)) {
    // A full frame replaces the delta only if it is smaller: its encoding stops as
    // soon as it has grown past the delta, so a losing attempt costs little.
    auto full = codec::EncodePlanesWithin(tensor.data, tensor.size, element, options_.zstd_level, payload.size());
    if (full) {
      payload.planes = std::move(*full);
      payload.flat.clear();
      header = Header{Encoding::kFull, tensor.dtype, tensor.shape, tensor.size, 0, ObjectId{}};
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

void ObjectStore::MergePacks() const {
  std::set<ObjectId> all;
  {
    std::lock_guard<std::mutex> lock(packs_mutex_);
    LoadPacks();
    for (const auto& pack : packs_) {
      for (size_t i = 0; i < pack->count(); ++i) all.insert(pack->IdAt(i));
    }
  }
  // Repack with everything packed kept; loose objects it also takes are small
  // ones, which belong in a pack anyway.
  Repack(all);
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
void ApplyPayload(const Header& h, const uint8_t* payload, uint64_t payload_size, uint8_t* dst, uint64_t size,
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
  Header h;
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
  Header h;
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

std::map<ObjectId, uint64_t> ObjectStore::ListSizes() const {
  std::map<ObjectId, uint64_t> sizes;
  {
    std::lock_guard<std::mutex> lock(pending_mutex_);
    for (const auto& [id, bytes] : pending_) sizes.emplace(id, bytes->size());
  }
  {
    std::lock_guard<std::mutex> lock(packs_mutex_);
    LoadPacks();
    for (const auto& pack : packs_) {
      for (size_t i = 0; i < pack->count(); ++i) sizes.emplace(pack->IdAt(i), pack->RecordAt(i).size);
    }
  }
  for (const auto& [id, size] : LooseSizes()) sizes.emplace(id, size);
  return sizes;
}

std::map<ObjectId, uint64_t> ObjectStore::LooseSizes() const {
  std::map<ObjectId, uint64_t> sizes;
  std::error_code ec;
  if (!fs::is_directory(dir_, ec)) return sizes;
  for (const auto& fan : fs::directory_iterator(dir_)) {
    if (!fan.is_directory()) continue;
    std::string prefix = fan.path().filename().string();
    if (prefix.size() != 2) continue;
    for (const auto& entry : fs::directory_iterator(fan.path())) {
      auto id = ObjectId::FromHex(prefix + entry.path().filename().string());
      if (id && entry.is_regular_file()) sizes.emplace(*id, entry.file_size(ec));
    }
  }
  return sizes;
}

std::vector<ObjectId> ObjectStore::List() const {
  std::vector<ObjectId> ids;
  for (const auto& [id, size] : ListSizes()) ids.push_back(id);
  return ids;
}

void ObjectStore::Remove(const ObjectId& id) const {
  {
    std::lock_guard<std::mutex> lock(pending_mutex_);
    auto it = pending_.find(id);
    if (it != pending_.end()) {
      pending_bytes_ -= it->second->size();
      pending_.erase(it);
    }
  }
  std::error_code ec;
  fs::remove(PathOf(id), ec);
  if (ec) throw Error(fmt::format("cannot remove object {}: {}", id.Hex(), ec.message()));
}

RepackReport ObjectStore::Repack(const std::set<ObjectId>& keep) const {
  RepackReport report;
  std::vector<std::shared_ptr<const PackFile>> old_packs;
  {
    std::lock_guard<std::mutex> lock(packs_mutex_);
    LoadPacks();
    old_packs = packs_;
  }
  report.packs_before = old_packs.size();
  std::map<ObjectId, PackRecord> records;
  for (const auto& pack : old_packs) {
    for (size_t i = 0; i < pack->count(); ++i) {
      const ObjectId id = pack->IdAt(i);
      if (keep.count(id)) {
        records.emplace(id, pack->RecordAt(i));
      } else if (!records.count(id)) {
        ++report.objects_dropped;
        report.bytes_dropped += pack->RecordAt(i).size;
      }
    }
  }
  std::vector<std::shared_ptr<MappedFile>> loose_files;
  std::vector<ObjectId> loose_packed;  // loose files whose object the new pack holds
  for (const auto& [id, size] : LooseSizes()) {
    if (size >= kPackThreshold || !keep.count(id)) continue;
    if (records.count(id)) {  // packed already (a repack killed before it removed the file)
      loose_packed.push_back(id);
      continue;
    }
    std::shared_ptr<MappedFile> file;
    try {
      file = std::make_shared<MappedFile>(PathOf(id));
      Header h;
      ParseHeader(file->data(), file->size(), id.Hex(), &h);
    } catch (const Error&) {
      continue;  // a damaged file stays loose, for fsck to name
    }
    records.emplace(id, PackRecord{file->data(), file->size()});
    loose_packed.push_back(id);
    loose_files.push_back(std::move(file));
  }
  report.loose_packed = loose_packed.size();
  report.objects_packed = records.size();
  fs::path written;
  if (!records.empty()) {
    written = WritePack(PackDir(dir_), std::vector<std::pair<ObjectId, PackRecord>>(records.begin(), records.end()));
  }
  CrashPoint("repack-written");
  if (format_ < kStoreFormat) {
    WriteStoreFormat(dir_, kStoreFormat);
    format_ = kStoreFormat;
  }
  // Every kept object is now in the new pack: the old copies can go.
  std::error_code ec;
  for (const auto& pack : old_packs) {
    if (pack->path() != written) fs::remove(pack->path(), ec);
    CrashPoint("repack-pack-removed");
  }
  for (const auto& id : loose_packed) {
    fs::remove(PathOf(id), ec);
    CrashPoint("repack-loose-removed");
  }
  if (!old_packs.empty() || !loose_packed.empty()) FsyncDirectory(PackDir(dir_));
  std::lock_guard<std::mutex> lock(packs_mutex_);
  LoadPacks();
  return report;
}

QuickCheck ObjectStore::CheckStoredBytes() const {
  QuickCheck check;
  for (const auto& path : PackPaths()) {
    ++check.packs;
    try {
      auto pack = PackFile::Open(path);
      check.bytes_hashed += pack->size();
      if (pack->Verify()) continue;
      // Name the objects the damage is in: they are small, decoding them is cheap.
      std::vector<std::string> damaged;
      for (size_t i = 0; i < pack->count(); ++i) {
        const ObjectId id = pack->IdAt(i);
        try {
          Header h;
          const PackRecord r = pack->RecordAt(i);
          ParseHeader(r.data, r.size, id.Hex(), &h);
          ByteBuffer buffer(h.raw_size);
          ReadLinks(id, buffer.data(), h.raw_size, 0);
        } catch (const Error& e) {
          damaged.push_back(id.Hex());
        }
      }
      check.errors.push_back(
          damaged.empty()
              ? fmt::format("pack {} is corrupt: its checksum does not match (every object in it still decodes)",
                            path.filename().string())
              : fmt::format("pack {} is corrupt: its checksum does not match; damaged object{}: {}",
                            path.filename().string(), damaged.size() == 1 ? "" : "s", fmt::join(damaged, ", ")));
    } catch (const Error& e) {
      check.errors.push_back(e.what());
    }
  }
  std::error_code ec;
  for (fs::recursive_directory_iterator it(dir_, ec), end; !ec && it != end; it.increment(ec)) {
    if (it->path().parent_path().filename() == "pack" || !it->is_regular_file()) continue;
    const std::string fan = it->path().parent_path().filename().string();
    auto id = ObjectId::FromHex(fan + it->path().filename().string());
    if (!id) continue;
    ++check.loose;
    try {
      MappedFile file(it->path());
      Header h;
      ParseHeader(file.data(), file.size(), id->Hex(), &h);
      if (!h.checksummed) {
        ++check.unchecked_old_loose;
        continue;
      }
      check.bytes_hashed += file.size();
      Sha256 sum;
      sum.Update(file.data(), file.size() - kChecksumSize);
      if (std::memcmp(sum.Finish().bytes.data(), file.data() + file.size() - kChecksumSize, kChecksumSize) != 0) {
        check.errors.push_back(fmt::format("object {} is corrupt: its stored bytes do not match their checksum", id->Hex()));
      }
    } catch (const Error& e) {
      check.errors.push_back(e.what());
    }
  }
  return check;
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
