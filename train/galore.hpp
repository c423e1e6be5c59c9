// GaLore (Zhao et al., 2024): Adam in a low-rank projection of each weight
// matrix's gradient (include only in LibTorch files). Every `gap` steps the
// projector is refreshed from the SVD of the current gradient G (m x n): for
// m >= n P = Vh[:r] (r x n) and the projected gradient is G P^T (m x r); otherwise
// P = U[:, :r] (m x r) and it is P^T G (r x n). Adam's moments live in that
// space; the update is projected back, times `scale`. Weight decay is decoupled,
// as in AdamW.
#pragma once

#include <torch/torch.h>

#include <string>
#include <vector>

namespace fomo::train {

class Galore {
 public:
  Galore(std::vector<std::pair<std::string, torch::Tensor>> matrices, int64_t rank, int64_t gap, double scale,
         double weight_decay, double beta1, double beta2, double eps);

  void ZeroGrad();
  void Step(double lr);
  int64_t steps() const { return steps_; }
  size_t size() const { return slots_.size(); }
  const torch::Tensor& Projector(size_t i) const { return slots_[i].projector; }

  // Projectors and moments by name ("galore.P.<name>", ...), for the saved state.
  std::vector<std::pair<std::string, torch::Tensor>> State() const;
  void Restore(const std::vector<std::pair<std::string, torch::Tensor>>& state, int64_t steps);

 private:
  struct Slot {
    std::string name;
    torch::Tensor param;
    int64_t rank = 0;
    bool right = true;  // m >= n: project on the right
    torch::Tensor projector, exp_avg, exp_avg_sq;
  };
  std::vector<Slot> slots_;
  int64_t gap_;
  double scale_, weight_decay_, beta1_, beta2_, eps_;
  int64_t steps_ = 0;
};

}  // namespace fomo::train
