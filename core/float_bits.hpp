// Reading floating-point tensors of any stored dtype as doubles, without LibTorch.
#pragma once

#include <cstdint>

#include "storage/dtype.hpp"

namespace fomo::core {

double HalfToDouble(uint16_t bits);
double BFloat16ToDouble(uint16_t bits);
// Element i of a buffer of the given floating-point dtype.
double ElementAsDouble(const uint8_t* data, Dtype dtype, uint64_t i);

}  // namespace fomo::core
