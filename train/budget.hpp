// Compute budgets (continual-pretraining.md section 2): FLOPs per optimizer step
// counted analytically from the model config, the memory multiplier, MAF, and the
// steps a budget given in steps, samples or MAF buys. No LibTorch here.
#pragma once

#include <cstdint>
#include <optional>
#include <string>

#include "core/clip_config.hpp"

namespace fomo::train {

// Which parts of the model receive gradients.
struct TrainableSet {
  bool image_tower = true;
  bool text_tower = true;
};

struct StepCost {
  double flops = 0;              // forward + backward matrix products of one step
  double memory_bytes = 0;       // estimated peak training memory
  double memory_multiplier = 1;  // memory_bytes / full finetuning's
  double maf() const { return flops * memory_multiplier; }
};

// Multiply-accumulates of one forward pass of one sample through each tower:
// every linear map, the patch embedding and the attention products.
double ImageTowerMacs(const core::ClipConfig& config);
double TextTowerMacs(const core::ClipConfig& config);

// FLOPs of one step at a batch size: 2 per MAC forward; backward 2 per MAC for
// activation gradients and 2 per MAC for weight gradients in the towers that train
// (a frozen tower runs forward only). The memory multiplier is the documented CPU
// estimate (weights, gradients, AdamW moments and saved activations), relative to
// full finetuning.
StepCost EstimateStepCost(const core::ClipConfig& config, int64_t batch_size, const TrainableSet& trainable);

// A budget as the user gives it: exactly one of the three.
struct BudgetRequest {
  std::optional<int64_t> steps;
  std::optional<int64_t> samples;
  std::optional<double> maf;  // memory-adjusted FLOPs

  bool empty() const { return !steps && !samples && !maf; }
  std::string Describe() const;  // "200 steps", "5000 samples", "1.2P MAF"
};

// Steps the budget buys (at least one); throws fomo::UsageError when more than one
// kind is given or a value is not positive.
int64_t StepsFor(const BudgetRequest& budget, int64_t batch_size, const StepCost& cost);

// "63395G", "1.5P", "2e15", "800T": FLOPs with an optional SI suffix (k M G T P E).
double ParseFlops(const std::string& text);
std::string FormatFlops(double flops);  // "63.4 TFLOP"-style, three significant digits

}  // namespace fomo::train
