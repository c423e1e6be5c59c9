// The options of one training update (fomo patch / minor / major, init
// --pretrain): defaults per level from fomo.yaml's `defaults` section, overridden
// by the command line, stored in the version's recipe and in an interrupted run's
// state so --resume needs nothing else. No LibTorch here.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>
#include <yaml-cpp/yaml.h>

#include "schedules/schedule.hpp"
#include "train/budget.hpp"
#include "train/merge_update.hpp"
#include "train/method.hpp"
#include "train/mixture.hpp"

namespace fomo::train {

struct UpdateOptions {
  std::vector<std::string> data;  // selectors (train split unless one is named)
  MethodOptions method;
  schedules::ScheduleSpec schedule;
  BudgetRequest budget;
  MixtureShares replay;
  int64_t batch_size = 64;
  uint64_t seed = 0;
  double weight_decay = 0.2;
  double clip_norm = 1.0;
  std::optional<double> temperature;
  std::string device = "auto";
  std::optional<MergeUpdate> merge;  // --merge ema|finetune|zeroshot:W
  // A bounded buffer: at most this many of the earlier updates' samples, kept by
  // ReservoirSample (mixture.hpp) seeded with `seed`; unset: all of them.
  std::optional<int64_t> buffer_reservoir;

  // The built-in defaults for a level ("patch", "minor", "major", "pretrain"),
  // then fomo.yaml's defaults.LEVEL on top. Throws fomo::Error naming the line of
  // an unknown key or a bad value.
  static UpdateOptions Defaults(const std::string& level, const YAML::Node& document, const std::string& origin);

  // One key of a defaults.LEVEL mapping (method, steps, schedule, merge, ...);
  // throws fomo::Error("unknown key") or YAML's own for a value of the wrong kind.
  void Apply(const std::string& key, const YAML::Node& value);

  nlohmann::json ToJson() const;
  static UpdateOptions FromJson(const nlohmann::json& json);
};

}  // namespace fomo::train
