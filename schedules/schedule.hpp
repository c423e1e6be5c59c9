// Learning-rate schedules of continual-pretraining.md section 5, as pure math.
// A schedule covers one task of N optimizer steps (reset at every task); the meta
// schedules also depend on the task index t, the number of updates before this one
// on the line since the anchor version.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace fomo::schedules {

enum class ScheduleKind {
  kConstant,              // eta_max after the warmup
  kCosine,                // linear warmup, cosine to eta_min
  kRsqrt,                 // linear warmup, eta_0 + sqrt(W/n) (eta_max - eta_0), linear cooldown
  kAutoregressiveCosine,  // cosine from a peak p_t that decays with t
  kContinuedCosine,       // one global warmup-cosine over (t+1) N steps
  kAutoregressiveRsqrt,   // rsqrt from base_t, v_t = sqrt((t+1) W / (t N + W))
  kContinuedRsqrt,        // rsqrt continued from S_t = t (N-C) - (t-1) W steps
};

// "cosine", "autoregressive-rsqrt", ...; throws fomo::UsageError for unknown names.
ScheduleKind ParseScheduleKind(const std::string& name);
std::string ScheduleName(ScheduleKind kind);
std::vector<std::string> ScheduleNames();
bool IsMetaSchedule(ScheduleKind kind);

struct ScheduleSpec {
  ScheduleKind kind = ScheduleKind::kCosine;
  double peak_lr = 1e-5;         // eta_max
  double warmup = 0.1;           // W as a share of the task's steps
  double cooldown = 0.1;         // C as a share of the task's steps (rsqrt kinds)
  double min_lr_ratio = 1e-3;    // eta_min = eta_0 = ratio * eta_max
};

class TaskSchedule {
 public:
  // steps: N (> 0); task: t (>= 0). Throws fomo::UsageError on shares outside [0, 1]
  // or warmup + cooldown longer than the task.
  TaskSchedule(const ScheduleSpec& spec, int64_t steps, int64_t task);

  // The learning rate of step n (0-based) of this task.
  double LearningRate(int64_t n) const;
  // The highest learning rate this task reaches after its warmup (p_t or base_t).
  double Peak() const { return peak_; }

  int64_t warmup_steps() const { return warmup_; }
  int64_t cooldown_steps() const { return cooldown_; }

  // Meta-schedule factors f_t, exposed for tests: a task's peak is
  // eta_min + f_t (eta_max - eta_min). These are section 5's worked values.
  static double AutoregressiveCosineShare(int64_t task, int64_t steps, int64_t warmup);
  static double AutoregressiveRsqrtShare(int64_t task, int64_t steps, int64_t warmup);
  static double ContinuedRsqrtShare(int64_t task, int64_t steps, int64_t warmup, int64_t cooldown);

 private:
  double Cosine(double from, double progress) const;  // from -> eta_min as progress 0 -> 1
  double GlobalCosine(int64_t global_step) const;     // the continued cosine's curve
  double CooldownFactor(int64_t n) const;

  ScheduleSpec spec_;
  int64_t steps_;
  int64_t task_;
  int64_t warmup_;
  int64_t cooldown_;
  double min_lr_;
  double peak_;
};

}  // namespace fomo::schedules
