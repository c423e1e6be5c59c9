#include "train/adamw.hpp"

#include <torch/version.h>

#include <cmath>

#include <fmt/format.h>

#include "storage/error.hpp"

#if TORCH_VERSION_MAJOR > 2 || (TORCH_VERSION_MAJOR == 2 && TORCH_VERSION_MINOR >= 1)
#define FOMO_HAS_FUSED_ADAMW 1
#else
#define FOMO_HAS_FUSED_ADAMW 0
#endif

namespace fomo::train {

namespace {

bool DecayExempt(const std::string& name, const torch::Tensor& p) {
  return p.dim() < 2 || name.find("bias") != std::string::npos || name.find("ln_") != std::string::npos ||
         name.find("embedding") != std::string::npos || name == "logit_scale";
}

}  // namespace

std::vector<ParamGroup> DecayGroups(const std::vector<std::pair<std::string, torch::Tensor>>& trainable,
                                    double weight_decay) {
  ParamGroup decay{{}, {}, weight_decay};
  ParamGroup exempt{{}, {}, 0.0};
  for (const auto& [name, p] : trainable) {
    ParamGroup& group = DecayExempt(name, p) ? exempt : decay;
    group.names.push_back(name);
    group.params.push_back(p);
  }
  std::vector<ParamGroup> groups;
  if (!decay.params.empty()) groups.push_back(std::move(decay));
  if (!exempt.params.empty()) groups.push_back(std::move(exempt));
  return groups;
}

AdamW::AdamW(std::vector<ParamGroup> groups, double beta1, double beta2, double eps)
    : groups_(std::move(groups)), beta1_(beta1), beta2_(beta2), eps_(eps) {
  torch::NoGradGuard no_grad;
  for (const auto& group : groups_) {
    Moments m;
    for (const auto& p : group.params) {
      m.exp_avg.push_back(torch::zeros_like(p, torch::MemoryFormat::Contiguous));
      m.exp_avg_sq.push_back(torch::zeros_like(p, torch::MemoryFormat::Contiguous));
      m.step.push_back(torch::zeros({}, p.options().dtype(torch::kFloat32)));
    }
    moments_.push_back(std::move(m));
  }
}

void AdamW::ZeroGrad() {
  for (auto& group : groups_) {
    for (auto& p : group.params) {
      if (p.grad().defined()) p.mutable_grad().zero_();
    }
  }
}

void AdamW::Step(double lr) {
  torch::NoGradGuard no_grad;
  ++steps_;
  for (size_t g = 0; g < groups_.size(); ++g) StepGroup(groups_[g], moments_[g], lr);
}

void AdamW::StepGroup(ParamGroup& group, Moments& m, double lr) {
  std::vector<torch::Tensor> params, grads, exp_avg, exp_avg_sq, steps;
  for (size_t i = 0; i < group.params.size(); ++i) {
    if (!group.params[i].grad().defined()) continue;
    params.push_back(group.params[i]);
    grads.push_back(group.params[i].grad());
    exp_avg.push_back(m.exp_avg[i]);
    exp_avg_sq.push_back(m.exp_avg_sq[i]);
    steps.push_back(m.step[i]);
  }
  if (params.empty()) return;
#if FOMO_HAS_FUSED_ADAMW
  if (params.front().is_cuda()) {
    at::_foreach_add_(steps, 1);
    at::_fused_adamw_(params, grads, exp_avg, exp_avg_sq, {}, steps, lr, beta1_, beta2_, group.weight_decay, eps_,
                      /*amsgrad=*/false, /*maximize=*/false);
    return;
  }
#endif
  at::_foreach_add_(steps, 1);
  const double step = static_cast<double>(steps_);
  const double bias1 = 1 - std::pow(beta1_, step);
  const double bias2 = 1 - std::pow(beta2_, step);
  if (group.weight_decay != 0) at::_foreach_mul_(params, 1 - lr * group.weight_decay);
  at::_foreach_mul_(exp_avg, beta1_);
  at::_foreach_add_(exp_avg, grads, 1 - beta1_);
  at::_foreach_mul_(exp_avg_sq, beta2_);
  at::_foreach_addcmul_(exp_avg_sq, grads, grads, 1 - beta2_);
  auto denom = at::_foreach_sqrt(exp_avg_sq);
  at::_foreach_div_(denom, std::sqrt(bias2));
  at::_foreach_add_(denom, eps_);
  at::_foreach_addcdiv_(params, exp_avg, denom, -lr / bias1);
}

std::vector<std::pair<std::string, torch::Tensor>> AdamW::State() const {
  std::vector<std::pair<std::string, torch::Tensor>> state;
  for (size_t g = 0; g < groups_.size(); ++g) {
    for (size_t i = 0; i < groups_[g].names.size(); ++i) {
      state.emplace_back("exp_avg." + groups_[g].names[i], moments_[g].exp_avg[i]);
      state.emplace_back("exp_avg_sq." + groups_[g].names[i], moments_[g].exp_avg_sq[i]);
    }
  }
  return state;
}

void AdamW::Restore(const std::vector<std::pair<std::string, torch::Tensor>>& state, int64_t steps) {
  torch::NoGradGuard no_grad;
  std::map<std::string, torch::Tensor> by_name(state.begin(), state.end());
  for (size_t g = 0; g < groups_.size(); ++g) {
    for (size_t i = 0; i < groups_[g].names.size(); ++i) {
      for (auto* slot : {&moments_[g].exp_avg[i], &moments_[g].exp_avg_sq[i]}) {
        const std::string key = (slot == &moments_[g].exp_avg[i] ? "exp_avg." : "exp_avg_sq.") + groups_[g].names[i];
        auto it = by_name.find(key);
        if (it == by_name.end() || !it->second.sizes().equals(slot->sizes())) {
          throw Error(fmt::format("the saved training state lacks '{}' or has another shape", key));
        }
        slot->copy_(it->second);
      }
      moments_[g].step[i].fill_(static_cast<double>(steps));
    }
  }
  steps_ = steps;
}

}  // namespace fomo::train
