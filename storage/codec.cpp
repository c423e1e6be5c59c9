#include "storage/codec.hpp"

#include <zstd.h>
#if defined(__SSE2__)
#include <emmintrin.h>
#endif
#include <zstd_errors.h>

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <memory>

#include "storage/error.hpp"
#include "storage/tensor.hpp"

namespace fomo::codec {

namespace {

enum PlaneMethod : uint8_t { kRaw = 0, kZstd = 1 };

constexpr size_t kPlaneHeaderSize = 1 + 8;
// Planes at least this large are probed on a sample before a full compression.
constexpr size_t kProbeThreshold = 256 * 1024;
constexpr size_t kProbeSize = 64 * 1024;
// A probe that saves less than this share marks the plane as noise: store it raw.
constexpr double kIncompressibleRatio = 0.97;

template <size_t kElem>
void SplitFixed(const uint8_t* src, uint64_t count, uint8_t* dst) {
  for (uint64_t i = 0; i < count; ++i) {
    for (size_t b = 0; b < kElem; ++b) dst[b * count + i] = src[i * kElem + b];
  }
}

template <size_t kElem>
void MergeFixed(const uint8_t* planes, uint64_t count, uint8_t* dst) {
  for (uint64_t i = 0; i < count; ++i) {
    for (size_t b = 0; b < kElem; ++b) dst[i * kElem + b] = planes[b * count + i];
  }
}

#if defined(__SSE2__)
// 16 elements at a time: two rounds of byte unpacking regroup 4-byte elements into
// planes (and back); 2-byte elements split by mask and pack. Several times the
// scalar scatter, which the compiler does not vectorise.
void Split4(const uint8_t* src, uint64_t count, uint8_t* dst) {
  uint8_t *p0 = dst, *p1 = dst + count, *p2 = dst + 2 * count, *p3 = dst + 3 * count;
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
  for (; i < count; ++i) {
    p0[i] = src[4 * i];
    p1[i] = src[4 * i + 1];
    p2[i] = src[4 * i + 2];
    p3[i] = src[4 * i + 3];
  }
}

void Merge4(const uint8_t* planes, uint64_t count, uint8_t* dst) {
  const uint8_t *p0 = planes, *p1 = planes + count, *p2 = planes + 2 * count, *p3 = planes + 3 * count;
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

void Split2(const uint8_t* src, uint64_t count, uint8_t* dst) {
  uint8_t *p0 = dst, *p1 = dst + count;
  const __m128i low = _mm_set1_epi16(0x00ff);
  uint64_t i = 0;
  for (; i + 16 <= count; i += 16) {
    const auto* in = reinterpret_cast<const __m128i*>(src + 2 * i);
    const __m128i x0 = _mm_loadu_si128(in), x1 = _mm_loadu_si128(in + 1);
    _mm_storeu_si128(reinterpret_cast<__m128i*>(p0 + i),
                     _mm_packus_epi16(_mm_and_si128(x0, low), _mm_and_si128(x1, low)));
    _mm_storeu_si128(reinterpret_cast<__m128i*>(p1 + i), _mm_packus_epi16(_mm_srli_epi16(x0, 8), _mm_srli_epi16(x1, 8)));
  }
  for (; i < count; ++i) {
    p0[i] = src[2 * i];
    p1[i] = src[2 * i + 1];
  }
}

void Merge2(const uint8_t* planes, uint64_t count, uint8_t* dst) {
  const uint8_t *p0 = planes, *p1 = planes + count;
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

void PutU64(std::vector<uint8_t>& out, size_t at, uint64_t value) {
  for (int i = 0; i < 8; ++i) out[at + i] = static_cast<uint8_t>(value >> (8 * i));
}

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

ZSTD_CCtx* ThreadCctx() {
  thread_local std::unique_ptr<ZSTD_CCtx, CctxDeleter> cctx(ZSTD_createCCtx());
  return cctx.get();
}

ZSTD_DCtx* ThreadDctx() {
  thread_local std::unique_ptr<ZSTD_DCtx, DctxDeleter> dctx(ZSTD_createDCtx());
  return dctx.get();
}

size_t Compress(const uint8_t* src, size_t size, int level, uint8_t* dst, size_t capacity) {
  size_t n = ZSTD_compressCCtx(ThreadCctx(), dst, capacity, src, size, level);
  if (ZSTD_isError(n)) throw Error(std::string("zstd compression failed: ") + ZSTD_getErrorName(n));
  return n;
}

bool LooksIncompressible(const uint8_t* plane, size_t size) {
  if (size < kProbeThreshold) return false;
  static thread_local std::vector<uint8_t> scratch(ZSTD_compressBound(kProbeSize));
  const uint8_t* sample = plane + (size - kProbeSize) / 2;
  size_t n = Compress(sample, kProbeSize, 1, scratch.data(), scratch.size());
  return static_cast<double>(n) > kIncompressibleRatio * kProbeSize;
}

}  // namespace

void SplitPlanes(const uint8_t* src, uint64_t count, size_t element_size, uint8_t* dst) {
  if (count == 0) return;  // an empty tensor may have no buffer at all
  switch (element_size) {
    case 1: std::memcpy(dst, src, count); return;
#if defined(__SSE2__)
    case 2: Split2(src, count, dst); return;
    case 4: Split4(src, count, dst); return;
#else
    case 2: SplitFixed<2>(src, count, dst); return;
    case 4: SplitFixed<4>(src, count, dst); return;
#endif
    case 8: SplitFixed<8>(src, count, dst); return;
    default:
      for (uint64_t i = 0; i < count; ++i) {
        for (size_t b = 0; b < element_size; ++b) dst[b * count + i] = src[i * element_size + b];
      }
  }
}

void MergePlanes(const uint8_t* planes, uint64_t count, size_t element_size, uint8_t* dst) {
  if (count == 0) return;
  switch (element_size) {
    case 1: std::memcpy(dst, planes, count); return;
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
        for (size_t b = 0; b < element_size; ++b) dst[i * element_size + b] = planes[b * count + i];
      }
  }
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

std::optional<std::vector<uint8_t>> EncodePlanesWithin(const uint8_t* data, uint64_t size, size_t element_size,
                                                       int zstd_level, uint64_t max_size) {
  if (element_size == 0 || size % element_size != 0) {
    throw Error("cannot encode a buffer that is not a whole number of elements");
  }
  const uint64_t count = size / element_size;
  const size_t planes = element_size;
  std::vector<uint8_t> out(1 + planes * kPlaneHeaderSize);
  if (out.size() > max_size) return std::nullopt;
  struct EncodeSlot;
  uint8_t* split = ThreadScratch<EncodeSlot>(size);
  SplitPlanes(data, count, element_size, split);

  out[0] = static_cast<uint8_t>(planes);
  for (size_t p = 0; p < planes; ++p) {
    const uint8_t* plane = split + p * count;
    const size_t header_at = 1 + p * kPlaneHeaderSize;
    const size_t payload_at = out.size();
    const uint64_t room = max_size - payload_at;
    uint8_t method = kRaw;
    uint64_t stored = count;
    if (!LooksIncompressible(plane, count)) {
      // zstd stops once its output would not fit: a plane that cannot beat the
      // room left ends the attempt early. (A block's worth of slack: zstd may need
      // room past the exact size of its output to finish a frame.)
      const size_t bound = ZSTD_compressBound(count);
      const size_t capacity = static_cast<size_t>(
          room >= bound ? bound : std::min<uint64_t>(bound, room + ZSTD_BLOCKSIZE_MAX));
      out.resize(payload_at + capacity);
      const size_t n = ZSTD_compressCCtx(ThreadCctx(), out.data() + payload_at, capacity, plane, count, zstd_level);
      if (!ZSTD_isError(n)) {
        if (n < count) {
          method = kZstd;
          stored = n;
        }
      } else if (ZSTD_getErrorCode(n) != ZSTD_error_dstSize_tooSmall) {
        throw Error(std::string("zstd compression failed: ") + ZSTD_getErrorName(n));
      }
    }
    if (stored > room) return std::nullopt;
    out.resize(payload_at + stored);
    if (method == kRaw && count > 0) std::memcpy(out.data() + payload_at, plane, count);
    out[header_at] = method;
    PutU64(out, header_at + 1, stored);
  }
  return out;
}

std::vector<uint8_t> EncodePlanes(const uint8_t* data, uint64_t size, size_t element_size, int zstd_level) {
  return *EncodePlanesWithin(data, size, element_size, zstd_level, UINT64_MAX);
}

void DecodePlanes(const uint8_t* encoded, uint64_t encoded_size, size_t element_size,
                  uint8_t* out, uint64_t size) {
  if (element_size == 0 || size % element_size != 0) throw CorruptError("bad element size");
  const uint64_t count = size / element_size;
  if (encoded_size < 1 || encoded[0] != element_size) {
    throw CorruptError("plane count does not match the element size");
  }
  const size_t planes = element_size;
  uint64_t offset = 1 + planes * kPlaneHeaderSize;
  if (encoded_size < offset) throw CorruptError("truncated plane table");

  // Single-byte elements need no regrouping: decode straight into the output.
  struct DecodeSlot;
  uint8_t* target = planes == 1 ? out : ThreadScratch<DecodeSlot>(size);
  for (size_t p = 0; p < planes; ++p) {
    const uint8_t* header = encoded + 1 + p * kPlaneHeaderSize;
    const uint8_t method = header[0];
    const uint64_t stored = GetU64(header + 1);
    if (stored > encoded_size - offset) throw CorruptError("plane extends past the object");
    const uint8_t* payload = encoded + offset;
    uint8_t* plane = target + p * count;
    if (method == kRaw) {
      if (stored != count) throw CorruptError("raw plane has the wrong size");
      if (count > 0) std::memcpy(plane, payload, count);  // an empty tensor has no buffer
    } else if (method == kZstd) {
      size_t n = ZSTD_decompressDCtx(ThreadDctx(), plane, count, payload, stored);
      if (ZSTD_isError(n) || n != count) throw CorruptError("zstd plane does not decode");
    } else {
      throw CorruptError("unknown plane method " + std::to_string(method));
    }
    offset += stored;
  }
  if (offset != encoded_size) throw CorruptError("trailing bytes after the last plane");
  if (planes != 1) MergePlanes(target, count, element_size, out);
}

}  // namespace fomo::codec
