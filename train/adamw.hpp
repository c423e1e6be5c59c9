// AdamW with parameter groups (include only in LibTorch files). fomo keeps its own
// rather than torch::optim::AdamW: the state must be saved and restored exactly for
// resumable runs, the update runs as multi-tensor (_foreach) ops on the CPU, and
// LibTorch 2.x on CUDA gets the fused kernel (the stock optimizer updates tensor by
// tensor and costs 12-17 % of a ViT-B/32 step on an H100).
#pragma once

#include <torch/torch.h>

#include <string>
#include <vector>

namespace fomo::train {

struct ParamGroup {
  std::vector<std::string> names;
  std::vector<torch::Tensor> params;
  double weight_decay = 0;
};

// OpenCLIP's split, widened as fomo's issue asks: no decay on biases, norm weights,
// embeddings (class, positional, token) and logit_scale; decay on the matrices.
std::vector<ParamGroup> DecayGroups(const std::vector<std::pair<std::string, torch::Tensor>>& trainable,
                                    double weight_decay);

class AdamW {
 public:
  AdamW(std::vector<ParamGroup> groups, double beta1, double beta2, double eps);

  void ZeroGrad();
  // One update at learning rate lr (decoupled decay: p *= 1 - lr wd).
  void Step(double lr);

  int64_t steps() const { return steps_; }
  // Moments by parameter name, for saving and restoring the state.
  std::vector<std::pair<std::string, torch::Tensor>> State() const;
  void Restore(const std::vector<std::pair<std::string, torch::Tensor>>& state, int64_t steps);
  const std::vector<ParamGroup>& groups() const { return groups_; }

 private:
  struct Moments {
    std::vector<torch::Tensor> exp_avg;
    std::vector<torch::Tensor> exp_avg_sq;
    std::vector<torch::Tensor> step;  // per-parameter step counters, as the fused kernel wants
  };
  void StepGroup(ParamGroup& group, Moments& moments, double lr);

  std::vector<ParamGroup> groups_;
  std::vector<Moments> moments_;
  double beta1_, beta2_, eps_;
  int64_t steps_ = 0;
};

}  // namespace fomo::train
