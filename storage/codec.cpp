#include "storage/codec.hpp"

#include <zstd.h>
#if defined(__SSE2__)
#include <emmintrin.h>
#endif
#include <zstd_errors.h>

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <functional>
#include <memory>
#include <vector>

#include "storage/error.hpp"
#include "storage/tensor.hpp"

namespace fomo::codec {

namespace {

enum PlaneMethod : uint8_t { kRaw = 0, kZstd = 1, kSparse = 2 };

constexpr size_t kPlaneHeaderSize = 1 + 8;
// Planes at least this large are probed on a sample before a full compression.
constexpr size_t kProbeThreshold = 256 * 1024;  // more than a block (kBlockElements)
constexpr size_t kProbeSize = 64 * 1024;
// A probe that saves less than this share marks the plane as noise: store it raw.
constexpr double kIncompressibleRatio = 0.97;
// A plane is tried sparse only when at least this share of its sample is zero,
// and coded sparse only when that beats zstd on the sample by 3 %.
constexpr double kSparseMinZeros = 0.25;
constexpr double kSparseRatio = 0.97;
// The u64 length of a sparse plane's bitmap frame, in front of it.
constexpr uint64_t kSparsePrefix = 8;
// Elements split (or merged) per step: each plane's share is one zstd block, so
// the working set stays in cache and no whole-tensor scratch is needed.
constexpr uint64_t kBlockElements = 128 * 1024;
static_assert(kProbeThreshold > kBlockElements, "sparse planes are encoded as streams of several blocks");

template <size_t kElem>
void SplitFixed(const uint8_t* src, uint64_t count, uint8_t* const* planes) {
  for (uint64_t i = 0; i < count; ++i) {
    for (size_t b = 0; b < kElem; ++b) planes[b][i] = src[i * kElem + b];
  }
}

template <size_t kElem>
void MergeFixed(const uint8_t* const* planes, uint64_t count, uint8_t* dst) {
  for (uint64_t i = 0; i < count; ++i) {
    for (size_t b = 0; b < kElem; ++b) dst[i * kElem + b] = planes[b][i];
  }
}

#if defined(__SSE2__)
// 16 elements at a time: two rounds of byte unpacking regroup 4-byte elements into
// planes (and back); 2-byte elements split by mask and pack. Several times the
// scalar scatter, which the compiler does not vectorise.
void Split4(const uint8_t* src, uint64_t count, uint8_t* const* planes) {
  uint8_t *p0 = planes[0], *p1 = planes[1], *p2 = planes[2], *p3 = planes[3];
  uint64_t i = 0;
  for (; i + 16 <= count; i += 16) {
    const auto* in = reinterpret_cast<const __m128i*>(src + 4 * i);
    const __m128i x0 = _mm_loadu_si128(in), x1 = _mm_loadu_si128(in + 1);
    const __m128i x2 = _mm_loadu_si128(in + 2), x3 = _mm_loadu_si128(in + 3);
    const __m128i y0 = _mm_unpacklo_epi8(x0, x1), y1 = _mm_unpackhi_epi8(x0, x1);
    const __m128i y2 = _mm_unpacklo_epi8(x2, x3), y3 = _mm_unpackhi_epi8(x2, x3);
    const __m128i e0 = _mm_unpacklo_epi8(y0, y1), o0 = _mm_unpackhi_epi8(y0, y1);  // even, odd elements 0-7
    const __m128i e1 = _mm_unpacklo_epi8(y2, y3), o1 = _mm_unpackhi_epi8(y2, y3);  // elements 8-15
    const __m128i z0 = _mm_unpacklo_epi8(e0, o0), z1 = _mm_unpackhi_epi8(e0, o0);
    const __m128i z2 = _mm_unpacklo_epi8(e1, o1), z3 = _mm_unpackhi_epi8(e1, o1);
    _mm_storeu_si128(reinterpret_cast<__m128i*>(p0 + i), _mm_unpacklo_epi64(z0, z2));
    _mm_storeu_si128(reinterpret_cast<__m128i*>(p1 + i), _mm_unpackhi_epi64(z0, z2));
    _mm_storeu_si128(reinterpret_cast<__m128i*>(p2 + i), _mm_unpacklo_epi64(z1, z3));
    _mm_storeu_si128(reinterpret_cast<__m128i*>(p3 + i), _mm_unpackhi_epi64(z1, z3));
  }
  for (const uint8_t* in = src + 4 * i; i < count; ++i, in += 4) {
    p0[i] = in[0];
    p1[i] = in[1];
    p2[i] = in[2];
    p3[i] = in[3];
  }
}

void Merge4(const uint8_t* const* planes, uint64_t count, uint8_t* dst) {
  const uint8_t *p0 = planes[0], *p1 = planes[1], *p2 = planes[2], *p3 = planes[3];
  uint64_t i = 0;
  for (; i + 16 <= count; i += 16) {
    const __m128i a = _mm_loadu_si128(reinterpret_cast<const __m128i*>(p0 + i));
    const __m128i b = _mm_loadu_si128(reinterpret_cast<const __m128i*>(p1 + i));
    const __m128i c = _mm_loadu_si128(reinterpret_cast<const __m128i*>(p2 + i));
    const __m128i d = _mm_loadu_si128(reinterpret_cast<const __m128i*>(p3 + i));
    const __m128i ab_lo = _mm_unpacklo_epi8(a, b), ab_hi = _mm_unpackhi_epi8(a, b);
    const __m128i cd_lo = _mm_unpacklo_epi8(c, d), cd_hi = _mm_unpackhi_epi8(c, d);
    auto* out = reinterpret_cast<__m128i*>(dst + 4 * i);
    _mm_storeu_si128(out, _mm_unpacklo_epi16(ab_lo, cd_lo));
    _mm_storeu_si128(out + 1, _mm_unpackhi_epi16(ab_lo, cd_lo));
    _mm_storeu_si128(out + 2, _mm_unpacklo_epi16(ab_hi, cd_hi));
    _mm_storeu_si128(out + 3, _mm_unpackhi_epi16(ab_hi, cd_hi));
  }
  for (; i < count; ++i) {
    dst[4 * i] = p0[i];
    dst[4 * i + 1] = p1[i];
    dst[4 * i + 2] = p2[i];
    dst[4 * i + 3] = p3[i];
  }
}

void Split2(const uint8_t* src, uint64_t count, uint8_t* const* planes) {
  uint8_t *p0 = planes[0], *p1 = planes[1];
  const __m128i low = _mm_set1_epi16(0x00ff);
  uint64_t i = 0;
  for (; i + 16 <= count; i += 16) {
    const auto* in = reinterpret_cast<const __m128i*>(src + 2 * i);
    const __m128i x0 = _mm_loadu_si128(in), x1 = _mm_loadu_si128(in + 1);
    _mm_storeu_si128(reinterpret_cast<__m128i*>(p0 + i),
                     _mm_packus_epi16(_mm_and_si128(x0, low), _mm_and_si128(x1, low)));
    _mm_storeu_si128(reinterpret_cast<__m128i*>(p1 + i), _mm_packus_epi16(_mm_srli_epi16(x0, 8), _mm_srli_epi16(x1, 8)));
  }
  for (const uint8_t* in = src + 2 * i; i < count; ++i, in += 2) {
    p0[i] = in[0];
    p1[i] = in[1];
  }
}

void Merge2(const uint8_t* const* planes, uint64_t count, uint8_t* dst) {
  const uint8_t *p0 = planes[0], *p1 = planes[1];
  uint64_t i = 0;
  for (; i + 16 <= count; i += 16) {
    const __m128i a = _mm_loadu_si128(reinterpret_cast<const __m128i*>(p0 + i));
    const __m128i b = _mm_loadu_si128(reinterpret_cast<const __m128i*>(p1 + i));
    auto* out = reinterpret_cast<__m128i*>(dst + 2 * i);
    _mm_storeu_si128(out, _mm_unpacklo_epi8(a, b));
    _mm_storeu_si128(out + 1, _mm_unpackhi_epi8(a, b));
  }
  for (; i < count; ++i) {
    dst[2 * i] = p0[i];
    dst[2 * i + 1] = p1[i];
  }
}
#endif

uint64_t GetU64(const uint8_t* p) {
  uint64_t value = 0;
  for (int i = 0; i < 8; ++i) value |= static_cast<uint64_t>(p[i]) << (8 * i);
  return value;
}

struct CctxDeleter {
  void operator()(ZSTD_CCtx* c) const { ZSTD_freeCCtx(c); }
};
struct DctxDeleter {
  void operator()(ZSTD_DCtx* d) const { ZSTD_freeDCtx(d); }
};

// One zstd context per plane and thread: the planes of a tensor are compressed
// (and decompressed) side by side, a block at a time.
ZSTD_CCtx* PlaneCctx(size_t plane) {
  thread_local std::vector<std::unique_ptr<ZSTD_CCtx, CctxDeleter>> contexts;
  while (contexts.size() <= plane) contexts.emplace_back(ZSTD_createCCtx());
  return contexts[plane].get();
}

ZSTD_DCtx* PlaneDctx(size_t plane) {
  thread_local std::vector<std::unique_ptr<ZSTD_DCtx, DctxDeleter>> contexts;
  while (contexts.size() <= plane) contexts.emplace_back(ZSTD_createDCtx());
  return contexts[plane].get();
}

// One whole zstd frame, in one call.
size_t Compress(ZSTD_CCtx* cctx, const uint8_t* src, size_t size, int level, uint8_t* dst, size_t capacity) {
  size_t n = ZSTD_compressCCtx(cctx, dst, capacity, src, size, level);
  if (ZSTD_isError(n)) throw Error(std::string("zstd compression failed: ") + ZSTD_getErrorName(n));
  return n;
}

void SplitInto(const uint8_t* src, uint64_t count, size_t element_size, uint8_t* const* planes) {
  if (count == 0) return;  // an empty tensor may have no buffer at all
  switch (element_size) {
    case 1: std::memcpy(planes[0], src, count); return;
#if defined(__SSE2__)
    case 2: Split2(src, count, planes); return;
    case 4: Split4(src, count, planes); return;
#else
    case 2: SplitFixed<2>(src, count, planes); return;
    case 4: SplitFixed<4>(src, count, planes); return;
#endif
    case 8: SplitFixed<8>(src, count, planes); return;
    default:
      for (uint64_t i = 0; i < count; ++i) {
        for (size_t b = 0; b < element_size; ++b) planes[b][i] = src[i * element_size + b];
      }
  }
}

void MergeFrom(const uint8_t* const* planes, uint64_t count, size_t element_size, uint8_t* dst) {
  if (count == 0) return;
  switch (element_size) {
    case 1: std::memcpy(dst, planes[0], count); return;
#if defined(__SSE2__)
    case 2: Merge2(planes, count, dst); return;
    case 4: Merge4(planes, count, dst); return;
#else
    case 2: MergeFixed<2>(planes, count, dst); return;
    case 4: MergeFixed<4>(planes, count, dst); return;
#endif
    case 8: MergeFixed<8>(planes, count, dst); return;
    default:
      for (uint64_t i = 0; i < count; ++i) {
        for (size_t b = 0; b < element_size; ++b) dst[i * element_size + b] = planes[b][i];
      }
  }
}

std::vector<uint8_t*> PlanePointers(uint8_t* base, uint64_t count, size_t planes) {
  std::vector<uint8_t*> out(planes);
  for (size_t p = 0; p < planes; ++p) out[p] = base + p * count;
  return out;
}

// Splits a block of a plane into the bitmap of its nonzero bytes (ceil(n / 8)
// bytes) and those bytes, returning how many there are; values has room for n.
uint64_t SparseSplit(const uint8_t* plane, uint64_t n, uint8_t* bitmap, uint8_t* values) {
  uint64_t m = 0;
  for (uint64_t i = 0; i < n; i += 8) {
    const uint64_t end = std::min<uint64_t>(n, i + 8);
    uint8_t bits = 0;
    for (uint64_t j = i; j < end; ++j) {
      const uint8_t b = plane[j];
      const uint8_t nonzero = b != 0;
      bits |= static_cast<uint8_t>(nonzero << (j - i));
      values[m] = b;  // written always, kept only when nonzero: no branch to mispredict
      m += nonzero;
    }
    bitmap[i / 8] = bits;
  }
  return m;
}

// The set bits of a block's bitmap; bits past element n must be clear.
uint64_t SparseCount(const uint8_t* bitmap, uint64_t n) {
  const uint64_t bytes = (n + 7) / 8;
  uint64_t total = 0, i = 0;
  for (; i + 8 <= bytes; i += 8) {
    uint64_t word;
    std::memcpy(&word, bitmap + i, 8);
    total += static_cast<uint64_t>(__builtin_popcountll(word));
  }
  for (; i < bytes; ++i) total += static_cast<uint64_t>(__builtin_popcount(bitmap[i]));
  if (n % 8 && (bitmap[bytes - 1] >> (n % 8)) != 0) {
    throw CorruptError("sparse plane bitmap marks bytes past the tensor's end");
  }
  return total;
}

// The inverse of SparseSplit; values must have one readable byte past its last.
void SparseExpand(const uint8_t* bitmap, const uint8_t* values, uint64_t n, uint8_t* plane) {
  uint64_t k = 0;
  for (uint64_t i = 0; i < n; ++i) {
    const uint8_t bit = (bitmap[i >> 3] >> (i & 7)) & 1;
    plane[i] = values[k] & static_cast<uint8_t>(0u - bit);
    k += bit;
  }
}

// Each plane's method, decided on a sample from the middle of the tensor: planes
// too noisy for zstd are kept raw, and (where allowed) planes whose sample codes
// clearly smaller as a bitmap plus nonzero bytes are coded sparse.
std::vector<uint8_t> ChooseMethods(const uint8_t* data, uint64_t count, size_t element_size, bool allow_sparse) {
  std::vector<uint8_t> methods(element_size, kZstd);
  if (count < kProbeThreshold) return methods;
  struct ProbeSlot;
  struct ProbeSparseSlot;
  uint8_t* sample = ThreadScratch<ProbeSlot>(kProbeSize * element_size);
  uint8_t* sparse = ThreadScratch<ProbeSparseSlot>(kProbeSize + kProbeSize / 8);
  const uint64_t first = (count - kProbeSize) / 2;
  SplitInto(data + first * element_size, kProbeSize, element_size,
            PlanePointers(sample, kProbeSize, element_size).data());
  static thread_local std::vector<uint8_t> scratch(ZSTD_compressBound(kProbeSize));
  for (size_t p = 0; p < element_size; ++p) {
    const uint8_t* plane = sample + p * kProbeSize;
    const size_t dense = Compress(PlaneCctx(0), plane, kProbeSize, 1, scratch.data(), scratch.size());
    if (static_cast<double>(dense) > kIncompressibleRatio * kProbeSize) {
      methods[p] = kRaw;
      continue;
    }
    if (!allow_sparse) continue;
    const auto zeros = static_cast<uint64_t>(std::count(plane, plane + kProbeSize, uint8_t{0}));
    if (static_cast<double>(zeros) < kSparseMinZeros * kProbeSize) continue;
    uint8_t* bitmap = sparse + kProbeSize;
    const uint64_t nonzero = SparseSplit(plane, kProbeSize, bitmap, sparse);
    ZSTD_CCtx* cctx = PlaneCctx(0);
    const size_t coded = kSparsePrefix + Compress(cctx, bitmap, kProbeSize / 8, 1, scratch.data(), scratch.size()) +
                         Compress(cctx, sparse, nonzero, 1, scratch.data(), scratch.size());
    if (static_cast<double>(coded) < kSparseRatio * static_cast<double>(dense)) methods[p] = kSparse;
  }
  return methods;
}

// One zstd frame compressed a block at a time into dst (capacity bytes). Returns
// false once the frame has passed limit bytes: the plane then goes raw.
bool AddToFrame(ZSTD_CCtx* cctx, uint8_t* dst, uint64_t capacity, uint64_t* size, const uint8_t* src, uint64_t n,
                bool last, uint64_t limit) {
  ZSTD_inBuffer in{src, n, 0};
  for (;;) {
    ZSTD_outBuffer out{dst, capacity, *size};
    const size_t left = ZSTD_compressStream2(cctx, &out, &in, last ? ZSTD_e_end : ZSTD_e_continue);
    if (ZSTD_isError(left)) throw Error(std::string("zstd compression failed: ") + ZSTD_getErrorName(left));
    *size = out.pos;
    if (*size > limit) return false;
    if (last ? left == 0 : in.pos == in.size) return true;
  }
}

void StartFrame(ZSTD_CCtx* cctx, int level, uint64_t pledged) {
  ZSTD_CCtx_reset(cctx, ZSTD_reset_session_and_parameters);
  ZSTD_CCtx_setParameter(cctx, ZSTD_c_compressionLevel, level);
  if (pledged != ZSTD_CONTENTSIZE_UNKNOWN) ZSTD_CCtx_setPledgedSrcSize(cctx, pledged);
}

// One zstd frame of a stored plane, read a block at a time (or, for a tensor of
// one block, in one call).
class FrameReader {
 public:
  void Start(ZSTD_DCtx* dctx, const uint8_t* payload, uint64_t stored, bool whole) {
    dctx_ = dctx;
    payload_ = payload;
    stored_ = stored;
    whole_ = whole;
    in_ = ZSTD_inBuffer{payload, stored, 0};
    left_ = 1;
    ZSTD_DCtx_reset(dctx, ZSTD_reset_session_only);
  }

  void Read(uint8_t* dst, uint64_t n) {
    if (whole_) {
      const size_t made = ZSTD_decompressDCtx(dctx_, dst, n, payload_, stored_);
      if (ZSTD_isError(made) || made != n) throw CorruptError("zstd plane does not decode to the tensor's size");
      return;
    }
    ZSTD_outBuffer out{dst, n, 0};
    while (out.pos < n) {
      if (left_ == 0) throw CorruptError("zstd plane is shorter than the tensor");
      const size_t before_in = in_.pos, before_out = out.pos;
      left_ = ZSTD_decompressStream(dctx_, &out, &in_);
      if (ZSTD_isError(left_)) throw CorruptError("zstd plane does not decode");
      if (in_.pos == before_in && out.pos == before_out) throw CorruptError("zstd plane is truncated");
    }
  }

  // The frame must end exactly where the tensor does.
  void Finish() {
    if (whole_) return;
    uint8_t extra = 0;
    while (left_ != 0) {
      ZSTD_outBuffer out{&extra, 1, 0};
      const size_t before_in = in_.pos;
      left_ = ZSTD_decompressStream(dctx_, &out, &in_);
      if (ZSTD_isError(left_)) throw CorruptError("zstd plane does not decode");
      if (out.pos != 0) throw CorruptError("zstd plane is longer than the tensor");
      if (left_ != 0 && in_.pos == before_in) throw CorruptError("zstd plane is truncated");
    }
    if (in_.pos != in_.size) throw CorruptError("trailing bytes after a zstd plane");
  }

 private:
  ZSTD_DCtx* dctx_ = nullptr;
  const uint8_t* payload_ = nullptr;
  uint64_t stored_ = 0;
  bool whole_ = false;
  ZSTD_inBuffer in_{};
  size_t left_ = 1;  // zstd's hint: 0 once the frame is complete
};

// Byte p of every element, for a plane that was meant for zstd but did not shrink.
void GatherPlane(const uint8_t* data, uint64_t count, size_t element_size, size_t p, uint8_t* dst) {
  for (uint64_t i = 0; i < count; ++i) dst[i] = data[i * element_size + p];
}

}  // namespace

void SplitPlanes(const uint8_t* src, uint64_t count, size_t element_size, uint8_t* dst) {
  SplitInto(src, count, element_size, PlanePointers(dst, count, element_size).data());
}

void MergePlanes(const uint8_t* planes, uint64_t count, size_t element_size, uint8_t* dst) {
  auto pointers = PlanePointers(const_cast<uint8_t*>(planes), count, element_size);
  MergeFrom(pointers.data(), count, element_size, dst);
}

void XorBytes(const uint8_t* a, const uint8_t* b, uint8_t* out, uint64_t size) {
  uint64_t i = 0;
  for (; i + 8 <= size; i += 8) {
    uint64_t x, y;
    std::memcpy(&x, a + i, 8);
    std::memcpy(&y, b + i, 8);
    x ^= y;
    std::memcpy(out + i, &x, 8);
  }
  for (; i < size; ++i) out[i] = a[i] ^ b[i];
}

uint64_t EncodedPlanes::size() const {
  uint64_t total = table.size();
  for (const auto& p : planes) total += p.bitmap_size + p.size;
  return total;
}

void EncodedPlanes::ForEachPiece(const std::function<void(const uint8_t*, uint64_t)>& write) const {
  write(table.data(), table.size());
  for (const auto& p : planes) {
    if (p.bitmap_size) write(p.bitmap.data(), p.bitmap_size);
    if (p.size) write(p.bytes.data(), p.size);
  }
}

std::vector<uint8_t> EncodedPlanes::Flatten() const {
  std::vector<uint8_t> out;
  out.reserve(size());
  ForEachPiece([&](const uint8_t* data, uint64_t n) { out.insert(out.end(), data, data + n); });
  return out;
}

std::optional<EncodedPlanes> EncodePlanesWithin(const uint8_t* data, uint64_t size, size_t element_size,
                                                int zstd_level, uint64_t max_size, bool allow_sparse) {
  if (element_size == 0 || element_size > 255 || size % element_size != 0) {
    throw Error("cannot encode a buffer that is not a whole number of elements");
  }
  const uint64_t count = size / element_size;
  const size_t planes = element_size;
  EncodedPlanes out;
  out.table.assign(1 + planes * kPlaneHeaderSize, 0);
  out.table[0] = static_cast<uint8_t>(planes);
  if (out.table.size() > max_size) return std::nullopt;

  // Raw planes are copied as they are split; zstd planes stream through their own
  // context, sparse planes through two (bitmap and bytes). Output buffers are
  // sized for the worst case but only the pages written become resident: memory
  // grows with the encoding, not the bound.
  std::vector<uint8_t> method = ChooseMethods(data, count, element_size, allow_sparse);
  out.planes.resize(planes);
  // A zstd plane may use at most count bytes (else it is stored raw) plus a block
  // of slack to finish its frame; a bitmap frame, the bound of its input.
  const uint64_t zstd_capacity = count + ZSTD_BLOCKSIZE_MAX + 64;
  const uint64_t bitmap_bytes = (count + 7) / 8;
  const uint64_t bitmap_capacity = kSparsePrefix + ZSTD_compressBound(bitmap_bytes);
  for (size_t p = 0; p < planes; ++p) {
    auto& plane = out.planes[p];
    plane.bytes = ByteBuffer(method[p] == kRaw ? count : zstd_capacity);
    if (method[p] == kZstd || method[p] == kSparse) {
      StartFrame(PlaneCctx(p), zstd_level, method[p] == kZstd ? count : ZSTD_CONTENTSIZE_UNKNOWN);
    }
    if (method[p] == kSparse) {
      plane.bitmap = ByteBuffer(bitmap_capacity);
      plane.bitmap_size = kSparsePrefix;
      StartFrame(PlaneCctx(planes + p), zstd_level, bitmap_bytes);
    }
  }
  struct SplitSlot;
  struct SparseSlot;
  uint8_t* split = ThreadScratch<SplitSlot>(kBlockElements * planes);
  uint8_t* sparse = ThreadScratch<SparseSlot>(kBlockElements + kBlockElements / 8);
  uint8_t* sparse_bitmap = sparse + kBlockElements;
  const auto chunks = PlanePointers(split, kBlockElements, planes);
  // A zstd or sparse plane that outgrows its raw size is dropped from the stream
  // and gathered raw at the end.
  std::vector<bool> overflowed(planes, false);
  const bool single_block = count <= kBlockElements;
  uint64_t start = 0;
  do {
    const uint64_t n = std::min<uint64_t>(kBlockElements, count - start);
    const bool last = start + n == count;
    SplitInto(data + start * element_size, n, element_size, chunks.data());
    uint64_t total = out.table.size();
    for (size_t p = 0; p < planes; ++p) {
      auto& plane = out.planes[p];
      if (method[p] == kRaw) {
        if (n) std::memcpy(plane.bytes.data() + plane.size, chunks[p], n);
        plane.size += n;
      } else if (overflowed[p]) {
      } else if (method[p] == kZstd && single_block) {
        // A small tensor is one block: one call, without a stream's set-up.
        plane.size = Compress(PlaneCctx(p), chunks[p], n, zstd_level, plane.bytes.data(), zstd_capacity);
        overflowed[p] = plane.size > count;
      } else if (method[p] == kZstd) {
        overflowed[p] = !AddToFrame(PlaneCctx(p), plane.bytes.data(), zstd_capacity, &plane.size, chunks[p], n,
                                    last, count);
      } else {
        const uint64_t nonzero = SparseSplit(chunks[p], n, sparse_bitmap, sparse);
        const uint64_t map_bytes = (n + 7) / 8;
        // Sparse planes are chosen only for tensors past the probe threshold, so
        // always several blocks: both frames stream.
        AddToFrame(PlaneCctx(planes + p), plane.bitmap.data(), bitmap_capacity, &plane.bitmap_size, sparse_bitmap,
                   map_bytes, last, UINT64_MAX);
        AddToFrame(PlaneCctx(p), plane.bytes.data(), zstd_capacity, &plane.size, sparse, nonzero, last, count);
        overflowed[p] = plane.bitmap_size + plane.size > count;
      }
      total += overflowed[p] ? count : plane.bitmap_size + plane.size;
    }
    // Output only grows: once past the bound, this encoding has lost.
    if (total > max_size) return std::nullopt;
    start += n;
  } while (start < count);

  for (size_t p = 0; p < planes; ++p) {
    auto& plane = out.planes[p];
    if (method[p] != kRaw && (overflowed[p] || plane.bitmap_size + plane.size >= count)) {
      method[p] = kRaw;
      plane.bytes = ByteBuffer(count);
      if (count) GatherPlane(data, count, element_size, p, plane.bytes.data());
      plane.size = count;
      plane.bitmap = ByteBuffer();
      plane.bitmap_size = 0;
    }
    if (method[p] == kSparse) {
      const uint64_t frame = plane.bitmap_size - kSparsePrefix;
      for (int i = 0; i < 8; ++i) plane.bitmap.data()[i] = static_cast<uint8_t>(frame >> (8 * i));
    }
    const uint64_t stored = plane.bitmap_size + plane.size;
    const size_t header_at = 1 + p * kPlaneHeaderSize;
    out.table[header_at] = method[p];
    for (int i = 0; i < 8; ++i) out.table[header_at + 1 + i] = static_cast<uint8_t>(stored >> (8 * i));
  }
  if (out.size() > max_size) return std::nullopt;
  return out;
}

std::vector<uint8_t> EncodePlanes(const uint8_t* data, uint64_t size, size_t element_size, int zstd_level,
                                  bool allow_sparse) {
  return EncodePlanesWithin(data, size, element_size, zstd_level, UINT64_MAX, allow_sparse)->Flatten();
}

PlaneMethodCounts CountPlaneMethods(const uint8_t* encoded, uint64_t encoded_size) {
  PlaneMethodCounts counts;
  if (encoded_size < 1) throw CorruptError("truncated plane table");
  const size_t planes = encoded[0];
  if (encoded_size < 1 + planes * kPlaneHeaderSize) throw CorruptError("truncated plane table");
  for (size_t p = 0; p < planes; ++p) {
    switch (encoded[1 + p * kPlaneHeaderSize]) {
      case kRaw: ++counts.raw; break;
      case kZstd: ++counts.zstd; break;
      case kSparse: ++counts.sparse; break;
      default: throw CorruptError("unknown plane method");
    }
  }
  return counts;
}

void DecodePlanes(const uint8_t* encoded, uint64_t encoded_size, size_t element_size, uint8_t* out, uint64_t size,
                  Apply apply) {
  if (element_size == 0 || size % element_size != 0) throw CorruptError("bad element size");
  const uint64_t count = size / element_size;
  if (encoded_size < 1 || encoded[0] != element_size) {
    throw CorruptError("plane count does not match the element size");
  }
  const size_t planes = element_size;
  uint64_t offset = 1 + planes * kPlaneHeaderSize;
  if (encoded_size < offset) throw CorruptError("truncated plane table");

  struct PlaneStream {
    uint8_t method;
    const uint8_t* payload;  // a raw plane's bytes
    FrameReader bytes;       // a zstd plane's frame, or a sparse plane's nonzero bytes
    FrameReader bitmap;      // a sparse plane's bitmap
  };
  const bool whole = count > 0 && count <= kBlockElements;
  std::vector<PlaneStream> streams(planes);
  for (size_t p = 0; p < planes; ++p) {
    const uint8_t* header = encoded + 1 + p * kPlaneHeaderSize;
    PlaneStream& s = streams[p];
    s.method = header[0];
    const uint64_t stored = GetU64(header + 1);
    if (stored > encoded_size - offset) throw CorruptError("plane extends past the object");
    s.payload = encoded + offset;
    if (s.method == kRaw) {
      if (stored != count) throw CorruptError("raw plane has the wrong size");
    } else if (s.method == kZstd) {
      s.bytes.Start(PlaneDctx(p), s.payload, stored, whole);
    } else if (s.method == kSparse) {
      if (stored < kSparsePrefix) throw CorruptError("sparse plane is shorter than its bitmap's length");
      const uint64_t frame = GetU64(s.payload);
      if (frame > stored - kSparsePrefix) throw CorruptError("sparse plane's bitmap extends past the plane");
      s.bitmap.Start(PlaneDctx(planes + p), s.payload + kSparsePrefix, frame, whole);
      s.bytes.Start(PlaneDctx(p), s.payload + kSparsePrefix + frame, stored - kSparsePrefix - frame, whole);
    } else {
      throw CorruptError("unknown plane method " + std::to_string(s.method));
    }
    offset += stored;
  }
  if (offset != encoded_size) throw CorruptError("trailing bytes after the last plane");

  // A block of every plane at a time, merged (or XORed) into place: the decoded
  // planes never exist whole, only the tensor does.
  struct ChunkSlot;
  struct MergedSlot;
  struct SparseSlot;
  uint8_t* chunk_buffer = ThreadScratch<ChunkSlot>(kBlockElements * planes);
  uint8_t* merged = apply == Apply::kXor ? ThreadScratch<MergedSlot>(kBlockElements * element_size) : nullptr;
  // The nonzero bytes of a sparse block, one spare byte for SparseExpand, then its bitmap.
  uint8_t* sparse = ThreadScratch<SparseSlot>(kBlockElements + 1 + kBlockElements / 8);
  uint8_t* sparse_bitmap = sparse + kBlockElements + 1;
  std::vector<const uint8_t*> chunks(planes);
  for (uint64_t start = 0; start < count; start += kBlockElements) {
    const uint64_t n = std::min<uint64_t>(kBlockElements, count - start);
    for (size_t p = 0; p < planes; ++p) {
      PlaneStream& s = streams[p];
      if (s.method == kRaw) {
        chunks[p] = s.payload + start;
        continue;
      }
      uint8_t* chunk = chunk_buffer + p * kBlockElements;
      chunks[p] = chunk;
      if (s.method == kZstd) {
        s.bytes.Read(chunk, n);
        continue;
      }
      s.bitmap.Read(sparse_bitmap, (n + 7) / 8);
      const uint64_t nonzero = SparseCount(sparse_bitmap, n);
      s.bytes.Read(sparse, nonzero);
      sparse[nonzero] = 0;
      SparseExpand(sparse_bitmap, sparse, n, chunk);
    }
    uint8_t* target = out + start * element_size;
    if (apply == Apply::kXor) {
      MergeFrom(chunks.data(), n, element_size, merged);
      XorBytes(target, merged, target, n * element_size);
    } else {
      MergeFrom(chunks.data(), n, element_size, target);
    }
  }
  for (auto& s : streams) {
    if (s.method == kRaw) continue;
    s.bytes.Finish();
    if (s.method == kSparse) s.bitmap.Finish();
  }
}

}  // namespace fomo::codec
