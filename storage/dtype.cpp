#include "storage/dtype.hpp"

#include <fmt/format.h>

#include "storage/error.hpp"

namespace fomo {

namespace {
struct DtypeInfo {
  Dtype dtype;
  std::string_view name;
  size_t size;
  bool floating;
};

constexpr DtypeInfo kDtypes[] = {
    {Dtype::kF32, "F32", 4, true},  {Dtype::kF16, "F16", 2, true}, {Dtype::kBF16, "BF16", 2, true},
    {Dtype::kF64, "F64", 8, true},  {Dtype::kI64, "I64", 8, false}, {Dtype::kI32, "I32", 4, false},
    {Dtype::kI16, "I16", 2, false}, {Dtype::kI8, "I8", 1, false},   {Dtype::kU8, "U8", 1, false},
    {Dtype::kBool, "BOOL", 1, false},
};

const DtypeInfo& Info(Dtype dtype) {
  for (const auto& info : kDtypes) {
    if (info.dtype == dtype) return info;
  }
  throw Error(fmt::format("unknown dtype code {}", static_cast<int>(dtype)));
}
}  // namespace

size_t DtypeSize(Dtype dtype) { return Info(dtype).size; }
std::string_view DtypeName(Dtype dtype) { return Info(dtype).name; }
bool IsFloatingPoint(Dtype dtype) { return Info(dtype).floating; }

std::optional<Dtype> ParseDtype(std::string_view name) {
  for (const auto& info : kDtypes) {
    if (info.name == name) return info.dtype;
  }
  return std::nullopt;
}

std::optional<Dtype> DtypeFromCode(uint8_t code) {
  for (const auto& info : kDtypes) {
    if (static_cast<uint8_t>(info.dtype) == code) return info.dtype;
  }
  return std::nullopt;
}

uint64_t NumElements(const Shape& shape) {
  uint64_t count = 1;
  for (int64_t dim : shape) {
    if (dim < 0) throw Error(fmt::format("negative dimension in shape {}", ShapeString(shape)));
    if (dim != 0 && count > UINT64_MAX / static_cast<uint64_t>(dim)) {
      throw Error(fmt::format("shape {} overflows", ShapeString(shape)));
    }
    count *= static_cast<uint64_t>(dim);
  }
  return count;
}

uint64_t ByteSize(Dtype dtype, const Shape& shape) {
  uint64_t count = NumElements(shape);
  size_t size = DtypeSize(dtype);
  if (count > UINT64_MAX / size) throw Error(fmt::format("shape {} overflows", ShapeString(shape)));
  return count * size;
}

std::string ShapeString(const Shape& shape) { return fmt::format("[{}]", fmt::join(shape, ", ")); }

}  // namespace fomo
