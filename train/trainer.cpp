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
#include "train/adapters.hpp"
#include "train/galore.hpp"
#include "train/regularizers.hpp"
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

// The resumable state: parameters, the method's trainable extras (adapters),
// optimizer moments (AdamW, GaLore), SI's running importance, the step reached and
// the time spent. Data order and augmentation are functions of (seed, step), so no
// random generator state needs saving.
void SaveState(const fs::path& path, const core::ClipModel& model,
               const std::vector<std::pair<std::string, torch::Tensor>>& extra, int64_t step, double seconds) {
  std::vector<std::pair<std::string, torch::Tensor>> named;
  for (const auto& item : model->named_parameters()) named.emplace_back("param." + item.key(), item.value());
  named.insert(named.end(), extra.begin(), extra.end());
  std::vector<Tensor> stored;
  stored.reserve(named.size());
  for (const auto& [name, t] : named) stored.push_back(core::ToStoredF32(t));
  std::vector<NamedTensor> views;
  for (size_t i = 0; i < named.size(); ++i) views.push_back({named[i].first, stored[i].view()});
  core::WriteSafetensors(path, views,
                         {{"format", kStateFormat}, {"step", std::to_string(step)}, {"seconds", fmt::format("{}", seconds)}});
}

struct SavedState {
  int64_t step = 0;
  double seconds = 0;
  std::vector<std::pair<std::string, torch::Tensor>> extra;  // everything but the model's parameters
};

SavedState LoadState(const fs::path& path, core::ClipModel& model) {
  auto file = core::SafetensorsFile::Open(path);
  const auto& meta = file.metadata();
  auto format = meta.find("format");
  if (format == meta.end() || format->second != kStateFormat) {
    throw Error(fmt::format("'{}' is not a fomo training state", path.string()));
  }
  SavedState saved;
  try {
    saved.step = std::stoll(meta.at("step"));
    saved.seconds = std::stod(meta.at("seconds"));
  } catch (const std::exception&) {
    throw Error(fmt::format("'{}': unreadable step or time in the training state", path.string()));
  }
  std::vector<NamedTensor> params;
  for (const auto& t : file.tensors()) {
    if (t.name.rfind("param.", 0) == 0) {
      params.push_back({t.name.substr(6), t.view});
    } else {
      saved.extra.emplace_back(t.name, core::ToTorch(t.view).clone());
    }
  }
  core::LoadWeights(model, params);
  return saved;
}

void RestoreAdapters(const std::vector<std::pair<std::string, torch::Tensor>>& saved, const Adapters& adapters) {
  torch::NoGradGuard no_grad;
  std::map<std::string, torch::Tensor> by_name(saved.begin(), saved.end());
  for (const auto& [name, p] : adapters.parameters()) {
    auto it = by_name.find(name);
    if (it == by_name.end() || !it->second.sizes().equals(p.sizes())) {
      throw Error(fmt::format("the saved training state lacks adapter '{}' or has another shape", name));
    }
    p.copy_(it->second);
  }
}

// GaLore takes the residual blocks' weight matrices; AdamW the rest.
bool GaloreTakes(const std::string& name, const torch::Tensor& p) {
  return p.dim() == 2 && name.find("resblocks.") != std::string::npos;
}

}  // namespace

TrainOutcome Train(const TrainRequest& r) {
  if (!r.corpus) throw Error("training needs data");
  if (r.steps <= 0) throw UsageError("training needs at least one step");
  if (r.batch_size <= 0) throw UsageError("the batch size must be positive");
  const torch::Device device = PickDevice(r.device);
  const bool cuda = device.is_cuda();

  const MethodOptions& method = r.method;
  core::ClipModel model(r.config);
  core::LoadWeights(model, r.weights);
  model->to(device);
  model->train();
  for (auto& item : model->named_parameters()) item.value().set_requires_grad(TrainsTensor(method, item.key()));
  const bool learn_temperature = !r.temperature && method.TrainsTemperature();
  if (r.temperature) {
    torch::NoGradGuard no_grad;
    model->logit_scale.fill_(-std::log(*r.temperature));
  }
  model->logit_scale.set_requires_grad(learn_temperature);

  Adapters adapters(model, method, r.seed);
  std::vector<std::pair<std::string, torch::Tensor>> model_trainable, adam_params, galore_params;
  for (const auto& item : model->named_parameters()) {
    if (item.value().requires_grad()) model_trainable.emplace_back(item.key(), item.value());
  }
  for (const auto& entry : model_trainable) {
    (method.method == Method::kGalore && GaloreTakes(entry.first, entry.second) ? galore_params : adam_params)
        .push_back(entry);
  }
  adam_params.insert(adam_params.end(), adapters.parameters().begin(), adapters.parameters().end());
  AdamW optimizer(DecayGroups(adam_params, r.weight_decay), r.beta1, r.beta2, r.eps);
  Galore galore(galore_params, method.galore_rank, method.galore_gap, method.galore_scale, r.weight_decay, r.beta1,
                r.beta2, r.eps);
  Regularizer regularizer(method, model_trainable, r.method_state);
  std::vector<torch::Tensor> trainable_params;
  for (const auto& entry : adam_params) trainable_params.push_back(entry.second);
  for (const auto& entry : galore_params) trainable_params.push_back(entry.second);
  if (trainable_params.empty()) throw UsageError(fmt::format("--method {} trains nothing of this model", MethodName(method.method)));

  auto extra_state = [&] {
    std::vector<std::pair<std::string, torch::Tensor>> extra(adapters.parameters());
    for (auto& entry : optimizer.State()) extra.push_back(std::move(entry));
    for (auto& entry : galore.State()) extra.push_back(std::move(entry));
    for (auto& entry : regularizer.RunningState()) extra.push_back(std::move(entry));
    return extra;
  };
  auto save = [&](int64_t step, double seconds) { SaveState(r.state_path, model, extra_state(), step, seconds); };
  auto zero_grads = [&] {
    optimizer.ZeroGrad();
    galore.ZeroGrad();
  };
  // One forward pass and its loss on a batch (adapters re-formed first).
  auto batch_loss = [&](const Batch& batch) {
    CudaAutocast autocast(cuda);
    if (!adapters.empty()) adapters.Apply();
    auto images = batch.images.to(device, /*non_blocking=*/true);
    auto tokens = batch.tokens.to(device, true);
    auto image_features = model->EncodeImage(images);
    auto text_features = model->EncodeText(tokens);
    return ContrastiveLoss(image_features, text_features, model->logit_scale, batch.caption_ids.to(device, true));
  };

  SavedState start;
  if (r.resume) {
    start = LoadState(r.state_path, model);
    if (start.step > r.steps) throw Error("the saved training state is past the end of this run");
    RestoreAdapters(start.extra, adapters);
    optimizer.Restore(start.extra, start.step);
    galore.Restore(start.extra, start.step);
    regularizer.RestoreRunning(start.extra);
    start.extra.clear();  // restored; no second copy of the state for the whole run
  }

  const schedules::TaskSchedule schedule(r.schedule, r.steps, r.task_index);
  MixturePlanner planner(*r.corpus, r.shares, r.batch_size, r.seed);
  const torch::Tensor caption_tokens = CaptionTokens(*r.corpus, r.config.context_length);
  BatchLoader loader(*r.corpus, planner, caption_tokens, r.config.image_size,
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
      save(step, start.seconds + elapsed());
      outcome.interrupted = true;
      break;
    }
    Batch batch = loader.Next();
    const double lr = schedule.LearningRate(step);
    torch::Tensor loss = batch_loss(batch);
    if (torch::Tensor penalty = regularizer.Penalty(); penalty.defined()) loss = loss + penalty;
    const double loss_value = loss.item<double>();
    if (!std::isfinite(loss_value)) {
      throw Error(fmt::format("the loss became {} at step {} (lr {:.3g}); nothing was committed",
                              std::isnan(loss_value) ? "NaN" : "infinite", step + 1, lr));
    }
    zero_grads();
    loss.backward();
    if (r.clip_norm > 0) torch::nn::utils::clip_grad_norm_(trainable_params, r.clip_norm);
    regularizer.AfterBackward(lr);
    optimizer.Step(lr);
    if (!galore_params.empty()) galore.Step(lr);
    if (learn_temperature) {
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
      save(step + 1, start.seconds + report.seconds);
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
    if (regularizer.needs_fisher()) {
      // EWC's Fisher pass: squared gradients on batches of the update's own data.
      const int64_t batches = std::max<int64_t>(1, (method.fisher_samples + r.batch_size - 1) / r.batch_size);
      MixturePlanner fisher_planner(*r.corpus, MixtureShares{0, 1, 0}, r.batch_size, r.seed + 1);
      BatchLoader fisher_loader(*r.corpus, fisher_planner, caption_tokens,
                                r.config.image_size, 0, batches, static_cast<int>(r.loader_threads),
                                static_cast<int>(r.loader_threads) + 2);
      for (int64_t b = 0; b < batches; ++b) {
        zero_grads();
        batch_loss(fisher_loader.Next()).backward();
        regularizer.AddFisherBatch();
        if (r.on_fisher_batch) r.on_fisher_batch(b + 1, batches);
      }
      zero_grads();
    }
    outcome.method_state = regularizer.Finish();
    if (!adapters.empty()) outcome.low_rank = adapters.Merge();
    auto params = model->named_parameters();
    for (const auto& [name, shape] : r.config.ExpectedTensors()) outcome.weights.push_back(core::ToStoredF32(params[name]));
  }
  return outcome;
}

}  // namespace fomo::train
