#include "schedules/schedule.hpp"

#include <algorithm>
#include <cmath>
#include <utility>

#include <fmt/format.h>

#include "storage/error.hpp"

namespace fomo::schedules {

namespace {

constexpr double kPi = 3.14159265358979323846;

const std::vector<std::pair<ScheduleKind, const char*>> kNames = {
    {ScheduleKind::kConstant, "constant"},
    {ScheduleKind::kCosine, "cosine"},
    {ScheduleKind::kRsqrt, "rsqrt"},
    {ScheduleKind::kAutoregressiveCosine, "autoregressive-cosine"},
    {ScheduleKind::kContinuedCosine, "continued-cosine"},
    {ScheduleKind::kAutoregressiveRsqrt, "autoregressive-rsqrt"},
    {ScheduleKind::kContinuedRsqrt, "continued-rsqrt"},
};

bool IsRsqrt(ScheduleKind kind) {
  return kind == ScheduleKind::kRsqrt || kind == ScheduleKind::kAutoregressiveRsqrt ||
         kind == ScheduleKind::kContinuedRsqrt;
}

// The rsqrt decay needs W >= 1 (sqrt(W/n)); a schedule without warmup decays from step 1.
int64_t RsqrtWarmup(int64_t warmup) { return std::max<int64_t>(warmup, 1); }

}  // namespace

ScheduleKind ParseScheduleKind(const std::string& name) {
  for (const auto& [kind, text] : kNames) {
    if (name == text) return kind;
  }
  throw UsageError(fmt::format("unknown schedule '{}' (known: {})", name, fmt::join(ScheduleNames(), ", ")));
}

std::string ScheduleName(ScheduleKind kind) {
  for (const auto& [k, text] : kNames) {
    if (k == kind) return text;
  }
  return "?";
}

std::vector<std::string> ScheduleNames() {
  std::vector<std::string> names;
  for (const auto& entry : kNames) names.push_back(entry.second);
  return names;
}

bool IsMetaSchedule(ScheduleKind kind) {
  return kind == ScheduleKind::kAutoregressiveCosine || kind == ScheduleKind::kContinuedCosine ||
         kind == ScheduleKind::kAutoregressiveRsqrt || kind == ScheduleKind::kContinuedRsqrt;
}

double TaskSchedule::AutoregressiveCosineShare(int64_t task, int64_t steps, int64_t warmup) {
  if (task == 0) return 1.0;
  double e = static_cast<double>(task * (steps - warmup) + 1);
  double E = static_cast<double>((task + 1) * (steps - warmup));
  return (1 + std::cos(kPi * e / E)) / 2;
}

double TaskSchedule::AutoregressiveRsqrtShare(int64_t task, int64_t steps, int64_t warmup) {
  if (task == 0) return 1.0;
  int64_t w = RsqrtWarmup(warmup);
  return std::sqrt(static_cast<double>((task + 1) * w) / static_cast<double>(task * steps + w));
}

double TaskSchedule::ContinuedRsqrtShare(int64_t task, int64_t steps, int64_t warmup, int64_t cooldown) {
  if (task == 0) return 1.0;
  int64_t w = RsqrtWarmup(warmup);
  double s = static_cast<double>(task * (steps - cooldown) - (task - 1) * w);
  return std::sqrt(static_cast<double>(w) / s);
}

TaskSchedule::TaskSchedule(const ScheduleSpec& spec, int64_t steps, int64_t task)
    : spec_(spec), steps_(steps), task_(task) {
  if (steps <= 0) throw UsageError("a schedule needs at least one step");
  if (task < 0) throw UsageError("the task index of a schedule cannot be negative");
  if (!(spec.peak_lr > 0) || !std::isfinite(spec.peak_lr)) {
    throw UsageError(fmt::format("--lr must be a positive number, not {}", spec.peak_lr));
  }
  if (!(spec.warmup >= 0 && spec.warmup <= 1)) {
    throw UsageError(fmt::format("--warmup is a share of the steps in [0, 1], not {}", spec.warmup));
  }
  if (!(spec.cooldown >= 0 && spec.cooldown <= 1)) {
    throw UsageError(fmt::format("--cooldown is a share of the steps in [0, 1], not {}", spec.cooldown));
  }
  warmup_ = std::llround(spec.warmup * static_cast<double>(steps));
  cooldown_ = IsRsqrt(spec.kind) ? std::llround(spec.cooldown * static_cast<double>(steps)) : 0;
  if (warmup_ + cooldown_ > steps) {
    throw UsageError(fmt::format("warmup ({} steps) and cooldown ({} steps) do not fit in {} steps", warmup_,
                                 cooldown_, steps));
  }
  min_lr_ = spec.min_lr_ratio * spec.peak_lr;
  const double eta_max = spec.peak_lr;
  switch (spec.kind) {
    case ScheduleKind::kConstant:
    case ScheduleKind::kCosine:
    case ScheduleKind::kRsqrt:
      peak_ = eta_max;
      break;
    case ScheduleKind::kAutoregressiveCosine:
      peak_ = min_lr_ + AutoregressiveCosineShare(task, steps, warmup_) * (eta_max - min_lr_);
      break;
    case ScheduleKind::kContinuedCosine:
      // Warm up to where the global curve stands once this task's warmup is over.
      peak_ = task == 0 ? eta_max : GlobalCosine(task * steps + warmup_);
      break;
    case ScheduleKind::kAutoregressiveRsqrt:
      peak_ = min_lr_ + AutoregressiveRsqrtShare(task, steps, warmup_) * (eta_max - min_lr_);
      break;
    case ScheduleKind::kContinuedRsqrt:
      peak_ = min_lr_ + ContinuedRsqrtShare(task, steps, warmup_, cooldown_) * (eta_max - min_lr_);
      break;
  }
}

double TaskSchedule::Cosine(double from, double progress) const {
  return min_lr_ + (1 + std::cos(kPi * progress)) / 2 * (from - min_lr_);
}

double TaskSchedule::GlobalCosine(int64_t global_step) const {
  const int64_t total = (task_ + 1) * steps_;
  const int64_t warmup = static_cast<int64_t>(std::ceil(spec_.warmup * static_cast<double>(total) - 1e-9));
  if (global_step < warmup) return spec_.peak_lr * static_cast<double>(global_step + 1) / static_cast<double>(warmup);
  if (total == warmup) return spec_.peak_lr;
  return Cosine(spec_.peak_lr, static_cast<double>(global_step - warmup + 1) / static_cast<double>(total - warmup));
}

double TaskSchedule::CooldownFactor(int64_t n) const {
  const int64_t start = steps_ - cooldown_;
  if (n < start) return 1.0;
  return static_cast<double>(cooldown_ - (n - start) - 1) / static_cast<double>(cooldown_);
}

double TaskSchedule::LearningRate(int64_t n) const {
  n = std::clamp<int64_t>(n, 0, steps_ - 1);
  if (n < warmup_) return peak_ * static_cast<double>(n + 1) / static_cast<double>(warmup_);
  const double after = static_cast<double>(n - warmup_ + 1);
  const double span = static_cast<double>(steps_ - warmup_);
  switch (spec_.kind) {
    case ScheduleKind::kConstant:
      return peak_;
    case ScheduleKind::kCosine:
    case ScheduleKind::kAutoregressiveCosine:
      return Cosine(peak_, after / span);
    case ScheduleKind::kContinuedCosine:
      return task_ == 0 ? Cosine(peak_, after / span) : GlobalCosine(task_ * steps_ + n);
    case ScheduleKind::kRsqrt:
    case ScheduleKind::kAutoregressiveRsqrt: {
      const double w = static_cast<double>(RsqrtWarmup(warmup_));
      const double decay = std::sqrt(w / std::max<double>(static_cast<double>(n), w));
      return (min_lr_ + decay * (peak_ - min_lr_)) * CooldownFactor(n);
    }
    case ScheduleKind::kContinuedRsqrt: {
      // The rsqrt curve continues from the S_t steps the earlier tasks ran at it.
      const double w = static_cast<double>(RsqrtWarmup(warmup_));
      const double s = task_ == 0 ? static_cast<double>(n)
                                  : static_cast<double>(task_ * (steps_ - cooldown_) - (task_ - 1) * RsqrtWarmup(warmup_) +
                                                        (n - warmup_));
      const double decay = std::sqrt(w / std::max(s, w));
      return (min_lr_ + decay * (spec_.peak_lr - min_lr_)) * CooldownFactor(n);
    }
  }
  return peak_;
}

}  // namespace fomo::schedules
