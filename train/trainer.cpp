#include "train/trainer.hpp"

#include <torch/version.h>
#include <ATen/autocast_mode.h>

#if FOMO_HAS_CUDA
#include <c10/cuda/CUDACachingAllocator.h>
#endif

#include <chrono>
#include <cmath>
#include <cstring>

#include <fmt/format.h>

#include "core/clip_model.hpp"
#include "core/safetensors.hpp"
#include "core/tokenizer.hpp"
#include "storage/atomic_file.hpp"
#include "storage/error.hpp"
#include "train/adamw.hpp"
#include "train/batch_loader.hpp"
#include "train/contrastive_loss.hpp"

namespace fomo::train {

namespace {

using Clock = std::chrono::steady_clock;
constexpr const char* kStateFormat = "fomo-train-state-1";

torch::Device PickDevice(const std::string& name) {
  if (name == "cpu") return torch::kCPU;
  if (name == "cuda") {
    if (!torch::cuda::is_available()) throw Error("--device cuda: this LibTorch sees no CUDA device");
    return torch::kCUDA;
  }
  if (name != "auto") throw UsageError(fmt::format("unknown device '{}' (auto, cpu, cuda)", name));
  return torch::cuda::is_available() ? torch::Device(torch::kCUDA) : torch::Device(torch::kCPU);
}

// bf16 autocast on CUDA while a step's forward pass runs; the call names changed in 2.4.
class CudaAutocast {
 public:
  explicit CudaAutocast(bool enable) : enabled_(enable) {
    if (!enabled_) return;
#if TORCH_VERSION_MAJOR > 2 || (TORCH_VERSION_MAJOR == 2 && TORCH_VERSION_MINOR >= 4)
    at::autocast::set_autocast_dtype(at::kCUDA, at::kBFloat16);
    at::autocast::set_autocast_enabled(at::kCUDA, true);
#else
    at::autocast::set_autocast_gpu_dtype(at::kBFloat16);
    at::autocast::set_enabled(true);
#endif
  }
  ~CudaAutocast() {
    if (!enabled_) return;
#if TORCH_VERSION_MAJOR > 2 || (TORCH_VERSION_MAJOR == 2 && TORCH_VERSION_MINOR >= 4)
    at::autocast::set_autocast_enabled(at::kCUDA, false);
#else
    at::autocast::set_enabled(false);
#endif
    at::autocast::clear_cache();
  }

 private:
  bool enabled_;
};

torch::Tensor CaptionTokens(const TrainCorpus& corpus, int context) {
  const auto& tokenizer = core::ClipTokenizer::Default();
  auto tokens = torch::zeros({static_cast<int64_t>(corpus.captions.size()), context}, torch::kInt64);
  for (size_t i = 0; i < corpus.captions.size(); ++i) {
    auto ids = tokenizer.EncodeContext(corpus.captions[i], context);
    std::memcpy(tokens[static_cast<int64_t>(i)].data_ptr<int64_t>(), ids.data(), ids.size() * sizeof(int64_t));
  }
  return tokens;
}

Tensor ToStored(const torch::Tensor& t) {
  torch::Tensor cpu = t.detach().to(torch::kCPU, torch::kFloat32).contiguous();
  Tensor out{Dtype::kF32, Shape(cpu.sizes().vec()), ByteBuffer(static_cast<size_t>(cpu.numel()) * 4)};
  std::memcpy(out.bytes.data(), cpu.data_ptr(), out.bytes.size());
  return out;
}

// The resumable state: parameters, AdamW moments, the step reached and the time
// spent. Data order and augmentation are functions of (seed, step), so no random
// generator state needs saving.
void SaveState(const fs::path& path, const core::ClipModel& model, const AdamW& optimizer, int64_t step,
               double seconds) {
  std::vector<std::pair<std::string, torch::Tensor>> named;
  for (const auto& item : model->named_parameters()) named.emplace_back("param." + item.key(), item.value());
  for (auto& entry : optimizer.State()) named.push_back(std::move(entry));
  std::vector<Tensor> stored;
  stored.reserve(named.size());
  for (const auto& [name, t] : named) stored.push_back(ToStored(t));
  std::vector<NamedTensor> views;
  for (size_t i = 0; i < named.size(); ++i) views.push_back({named[i].first, stored[i].view()});
  core::WriteSafetensors(path, views,
                         {{"format", kStateFormat}, {"step", std::to_string(step)}, {"seconds", fmt::format("{}", seconds)}});
}

struct SavedProgress {
  int64_t step = 0;
  double seconds = 0;
};

SavedProgress LoadState(const fs::path& path, core::ClipModel& model, AdamW& optimizer) {
  auto file = core::SafetensorsFile::Open(path);
  const auto& meta = file.metadata();
  auto format = meta.find("format");
  if (format == meta.end() || format->second != kStateFormat) {
    throw Error(fmt::format("'{}' is not a fomo training state", path.string()));
  }
  SavedProgress progress;
  try {
    progress.step = std::stoll(meta.at("step"));
    progress.seconds = std::stod(meta.at("seconds"));
  } catch (const std::exception&) {
    throw Error(fmt::format("'{}': unreadable step or time in the training state", path.string()));
  }
  std::vector<NamedTensor> params;
  std::vector<std::pair<std::string, torch::Tensor>> moments;
  for (const auto& t : file.tensors()) {
    if (t.name.rfind("param.", 0) == 0) {
      params.push_back({t.name.substr(6), t.view});
    } else {
      moments.emplace_back(t.name, core::ToTorch(t.view).clone());
    }
  }
  core::LoadWeights(model, params);
  optimizer.Restore(moments, progress.step);
  return progress;
}

}  // namespace

TrainOutcome Train(const TrainRequest& r) {
  if (!r.corpus) throw Error("training needs data");
  if (r.steps <= 0) throw UsageError("training needs at least one step");
  if (r.batch_size <= 0) throw UsageError("the batch size must be positive");
  const torch::Device device = PickDevice(r.device);
  const bool cuda = device.is_cuda();

  core::ClipModel model(r.config);
  core::LoadWeights(model, r.weights);
  model->to(device);
  model->train();
  if (r.temperature) {
    torch::NoGradGuard no_grad;
    model->logit_scale.fill_(-std::log(*r.temperature));
    model->logit_scale.set_requires_grad(false);
  }
  std::vector<std::pair<std::string, torch::Tensor>> trainable;
  for (const auto& item : model->named_parameters()) {
    if (item.value().requires_grad()) trainable.emplace_back(item.key(), item.value());
  }
  AdamW optimizer(DecayGroups(trainable, r.weight_decay), r.beta1, r.beta2, r.eps);
  std::vector<torch::Tensor> trainable_params;
  for (const auto& entry : trainable) trainable_params.push_back(entry.second);

  SavedProgress start;
  if (r.resume) {
    start = LoadState(r.state_path, model, optimizer);
    if (start.step > r.steps) throw Error("the saved training state is past the end of this run");
  }

  const schedules::TaskSchedule schedule(r.schedule, r.steps, r.task_index);
  MixturePlanner planner(*r.corpus, r.shares, r.batch_size, r.seed);
  BatchLoader loader(*r.corpus, planner, CaptionTokens(*r.corpus, r.config.context_length), r.config.image_size,
                     start.step, r.steps, static_cast<int>(r.loader_threads), static_cast<int>(r.loader_threads) + 2);

  TrainOutcome outcome;
  outcome.device = cuda ? "cuda" : "cpu";
#if FOMO_HAS_CUDA
  if (cuda) c10::cuda::CUDACachingAllocator::resetPeakStats(device.index() < 0 ? 0 : device.index());
#endif
  const auto began = Clock::now();
  auto elapsed = [&] { return std::chrono::duration<double>(Clock::now() - began).count(); };
  double last_checkpoint = 0;
  const double max_logit_scale = std::log(100.0);

  int64_t step = start.step;
  for (; step < r.steps; ++step) {
    if (r.should_stop && r.should_stop()) {
      SaveState(r.state_path, model, optimizer, step, start.seconds + elapsed());
      outcome.interrupted = true;
      break;
    }
    Batch batch = loader.Next();
    const double lr = schedule.LearningRate(step);
    torch::Tensor loss;
    {
      CudaAutocast autocast(cuda);
      auto images = batch.images.to(device, /*non_blocking=*/true);
      auto tokens = batch.tokens.to(device, true);
      auto image_features = model->EncodeImage(images);
      auto text_features = model->EncodeText(tokens);
      loss = ContrastiveLoss(image_features, text_features, model->logit_scale, batch.caption_ids.to(device, true));
    }
    const double loss_value = loss.item<double>();
    if (!std::isfinite(loss_value)) {
      throw Error(fmt::format("the loss became {} at step {} (lr {:.3g}); nothing was committed",
                              std::isnan(loss_value) ? "NaN" : "infinite", step + 1, lr));
    }
    optimizer.ZeroGrad();
    loss.backward();
    if (r.clip_norm > 0) torch::nn::utils::clip_grad_norm_(trainable_params, r.clip_norm);
    optimizer.Step(lr);
    if (!r.temperature) {
      torch::NoGradGuard no_grad;
      model->logit_scale.clamp_(0, max_logit_scale);
    }

    StepReport report;
    report.step = step + 1;
    report.steps = r.steps;
    report.loss = loss_value;
    report.lr = lr;
    report.seconds = elapsed();
    report.samples_per_second = static_cast<double>((step + 1 - start.step) * r.batch_size) / std::max(report.seconds, 1e-9);
    if (r.on_step) r.on_step(report);
    if (!r.state_path.empty() && r.checkpoint_seconds > 0 && report.seconds - last_checkpoint >= r.checkpoint_seconds &&
        step + 1 < r.steps) {
      SaveState(r.state_path, model, optimizer, step + 1, start.seconds + report.seconds);
      last_checkpoint = report.seconds;
      CrashPoint("training-checkpoint");
    }
  }
  outcome.steps_done = step;
#if FOMO_HAS_CUDA
  if (cuda) {
    // Index 0 of the per-pool statistics is the aggregate over all pools.
    auto stats = c10::cuda::CUDACachingAllocator::getDeviceStats(device.index() < 0 ? 0 : device.index());
    outcome.peak_memory_bytes = static_cast<double>(stats.allocated_bytes[0].peak);
  }
#endif
  outcome.seconds = start.seconds + elapsed();
  if (!outcome.interrupted) {
    auto params = model->named_parameters();
    for (const auto& [name, shape] : r.config.ExpectedTensors()) outcome.weights.push_back(ToStored(params[name]));
  }
  return outcome;
}

}  // namespace fomo::train
