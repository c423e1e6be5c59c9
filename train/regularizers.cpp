#include "train/regularizers.hpp"

#include <cstring>
#include <map>

#include <fmt/format.h>

#include "core/clip_model.hpp"
#include "storage/error.hpp"

namespace fomo::train {

namespace {

std::string CarriedName(Method method, const std::string& param) {
  return (method == Method::kEwc ? "ewc.fisher." : "si.omega.") + param;
}

}  // namespace

Regularizer::Regularizer(const MethodOptions& options, std::vector<std::pair<std::string, torch::Tensor>> params,
                         const std::vector<NamedTensor>& carried)
    : method_(options.method),
      lambda_(options.ewc_lambda),
      gamma_(options.ewc_gamma),
      c_(options.si_c),
      xi_(options.si_xi),
      params_(std::move(params)) {
  if (!active()) return;
  torch::NoGradGuard no_grad;
  std::map<std::string, const TensorView*> by_name;
  for (const auto& t : carried) by_name[t.name] = &t.view;
  for (const auto& [name, p] : params_) {
    start_.push_back(p.detach().clone());
    running_.push_back(torch::zeros_like(p));
    auto it = by_name.find(CarriedName(method_, name));
    if (it != by_name.end()) {
      torch::Tensor value = core::ToTorch(*it->second).to(p.device(), torch::kFloat32);
      if (!value.sizes().equals(p.sizes())) {
        throw Error(fmt::format("the parent's {} state for '{}' has another shape", MethodName(method_), name));
      }
      importance_.push_back(value.clone());
      carried_any_ = true;
    } else {
      importance_.push_back(torch::zeros_like(p));
    }
  }
}

torch::Tensor Regularizer::Penalty() const {
  if (!active() || !carried_any_) return {};
  torch::Tensor total;
  for (size_t i = 0; i < params_.size(); ++i) {
    torch::Tensor term = (importance_[i] * (params_[i].second - start_[i]).pow(2)).sum();
    total = total.defined() ? total + term : term;
  }
  return total * (method_ == Method::kEwc ? lambda_ / 2 : c_);
}

void Regularizer::AfterBackward(double lr) {
  if (method_ != Method::kSi) return;
  torch::NoGradGuard no_grad;
  for (size_t i = 0; i < params_.size(); ++i) {
    const torch::Tensor& g = params_[i].second.grad();
    if (g.defined()) running_[i].addcmul_(g, g, lr);
  }
}

void Regularizer::AddFisherBatch() {
  torch::NoGradGuard no_grad;
  for (size_t i = 0; i < params_.size(); ++i) {
    const torch::Tensor& g = params_[i].second.grad();
    if (g.defined()) running_[i].addcmul_(g, g);
  }
  ++fisher_batches_;
}

std::vector<std::pair<std::string, Tensor>> Regularizer::Finish() {
  std::vector<std::pair<std::string, Tensor>> out;
  if (!active()) return out;
  torch::NoGradGuard no_grad;
  for (size_t i = 0; i < params_.size(); ++i) {
    torch::Tensor next;
    if (method_ == Method::kEwc) {
      next = gamma_ * importance_[i] + running_[i] / static_cast<double>(std::max<int64_t>(1, fisher_batches_));
    } else {
      const torch::Tensor moved = (params_[i].second.detach() - start_[i]).pow(2);
      next = importance_[i] + running_[i] / (moved + xi_);
    }
    out.emplace_back(CarriedName(method_, params_[i].first), core::ToStoredF32(next));
  }
  return out;
}

std::vector<std::pair<std::string, torch::Tensor>> Regularizer::RunningState() const {
  std::vector<std::pair<std::string, torch::Tensor>> state;
  if (method_ != Method::kSi) return state;
  for (size_t i = 0; i < params_.size(); ++i) state.emplace_back("si.running." + params_[i].first, running_[i]);
  return state;
}

void Regularizer::RestoreRunning(const std::vector<std::pair<std::string, torch::Tensor>>& state) {
  if (method_ != Method::kSi) return;
  torch::NoGradGuard no_grad;
  std::map<std::string, torch::Tensor> by_name(state.begin(), state.end());
  for (size_t i = 0; i < params_.size(); ++i) {
    auto it = by_name.find("si.running." + params_[i].first);
    if (it == by_name.end() || !it->second.sizes().equals(running_[i].sizes())) {
      throw Error(fmt::format("the saved training state lacks SI's running importance of '{}'", params_[i].first));
    }
    running_[i].copy_(it->second);
  }
}

}  // namespace fomo::train
