// LoRA, DoRA, VeRA and IA3 as reparametrisations of CLIP's linear maps (include
// only in LibTorch files). Before each forward pass Apply() points every adapted
// weight of the model at its adapted form, built from the frozen W0 and the
// adapter parameters:
//   LoRA  W0 + s B A                      A kaiming-uniform, B zero
//   DoRA  m * V / ||V||_row (detached),   V = W0 + s B A, m = ||W0||_row at first
//   VeRA  W0 + s diag(b) B diag(d) A      A, B frozen, seeded, shared per shape;
//                                         b zero, d 0.1
//   IA3   rows of k and v (and their biases) times l_k, l_v; columns of
//         mlp.c_proj times l_ff (the MLP's inner activations); l = 1 at first
// so an update starts exactly at W0. Merge() writes the merged weights into the
// model's own parameters, computing LoRA, DoRA and VeRA with storage's
// ApplyLowRank so the store can keep them as factors with an all-zero residual.
#pragma once

#include <torch/torch.h>

#include <functional>
#include <map>
#include <string>
#include <vector>

#include "core/clip_model.hpp"
#include "storage/low_rank.hpp"
#include "train/method.hpp"

namespace fomo::train {

class Adapters {
 public:
  Adapters(core::ClipModel& model, const MethodOptions& options, uint64_t seed);
  Adapters(const Adapters&) = delete;
  Adapters& operator=(const Adapters&) = delete;

  bool empty() const { return weights_.empty(); }
  // The trainable adapter tensors, named "adapter.<weight>.<target>.<A|B|m|b|d|l>".
  const std::vector<std::pair<std::string, torch::Tensor>>& parameters() const { return parameters_; }
  // Points the model's adapted weights at their adapted form (with autograd).
  void Apply();
  // Writes the merged weights into the model's parameters and points the model
  // back at them; returns the low-rank factors of each LoRA, DoRA or VeRA weight.
  std::map<std::string, LowRankFactors> Merge();

 private:
  struct Part {
    std::string target;
    int64_t row_begin = 0, row_end = 0;
    torch::Tensor a, b;           // LoRA and DoRA: trainable; VeRA: frozen, shared
    torch::Tensor magnitude;      // DoRA
    torch::Tensor vera_b, vera_d;  // VeRA's trainable vectors
    torch::Tensor scale;          // IA3
  };
  struct Weight {
    std::string name;
    torch::Tensor* member = nullptr;  // the model's field its forward pass reads
    torch::Tensor original;           // the registered, frozen W0
    torch::Tensor* bias_member = nullptr;  // IA3 on in_proj: the bias scales too
    torch::Tensor bias_original;
    std::vector<Part> parts;
  };

  torch::Tensor Adapted(const Part& part, const torch::Tensor& rows) const;
  static torch::Tensor Stitched(const torch::Tensor& whole, const std::vector<Part>& parts,
                                const std::function<torch::Tensor(const Part&, const torch::Tensor&)>& adapt);
  torch::Tensor AdaptedWeight(const Weight& w) const;
  torch::Tensor AdaptedBias(const Weight& w) const;
  LowRankFactors Factors(const Weight& w) const;

  MethodOptions options_;
  std::vector<Weight> weights_;
  std::vector<std::pair<std::string, torch::Tensor>> parameters_;
};

}  // namespace fomo::train
