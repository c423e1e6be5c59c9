#include "catch.hpp"
#include "storage/error.hpp"
#include "storage/object_store.hpp"
#include "test_support.hpp"

#include <cstring>
#include <fstream>
#include <random>

using namespace fomo;
using fomo::test::RandomF32;
using fomo::test::TempDir;

namespace {

Tensor RandomOf(Dtype dtype, const Shape& shape, uint32_t seed) {
  Tensor t{dtype, shape, ByteBuffer(ByteSize(dtype, shape))};
  std::mt19937 rng(seed);
  for (size_t i = 0; i < t.bytes.size(); ++i) t.bytes.data()[i] = static_cast<uint8_t>(rng());
  if (dtype == Dtype::kBool) {
    for (size_t i = 0; i < t.bytes.size(); ++i) t.bytes.data()[i] &= 1;
  }
  return t;
}

// A small change to every float: the kind of update a training step makes.
Tensor Nudged(const Tensor& base, uint32_t seed) {
  Tensor t{base.dtype, base.shape, ByteBuffer(base.bytes.size())};
  std::memcpy(t.bytes.data(), base.bytes.data(), base.bytes.size());
  std::mt19937 rng(seed);
  std::normal_distribution<float> n(0, 1e-5f);
  auto* f = reinterpret_cast<float*>(t.bytes.data());
  for (uint64_t i = 0; i < NumElements(t.shape); ++i) f[i] += n(rng);
  return t;
}

bool SameBytes(const Tensor& a, const Tensor& b) {
  return a.bytes.size() == b.bytes.size() && std::memcmp(a.bytes.data(), b.bytes.data(), a.bytes.size()) == 0;
}

}  // namespace

TEST_CASE("every dtype round-trips bit-exactly through full and delta objects", "[store]") {
  TempDir dir;
  ObjectStore store(dir / "objects", StoreOptions{});
  for (Dtype dtype : {Dtype::kF32, Dtype::kF16, Dtype::kBF16, Dtype::kF64, Dtype::kI64, Dtype::kI32,
                      Dtype::kI16, Dtype::kI8, Dtype::kU8, Dtype::kBool}) {
    INFO("dtype " << DtypeName(dtype));
    Tensor base = RandomOf(dtype, {33, 17}, 1);
    ObjectId base_id = TensorId(base.view());
    PutResult put = store.Put(base_id, base.view(), std::nullopt);
    REQUIRE(put.written);
    REQUIRE(put.encoding == Encoding::kFull);
    REQUIRE(SameBytes(store.Read(base_id), base));

    // A sparse change: a delta against the base is far smaller than a full frame.
    Tensor changed = RandomOf(dtype, {33, 17}, 1);
    changed.bytes.data()[5] ^= 1;
    ObjectId changed_id = TensorId(changed.view());
    PutResult delta = store.Put(changed_id, changed.view(), base_id);
    REQUIRE(delta.encoding == Encoding::kDelta);
    REQUIRE(store.Stat(changed_id).base == base_id);
    REQUIRE(SameBytes(store.Read(changed_id), changed));
  }
}

TEST_CASE("the writer keeps the smaller of full and delta", "[store]") {
  TempDir dir;
  ObjectStore store(dir / "objects", StoreOptions{});
  Tensor base = RandomF32({256, 256}, 1);
  ObjectId base_id = TensorId(base.view());
  store.Put(base_id, base.view(), std::nullopt);
  SECTION("a small dense update is stored as a delta") {
    Tensor next = Nudged(base, 2);
    PutResult r = store.Put(TensorId(next.view()), next.view(), base_id);
    REQUIRE(r.encoding == Encoding::kDelta);
    REQUIRE(r.stored_size < next.bytes.size() * 0.7);
  }
  SECTION("an unrelated tensor is stored full") {
    Tensor other = RandomF32({256, 256}, 99, 5.0f);
    PutResult r = store.Put(TensorId(other.view()), other.view(), base_id);
    REQUIRE(r.encoding == Encoding::kFull);
  }
  SECTION("a parent of another shape is ignored") {
    Tensor other = RandomF32({128, 512}, 3);
    PutResult r = store.Put(TensorId(other.view()), other.view(), base_id);
    REQUIRE(r.encoding == Encoding::kFull);
  }
}

TEST_CASE("identical tensors are stored once", "[store]") {
  TempDir dir;
  ObjectStore store(dir / "objects", StoreOptions{});
  Tensor t = RandomF32({64, 64}, 5);
  ObjectId id = TensorId(t.view());
  REQUIRE(store.Put(id, t.view(), std::nullopt).written);
  REQUIRE_FALSE(store.Put(id, t.view(), std::nullopt).written);
  REQUIRE(store.List().size() == 1);
}

TEST_CASE("the id covers dtype and shape, not only bytes", "[store]") {
  Tensor t = RandomF32({4, 6}, 1);
  TensorView reshaped = t.view();
  reshaped.shape = {6, 4};
  TensorView retyped = t.view();
  retyped.dtype = Dtype::kI32;
  REQUIRE(TensorId(t.view()) != TensorId(reshaped));
  REQUIRE(TensorId(t.view()) != TensorId(retyped));
}

TEST_CASE("delta chains are cut by full frames", "[store]") {
  TempDir dir;
  StoreOptions options;
  options.max_chain = 8;
  ObjectStore store(dir / "objects", options);
  Tensor current = RandomF32({128, 128}, 1);
  std::optional<ObjectId> parent;
  std::vector<std::pair<ObjectId, Tensor>> versions;
  for (int v = 0; v < 20; ++v) {
    ObjectId id = TensorId(current.view());
    store.Put(id, current.view(), parent);
    ObjectInfo info = store.Stat(id);
    REQUIRE(info.depth <= 8);
    REQUIRE(info.depth == (v % 9));  // full frames at versions 0, 9, 18
    parent = id;
    Tensor next = Nudged(current, v + 10);
    versions.emplace_back(id, std::move(current));
    current = std::move(next);
  }
  for (const auto& [id, tensor] : versions) REQUIRE(SameBytes(store.Read(id), tensor));
}

TEST_CASE("a flipped byte in an object is found on read", "[store]") {
  TempDir dir;
  ObjectStore store(dir / "objects", StoreOptions{});
  Tensor base = RandomF32({64, 64}, 1);
  ObjectId base_id = TensorId(base.view());
  store.Put(base_id, base.view(), std::nullopt);
  Tensor next = Nudged(base, 2);
  ObjectId next_id = TensorId(next.view());
  store.Put(next_id, next.view(), base_id);

  // Flip a byte in the payload of the base: reading the delta on top must fail too.
  fs::path path = store.PathOf(base_id);
  std::string bytes = fomo::test::ReadFile(path);
  bytes[bytes.size() - 10] ^= 0x40;
  fs::permissions(path, fs::perms::owner_write, fs::perm_options::add);
  fomo::test::WriteFile(path, bytes);
  REQUIRE_THROWS_AS(store.Read(base_id), CorruptError);
  REQUIRE_THROWS_WITH(store.Read(next_id), HasSubstr(base_id.Hex()));
}

TEST_CASE("object headers that lie are refused", "[store]") {
  TempDir dir;
  ObjectStore store(dir / "objects", StoreOptions{});
  Tensor t = RandomF32({16, 16}, 1);
  ObjectId id = TensorId(t.view());
  store.Put(id, t.view(), std::nullopt);
  fs::path path = store.PathOf(id);
  std::string good = fomo::test::ReadFile(path);
  auto corrupt = [&](size_t at, char value) {
    std::string bytes = good;
    bytes[at] = value;
    fomo::test::WriteFile(path, bytes);
  };
  SECTION("bad magic") { corrupt(0, 'X'); }
  SECTION("future format version") { corrupt(4, 9); }
  SECTION("unknown encoding") { corrupt(6, 7); }
  SECTION("size that does not match the shape") { corrupt(12, 1); }
  SECTION("truncated") { fomo::test::WriteFile(path, good.substr(0, 30)); }
  REQUIRE_THROWS_AS(store.Read(id), CorruptError);
}

TEST_CASE("a missing object is reported by id", "[store]") {
  TempDir dir;
  ObjectStore store(dir / "objects", StoreOptions{});
  Tensor t = RandomF32({4}, 1);
  ObjectId id = TensorId(t.view());
  REQUIRE_THROWS_WITH(store.Read(id), HasSubstr("missing") && HasSubstr(id.Hex()));
}

namespace {

LowRankFactors RandomFactors(int64_t rows, int64_t cols, int64_t rank, uint32_t seed, bool magnitude) {
  LowRankFactors f;
  f.rank = rank;
  Tensor a = RandomF32({rank, cols}, seed, 0.1f), b = RandomF32({rows, rank}, seed + 1, 0.01f);
  f.a.assign(reinterpret_cast<const float*>(a.bytes.data()), reinterpret_cast<const float*>(a.bytes.data()) + rank * cols);
  f.b.assign(reinterpret_cast<const float*>(b.bytes.data()), reinterpret_cast<const float*>(b.bytes.data()) + rows * rank);
  if (magnitude) f.magnitude.assign(static_cast<size_t>(rows), 0.5f);
  return f;
}

}  // namespace

TEST_CASE("a low-rank update is stored as its factors and reads back bit for bit", "[store][lowrank]") {
  TempDir dir;
  ObjectStore store(dir / "objects", StoreOptions{});
  const int64_t rows = 384, cols = 128, rank = 4;
  Tensor base = RandomF32({rows, cols}, 7);
  const ObjectId base_id = TensorId(base.view());
  store.Put(base_id, base.view(), std::nullopt);
  for (bool dora : {false, true}) {
    INFO((dora ? "DoRA" : "LoRA"));
    LowRankFactors f = RandomFactors(rows, cols, rank, dora ? 11 : 9, dora);
    // The updated weight as the trainer makes it, by the same definition.
    Tensor updated{Dtype::kF32, {rows, cols}, ByteBuffer(base.bytes.size())};
    ApplyLowRank(reinterpret_cast<const float*>(base.bytes.data()), rows, cols, f,
                 reinterpret_cast<float*>(updated.bytes.data()));
    const ObjectId id = TensorId(updated.view());
    PutResult put = store.Put(id, updated.view(), base_id, &f);
    CHECK(put.encoding == Encoding::kLowRank);
    CHECK(put.stored_size < 1.2 * static_cast<double>(f.RawBytes()) + 200);
    CHECK(std::memcmp(store.Read(id).bytes.data(), updated.bytes.data(), updated.bytes.size()) == 0);
    CHECK(store.Stat(id).base == base_id);

    // A weight the factors do not make exactly still reads back exactly: the
    // residual carries the difference.
    Tensor off{Dtype::kF32, {rows, cols}, ByteBuffer(updated.bytes.size())};
    std::memcpy(off.bytes.data(), updated.bytes.data(), updated.bytes.size());
    reinterpret_cast<float*>(off.bytes.data())[5] += 1.0f;
    const ObjectId off_id = TensorId(off.view());
    PutResult off_put = store.Put(off_id, off.view(), base_id, &f);
    CHECK(off_put.encoding == Encoding::kLowRank);
    CHECK(std::memcmp(store.Read(off_id).bytes.data(), off.bytes.data(), off.bytes.size()) == 0);
  }
  // Factors that do not fit the weight are refused.
  LowRankFactors wrong = RandomFactors(rows, cols + 1, rank, 3, false);
  Tensor other = RandomF32({rows, cols}, 99);
  CHECK_THROWS_AS(store.Put(TensorId(other.view()), other.view(), base_id, &wrong), Error);
}
