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

uint16_t FloatToHalf(float value) {
  const uint16_t sign = std::signbit(value) ? 0x8000 : 0;
  const double a = std::fabs(static_cast<double>(value));
  if (std::isnan(value)) return sign | 0x7e00;
  if (a >= 65520.0) return sign | 0x7c00;  // rounds past the largest half, 65504
  if (a < std::ldexp(1.0, -14)) {
    // Subnormal: units of 2^-24; rounding up to 0x400 gives the smallest normal.
    return sign | static_cast<uint16_t>(std::nearbyint(std::ldexp(a, 24)));
  }
  int exponent;
  std::frexp(a, &exponent);
  --exponent;  // a = 1.m * 2^exponent
  double mantissa = std::nearbyint((std::ldexp(a, -exponent) - 1.0) * 1024.0);
  if (mantissa == 1024.0) {
    mantissa = 0;
    ++exponent;
  }
  if (exponent + 15 >= 31) return sign | 0x7c00;
  return sign | static_cast<uint16_t>((exponent + 15) << 10) | static_cast<uint16_t>(mantissa);
}

uint16_t FloatToBFloat16(float value) {
  uint32_t bits;
  std::memcpy(&bits, &value, 4);
  if (std::isnan(value)) return static_cast<uint16_t>((bits >> 16) | 0x40);
  bits += 0x7fff + ((bits >> 16) & 1);
  return static_cast<uint16_t>(bits >> 16);
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
