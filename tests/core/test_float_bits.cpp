// Rounding floats to F16 and BF16: every 16-bit value survives a round trip, and
// values between two neighbours go to the nearer one, ties to even.
#include <cmath>
#include <cstdint>
#include <limits>

#include "catch.hpp"
#include "core/float_bits.hpp"

using namespace fomo::core;

TEST_CASE("every F16 and BF16 value survives a round trip through float", "[float_bits]") {
  for (uint32_t bits = 0; bits < 0x10000; ++bits) {
    const uint16_t h = static_cast<uint16_t>(bits);
    const double half = HalfToDouble(h);
    if (!std::isnan(half)) {
      INFO("F16 bits " << bits);
      REQUIRE(FloatToHalf(static_cast<float>(half)) == h);
    }
    const double bf = BFloat16ToDouble(h);
    if (!std::isnan(bf)) {
      INFO("BF16 bits " << bits);
      REQUIRE(FloatToBFloat16(static_cast<float>(bf)) == h);
    }
  }
}

TEST_CASE("F16 and BF16 round to nearest, ties to even, and saturate to infinity", "[float_bits]") {
  CHECK(FloatToHalf(1.0f) == 0x3c00);
  CHECK(FloatToHalf(1.0f + 1.0f / 2048) == 0x3c00);          // tie: stays even
  CHECK(FloatToHalf(1.0f + 3.0f / 2048) == 0x3c02);          // tie: up to even
  CHECK(FloatToHalf(1.0f + 1.0f / 1500) == 0x3c01);          // nearer the next
  CHECK(FloatToHalf(-2.0f) == 0xc000);
  CHECK(FloatToHalf(65504.0f) == 0x7bff);
  CHECK(FloatToHalf(65519.0f) == 0x7bff);
  CHECK(FloatToHalf(65520.0f) == 0x7c00);
  CHECK(FloatToHalf(std::ldexp(1.0f, -24)) == 0x0001);       // smallest subnormal
  CHECK(FloatToHalf(std::ldexp(1.0f, -26)) == 0x0000);       // under half of it
  CHECK(std::isnan(HalfToDouble(FloatToHalf(std::numeric_limits<float>::quiet_NaN()))));
  CHECK(FloatToBFloat16(1.0f) == 0x3f80);
  CHECK(FloatToBFloat16(1.0f + std::ldexp(1.0f, -8)) == 0x3f80);       // tie: stays even
  CHECK(FloatToBFloat16(1.0f + 3 * std::ldexp(1.0f, -8)) == 0x3f82);   // tie: up to even
  CHECK(std::isnan(BFloat16ToDouble(FloatToBFloat16(std::numeric_limits<float>::quiet_NaN()))));
  CHECK(std::isinf(BFloat16ToDouble(FloatToBFloat16(std::numeric_limits<float>::max()))));
}
