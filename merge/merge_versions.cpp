#include "merge/merge_versions.hpp"

#include <malloc.h>

#include <fmt/format.h>

#include "storage/error.hpp"
#include "storage/sha256.hpp"

namespace fomo::merge {

namespace {

// FNV-1a of the name: DARE's mask differs per tensor and never depends on order.
uint64_t NameSeed(const std::string& name) {
  uint64_t h = 1469598103934665603ULL;
  for (unsigned char c : name) h = (h ^ c) * 1099511628211ULL;
  return h;
}

const ManifestEntry& Require(const Manifest& manifest, const ManifestEntry& like, const char* what) {
  const ManifestEntry* e = manifest.Find(like.name);
  if (!e) throw Error(fmt::format("the {} version lacks tensor '{}'", what, like.name));
  if (e->dtype != like.dtype || e->shape != like.shape) {
    throw Error(fmt::format("tensor '{}' is {} {} in one version and {} {} in another: only versions of one "
                            "architecture merge",
                            like.name, DtypeName(like.dtype), ShapeString(like.shape), DtypeName(e->dtype),
                            ShapeString(e->shape)));
  }
  return *e;
}

}  // namespace

MergedTensors MergeVersions(const ObjectStore& store, const std::vector<const Manifest*>& models, const Manifest* base,
                            MergeMethod method, const ParamsFor& params_for,
                            const std::function<void(uint64_t, uint64_t)>& progress) {
  if (models.empty()) throw UsageError("nothing to merge");
  const Manifest& first = *models.front();
  uint64_t total = 0, done = 0;
  for (const auto& e : first.tensors) total += e.raw_bytes();
  MergedTensors merged;
  try {
    for (const auto& entry : first.tensors) {
      if (entry.dtype != Dtype::kF32) {
        throw Error(fmt::format("tensor '{}' is {}: merging supports F32 tensors", entry.name, DtypeName(entry.dtype)));
      }
      const size_t n = static_cast<size_t>(entry.raw_bytes() / 4);
      std::vector<std::vector<float>> inputs(models.size(), std::vector<float>(n));
      std::vector<const float*> pointers;
      for (size_t i = 0; i < models.size(); ++i) {
        const ManifestEntry& e = Require(*models[i], entry, "merged");
        store.ReadInto(e.id, reinterpret_cast<uint8_t*>(inputs[i].data()), entry.raw_bytes());
        pointers.push_back(inputs[i].data());
      }
      std::vector<float> base_values;
      if (base && NeedsBase(method)) {
        const ManifestEntry& e = Require(*base, entry, "base");
        base_values.resize(n);
        store.ReadInto(e.id, reinterpret_cast<uint8_t*>(base_values.data()), entry.raw_bytes());
      }
      Tensor out{entry.dtype, entry.shape, ByteBuffer(entry.raw_bytes())};
      MergeTensor(method, params_for(entry.name), pointers, base_values.empty() ? nullptr : base_values.data(), n,
                  reinterpret_cast<float*>(out.bytes.data()), NameSeed(entry.name));
      inputs.clear();
      const TensorView view = out.view();
      const ObjectId id = TensorId(view);
      PutResult put = store.Put(id, view, entry.id);
      if (put.written) merged.written.push_back(id);
      merged.entries.push_back(ManifestEntry{entry.name, id, entry.dtype, entry.shape, put.encoding, put.stored_size});
      done += entry.raw_bytes();
      if (progress) progress(done, total);
      // The codec's worker threads free their buffers into per-thread malloc
      // arenas, which glibc keeps; hand them back so peak memory stays at about
      // one tensor per input rather than growing with the model.
      malloc_trim(0);
    }
  } catch (...) {
    for (const auto& id : merged.written) {
      try {
        store.Remove(id);
      } catch (const Error&) {
      }
    }
    throw;
  }
  return merged;
}

}  // namespace fomo::merge
