// The byte-plane codec. A tensor's bytes (or the XOR of two tensors' bytes) are
// regrouped by position within the element (all first bytes, then all second
// bytes, ...), and each plane is compressed with zstd on its own. Exponent planes of
// float weights compress well; mantissa planes are close to noise and are kept raw,
// which saves the time zstd would spend finding nothing.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <vector>

namespace fomo::codec {

void SplitPlanes(const uint8_t* src, uint64_t count, size_t element_size, uint8_t* dst);
void MergePlanes(const uint8_t* planes, uint64_t count, size_t element_size, uint8_t* dst);
void XorBytes(const uint8_t* a, const uint8_t* b, uint8_t* out, uint64_t size);

// Layout of the result: u8 plane count, then per plane u8 method (0 raw, 1 zstd) and
// u64 stored size, then the plane payloads in order.
std::vector<uint8_t> EncodePlanes(const uint8_t* data, uint64_t size, size_t element_size,
                                  int zstd_level);
// The same, giving up (nullopt) as soon as the result would exceed max_size bytes:
// a second candidate encoding costs only as much as it takes to lose.
std::optional<std::vector<uint8_t>> EncodePlanesWithin(const uint8_t* data, uint64_t size, size_t element_size,
                                                       int zstd_level, uint64_t max_size);
// Decodes into out[0, size). Throws fomo::CorruptError on any inconsistency.
void DecodePlanes(const uint8_t* encoded, uint64_t encoded_size, size_t element_size,
                  uint8_t* out, uint64_t size);

}  // namespace fomo::codec
