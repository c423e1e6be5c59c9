// The byte-plane codec (storage/codec.hpp) on its own, so small inputs reach every
// plane method, sparse included, which real objects use only for large tensors.
// Input: u8 element-size selector (1, 2, 4 or 8), u32 element count, then the
// encoding. Decoded once stored and once XORed onto a base.
#include <cstring>
#include <vector>

#include "fuzz_target.hpp"
#include "storage/codec.hpp"

FOMO_FUZZ_TARGET(planes) {
  if (input.size() < 5) return;
  const auto* bytes = reinterpret_cast<const uint8_t*>(input.data());
  const size_t element = size_t{1} << (bytes[0] & 3);
  uint32_t count = 0;
  std::memcpy(&count, bytes + 1, 4);
  // Past a million elements the fuzzer would only measure the allocator.
  if (count > (1u << 20)) return;
  std::vector<uint8_t> out(uint64_t{count} * element, 0x5a);
  fomo::codec::DecodePlanes(bytes + 5, input.size() - 5, element, out.data(), out.size());
  fomo::codec::DecodePlanes(bytes + 5, input.size() - 5, element, out.data(), out.size(), fomo::codec::Apply::kXor);
}
