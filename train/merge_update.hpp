// Merge-based continual updates (fomo patch|minor|major --merge STRATEGY:W), the
// study's rules (continual-pretraining.md section 4) for which weights an update
// trains from and which weights the finetuned result is merged with. W is the
// weight on the older or anchor model. No LibTorch here.
#pragma once

#include <string>

namespace fomo::train {

enum class MergeStrategy {
  kEma,       // train from M_{t-1}; M_t = (1-W) theta_hat_t + W M_{t-1}
  kFinetune,  // train from D_{t-1}; D_t = (1-W) theta_hat_t + W theta_0
  kZeroshot,  // train from theta_0; M_t = (1-W) theta_hat_t + W M_{t-1}
};

// The two models a strategy involves besides the finetuned weights.
enum class MergeRole { kCurrent, kAnchor };

struct MergeUpdate {
  MergeStrategy strategy = MergeStrategy::kEma;
  double w = 0.9;

  // "ema:0.9", "finetune:0.85", "zeroshot:0.95". Throws fomo::UsageError.
  static MergeUpdate Parse(const std::string& text);
  std::string ToString() const;
  std::string StrategyName() const;

  MergeRole TrainsFrom() const { return strategy == MergeStrategy::kZeroshot ? MergeRole::kAnchor : MergeRole::kCurrent; }
  MergeRole MergesWith() const { return strategy == MergeStrategy::kFinetune ? MergeRole::kAnchor : MergeRole::kCurrent; }
};

}  // namespace fomo::train
