// The regularisers of online continual learning (include only in LibTorch
// files), continual-pretraining.md section 3:
//   EWC  loss += lambda/2 sum F (theta - theta*)^2, theta* the weights the update
//        starts from, F the Fisher the parent version carries; at the update's
//        end F = gamma F + mean over batches of squared gradients on the task.
//   SI   loss += c sum Omega (theta - theta_start)^2; every step omega += lr g^2;
//        at the end Omega += omega / ((theta_end - theta_start)^2 + xi).
// What carries over ("ewc.fisher.<name>", "si.omega.<name>") is stored with the
// version in the object store, so the next update, in a new process, continues.
#pragma once

#include <torch/torch.h>

#include <string>
#include <vector>

#include "storage/tensor.hpp"
#include "train/method.hpp"

namespace fomo::train {

class Regularizer {
 public:
  // params: the trainable tensors by canonical name; carried: the parent
  // version's method state (missing entries count as zero).
  Regularizer(const MethodOptions& options, std::vector<std::pair<std::string, torch::Tensor>> params,
              const std::vector<NamedTensor>& carried);

  bool active() const { return method_ == Method::kEwc || method_ == Method::kSi; }
  bool needs_fisher() const { return method_ == Method::kEwc; }
  // The penalty for the current weights; an undefined tensor when it is zero by
  // construction (no carried state).
  torch::Tensor Penalty() const;
  // After each training backward pass, before the optimizer step (SI).
  void AfterBackward(double lr);
  // After each backward pass of the Fisher pass (EWC).
  void AddFisherBatch();
  // The state the new version carries forward.
  std::vector<std::pair<std::string, Tensor>> Finish();

  // SI's running omega, for a resumable training state ("si.running.<name>").
  std::vector<std::pair<std::string, torch::Tensor>> RunningState() const;
  void RestoreRunning(const std::vector<std::pair<std::string, torch::Tensor>>& state);

 private:
  Method method_;
  double lambda_, gamma_, c_, xi_;
  std::vector<std::pair<std::string, torch::Tensor>> params_;
  std::vector<torch::Tensor> start_;       // theta* / theta_start
  std::vector<torch::Tensor> importance_;  // F or Omega, carried
  bool carried_any_ = false;
  std::vector<torch::Tensor> running_;     // SI's omega, or the Fisher pass's sum
  int64_t fisher_batches_ = 0;
};

}  // namespace fomo::train
