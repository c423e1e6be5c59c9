// Merging stored versions tensor by tensor: each input's tensor is read from the
// object store, merged (merge_methods.hpp) and the result written to the store
// before the next tensor is read, so peak memory is about one tensor per input
// plus one output tensor, whatever the model size. No LibTorch here.
#pragma once

#include <functional>
#include <string>
#include <vector>

#include "merge/merge_methods.hpp"
#include "storage/manifest.hpp"
#include "storage/object_store.hpp"

namespace fomo::merge {

struct MergedTensors {
  std::vector<ManifestEntry> entries;    // in the first model's tensor order
  std::vector<ObjectId> written;         // objects this merge added to the store
};

// models: the input versions' manifests (same tensor names and shapes). F32, F16
// and BF16 tensors merge in any mix, in float with double accumulation; the result
// keeps the inputs' dtype when they share one, else F32. Other dtypes pass
// through when every version holds the same tensor.
// base: theta_0 for the task-vector methods. Results are stored as deltas against
// the first model where that is smaller. Throws fomo::Error naming the first
// tensor that does not match, and removes what it wrote.
// params_for gives each tensor's parameters by name (a recipe's overrides).
using ParamsFor = std::function<const MergeParams&(const std::string& tensor_name)>;
MergedTensors MergeVersions(const ObjectStore& store, const std::vector<const Manifest*>& models,
                            const Manifest* base, MergeMethod method, const ParamsFor& params_for,
                            const std::function<void(uint64_t done, uint64_t total)>& progress = {});

}  // namespace fomo::merge
