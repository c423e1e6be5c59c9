#include "catch.hpp"
#include "storage/codec.hpp"
#include "storage/error.hpp"
#include "test_support.hpp"

#include <cstring>
#include <random>

#include <zstd.h>

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
    CHECK(within->Flatten() == full);
  }
  for (uint64_t bound : {full.size() - 1, full.size() / 2, uint64_t{10}, uint64_t{0}}) {
    CHECK_FALSE(codec::EncodePlanesWithin(bytes, count * 4, 4, 3, bound));
  }
}

namespace {

// A plane table with one zstd frame per plane, as fomo wrote objects before the
// codec streamed (one-shot compression of each whole plane).
std::vector<uint8_t> OneShotEncoding(const std::vector<uint8_t>& data, size_t element) {
  const uint64_t count = data.size() / element;
  std::vector<uint8_t> planes(data.size());
  codec::SplitPlanes(data.data(), count, element, planes.data());
  std::vector<uint8_t> out(1 + element * 9);
  out[0] = static_cast<uint8_t>(element);
  for (size_t p = 0; p < element; ++p) {
    std::vector<uint8_t> frame(ZSTD_compressBound(count));
    const size_t n = ZSTD_compress(frame.data(), frame.size(), planes.data() + p * count, count, 3);
    REQUIRE_FALSE(ZSTD_isError(n));
    out[1 + p * 9] = 1;
    for (int i = 0; i < 8; ++i) out[1 + p * 9 + 1 + i] = static_cast<uint8_t>(static_cast<uint64_t>(n) >> (8 * i));
    out.insert(out.end(), frame.begin(), frame.begin() + static_cast<long>(n));
  }
  return out;
}

std::vector<uint8_t> WeightLikeBytes(uint64_t count, uint32_t seed) {
  std::vector<float> values(count);
  std::mt19937 rng(seed);
  std::normal_distribution<float> normal(0, 0.02f);
  for (auto& v : values) v = normal(rng);
  std::vector<uint8_t> bytes(count * 4);
  std::memcpy(bytes.data(), values.data(), bytes.size());
  return bytes;
}

}  // namespace

TEST_CASE("planes stream a block at a time: sizes around the block decode bit-exactly", "[codec]") {
  // 128 Ki elements per block: one short of it, exactly it, one past, several blocks and a tail.
  for (uint64_t count : {uint64_t{131071}, uint64_t{131072}, uint64_t{131073}, uint64_t{3 * 131072 + 17}}) {
    for (size_t element : {2, 4}) {
      std::vector<uint8_t> data(count * element);
      std::mt19937 rng(static_cast<uint32_t>(count));
      for (size_t i = 0; i < data.size(); ++i) data[i] = i % element == 0 ? static_cast<uint8_t>(rng()) : 0x3c;
      auto encoded = codec::EncodePlanes(data.data(), data.size(), element, 3);
      std::vector<uint8_t> back(data.size(), 0xee);
      codec::DecodePlanes(encoded.data(), encoded.size(), element, back.data(), back.size());
      REQUIRE(back == data);
    }
  }
}

TEST_CASE("a delta decodes straight onto its base", "[codec]") {
  const uint64_t count = 300001;
  auto base = WeightLikeBytes(count, 1), tensor = WeightLikeBytes(count, 1);
  for (size_t i = 0; i < tensor.size(); i += 4) tensor[i] ^= static_cast<uint8_t>(i * 7);  // low bytes move
  std::vector<uint8_t> diff(base.size());
  codec::XorBytes(tensor.data(), base.data(), diff.data(), diff.size());
  auto encoded = codec::EncodePlanes(diff.data(), diff.size(), 4, 3);
  std::vector<uint8_t> out = base;
  codec::DecodePlanes(encoded.data(), encoded.size(), 4, out.data(), out.size(), codec::Apply::kXor);
  REQUIRE(out == tensor);
}

TEST_CASE("objects encoded before the codec streamed still decode", "[codec]") {
  for (size_t element : {1, 2, 4}) {
    auto data = WeightLikeBytes(200003, 5);
    data.resize(data.size() / element * element);
    auto old = OneShotEncoding(data, element);
    std::vector<uint8_t> back(data.size());
    codec::DecodePlanes(old.data(), old.size(), element, back.data(), back.size());
    REQUIRE(back == data);
  }
}

TEST_CASE("a zstd plane that ends early, runs long or trails bytes is refused", "[codec]") {
  // One block (decoded in one call) and several (streamed).
  const uint64_t count = GENERATE(uint64_t{100000}, uint64_t{150000});
  auto data = WeightLikeBytes(count, 9);
  std::vector<uint8_t> back(data.size());
  auto decode = [&](const std::vector<uint8_t>& encoded, uint64_t size) {
    back.assign(size, 0);
    codec::DecodePlanes(encoded.data(), encoded.size(), 4, back.data(), size);
  };
  auto encoded = OneShotEncoding(data, 4);
  SECTION("the tensor is longer than the planes") { REQUIRE_THROWS_AS(decode(encoded, data.size() + 400), CorruptError); }
  SECTION("the planes are longer than the tensor") { REQUIRE_THROWS_AS(decode(encoded, data.size() - 400), CorruptError); }
  SECTION("a frame cut short, its size in the table adjusted") {
    // Plane 0's frame loses its last 5 bytes; the table says so, so only zstd can tell.
    auto cut = encoded;
    uint64_t stored = 0;
    for (int i = 0; i < 8; ++i) stored |= static_cast<uint64_t>(cut[2 + i]) << (8 * i);
    cut.erase(cut.begin() + static_cast<long>(1 + 4 * 9 + stored - 5), cut.begin() + static_cast<long>(1 + 4 * 9 + stored));
    stored -= 5;
    for (int i = 0; i < 8; ++i) cut[2 + i] = static_cast<uint8_t>(stored >> (8 * i));
    REQUIRE_THROWS_AS(decode(cut, data.size()), CorruptError);
  }
  SECTION("bytes after a frame, inside its plane") {
    auto padded = encoded;
    uint64_t stored = 0;
    for (int i = 0; i < 8; ++i) stored |= static_cast<uint64_t>(padded[2 + i]) << (8 * i);
    padded.insert(padded.begin() + static_cast<long>(1 + 4 * 9 + stored), 3, uint8_t{0});
    stored += 3;
    for (int i = 0; i < 8; ++i) padded[2 + i] = static_cast<uint8_t>(stored >> (8 * i));
    REQUIRE_THROWS_AS(decode(padded, data.size()), CorruptError);
  }
}

namespace {

// A float tensor and its next version in which only a share of the elements moved,
// by a few low mantissa bits, as a sparse fine-tune or a BitFit-like update leaves
// a weight: the XOR of the two is mostly zero bytes.
std::vector<uint8_t> SparseDelta(uint64_t count, size_t element, double changed, uint32_t seed) {
  std::vector<uint8_t> diff(count * element, 0);
  std::mt19937 rng(seed);
  std::uniform_real_distribution<double> coin(0, 1);
  for (uint64_t i = 0; i < count; ++i) {
    if (coin(rng) >= changed) continue;
    diff[i * element] = static_cast<uint8_t>(rng() | 1);
    if (element > 1) diff[i * element + 1] = static_cast<uint8_t>(rng() & 0x0f);
  }
  return diff;
}

void StoreLe64(uint8_t* p, uint64_t v) {
  for (int i = 0; i < 8; ++i) p[i] = static_cast<uint8_t>(v >> (8 * i));
}

std::vector<uint8_t> Frame(const std::vector<uint8_t>& bytes) {
  std::vector<uint8_t> frame(ZSTD_compressBound(bytes.size()));
  const size_t n = ZSTD_compress(frame.data(), frame.size(), bytes.data(), bytes.size(), 3);
  REQUIRE_FALSE(ZSTD_isError(n));
  frame.resize(n);
  return frame;
}

// A one-byte-element encoding with a single sparse plane, made by hand from the
// layout codec.hpp documents: u64 bitmap frame size, bitmap frame, value frame.
std::vector<uint8_t> HandMadeSparse(const std::vector<uint8_t>& bitmap, const std::vector<uint8_t>& values) {
  const auto map_frame = Frame(bitmap), value_frame = Frame(values);
  std::vector<uint8_t> out(1 + 9 + 8);
  out[0] = 1;
  out[1] = 2;  // sparse
  StoreLe64(out.data() + 2, 8 + map_frame.size() + value_frame.size());
  StoreLe64(out.data() + 10, map_frame.size());
  out.insert(out.end(), map_frame.begin(), map_frame.end());
  out.insert(out.end(), value_frame.begin(), value_frame.end());
  return out;
}

}  // namespace

TEST_CASE("a mostly unchanged delta is coded sparse, smaller, and decodes onto its base", "[codec][sparse]") {
  for (size_t element : {1, 2, 4, 8}) {
    // Several blocks and a tail; a tenth of the elements moved.
    const uint64_t count = 3 * 131072 + 13;
    const auto diff = SparseDelta(count, element, 0.1, static_cast<uint32_t>(element));
    const auto dense = codec::EncodePlanes(diff.data(), diff.size(), element, 1);
    const auto sparse = codec::EncodePlanes(diff.data(), diff.size(), element, 1, /*allow_sparse=*/true);
    INFO("element size " << element << ": zstd " << dense.size() << " bytes, sparse " << sparse.size());
    CHECK(codec::CountPlaneMethods(dense.data(), dense.size()).sparse == 0);
    CHECK(codec::CountPlaneMethods(sparse.data(), sparse.size()).sparse >= 1);
    CHECK(sparse.size() < dense.size());

    std::vector<uint8_t> back(diff.size(), 0xa5);
    codec::DecodePlanes(sparse.data(), sparse.size(), element, back.data(), back.size());
    REQUIRE(back == diff);
    // Applied as a delta: XOR onto the base gives the new version.
    std::vector<uint8_t> base(diff.size()), tensor(diff.size());
    std::mt19937 rng(11);
    for (auto& b : base) b = static_cast<uint8_t>(rng());
    codec::XorBytes(base.data(), diff.data(), tensor.data(), base.size());
    codec::DecodePlanes(sparse.data(), sparse.size(), element, base.data(), base.size(), codec::Apply::kXor);
    REQUIRE(base == tensor);
  }
}

TEST_CASE("sparse coding is only chosen where it wins", "[codec][sparse]") {
  const uint64_t count = 300000;
  // Weights themselves have few zero bytes: no plane goes sparse.
  const auto weights = WeightLikeBytes(count, 4);
  const auto encoded = codec::EncodePlanes(weights.data(), weights.size(), 4, 1, true);
  CHECK(codec::CountPlaneMethods(encoded.data(), encoded.size()).sparse == 0);
  // An all-zero delta is one long run, which zstd alone codes best.
  const std::vector<uint8_t> zeros(count * 4, 0);
  const auto flat = codec::EncodePlanes(zeros.data(), zeros.size(), 4, 1, true);
  CHECK(codec::CountPlaneMethods(flat.data(), flat.size()).sparse == 0);
  CHECK(flat.size() < 1000);
  // Every element moved: its planes are dense (or all zero), and coded so.
  const auto dense_delta = SparseDelta(count, 4, 1.0, 5);
  const auto moved = codec::EncodePlanes(dense_delta.data(), dense_delta.size(), 4, 1, true);
  CHECK(codec::CountPlaneMethods(moved.data(), moved.size()).sparse == 0);
  // A noisy plane is kept raw either way.
  std::vector<uint8_t> noise(count * 4);
  std::mt19937 rng(6);
  for (auto& b : noise) b = static_cast<uint8_t>(rng());
  const auto noisy = codec::EncodePlanes(noise.data(), noise.size(), 4, 1, true);
  CHECK(codec::CountPlaneMethods(noisy.data(), noisy.size()).raw == 4);
}

TEST_CASE("a size-bounded sparse encoding gives up past its bound", "[codec][sparse]") {
  const auto diff = SparseDelta(400000, 4, 0.1, 8);
  const auto full = codec::EncodePlanes(diff.data(), diff.size(), 4, 1, true);
  auto within = codec::EncodePlanesWithin(diff.data(), diff.size(), 4, 1, full.size(), true);
  REQUIRE(within);
  CHECK(within->Flatten() == full);
  CHECK_FALSE(codec::EncodePlanesWithin(diff.data(), diff.size(), 4, 1, full.size() - 1, true));
}

TEST_CASE("a hand-made sparse plane decodes in one block and in several", "[codec][sparse]") {
  for (uint64_t n : {uint64_t{1000}, uint64_t{131072 * 2 + 5}}) {
    std::vector<uint8_t> plane(n, 0), bitmap((n + 7) / 8, 0), values;
    for (uint64_t i = 0; i < n; i += 7) {
      plane[i] = static_cast<uint8_t>(i % 251 + 1);
      bitmap[i / 8] |= static_cast<uint8_t>(1u << (i % 8));
      values.push_back(plane[i]);
    }
    const auto encoded = HandMadeSparse(bitmap, values);
    std::vector<uint8_t> back(n, 0xee);
    codec::DecodePlanes(encoded.data(), encoded.size(), 1, back.data(), n);
    REQUIRE(back == plane);
  }
}

TEST_CASE("corrupt sparse planes are refused", "[codec][sparse]") {
  const uint64_t n = GENERATE(uint64_t{1001}, uint64_t{131072 + 1001});  // one block, and two
  std::vector<uint8_t> bitmap((n + 7) / 8, 0), values;
  for (uint64_t i = 0; i < n; i += 3) {
    bitmap[i / 8] |= static_cast<uint8_t>(1u << (i % 8));
    values.push_back(static_cast<uint8_t>(i | 1));
  }
  std::vector<uint8_t> back(n);
  auto decode = [&](const std::vector<uint8_t>& encoded) {
    codec::DecodePlanes(encoded.data(), encoded.size(), 1, back.data(), n);
  };
  REQUIRE_NOTHROW(decode(HandMadeSparse(bitmap, values)));
  SECTION("a bitmap bit past the tensor's end") {
    auto past = bitmap;
    past.back() |= 0x80;  // n is not a multiple of 8
    values.push_back(1);
    REQUIRE_THROWS_AS(decode(HandMadeSparse(past, values)), CorruptError);
  }
  SECTION("fewer nonzero bytes than the bitmap marks") {
    values.pop_back();
    REQUIRE_THROWS_AS(decode(HandMadeSparse(bitmap, values)), CorruptError);
  }
  SECTION("more nonzero bytes than the bitmap marks") {
    values.push_back(9);
    REQUIRE_THROWS_AS(decode(HandMadeSparse(bitmap, values)), CorruptError);
  }
  SECTION("a bitmap shorter than the tensor") {
    auto short_map = bitmap;
    short_map.pop_back();
    REQUIRE_THROWS_AS(decode(HandMadeSparse(short_map, values)), CorruptError);
  }
  SECTION("a bitmap frame size past the plane") {
    auto encoded = HandMadeSparse(bitmap, values);
    StoreLe64(encoded.data() + 10, encoded.size());
    REQUIRE_THROWS_AS(decode(encoded), CorruptError);
  }
  SECTION("a plane too short to hold its bitmap's size") {
    std::vector<uint8_t> encoded(1 + 9 + 7, 0);
    encoded[0] = 1;
    encoded[1] = 2;
    StoreLe64(encoded.data() + 2, 7);
    REQUIRE_THROWS_AS(decode(encoded), CorruptError);
  }
  SECTION("a truncated value frame") {
    auto encoded = HandMadeSparse(bitmap, values);
    encoded.resize(encoded.size() - 4);
    uint64_t stored = 0;
    for (int i = 0; i < 8; ++i) stored |= static_cast<uint64_t>(encoded[2 + i]) << (8 * i);
    StoreLe64(encoded.data() + 2, stored - 4);
    REQUIRE_THROWS_AS(decode(encoded), CorruptError);
  }
}
