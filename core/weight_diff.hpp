// The weight side of `fomo diff`: per tensor group (embeddings, each residual block,
// heads of each tower) the relative L2 change, the share of elements whose bits
// changed, and the bytes the newer version stores for the group.
#pragma once

#include <string>
#include <vector>

#include "storage/manifest.hpp"

namespace fomo::core {

struct GroupDiff {
  std::string group;
  double rel_l2 = 0;         // ||b - a|| / ||a||
  double changed_share = 0;  // elements whose bit pattern differs / all elements
  uint64_t elements = 0;
  uint64_t stored_bytes = 0;  // b's objects in this group that a does not share
};

// "visual.block.3", "text.embed", "logit_scale", ...
std::string TensorGroup(const std::string& canonical_name);

std::vector<GroupDiff> DiffWeights(const ObjectStore& store, const Manifest& a, const Manifest& b,
                                   size_t threads);

}  // namespace fomo::core
