#include "core/float_bits.hpp"

#include <cmath>
#include <cstring>

#include "storage/error.hpp"

namespace fomo::core {

double HalfToDouble(uint16_t bits) {
  const int sign = bits >> 15;
  const int exponent = (bits >> 10) & 0x1f;
  const int mantissa = bits & 0x3ff;
  double value;
  if (exponent == 0) {
    value = std::ldexp(mantissa, -24);
  } else if (exponent == 31) {
    value = mantissa ? NAN : INFINITY;
  } else {
    value = std::ldexp(mantissa + 1024, exponent - 25);
  }
  return sign ? -value : value;
}

double BFloat16ToDouble(uint16_t bits) {
  uint32_t wide = static_cast<uint32_t>(bits) << 16;
  float f;
  std::memcpy(&f, &wide, 4);
  return f;
}

double ElementAsDouble(const uint8_t* data, Dtype dtype, uint64_t i) {
  switch (dtype) {
    case Dtype::kF32: {
      float f;
      std::memcpy(&f, data + 4 * i, 4);
      return f;
    }
    case Dtype::kF64: {
      double d;
      std::memcpy(&d, data + 8 * i, 8);
      return d;
    }
    case Dtype::kF16: {
      uint16_t h;
      std::memcpy(&h, data + 2 * i, 2);
      return HalfToDouble(h);
    }
    case Dtype::kBF16: {
      uint16_t b;
      std::memcpy(&b, data + 2 * i, 2);
      return BFloat16ToDouble(b);
    }
    default:
      throw Error("not a floating-point dtype: " + std::string(DtypeName(dtype)));
  }
}

}  // namespace fomo::core
