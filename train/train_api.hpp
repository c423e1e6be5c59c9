// The training entry point, as the commands see it. Like the model code, training
// lives in fomo's LibTorch module (libfomo_torch.so), so this header carries only
// plain types; TrainModule() loads the module on first use.
#pragma once

#include <cstdint>
#include <filesystem>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "core/clip_config.hpp"
#include "schedules/schedule.hpp"
#include "storage/low_rank.hpp"
#include "storage/tensor.hpp"
#include "train/method.hpp"
#include "train/mixture.hpp"

namespace fomo::train {

namespace fs = std::filesystem;

struct StepReport {
  int64_t step = 0;   // steps done so far (1-based)
  int64_t steps = 0;  // of this many
  double loss = 0;
  double lr = 0;
  double samples_per_second = 0;
  double seconds = 0;  // since the run (or its resumption) began
};

struct TrainRequest {
  core::ClipConfig config;
  std::vector<NamedTensor> weights;  // the starting point, canonical names
  const TrainCorpus* corpus = nullptr;
  MixtureShares shares;  // already resolved against the available sources
  int64_t steps = 0;
  int64_t batch_size = 0;
  schedules::ScheduleSpec schedule;
  int64_t task_index = 0;
  double weight_decay = 0.2;
  double beta1 = 0.9;
  double beta2 = 0.999;
  double eps = 1e-8;
  double clip_norm = 1.0;
  std::optional<double> temperature;  // fixed; unset: logit_scale learns
  uint64_t seed = 0;
  std::string device = "auto";  // auto, cpu, cuda
  MethodOptions method;
  // What the parent version's online method left (EWC's Fisher, SI's importance).
  std::vector<NamedTensor> method_state;

  // The resumable state (weights, optimizer moments, step) is written here every
  // checkpoint_seconds and when should_stop() turns true; resume reads it.
  fs::path state_path;
  bool resume = false;
  double checkpoint_seconds = 60;
  int64_t loader_threads = 2;

  std::function<void(const StepReport&)> on_step;
  // EWC's Fisher pass after the last step: batches done of total.
  std::function<void(int64_t done, int64_t total)> on_fisher_batch;
  std::function<bool()> should_stop;
};

struct TrainOutcome {
  bool interrupted = false;  // stopped early; the state at state_path resumes it
  int64_t steps_done = 0;
  std::vector<Tensor> weights;  // in config.ExpectedTensors() order, fp32
  double seconds = 0;           // wall time of the whole run, earlier sessions included
  std::string device;
  double peak_memory_bytes = 0;  // measured on CUDA (the allocator's peak); 0 on the CPU
  // Adapter methods: the factors of each LoRA, DoRA or VeRA weight, for the store.
  std::map<std::string, LowRankFactors> low_rank;
  // Online methods: what the new version carries to the next update.
  std::vector<std::pair<std::string, Tensor>> method_state;
};

struct TrainApi {
  int abi_version;
  TrainOutcome (*train)(const TrainRequest& request);
};

inline constexpr int kTrainApiVersion = 3;

const TrainApi& TrainModule();

}  // namespace fomo::train
