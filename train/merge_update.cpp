#include "train/merge_update.hpp"

#include <cmath>
#include <cstdlib>

#include <fmt/format.h>

#include "storage/error.hpp"

namespace fomo::train {

MergeUpdate MergeUpdate::Parse(const std::string& text) {
  const size_t colon = text.find(':');
  const std::string name = text.substr(0, colon);
  MergeUpdate m;
  if (name == "ema") {
    m.strategy = MergeStrategy::kEma;
  } else if (name == "finetune") {
    m.strategy = MergeStrategy::kFinetune;
  } else if (name == "zeroshot") {
    m.strategy = MergeStrategy::kZeroshot;
  } else {
    throw UsageError(fmt::format("--merge '{}': the strategy must be ema, finetune or zeroshot (e.g. ema:0.9)", text));
  }
  if (colon == std::string::npos) {
    throw UsageError(fmt::format("--merge '{}' needs the weight on the older model, e.g. {}:0.9", text, name));
  }
  const std::string weight = text.substr(colon + 1);
  char* end = nullptr;
  m.w = std::strtod(weight.c_str(), &end);
  if (weight.empty() || *end || !std::isfinite(m.w) || m.w < 0 || m.w > 1) {
    throw UsageError(fmt::format("--merge '{}': the weight must be a number from 0 to 1", text));
  }
  return m;
}

std::string MergeUpdate::StrategyName() const {
  switch (strategy) {
    case MergeStrategy::kEma: return "ema";
    case MergeStrategy::kFinetune: return "finetune";
    case MergeStrategy::kZeroshot: return "zeroshot";
  }
  return "?";
}

std::string MergeUpdate::ToString() const { return fmt::format("{}:{}", StrategyName(), w); }

}  // namespace fomo::train
