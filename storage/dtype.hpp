// Element types and shapes of raw tensors. storage/ sees tensors as bytes with a
// dtype and a shape; nothing here knows about LibTorch.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace fomo {

// Values are persisted in object headers: never renumber.
enum class Dtype : uint8_t {
  kF32 = 1,
  kF16 = 2,
  kBF16 = 3,
  kF64 = 4,
  kI64 = 5,
  kI32 = 6,
  kI16 = 7,
  kI8 = 8,
  kU8 = 9,
  kBool = 10,
};

using Shape = std::vector<int64_t>;

size_t DtypeSize(Dtype dtype);
// The safetensors spelling: "F32", "BF16", "BOOL", ...
std::string_view DtypeName(Dtype dtype);
std::optional<Dtype> ParseDtype(std::string_view name);
std::optional<Dtype> DtypeFromCode(uint8_t code);
bool IsFloatingPoint(Dtype dtype);

// Element count; throws fomo::Error on a negative dimension or overflow.
uint64_t NumElements(const Shape& shape);
// Bytes a tensor of this dtype and shape occupies; throws on overflow.
uint64_t ByteSize(Dtype dtype, const Shape& shape);
std::string ShapeString(const Shape& shape);

}  // namespace fomo
