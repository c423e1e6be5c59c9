#include "train/budget.hpp"

#include <cmath>
#include <cstdlib>

#include <fmt/format.h>

#include "storage/error.hpp"

namespace fomo::train {

namespace {

// One pre-norm transformer over `tokens` tokens: q/k/v and out projections, the
// two attention products (scores and the weighted sum of values), the MLP.
double TransformerMacs(const core::TowerConfig& tower, double tokens) {
  const double w = tower.width;
  const double per_layer = tokens * w * 3 * w        // in_proj
                           + 2 * tokens * tokens * w  // q k^T and attn v
                           + tokens * w * w           // out_proj
                           + 2 * tokens * w * tower.mlp_dim;
  return per_layer * tower.layers;
}

// Bytes a training step holds at once: fp32 weights, and for trained towers their
// gradients, AdamW's two moments and the activations kept for backward (about a
// dozen width-sized values per token and layer plus the attention matrix per head).
double TowerMemory(const core::TowerConfig& tower, double tokens, double params, double batch, bool trained) {
  double bytes = 4 * params;
  if (trained) {
    bytes += 12 * params;
    const double per_layer = 12 * tokens * tower.width + 2.0 * tower.heads * tokens * tokens +
                             2 * tokens * tower.mlp_dim;
    bytes += 4 * batch * per_layer * tower.layers;
  }
  return bytes;
}

double TowerParams(const core::TowerConfig& tower) {
  const double w = tower.width;
  return tower.layers * (4 * w * w + 2 * w * tower.mlp_dim + 9 * w + tower.mlp_dim);
}

}  // namespace

double ImageTowerMacs(const core::ClipConfig& config) {
  const double patches = static_cast<double>(config.grid_size()) * config.grid_size();
  const double patch_embed = patches * 3.0 * config.patch_size * config.patch_size * config.vision.width;
  const double projection = static_cast<double>(config.vision.width) * config.embed_dim;
  return patch_embed + TransformerMacs(config.vision, patches + 1) + projection;
}

double TextTowerMacs(const core::ClipConfig& config) {
  const double projection = static_cast<double>(config.text.width) * config.embed_dim;
  return TransformerMacs(config.text, config.context_length) + projection;
}

StepCost EstimateStepCost(const core::ClipConfig& config, int64_t batch_size, const TrainableSet& trainable) {
  const double batch = static_cast<double>(batch_size);
  auto tower_flops = [&](double macs, bool trained) { return batch * macs * (trained ? 6.0 : 2.0); };
  StepCost cost;
  cost.flops = tower_flops(ImageTowerMacs(config), trainable.image_tower) +
               tower_flops(TextTowerMacs(config), trainable.text_tower) +
               6.0 * batch * batch * config.embed_dim;  // the logits, both directions
  const double image_tokens = static_cast<double>(config.grid_size()) * config.grid_size() + 1;
  const double image_params = TowerParams(config.vision);
  const double text_params = TowerParams(config.text) + static_cast<double>(config.vocab_size) * config.text.width;
  auto memory = [&](const TrainableSet& t) {
    return TowerMemory(config.vision, image_tokens, image_params, batch, t.image_tower) +
           TowerMemory(config.text, config.context_length, text_params, batch, t.text_tower);
  };
  cost.memory_bytes = memory(trainable);
  cost.memory_multiplier = cost.memory_bytes / memory(TrainableSet{});
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
