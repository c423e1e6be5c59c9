// The byte-plane codec. A tensor's bytes (or the XOR of two tensors' bytes) are
// regrouped by position within the element (all first bytes, then all second
// bytes, ...), and each plane is compressed with zstd on its own. Exponent planes of
// float weights compress well; mantissa planes are close to noise and are kept raw,
// which saves the time zstd would spend finding nothing. A plane of scattered zeros
// (the XOR of a delta where most elements did not change, or whose exponents did
// not) can instead be coded sparse: a bitmap of its nonzero bytes and those bytes,
// each through zstd, which beats zstd on the plane itself (bench/codec_bench.cpp:
// 7.05x against 5.84x on a bf16 delta with 69 % of elements unchanged).
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <optional>
#include <vector>

#include "storage/tensor.hpp"

namespace fomo::codec {

void SplitPlanes(const uint8_t* src, uint64_t count, size_t element_size, uint8_t* dst);
void MergePlanes(const uint8_t* planes, uint64_t count, size_t element_size, uint8_t* dst);
void XorBytes(const uint8_t* a, const uint8_t* b, uint8_t* out, uint64_t size);

// An encoding held as pieces (the plane table, then each plane's bytes), so that a
// large tensor's encoding is written out without first being copied into one buffer.
struct EncodedPlanes {
  struct Plane {
    ByteBuffer bytes;  // capacity for the worst case; only size bytes are used
    uint64_t size = 0;
    ByteBuffer bitmap;  // a sparse plane's length prefix and bitmap frame, before bytes
    uint64_t bitmap_size = 0;
  };
  std::vector<uint8_t> table;
  std::vector<Plane> planes;

  uint64_t size() const;
  void ForEachPiece(const std::function<void(const uint8_t* data, uint64_t size)>& write) const;
  std::vector<uint8_t> Flatten() const;
};

// Layout of the result: u8 plane count, then per plane u8 method (0 raw, 1 zstd,
// 2 sparse) and u64 stored size, then the plane payloads in order. A sparse payload
// is a u64 size of its bitmap frame, the bitmap frame (ceil(count / 8) bytes, bit i
// of byte i / 8 set where byte i is nonzero) and the frame of the nonzero bytes.
// The tensor is split and compressed a block at a time, each plane streaming
// through its own zstd frame, so the only memory it takes beyond the result is a
// few blocks. Sparse planes are written only when allowed (stores of format 3;
// every fomo that reads format 3 decodes them).
std::vector<uint8_t> EncodePlanes(const uint8_t* data, uint64_t size, size_t element_size,
                                  int zstd_level, bool allow_sparse = false);
// The same in pieces, giving up (nullopt) as soon as the result would exceed
// max_size bytes: a second candidate encoding costs only as much as it takes to lose.
std::optional<EncodedPlanes> EncodePlanesWithin(const uint8_t* data, uint64_t size, size_t element_size,
                                                int zstd_level, uint64_t max_size, bool allow_sparse = false);

// How many planes of an encoding use each method, for tests and benchmarks.
struct PlaneMethodCounts {
  size_t raw = 0, zstd = 0, sparse = 0;
};
PlaneMethodCounts CountPlaneMethods(const uint8_t* encoded, uint64_t encoded_size);

// kStore writes the decoded bytes to out; kXor XORs them into what out holds (a
// delta applied onto its base), with no tensor-sized scratch either way.
enum class Apply { kStore, kXor };
// Decodes into out[0, size). Throws fomo::CorruptError on any inconsistency.
void DecodePlanes(const uint8_t* encoded, uint64_t encoded_size, size_t element_size,
                  uint8_t* out, uint64_t size, Apply apply = Apply::kStore);

}  // namespace fomo::codec
