// Compute budgets (continual-pretraining.md section 2): FLOPs per optimizer step
// counted analytically from the model config, the memory multiplier, MAF, and the
// steps a budget given in steps, samples or MAF buys. No LibTorch here.
#pragma once

#include <cstdint>
#include <optional>
#include <string>

#include "core/clip_config.hpp"
#include "train/method.hpp"

namespace fomo::train {

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

// The cost of one optimizer step of a method at a batch size.
//
// FLOPs: 2 per MAC forward. Backward, per linear map: 2 per MAC for the gradient
// of its input wherever something below it trains, and 2 per MAC for the gradient
// of its weight when the weight trains or an adapter reparametrises it (adapters
// form W0 + dW and backpropagate through it, so dW costs a weight gradient; the
// study counts LoRA that way). The attention products take 4 per MAC backward.
// Adapters add the products that form dW once per step; SI its per-element
// bookkeeping; GaLore its projections and an SVD every gap steps. EWC's Fisher
// pass (fisher_samples forward and backward) is folded into every step, as the
// study charges it ("99x a step").
//
// Memory: the documented CPU estimate (on the study's GPU it is measured): fp32
// weights; gradients and AdamW moments of what trains (GaLore's moments in the
// projected space); EWC's Fisher and anchor, SI's three tensors; the adapters and
// their merged weights; and the activations a step keeps for backward, per token
// and block: the LayerNorm inputs, q k v, the attention probabilities and the GELU
// input wherever gradients flow, plus the input of every linear map whose weight
// gets a gradient.
StepCost EstimateStepCost(const core::ClipConfig& config, int64_t batch_size, const MethodOptions& method);

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
