// The schedules of continual-pretraining.md section 5, checked against its worked
// values (N = 1420, W = C = 142) and their defining properties.
#include <cmath>

#include "catch.hpp"
#include "schedules/schedule.hpp"
#include "storage/error.hpp"

using namespace fomo::schedules;

namespace {

ScheduleSpec Spec(ScheduleKind kind) {
  ScheduleSpec spec;
  spec.kind = kind;
  spec.peak_lr = 1.0;
  spec.warmup = 0.1;
  spec.cooldown = 0.1;
  return spec;
}

}  // namespace

TEST_CASE("autoregressive cosine peaks match the worked values", "[schedules]") {
  // p_t as a share of eta_max.
  CHECK(TaskSchedule::AutoregressiveCosineShare(0, 1420, 142) == Approx(1.0));
  CHECK(TaskSchedule::AutoregressiveCosineShare(1, 1420, 142) == Approx(0.50).margin(0.005));
  CHECK(TaskSchedule::AutoregressiveCosineShare(5, 1420, 142) == Approx(0.067).margin(0.0005));
  CHECK(TaskSchedule::AutoregressiveCosineShare(19, 1420, 142) == Approx(0.0062).margin(0.0001));
  TaskSchedule task5(Spec(ScheduleKind::kAutoregressiveCosine), 1420, 5);
  CHECK(task5.warmup_steps() == 142);
  CHECK(task5.LearningRate(141) == Approx(task5.Peak()));
  CHECK(task5.LearningRate(0) == Approx(task5.Peak() / 142));
  CHECK(task5.Peak() == Approx(1e-3 + 0.0669 * (1 - 1e-3)).margin(1e-4));
  CHECK(task5.LearningRate(1419) == Approx(1e-3));
}

TEST_CASE("autoregressive rsqrt factors match the worked values", "[schedules]") {
  CHECK(TaskSchedule::AutoregressiveRsqrtShare(1, 1420, 142) == Approx(0.426).margin(0.0005));
  CHECK(TaskSchedule::AutoregressiveRsqrtShare(5, 1420, 142) == Approx(0.343).margin(0.0005));
  CHECK(TaskSchedule::AutoregressiveRsqrtShare(19, 1420, 142) == Approx(0.324).margin(0.0005));
  TaskSchedule task1(Spec(ScheduleKind::kAutoregressiveRsqrt), 1420, 1);
  CHECK(task1.Peak() == Approx(1e-3 + 0.4264 * (1 - 1e-3)).margin(1e-3));
}

TEST_CASE("cosine with warmup", "[schedules]") {
  TaskSchedule s(Spec(ScheduleKind::kCosine), 1420, 0);
  CHECK(s.LearningRate(0) == Approx(1.0 / 142));
  CHECK(s.LearningRate(141) == Approx(1.0));
  // Halfway through the decay the cosine is at the mean of eta_max and eta_min.
  const int64_t half = 142 + (1420 - 142) / 2 - 1;
  CHECK(s.LearningRate(half) == Approx((1.0 + 1e-3) / 2).margin(1e-9));
  CHECK(s.LearningRate(1419) == Approx(1e-3));
  for (int64_t n = 142; n < 1419; ++n) REQUIRE(s.LearningRate(n + 1) <= s.LearningRate(n));
}

TEST_CASE("rsqrt with cooldown", "[schedules]") {
  TaskSchedule s(Spec(ScheduleKind::kRsqrt), 1420, 0);
  const double eta0 = 1e-3;
  CHECK(s.LearningRate(141) == Approx(1.0));
  CHECK(s.LearningRate(142) == Approx(eta0 + (1 - eta0)));  // sqrt(W / W) = 1
  CHECK(s.LearningRate(568) == Approx(eta0 + 0.5 * (1 - eta0)));  // sqrt(142 / 568) = 1/2
  // Cooldown: linear to zero at the last step.
  const double at_start = eta0 + std::sqrt(142.0 / 1278) * (1 - eta0);
  CHECK(s.LearningRate(1278) == Approx(at_start * 141 / 142));
  CHECK(s.LearningRate(1419) == Approx(0.0).margin(1e-12));
}

TEST_CASE("continued schedules start where the global curve stands", "[schedules]") {
  // Task 0 of a continued schedule is the plain schedule.
  TaskSchedule cos0(Spec(ScheduleKind::kContinuedCosine), 1420, 0);
  TaskSchedule plain(Spec(ScheduleKind::kCosine), 1420, 0);
  for (int64_t n : {0, 100, 141, 142, 700, 1419}) CHECK(cos0.LearningRate(n) == Approx(plain.LearningRate(n)));
  // Task 1 follows one warmup-cosine over 2N steps (W' = 284) at global step N + n.
  TaskSchedule cos1(Spec(ScheduleKind::kContinuedCosine), 1420, 1);
  const double pi = std::acos(-1.0);
  auto global = [&](int64_t g) { return 1e-3 + (1 + std::cos(pi * (g - 284 + 1) / (2840.0 - 284))) / 2 * (1 - 1e-3); };
  CHECK(cos1.LearningRate(500) == Approx(global(1420 + 500)));
  CHECK(cos1.LearningRate(141) == Approx(cos1.Peak()));
  CHECK(cos1.Peak() == Approx(global(1420 + 142)));
  CHECK(cos1.LearningRate(1419) == Approx(1e-3));

  TaskSchedule rs1(Spec(ScheduleKind::kContinuedRsqrt), 1420, 1);
  // v_1 = sqrt(W / S_1), S_1 = N - C.
  CHECK(TaskSchedule::ContinuedRsqrtShare(1, 1420, 142, 142) == Approx(std::sqrt(142.0 / 1278)));
  CHECK(rs1.LearningRate(142) == Approx(rs1.Peak()));
  CHECK(rs1.LearningRate(1419) == Approx(0.0).margin(1e-12));
  // Later tasks start lower: the meta schedule never re-warms to eta_max.
  TaskSchedule rs5(Spec(ScheduleKind::kContinuedRsqrt), 1420, 5);
  CHECK(rs5.Peak() < rs1.Peak());
}

TEST_CASE("constant schedule and bad schedule options", "[schedules]") {
  TaskSchedule c(Spec(ScheduleKind::kConstant), 100, 3);
  CHECK(c.LearningRate(50) == Approx(1.0));
  CHECK(c.LearningRate(0) == Approx(0.1));
  CHECK_THROWS_AS(ParseScheduleKind("cosin"), fomo::UsageError);
  CHECK(ParseScheduleKind("autoregressive-rsqrt") == ScheduleKind::kAutoregressiveRsqrt);
  ScheduleSpec bad = Spec(ScheduleKind::kRsqrt);
  bad.warmup = 0.7;
  bad.cooldown = 0.7;
  CHECK_THROWS_AS(TaskSchedule(bad, 100, 0), fomo::UsageError);
  bad = Spec(ScheduleKind::kCosine);
  bad.warmup = -0.1;
  CHECK_THROWS_AS(TaskSchedule(bad, 100, 0), fomo::UsageError);
  bad = Spec(ScheduleKind::kCosine);
  bad.peak_lr = std::nan("");
  CHECK_THROWS_AS(TaskSchedule(bad, 100, 0), fomo::UsageError);
}
