// Running one training job (init --pretrain, patch, minor, major, a stream's
// task): loading the data of each mixture source, the budget, Ctrl-C handling,
// progress, and the training run's rows in fomo.sqlite. The training itself
// happens in the LibTorch module (train/trainer.cpp).
#pragma once

#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "core/clip_config.hpp"
#include "storage/budget.hpp"
#include "storage/repository.hpp"
#include "train/reporter.hpp"
#include "train/train_api.hpp"
#include "train/update_options.hpp"

namespace fomo::train {

struct TrainingJob {
  std::string label;  // "training v1.1.0", for progress lines
  core::ClipConfig config;
  std::vector<NamedTensor> weights;
  std::vector<NamedTensor> method_state;  // what the source version's online method left
  UpdateOptions options;
  int64_t task_index = 0;
  std::vector<std::string> pretrain;  // replay selectors
  std::vector<std::string> buffer;    // earlier updates' selectors
  fs::path state_path;                // empty: not resumable (init --pretrain)
  bool resume = false;
  // fomo.sqlite rows for the run; unset for a run outside a repository.
  Repository* repo = nullptr;
  std::optional<int64_t> run_id;
  std::string parent_commit, level;
};

struct TrainingResult {
  TrainOutcome outcome;
  Budget budget;
  int64_t steps = 0;
  nlohmann::json data;  // what each source held, for the recipe
  std::optional<int64_t> run_id;
  double estimated_memory_bytes = 0;  // train/budget.cpp's estimate for this step
  double memory_multiplier = 1;       // against full finetuning: the MAF factor
  int64_t trained_parameters = 0;     // values the method trained (adapters included)
  int stop_signal = 0;                // SIGINT or SIGTERM when the run was asked to stop
};

// Training selectors read the train split unless they name one.
std::string TrainingSelector(const std::string& text);

TrainingResult RunTraining(Reporter& reporter, const YAML::Node& document, const TrainingJob& job);

}  // namespace fomo::train
