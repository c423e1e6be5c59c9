// Pack files: small objects of a format-2 store go into packs on Flush, read back
// bit for bit whatever their dtype and encoding, are checked by their checksum, and
// Repack moves an old store's loose objects into one pack and upgrades its format.
#include <cstring>
#include <fstream>
#include <random>

#include "catch.hpp"
#include "storage/atomic_file.hpp"
#include "storage/error.hpp"
#include "storage/object_store.hpp"
#include "storage/pack.hpp"
#include "test_support.hpp"

using namespace fomo;
using fomo::test::RandomF32;
using fomo::test::TempDir;

namespace {

Tensor RandomBytes(Dtype dtype, const Shape& shape, uint32_t seed) {
  Tensor t{dtype, shape, ByteBuffer(ByteSize(dtype, shape))};
  std::mt19937 rng(seed);
  for (size_t i = 0; i < t.bytes.size(); ++i) t.bytes.data()[i] = static_cast<uint8_t>(rng());
  if (dtype == Dtype::kBool) {
    for (size_t i = 0; i < t.bytes.size(); ++i) t.bytes.data()[i] &= 1;
  }
  return t;
}

bool ReadsBack(const ObjectStore& store, const Tensor& t) {
  const Tensor got = store.Read(TensorId(t.view()));
  return got.bytes.size() == t.bytes.size() && std::memcmp(got.bytes.data(), t.bytes.data(), t.bytes.size()) == 0;
}

size_t LooseFiles(const fs::path& objects) {
  size_t n = 0;
  for (const auto& e : fs::recursive_directory_iterator(objects)) {
    const std::string name = e.path().filename().string();
    n += e.is_regular_file() && e.path().parent_path().filename() != "pack" && name != "FORMAT";
  }
  return n;
}

ObjectId Store(const ObjectStore& store, const Tensor& t, const std::optional<ObjectId>& parent = std::nullopt,
               const LowRankFactors* factors = nullptr) {
  const ObjectId id = TensorId(t.view());
  store.Put(id, t.view(), parent, factors);
  return id;
}

}  // namespace

TEST_CASE("small objects of every dtype and encoding round-trip through a pack", "[store][pack]") {
  TempDir dir;
  const fs::path objects = dir / "objects";
  ObjectStore::Initialize(objects);
  std::vector<Tensor> tensors;
  {
    ObjectStore store(objects, StoreOptions{});
    REQUIRE(store.format() == kStoreFormat);
    for (Dtype dtype : {Dtype::kF32, Dtype::kF16, Dtype::kBF16, Dtype::kF64, Dtype::kI64, Dtype::kI32, Dtype::kI16,
                        Dtype::kI8, Dtype::kU8, Dtype::kBool}) {
      Tensor base = RandomBytes(dtype, {33, 17}, 1);
      Tensor changed = RandomBytes(dtype, {33, 17}, 1);
      changed.bytes.data()[5] ^= 1;
      const ObjectId base_id = Store(store, base);
      Store(store, changed, base_id);
      CHECK(store.Stat(TensorId(changed.view())).encoding == Encoding::kDelta);
      tensors.push_back(std::move(base));
      tensors.push_back(std::move(changed));
    }
    // A low-rank update of a small weight.
    const int64_t rows = 64, cols = 32;
    Tensor weight = RandomF32({rows, cols}, 3);
    const ObjectId weight_id = Store(store, weight);
    LowRankFactors f;
    f.rank = 2;
    Tensor a = RandomF32({2, cols}, 4, 0.1f), b = RandomF32({rows, 2}, 5, 0.01f);
    f.a.assign(reinterpret_cast<const float*>(a.bytes.data()), reinterpret_cast<const float*>(a.bytes.data()) + 2 * cols);
    f.b.assign(reinterpret_cast<const float*>(b.bytes.data()), reinterpret_cast<const float*>(b.bytes.data()) + rows * 2);
    Tensor updated{Dtype::kF32, {rows, cols}, ByteBuffer(weight.bytes.size())};
    ApplyLowRank(reinterpret_cast<const float*>(weight.bytes.data()), rows, cols, f,
                 reinterpret_cast<float*>(updated.bytes.data()));
    Store(store, updated, weight_id, &f);
    CHECK(store.Stat(TensorId(updated.view())).encoding == Encoding::kLowRank);
    tensors.push_back(std::move(weight));
    tensors.push_back(std::move(updated));
    // A large tensor stays a file of its own, ending in its checksum.
    tensors.push_back(RandomF32({256, 256}, 8));
    Store(store, tensors.back());

    // Before Flush the small ones wait in memory, and read from there.
    CHECK(store.PendingCount() == tensors.size() - 1);
    CHECK(store.PackPaths().empty());
    for (const auto& t : tensors) CHECK(ReadsBack(store, t));
    store.Flush();
    CHECK(store.PendingCount() == 0);
    CHECK(store.PackPaths().size() == 1);
  }
  // A fresh process reads every one from the pack.
  ObjectStore store(objects, StoreOptions{});
  for (const auto& t : tensors) CHECK(ReadsBack(store, t));
  CHECK(store.Stat(TensorId(tensors.front().view())).packed);
  CHECK_FALSE(store.Stat(TensorId(tensors.back().view())).packed);
  CHECK(LooseFiles(objects) == 1);
  CHECK(store.List().size() == tensors.size());
  const QuickCheck quick = store.CheckStoredBytes();
  CHECK(quick.errors.empty());
  CHECK(quick.packs == 1);
  CHECK(quick.loose == 1);
  CHECK(quick.unchecked_old_loose == 0);
  CHECK(quick.bytes_hashed > 256 * 256 * 3);
}

TEST_CASE("a flipped byte in a pack is found by its checksum and named", "[store][pack][corrupt]") {
  TempDir dir;
  const fs::path objects = dir / "objects";
  ObjectStore::Initialize(objects);
  std::vector<Tensor> tensors;
  {
    ObjectStore store(objects, StoreOptions{});
    for (uint32_t seed = 0; seed < 8; ++seed) {
      tensors.push_back(RandomF32({16, 16}, seed));
      Store(store, tensors.back());
    }
    store.Flush();
  }
  ObjectStore store(objects, StoreOptions{});
  const fs::path pack_path = store.PackPaths().at(0);
  auto pack = PackFile::Open(pack_path);
  // The middle byte of the fourth record: one object's plane.
  const PackRecord record = pack->RecordAt(3);
  const ObjectId victim = pack->IdAt(3);
  const uint64_t offset = static_cast<uint64_t>(record.data - pack->RecordAt(0).data) + 8 + record.size / 2;
  pack.reset();
  std::string bytes = ReadFileToString(pack_path);
  bytes[offset] ^= 0x10;
  fs::permissions(pack_path, fs::perms::owner_write, fs::perm_options::add);
  std::ofstream(pack_path, std::ios::binary | std::ios::trunc) << bytes;

  ObjectStore reopened(objects, StoreOptions{});
  const QuickCheck quick = reopened.CheckStoredBytes();
  REQUIRE(quick.errors.size() == 1);
  CHECK_THAT(quick.errors[0], Catch::Contains(pack_path.filename().string()) && Catch::Contains(victim.Hex()) &&
                                  Catch::Contains("checksum"));
  CHECK_THROWS_WITH(reopened.Read(victim), Catch::Contains(victim.Hex()) && Catch::Contains("corrupt"));
  size_t intact = 0;
  for (const auto& t : tensors) {
    if (TensorId(t.view()) != victim) intact += ReadsBack(reopened, t);
  }
  CHECK(intact == tensors.size() - 1);

  // A truncated pack is refused as a whole, with its name, and its objects are missing.
  bytes.resize(bytes.size() - 7);
  std::ofstream(pack_path, std::ios::binary | std::ios::trunc) << bytes;
  ObjectStore truncated(objects, StoreOptions{});
  CHECK_FALSE(truncated.Contains(victim));
  const QuickCheck check = truncated.CheckStoredBytes();
  REQUIRE(check.errors.size() == 1);
  CHECK_THAT(check.errors[0], Catch::Contains(pack_path.filename().string()) && Catch::Contains("corrupt"));
}

TEST_CASE("repack moves an old store's small objects into one pack and upgrades it", "[store][pack][gc]") {
  TempDir dir;
  const fs::path objects = dir / "objects";
  fs::create_directories(objects);
  std::vector<Tensor> small, dropped;
  Tensor large = RandomF32({256, 256}, 99);
  {
    ObjectStore old(objects, StoreOptions{});  // no FORMAT: the layout before packs
    REQUIRE(old.format() == 1);
    for (uint32_t seed = 0; seed < 6; ++seed) {
      small.push_back(RandomF32({8, 8}, seed));
      Store(old, small.back());
      dropped.push_back(RandomF32({8, 8}, 100 + seed));
      Store(old, dropped.back());
    }
    Store(old, large);
    CHECK(old.PendingCount() == 0);  // a format-1 store writes every object as a file
    CHECK(LooseFiles(objects) == 13);
    CHECK_FALSE(fs::exists(objects / "FORMAT"));
  }
  ObjectStore store(objects, StoreOptions{});
  std::set<ObjectId> keep;
  for (const auto& t : small) keep.insert(TensorId(t.view()));
  keep.insert(TensorId(large.view()));
  // Unkept loose objects are gc's to remove; repack leaves them and packs the kept.
  const RepackReport report = store.Repack(keep);
  CHECK(report.loose_packed == small.size());
  CHECK(report.objects_packed == small.size());
  CHECK(store.format() == kStoreFormat);
  CHECK(ReadFileToString(objects / "FORMAT") == std::to_string(kStoreFormat) + "\n");
  CHECK(LooseFiles(objects) == 1 + dropped.size());  // the large one and the unkept
  for (const auto& t : small) CHECK(store.Stat(TensorId(t.view())).packed);
  CHECK(ReadsBack(store, large));
  for (const auto& t : dropped) store.Remove(TensorId(t.view()));

  // A second repack keeping fewer drops them from the pack.
  std::set<ObjectId> fewer(keep);
  fewer.erase(TensorId(small.front().view()));
  const RepackReport again = store.Repack(fewer);
  CHECK(again.packs_before == 1);
  CHECK(again.objects_dropped == 1);
  CHECK(store.PackPaths().size() == 1);
  ObjectStore reopened(objects, StoreOptions{});
  CHECK_FALSE(reopened.Contains(TensorId(small.front().view())));
  for (size_t i = 1; i < small.size(); ++i) CHECK(ReadsBack(reopened, small[i]));
  CHECK(reopened.CheckStoredBytes().errors.empty());
}

TEST_CASE("packs merge past the limit and a reader that mapped the old ones still finds every object",
          "[store][pack]") {
  TempDir dir;
  const fs::path objects = dir / "objects";
  ObjectStore::Initialize(objects);
  ObjectStore writer(objects, StoreOptions{});
  ObjectStore reader(objects, StoreOptions{});
  std::vector<Tensor> tensors;
  for (size_t flush = 0; flush <= kMaxPacks; ++flush) {
    tensors.push_back(RandomF32({4, 4}, static_cast<uint32_t>(flush)));
    Store(writer, tensors.back());
    writer.Flush();
    if (flush == 2) CHECK(ReadsBack(reader, tensors.front()));  // the reader maps the packs so far
  }
  CHECK(writer.PackPaths().size() == 1);  // the 33rd flush merged them all
  for (const auto& t : tensors) CHECK(ReadsBack(reader, t));
}

TEST_CASE("a store of a newer format is refused in one line", "[store][pack]") {
  TempDir dir;
  const fs::path objects = dir / "objects";
  fs::create_directories(objects);
  const std::string newer = std::to_string(kStoreFormat + 1);
  std::ofstream(objects / "FORMAT") << newer << "\n";
  CHECK_THROWS_WITH(ObjectStore(objects, StoreOptions{}),
                    Catch::Contains("format " + newer) && Catch::Contains("use a newer fomo"));
  std::ofstream(objects / "FORMAT") << "two\n";
  CHECK_THROWS_AS(ObjectStore(objects, StoreOptions{}), CorruptError);
}

namespace {

// The next version of a weight in which a tenth of the elements moved in their
// low mantissa bits: its delta is mostly zero bytes, which format 3 codes sparse.
Tensor SparselyUpdated(const Tensor& t, uint32_t seed) {
  Tensor next{t.dtype, t.shape, ByteBuffer(t.bytes.size())};
  std::memcpy(next.bytes.data(), t.bytes.data(), t.bytes.size());
  std::mt19937 rng(seed);
  auto* words = reinterpret_cast<uint32_t*>(next.bytes.data());
  for (size_t i = 0; i < t.bytes.size() / 4; ++i) {
    if (rng() % 10 == 0) words[i] ^= (rng() & 0xfff) | 1;
  }
  return next;
}

}  // namespace

TEST_CASE("a format-2 store writes no sparse planes until gc upgrades it", "[store][pack][gc][sparse]") {
  TempDir dir;
  const fs::path old_objects = dir / "old", new_objects = dir / "new";
  ObjectStore::Initialize(old_objects);
  ObjectStore::Initialize(new_objects);
  WriteFileAtomic(old_objects / "FORMAT", "2\n", 2);
  const Tensor base = RandomF32({512, 1024}, 3);  // past the codec's probe threshold
  const Tensor next = SparselyUpdated(base, 4), third = SparselyUpdated(next, 5);

  ObjectStore old_store(old_objects, StoreOptions{}), new_store(new_objects, StoreOptions{});
  REQUIRE(old_store.format() == 2);
  REQUIRE(new_store.format() == kStoreFormat);
  REQUIRE(kStoreFormat >= kSparsePlanesFormat);
  const ObjectId base_id = Store(old_store, base), next_id = TensorId(next.view());
  Store(new_store, base);
  const PutResult old_delta = old_store.Put(next_id, next.view(), base_id);
  const PutResult new_delta = new_store.Put(next_id, next.view(), base_id);
  REQUIRE(old_delta.encoding == Encoding::kDelta);
  REQUIRE(new_delta.encoding == Encoding::kDelta);
  INFO("format 2: " << old_delta.stored_size << " bytes, format 3: " << new_delta.stored_size);
  CHECK(new_delta.stored_size < old_delta.stored_size * 9 / 10);
  CHECK(ReadsBack(old_store, next));
  CHECK(ReadsBack(new_store, next));

  old_store.Repack({base_id, next_id});
  CHECK(old_store.format() == kStoreFormat);
  CHECK(ReadFileToString(old_objects / "FORMAT") == std::to_string(kStoreFormat) + "\n");
  // Upgraded, it codes the next delta as a new store does; what it held still reads.
  const ObjectId third_id = TensorId(third.view());
  const PutResult upgraded = old_store.Put(third_id, third.view(), next_id);
  CHECK(upgraded.stored_size == new_store.Put(third_id, third.view(), next_id).stored_size);
  CHECK(ReadsBack(old_store, next));
  CHECK(ReadsBack(old_store, third));
  CHECK(ReadsBack(ObjectStore(old_objects, StoreOptions{}), third));
}
