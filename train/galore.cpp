#include "train/galore.hpp"

#include <cmath>
#include <map>

#include <fmt/format.h>

#include "storage/error.hpp"

namespace fomo::train {

Galore::Galore(std::vector<std::pair<std::string, torch::Tensor>> matrices, int64_t rank, int64_t gap, double scale,
               double weight_decay, double beta1, double beta2, double eps)
    : gap_(gap), scale_(scale), weight_decay_(weight_decay), beta1_(beta1), beta2_(beta2), eps_(eps) {
  torch::NoGradGuard no_grad;
  for (auto& [name, p] : matrices) {
    Slot s;
    s.name = name;
    s.param = p;
    const int64_t m = p.size(0), n = p.size(1);
    s.rank = std::min(rank, std::min(m, n));
    s.right = m >= n;
    s.projector = s.right ? torch::zeros({s.rank, n}, p.options()) : torch::zeros({m, s.rank}, p.options());
    const auto moment_shape = s.right ? std::vector<int64_t>{m, s.rank} : std::vector<int64_t>{s.rank, n};
    s.exp_avg = torch::zeros(moment_shape, p.options());
    s.exp_avg_sq = torch::zeros(moment_shape, p.options());
    slots_.push_back(std::move(s));
  }
}

void Galore::ZeroGrad() {
  for (auto& s : slots_) {
    if (s.param.grad().defined()) s.param.mutable_grad().zero_();
  }
}

void Galore::Step(double lr) {
  torch::NoGradGuard no_grad;
  const bool refresh = steps_ % gap_ == 0;
  ++steps_;
  const double step = static_cast<double>(steps_);
  const double bias1 = 1 - std::pow(beta1_, step), bias2 = 1 - std::pow(beta2_, step);
  for (auto& s : slots_) {
    if (!s.param.grad().defined()) continue;
    const torch::Tensor g = s.param.grad().to(torch::kFloat32);
    if (refresh) {
      auto [u, sigma, vh] = at::linalg_svd(g, /*full_matrices=*/false);
      s.projector.copy_(s.right ? vh.narrow(0, 0, s.rank) : u.narrow(1, 0, s.rank));
    }
    const torch::Tensor projected = s.right ? torch::matmul(g, s.projector.t()) : torch::matmul(s.projector.t(), g);
    s.exp_avg.mul_(beta1_).add_(projected, 1 - beta1_);
    s.exp_avg_sq.mul_(beta2_).addcmul_(projected, projected, 1 - beta2_);
    const torch::Tensor direction = (s.exp_avg / bias1) / ((s.exp_avg_sq / bias2).sqrt() + eps_);
    const torch::Tensor update = s.right ? torch::matmul(direction, s.projector) : torch::matmul(s.projector, direction);
    if (weight_decay_ != 0) s.param.mul_(1 - lr * weight_decay_);
    s.param.add_(update, -lr * scale_);
  }
}

std::vector<std::pair<std::string, torch::Tensor>> Galore::State() const {
  std::vector<std::pair<std::string, torch::Tensor>> state;
  for (const auto& s : slots_) {
    state.emplace_back("galore.P." + s.name, s.projector);
    state.emplace_back("galore.exp_avg." + s.name, s.exp_avg);
    state.emplace_back("galore.exp_avg_sq." + s.name, s.exp_avg_sq);
  }
  return state;
}

void Galore::Restore(const std::vector<std::pair<std::string, torch::Tensor>>& state, int64_t steps) {
  torch::NoGradGuard no_grad;
  std::map<std::string, torch::Tensor> by_name(state.begin(), state.end());
  for (auto& s : slots_) {
    for (auto [prefix, slot] : {std::pair<const char*, torch::Tensor*>{"galore.P.", &s.projector},
                                {"galore.exp_avg.", &s.exp_avg},
                                {"galore.exp_avg_sq.", &s.exp_avg_sq}}) {
      auto it = by_name.find(prefix + s.name);
      if (it == by_name.end() || !it->second.sizes().equals(slot->sizes())) {
        throw Error(fmt::format("the saved training state lacks '{}{}' or has another shape", prefix, s.name));
      }
      slot->copy_(it->second);
    }
  }
  steps_ = steps;
}

}  // namespace fomo::train
