#include "train/budget.hpp"

#include <cmath>
#include <algorithm>
#include <cstdlib>
#include <vector>

#include <fmt/format.h>

#include "storage/error.hpp"

namespace fomo::train {

namespace {

// What trains in one residual block: weight gradients per linear map (q, k and v
// each a third of in_proj) and whether input gradients flow through the block.
struct BlockPlan {
  double qkv = 0;  // share of in_proj's rows with a weight gradient
  bool out = false, fc = false, proj = false;
  bool flows = false;
};

struct TowerPlan {
  bool vision = true;
  const core::TowerConfig* tower = nullptr;
  double tokens = 0;  // per sample: patches and the class token, or the context
  std::vector<BlockPlan> blocks;
  bool conv = false;        // the patch embedding's weight trains
  bool projection = false;  // the output projection trains
  bool top_flows = false;   // gradients flow into the output projection's input
};

TowerPlan PlanTower(const core::ClipConfig& config, const MethodOptions& method, bool vision) {
  const core::TowerConfig& tower = vision ? config.vision : config.text;
  const std::string blocks = vision ? "visual.transformer.resblocks." : "transformer.resblocks.";
  TowerPlan plan;
  plan.vision = vision;
  plan.tower = &tower;
  plan.tokens = vision ? static_cast<double>(config.grid_size()) * config.grid_size() + 1 : config.context_length;
  plan.blocks.resize(static_cast<size_t>(tower.layers));
  // The lowest place anything trains: -1 for the embeddings below the blocks.
  int lowest = tower.layers + 1;
  for (const auto& [name, shape] : config.ExpectedTensors()) {
    if ((name.rfind("visual.", 0) == 0) != vision || name == "logit_scale" || !TrainsTensor(method, name)) continue;
    if (name.rfind(blocks, 0) == 0) {
      const int b = std::atoi(name.c_str() + blocks.size());
      BlockPlan& block = plan.blocks[static_cast<size_t>(b)];
      if (name.find("in_proj_weight") != std::string::npos) block.qkv = 1;
      if (name.find("out_proj.weight") != std::string::npos) block.out = true;
      if (name.find("c_fc.weight") != std::string::npos) block.fc = true;
      if (name.find("c_proj.weight") != std::string::npos) block.proj = true;
      lowest = std::min(lowest, b);
    } else if (name == "visual.proj" || name == "text_projection") {
      plan.projection = true;
      lowest = std::min(lowest, tower.layers);
    } else if (name.find("ln_post") != std::string::npos || name.find("ln_final") != std::string::npos) {
      lowest = std::min(lowest, tower.layers);
    } else {
      if (name == "visual.conv1.weight") plan.conv = true;
      lowest = -1;
    }
  }
  for (const auto& site : AdapterSites(config, method)) {
    if (site.weight.rfind(blocks, 0) != 0) continue;
    const int b = std::atoi(site.weight.c_str() + blocks.size());
    BlockPlan& block = plan.blocks[static_cast<size_t>(b)];
    if (site.target == "q" || site.target == "k" || site.target == "v") block.qkv += 1.0 / 3;
    if (site.target == "out") block.out = true;
    if (site.target == "mlp-in") block.fc = true;
    if (site.target == "mlp-out" || site.target == "mlp-inner") block.proj = true;
    lowest = std::min(lowest, b);
  }
  for (int b = 0; b < tower.layers; ++b) plan.blocks[static_cast<size_t>(b)].flows = lowest <= b;
  plan.top_flows = lowest <= tower.layers;
  return plan;
}

// One tower's FLOPs per sample.
double TowerFlops(const core::ClipConfig& config, const TowerPlan& plan) {
  const double tokens = plan.tokens, w = plan.tower->width, m = plan.tower->mlp_dim;
  double flops = 0;
  if (plan.vision) {
    const double patches = static_cast<double>(config.grid_size()) * config.grid_size();
    const double conv = patches * 3.0 * config.patch_size * config.patch_size * w;
    flops += conv * (plan.conv ? 4 : 2);  // no gradient for the image itself
  }
  for (const BlockPlan& b : plan.blocks) {
    const double in_proj = tokens * w * 3 * w, out = tokens * w * w, fc = tokens * w * m, proj = tokens * m * w;
    const double attention = 2 * tokens * tokens * w;
    const double input_grad = b.flows ? 2 : 0;
    flops += in_proj * (2 + input_grad + 2 * b.qkv) + out * (2 + input_grad + (b.out ? 2 : 0)) +
             fc * (2 + input_grad + (b.fc ? 2 : 0)) + proj * (2 + input_grad + (b.proj ? 2 : 0)) +
             attention * (b.flows ? 6 : 2);
  }
  const double projection = w * config.embed_dim;
  flops += projection * (2 + (plan.top_flows ? 2 : 0) + (plan.projection ? 2 : 0));
  return flops;
}

// Elements one sample keeps for backward in one tower.
double TowerActivations(const TowerPlan& plan) {
  const double tokens = plan.tokens, w = plan.tower->width, m = plan.tower->mlp_dim;
  double per_token = 0;
  for (const BlockPlan& b : plan.blocks) {
    if (b.flows) per_token += w + 3 * w + static_cast<double>(plan.tower->heads) * tokens + w + m;
    if (b.qkv > 0) per_token += w;
    if (b.out) per_token += w;
    if (b.fc) per_token += w;
    if (b.proj) per_token += m;
  }
  return per_token * tokens;
}

struct Estimate {
  double flops = 0;
  double bytes = 0;
};

Estimate EstimateFor(const core::ClipConfig& config, double batch, const MethodOptions& method) {
  const TowerPlan vision = PlanTower(config, method, true), text = PlanTower(config, method, false);
  Estimate e;
  e.flops = batch * (TowerFlops(config, vision) + TowerFlops(config, text)) +
            6.0 * batch * batch * config.embed_dim;  // the logits, both directions

  double all = 0, trained = 0;
  for (const auto& [name, shape] : config.ExpectedTensors()) {
    const double n = static_cast<double>(NumElements(shape));
    all += n;
    if (TrainsTensor(method, name)) trained += n;
  }
  const double adapters = static_cast<double>(TrainedParameterCount(config, method)) - trained;
  e.bytes = 4 * all + 12 * trained + 16 * adapters;
  for (const auto& site : AdapterSites(config, method)) {
    const double dw = static_cast<double>(site.row_end - site.row_begin) * site.in_features;
    e.bytes += 2 * 4 * dw;  // the merged weight and its gradient
    if (method.method != Method::kIa3) e.flops += 6 * dw * method.rank;
  }
  switch (method.method) {
    case Method::kEwc:
      e.bytes += 8 * all;  // Fisher and anchor
      e.flops *= 1 + std::ceil(static_cast<double>(method.fisher_samples) / batch);
      break;
    case Method::kSi:
      e.bytes += 12 * all;  // running importance, accumulated importance, start
      e.flops += 8 * all;
      break;
    case Method::kGalore:
      for (const auto& [name, shape] : config.ExpectedTensors()) {
        if (shape.size() != 2 || name.find("resblocks") == std::string::npos) continue;
        const double rows = static_cast<double>(shape[0]), cols = static_cast<double>(shape[1]);
        const double r = std::min<double>(static_cast<double>(method.galore_rank), std::min(rows, cols));
        e.bytes -= 8 * rows * cols - 8 * r * std::max(rows, cols) - 4 * r * std::min(rows, cols);
        e.flops += 4 * rows * cols * r + 4 * rows * cols * std::min(rows, cols) / static_cast<double>(method.galore_gap);
      }
      break;
    default:
      break;
  }
  e.bytes += 4 * batch * (TowerActivations(vision) + TowerActivations(text));
  return e;
}

}  // namespace

double ImageTowerMacs(const core::ClipConfig& config) {
  const TowerPlan none = PlanTower(config, MethodOptions::Named("locked-image"), true);
  return TowerFlops(config, none) / 2;
}

double TextTowerMacs(const core::ClipConfig& config) {
  const TowerPlan none = PlanTower(config, MethodOptions::Named("locked-text"), false);
  return TowerFlops(config, none) / 2;
}

StepCost EstimateStepCost(const core::ClipConfig& config, int64_t batch_size, const MethodOptions& method) {
  const double batch = static_cast<double>(batch_size);
  const Estimate mine = EstimateFor(config, batch, method);
  const Estimate full = EstimateFor(config, batch, MethodOptions{});
  StepCost cost;
  cost.flops = mine.flops;
  cost.memory_bytes = mine.bytes;
  cost.memory_multiplier = mine.bytes / full.bytes;
  return cost;
}

std::string BudgetRequest::Describe() const {
  if (steps) return fmt::format("{} steps", *steps);
  if (samples) return fmt::format("{} samples", *samples);
  if (maf) return fmt::format("{} MAF", FormatFlops(*maf));
  return "default";
}

int64_t StepsFor(const BudgetRequest& budget, int64_t batch_size, const StepCost& cost) {
  int given = (budget.steps ? 1 : 0) + (budget.samples ? 1 : 0) + (budget.maf ? 1 : 0);
  if (given != 1) throw UsageError("give the budget one way: --steps, --samples or --budget");
  if (batch_size <= 0) throw UsageError("the batch size must be positive");
  if (budget.steps) {
    if (*budget.steps <= 0) throw UsageError(fmt::format("--steps must be positive, not {}", *budget.steps));
    return *budget.steps;
  }
  if (budget.samples) {
    if (*budget.samples <= 0) throw UsageError(fmt::format("--samples must be positive, not {}", *budget.samples));
    return (*budget.samples + batch_size - 1) / batch_size;
  }
  if (!(*budget.maf > 0) || !std::isfinite(*budget.maf)) throw UsageError("--budget must be a positive number of FLOPs");
  return std::max<int64_t>(1, static_cast<int64_t>(std::floor(*budget.maf / cost.maf())));
}

double ParseFlops(const std::string& text) {
  static const std::string kSuffixes = "kMGTPE";
  std::string number = text;
  double scale = 1;
  if (!number.empty()) {
    auto at = kSuffixes.find(number.back());
    if (at != std::string::npos) {
      scale = std::pow(1000.0, static_cast<double>(at + 1));
      number.pop_back();
    }
  }
  char* end = nullptr;
  double value = number.empty() ? 0 : std::strtod(number.c_str(), &end);
  if (number.empty() || end != number.c_str() + number.size() || !std::isfinite(value) || value <= 0) {
    throw UsageError(fmt::format("--budget '{}' is not a positive FLOP count (e.g. 5e15, 63395G, 1.5P)", text));
  }
  return value * scale;
}

std::string FormatFlops(double flops) {
  static const char* kUnits[] = {"", "k", "M", "G", "T", "P", "E"};
  int unit = 0;
  while (flops >= 1000 && unit < 6) {
    flops /= 1000;
    ++unit;
  }
  return fmt::format("{:.3g}{}", flops, kUnits[unit]);
}

}  // namespace fomo::train
