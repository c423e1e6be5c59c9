// Weight-space merge operators (continual-pretraining.md section 4) on one tensor
// at a time, as float arrays: fomo merge streams a merge tensor by tensor, so no
// method needs a whole model in memory. Pure math: no LibTorch, no I/O.
//
// Arithmetic is done in double and rounded to float once, so merging a model with
// itself (or any method whose task vectors are all zero) returns it bit for bit.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

namespace fomo::merge {

enum class MergeMethod {
  kLinear,          // sum w_i theta_i, weights normalised to sum to one
  kTaskArithmetic,  // theta_0 + lambda sum w_i tau_i, tau_i = theta_i - theta_0
  kTies,            // trim to the top density of |tau_i|, elect signs, disjoint mean, times lambda
  kDare,            // drop tau entries with rate p, rescale by 1/(1-p), then sum (or TIES election)
  kSlerp,           // spherical interpolation of two models at t (lerp when nearly parallel)
  kModelStock,      // t = N cos / (1 + (N-1) cos); theta = t mean(theta_i) + (1-t) theta_0
  kMagmax,          // per element the tau_i of largest magnitude, times lambda
};

// "linear", "task-arithmetic", "ties", "dare", "slerp", "model-stock", "magmax";
// throws fomo::UsageError for anything else.
MergeMethod ParseMergeMethod(const std::string& name);
std::string MergeMethodName(MergeMethod method);
std::vector<std::string> MergeMethodNames();
// Methods that work on task vectors need a base (theta_0).
bool NeedsBase(MergeMethod method);

struct MergeParams {
  std::vector<double> weights;  // per model; empty: equal
  double lambda = 1.0;          // task-arithmetic, ties, dare, magmax
  double density = 0.2;         // ties: share of |tau| kept per tensor
  double drop = 0.1;            // dare: drop rate p
  bool dare_ties = false;       // dare: elect signs and take the disjoint mean (DARE-TIES)
  uint64_t seed = 0;            // dare: the drop mask
  double t = 0.5;               // slerp: 0 gives the first model, 1 the second
};

// Merges one tensor of n elements. models: one pointer per input version; base:
// theta_0 (nullptr for linear and slerp); tensor_seed: distinguishes tensors in
// DARE's mask (the same seed and tensor always drop the same entries). Throws
// fomo::UsageError when the inputs do not fit the method (slerp needs exactly two
// models, weights must match the model count, rates in range).
void MergeTensor(MergeMethod method, const MergeParams& params, const std::vector<const float*>& models,
                 const float* base, size_t n, float* out, uint64_t tensor_seed = 0);

}  // namespace fomo::merge
