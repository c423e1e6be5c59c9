// Budget arithmetic at the study's ViT-B/16 figures (continual-pretraining.md
// section 2) and the three ways to give a budget.
#include "catch.hpp"
#include "core/arch.hpp"
#include "storage/error.hpp"
#include "train/budget.hpp"

using namespace fomo;
using namespace fomo::train;

TEST_CASE("full finetuning of ViT-B/16 at batch 512 costs 63,395 GFLOPs a step", "[train][budget]") {
  auto config = *core::BuiltinArch("vit-b-16");
  StepCost full = EstimateStepCost(config, 512, TrainableSet{});
  CHECK(full.flops / 1e9 == Approx(63395).epsilon(0.02));
  CHECK(full.memory_multiplier == Approx(1.0));
  // Frozen towers run forward only: the study's locked-text and locked-image figures.
  StepCost locked_text = EstimateStepCost(config, 512, TrainableSet{true, false});
  CHECK(locked_text.flops / 1e9 == Approx(57255).epsilon(0.02));
  StepCost locked_image = EstimateStepCost(config, 512, TrainableSet{false, true});
  CHECK(locked_image.flops / 1e9 == Approx(27177).epsilon(0.02));
  CHECK(locked_image.memory_multiplier < locked_text.memory_multiplier);
  CHECK(locked_text.memory_multiplier < 1.0);
}

TEST_CASE("a budget buys steps in steps, samples or MAF", "[train][budget]") {
  auto config = *core::BuiltinArch("vit-b-16");
  StepCost cost = EstimateStepCost(config, 512, TrainableSet{});
  CHECK(StepsFor({1420, std::nullopt, std::nullopt}, 512, cost) == 1420);
  CHECK(StepsFor({std::nullopt, 1000, std::nullopt}, 512, cost) == 2);  // rounded up
  CHECK(StepsFor({std::nullopt, 1024, std::nullopt}, 512, cost) == 2);
  // The study's per-task budget: 1,420 full-finetuning steps.
  CHECK(StepsFor({std::nullopt, std::nullopt, cost.maf() * 1420}, 512, cost) == 1420);
  CHECK(StepsFor({std::nullopt, std::nullopt, cost.maf() * 0.5}, 512, cost) == 1);
  CHECK_THROWS_AS(StepsFor({}, 512, cost), UsageError);
  CHECK_THROWS_AS(StepsFor({10, 10, std::nullopt}, 512, cost), UsageError);
  CHECK_THROWS_AS(StepsFor({0, std::nullopt, std::nullopt}, 512, cost), UsageError);
}

TEST_CASE("FLOP counts parse with SI suffixes", "[train][budget]") {
  CHECK(ParseFlops("63395G") == Approx(63395e9));
  CHECK(ParseFlops("1.5P") == Approx(1.5e15));
  CHECK(ParseFlops("2e15") == Approx(2e15));
  CHECK_THROWS_AS(ParseFlops("lots"), UsageError);
  CHECK_THROWS_AS(ParseFlops("-5G"), UsageError);
  CHECK_THROWS_AS(ParseFlops(""), UsageError);
  CHECK(FormatFlops(63.4e12) == "63.4T");
}
