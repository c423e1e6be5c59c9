// Pack files (storage/pack.hpp) as a store opens and reads them: the input is one
// pack, placed in a format-2 store. Opening checks the trailer and index; then
// every indexed object is read (its record's header, decoders and hash) and the
// stored-bytes check runs over the pack.
#include <fstream>

#include "fuzz_target.hpp"
#include "storage/error.hpp"
#include "storage/object_store.hpp"
#include "storage/pack.hpp"

FOMO_FUZZ_TARGET(pack) {
  const auto objects = fomo::fuzz::ScratchDir() / "pack-store";
  std::filesystem::remove_all(objects);
  fomo::ObjectStore::Initialize(objects);
  std::filesystem::create_directories(objects / "pack");
  const auto path = objects / "pack" / "pack-0.fpk";
  std::ofstream(path, std::ios::binary) << input;
  const fomo::ObjectStore store(objects, fomo::StoreOptions{3, 8, 1});
  store.CheckStoredBytes();
  const auto pack = fomo::PackFile::Open(path);
  for (size_t i = 0; i < pack->count() && i < 64; ++i) {
    try {
      // As in the object target: past 64 MiB the fuzzer would only measure the allocator.
      if (store.Stat(pack->IdAt(i)).raw_size <= (64u << 20)) store.Read(pack->IdAt(i));
    } catch (const fomo::Error&) {
      // One bad record is the expected answer; the others are still read.
    }
  }
}
