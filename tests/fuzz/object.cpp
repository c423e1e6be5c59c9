// Stored objects (full, delta and low-rank encodings) as the store reads them. The
// input is two object files separated by the first "\n--\n": the object, stored
// under id aa..aa, and the base it may name, stored under id bb..bb (the seeds'
// delta and low-rank objects name it). Reads end at the hash check; the decoders
// run first.
#include "fuzz_target.hpp"
#include "storage/object_store.hpp"

namespace {

void Place(const fomo::ObjectStore& store, const fomo::ObjectId& id, const std::string& bytes) {
  const auto path = store.PathOf(id);
  std::filesystem::create_directories(path.parent_path());
  std::filesystem::remove(path);
  if (!bytes.empty()) std::filesystem::rename(fomo::fuzz::ScratchFile("object", bytes), path);
}

}  // namespace

FOMO_FUZZ_TARGET(object) {
  const fomo::ObjectStore store(fomo::fuzz::ScratchDir() / "objects", fomo::StoreOptions{3, 8, 1});
  const auto object = *fomo::ObjectId::FromHex(std::string(64, 'a'));
  const auto base = *fomo::ObjectId::FromHex(std::string(64, 'b'));
  const size_t split = input.find("\n--\n");
  Place(store, object, input.substr(0, split));
  Place(store, base, split == std::string::npos ? std::string() : input.substr(split + 4));
  // A header may promise any size up to what its shape holds, as a real model's
  // tensors do; the store allocates that much before decoding. Past 64 MiB the
  // fuzzer would only measure the allocator.
  if (store.Stat(object).raw_size > (64u << 20)) return;
  store.Read(object);
}
