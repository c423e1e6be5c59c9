#include "merge/merge_versions.hpp"

#include <malloc.h>

#include <cstring>
#include <map>

#include <fmt/format.h>

#include "core/float_bits.hpp"
#include "storage/error.hpp"
#include "storage/sha256.hpp"

namespace fomo::merge {

namespace {

bool Mergeable(Dtype dtype) { return dtype == Dtype::kF32 || dtype == Dtype::kF16 || dtype == Dtype::kBF16; }

const ManifestEntry& Require(const Manifest& manifest, const ManifestEntry& like, const char* what) {
  const ManifestEntry* e = manifest.Find(like.name);
  if (!e) throw Error(fmt::format("the {} version lacks tensor '{}'", what, like.name));
  const bool same_kind = e->dtype == like.dtype || (Mergeable(e->dtype) && Mergeable(like.dtype));
  if (!same_kind || e->shape != like.shape) {
    throw Error(fmt::format("tensor '{}' is {} {} in one version and {} {} in another: only versions of one "
                            "architecture merge",
                            like.name, DtypeName(like.dtype), ShapeString(like.shape), DtypeName(e->dtype),
                            ShapeString(e->shape)));
  }
  return *e;
}

// One stored tensor as floats (F16 and BF16 widen exactly).
std::vector<float> ReadFloats(const ObjectStore& store, const ManifestEntry& e) {
  const size_t n = static_cast<size_t>(NumElements(e.shape));
  std::vector<float> values(n);
  if (e.dtype == Dtype::kF32) {
    store.ReadAs(e.id, e.dtype, e.shape, reinterpret_cast<uint8_t*>(values.data()));
    return values;
  }
  std::vector<uint16_t> half(n);
  store.ReadAs(e.id, e.dtype, e.shape, reinterpret_cast<uint8_t*>(half.data()));
  for (size_t i = 0; i < n; ++i) {
    values[i] = static_cast<float>(e.dtype == Dtype::kF16 ? core::HalfToDouble(half[i]) : core::BFloat16ToDouble(half[i]));
  }
  return values;
}

// The merged tensor in the inputs' dtype when they share one, else in F32: a
// mix of precisions keeps the widest.
Tensor ToStoredTensor(const std::vector<float>& values, Dtype dtype, const Shape& shape) {
  Tensor out{dtype, shape, ByteBuffer(ByteSize(dtype, shape))};
  if (dtype == Dtype::kF32) {
    std::memcpy(out.bytes.data(), values.data(), out.bytes.size());
    return out;
  }
  uint16_t* bits = reinterpret_cast<uint16_t*>(out.bytes.data());
  for (size_t i = 0; i < values.size(); ++i) {
    bits[i] = dtype == Dtype::kF16 ? core::FloatToHalf(values[i]) : core::FloatToBFloat16(values[i]);
  }
  return out;
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
      std::vector<const ManifestEntry*> entries;
      for (const Manifest* model : models) entries.push_back(&Require(*model, entry, "merged"));
      if (!Mergeable(entry.dtype)) {
        // Integer and boolean tensors (buffers, not weights) pass through when
        // every version agrees on them.
        for (const ManifestEntry* e : entries) {
          if (e->id != entry.id) {
            throw Error(fmt::format("tensor '{}' is {} and differs between the versions: only floating-point "
                                    "tensors merge",
                                    entry.name, DtypeName(entry.dtype)));
          }
        }
        merged.entries.push_back(entry);
        done += entry.raw_bytes();
        continue;
      }
      Dtype out_dtype = entry.dtype;
      for (const ManifestEntry* e : entries) {
        if (e->dtype != out_dtype) out_dtype = Dtype::kF32;
      }
      const size_t n = static_cast<size_t>(NumElements(entry.shape));
      // A tensor several inputs share (a version named twice, a tensor no update
      // touched) is read once: memory grows with the distinct tensors, not the list.
      std::map<ObjectId, std::vector<float>> inputs;
      std::vector<const float*> pointers;
      for (const ManifestEntry* e : entries) {
        auto it = inputs.find(e->id);
        if (it == inputs.end()) it = inputs.emplace(e->id, ReadFloats(store, *e)).first;
        pointers.push_back(it->second.data());
      }
      std::vector<float> base_values;
      if (base && NeedsBase(method)) base_values = ReadFloats(store, Require(*base, entry, "base"));
      std::vector<float> result(n);
      MergeTensor(method, params_for(entry.name), pointers, base_values.empty() ? nullptr : base_values.data(), n,
                  result.data(), NameSeed(entry.name));
      inputs.clear();
      base_values.clear();
      const Tensor out = ToStoredTensor(result, out_dtype, entry.shape);
      result = {};
      const TensorView view = out.view();
      const ObjectId id = TensorId(view);
      PutResult put = store.Put(id, view, entry.id);
      if (put.written) merged.written.push_back(id);
      merged.entries.push_back(ManifestEntry{entry.name, id, out_dtype, entry.shape, put.encoding, put.stored_size});
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
