// Reading floating-point tensors of any stored dtype as doubles, and rounding
// floats to the 16-bit formats, without LibTorch.
#pragma once

#include <cstdint>

#include "storage/dtype.hpp"

namespace fomo::core {

double HalfToDouble(uint16_t bits);
double BFloat16ToDouble(uint16_t bits);
// Nearest F16 / BF16 (ties to even; overflow gives infinity, NaN stays NaN).
uint16_t FloatToHalf(float value);
uint16_t FloatToBFloat16(float value);
// Element i of a buffer of the given floating-point dtype.
double ElementAsDouble(const uint8_t* data, Dtype dtype, uint64_t i);

}  // namespace fomo::core
