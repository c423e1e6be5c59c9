// Merge recipes in the manner of mergekit: a YAML file naming the versions with
// their weights, the method, the base, the method's parameters, and overrides for
// groups of tensors chosen by name pattern (the vision tower weighted differently
// from the text tower, attention from MLP). No LibTorch here.
//
//   method: ties
//   base: v1.0.0
//   models:
//     - model: v1.1.0
//       weight: 0.7
//     - model: v1.2.0
//       weight: 0.3
//   parameters: {lambda: 1.0, density: 0.2}
//   overrides:
//     - pattern: "visual.*"          # shell-style glob on tensor names
//       weights: [0.5, 0.5]
//       parameters: {lambda: 0.5}
//
// mergekit's own YAML is read too (merge_method, base_model listed among the
// models, models[].parameters.weight/density, top-level parameters, dtype); what
// fomo cannot do (slices, tokenizer merging, gradients) is refused by name.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "merge/merge_methods.hpp"

namespace fomo::merge {

// More versions than this in one merge is a mistake (or an attack: a recipe naming
// one version 20,000 times), refused before anything is loaded.
inline constexpr size_t kMaxMergeModels = 64;

struct MergeRecipe {
  MergeMethod method = MergeMethod::kLinear;
  std::vector<std::string> models;  // revisions
  std::optional<std::string> base;
  MergeParams params;  // weights from the models' entries

  struct Override {
    std::string pattern;
    MergeParams params;  // the recipe's, with this group's changes
  };
  std::vector<Override> overrides;

  // Throws fomo::Error naming the file, line and problem (unknown keys included).
  static MergeRecipe Parse(const std::string& text, const std::string& origin);
  // The parameters of one tensor: the first override whose pattern matches.
  const MergeParams& ParamsFor(const std::string& tensor_name) const;
};

}  // namespace fomo::merge
