#include "catch.hpp"
#include "storage/codec.hpp"
#include "storage/error.hpp"
#include "test_support.hpp"

#include <random>

using namespace fomo;

TEST_CASE("byte planes split and merge back for every element size", "[codec]") {
  // Counts around the 16-element blocks of the vector paths, and past them.
  for (uint64_t count : {uint64_t{1}, uint64_t{15}, uint64_t{16}, uint64_t{17}, uint64_t{1001}})
  for (size_t element : {1, 2, 4, 8}) {
    std::vector<uint8_t> data(count * element), planes(data.size()), back(data.size());
    std::mt19937 rng(static_cast<uint32_t>(element));
    for (auto& b : data) b = static_cast<uint8_t>(rng());
    codec::SplitPlanes(data.data(), count, element, planes.data());
    // Plane p holds byte p of every element.
    for (uint64_t i = 0; i < count; ++i) {
      for (size_t p = 0; p < element; ++p) REQUIRE(planes[p * count + i] == data[i * element + p]);
    }
    codec::MergePlanes(planes.data(), count, element, back.data());
    REQUIRE(back == data);
  }
}

TEST_CASE("encoded planes decode bit-exactly, compressible or not", "[codec]") {
  for (size_t element : {1, 2, 4, 8}) {
    for (bool noisy : {false, true}) {
      const uint64_t count = 300000;  // above the probe threshold
      std::vector<uint8_t> data(count * element);
      std::mt19937 rng(7);
      for (size_t i = 0; i < data.size(); ++i) {
        data[i] = noisy ? static_cast<uint8_t>(rng()) : static_cast<uint8_t>((i % element) * 3);
      }
      auto encoded = codec::EncodePlanes(data.data(), data.size(), element, 3);
      if (!noisy) REQUIRE(encoded.size() < data.size() / 10);
      std::vector<uint8_t> back(data.size());
      codec::DecodePlanes(encoded.data(), encoded.size(), element, back.data(), back.size());
      REQUIRE(back == data);
    }
  }
}

TEST_CASE("corrupt plane data is refused", "[codec]") {
  std::vector<uint8_t> data(4000, 7);
  auto encoded = codec::EncodePlanes(data.data(), data.size(), 4, 3);
  std::vector<uint8_t> back(data.size());
  SECTION("truncated") {
    REQUIRE_THROWS_AS(codec::DecodePlanes(encoded.data(), encoded.size() - 3, 4, back.data(), back.size()),
                      CorruptError);
  }
  SECTION("wrong plane count") {
    encoded[0] = 2;
    REQUIRE_THROWS_AS(codec::DecodePlanes(encoded.data(), encoded.size(), 4, back.data(), back.size()),
                      CorruptError);
  }
  SECTION("unknown method") {
    encoded[1] = 9;
    REQUIRE_THROWS_AS(codec::DecodePlanes(encoded.data(), encoded.size(), 4, back.data(), back.size()),
                      CorruptError);
  }
}

TEST_CASE("xor of two buffers undoes itself", "[codec]") {
  std::vector<uint8_t> a(1003), b(1003), x(1003), back(1003);
  std::mt19937 rng(3);
  for (size_t i = 0; i < a.size(); ++i) {
    a[i] = static_cast<uint8_t>(rng());
    b[i] = static_cast<uint8_t>(rng());
  }
  codec::XorBytes(a.data(), b.data(), x.data(), a.size());
  codec::XorBytes(x.data(), b.data(), back.data(), a.size());
  REQUIRE(back == a);
}

TEST_CASE("a size-bounded encoding gives the same bytes when it fits and gives up when it cannot", "[codec]") {
  // Floats with a compressible exponent plane and noisy low bytes, as weights are.
  const uint64_t count = 200000;
  std::vector<float> values(count);
  std::mt19937 rng(3);
  std::normal_distribution<float> normal(0, 0.02f);
  for (auto& v : values) v = normal(rng);
  const auto* bytes = reinterpret_cast<const uint8_t*>(values.data());
  const auto full = codec::EncodePlanes(bytes, count * 4, 4, 3);
  REQUIRE(full.size() < count * 4);
  for (uint64_t bound : {full.size(), full.size() + 1, uint64_t{count * 8}}) {
    auto within = codec::EncodePlanesWithin(bytes, count * 4, 4, 3, bound);
    REQUIRE(within);
    CHECK(*within == full);
  }
  for (uint64_t bound : {full.size() - 1, full.size() / 2, uint64_t{10}, uint64_t{0}}) {
    CHECK_FALSE(codec::EncodePlanesWithin(bytes, count * 4, 4, 3, bound));
  }
}
