#include "train/training_job.hpp"

#include <csignal>
#include <cmath>
#include <cstdlib>

#include <array>
#include <atomic>
#include <chrono>
#include <ctime>
#include <memory>
#include <optional>

#include <fmt/format.h>

#include "core/dataset.hpp"
#include "core/tokenizer.hpp"
#include "storage/error.hpp"
#include "train/budget.hpp"

namespace fomo::train {

namespace {

std::atomic<int> g_stop_signal{0};

extern "C" void OnStopSignal(int signal) { g_stop_signal.store(signal); }

// Ctrl-C and kill (SIGTERM) ask the trainer to save its state and stop at the next
// step; a second Ctrl-C while saving has the default effect.
class StopSignals {
 public:
  StopSignals() {
    g_stop_signal.store(0);
    struct sigaction action {};
    action.sa_handler = OnStopSignal;
    action.sa_flags = SA_RESETHAND;
    sigemptyset(&action.sa_mask);
    ::sigaction(SIGINT, &action, &old_int_);
    ::sigaction(SIGTERM, &action, &old_term_);
  }
  ~StopSignals() {
    ::sigaction(SIGINT, &old_int_, nullptr);
    ::sigaction(SIGTERM, &old_term_, nullptr);
  }
  bool requested() const { return g_stop_signal.load() != 0; }

 private:
  struct sigaction old_int_ {};
  struct sigaction old_term_ {};
};

struct LoadedSource {
  std::vector<std::string> selectors;
  std::vector<std::unique_ptr<core::ImageSet>> sets;
  int64_t images = 0;
};

// Loads each selector's images and adds them to the corpus: class datasets offer
// every template of the class as a caption, caption datasets their own caption.
LoadedSource LoadSource(const core::DatasetRegistry& registry, const std::vector<std::string>& selectors, int source,
                        uint64_t seed, TrainCorpus& corpus, Reporter& reporter) {
  LoadedSource loaded;
  for (const auto& text : selectors) {
    core::Selector selector = core::Selector::Parse(TrainingSelector(text), registry);
    const core::DatasetSpec& spec = registry.Get(selector.dataset);
    auto set = std::make_unique<core::ImageSet>(core::LoadImages(spec, selector, seed));
    if (set->skipped) reporter.Note(fmt::format("{}: {}", selector.Canonical(), set->SkippedNote()));
    if (set->count() == 0) throw Error(fmt::format("selector '{}' selects no images", text));
    for (int64_t i = 0; i < set->count(); ++i) {
      TrainSample sample;
      sample.image = &set->images[static_cast<size_t>(i)];
      if (spec.has_captions()) {
        sample.captions.push_back(corpus.Caption(set->captions[static_cast<size_t>(i)]));
      } else {
        const std::string& name = spec.classes.at(static_cast<size_t>(set->labels[static_cast<size_t>(i)]));
        for (const auto& tmpl : spec.templates) sample.captions.push_back(corpus.Caption(core::FillTemplate(tmpl, name)));
      }
      corpus.sources[source].push_back(std::move(sample));
    }
    loaded.images += set->count();
    loaded.selectors.push_back(selector.Canonical());
    loaded.sets.push_back(std::move(set));
  }
  corpus.descriptions[source] = fmt::format("{}", fmt::join(loaded.selectors, " "));
  return loaded;
}

constexpr uint64_t kReservoirStream = 0x726573657276ull;  // "reserv": the buffer's own draws

// A bounded buffer: the reservoir of `capacity` samples over the earlier
// updates' data in their order (ReservoirSample).
void KeepReservoir(TrainCorpus& corpus, LoadedSource& loaded, int64_t capacity, uint64_t seed) {
  auto& samples = corpus.sources[kBuffer];
  const auto total = static_cast<int64_t>(samples.size());
  if (total <= capacity) return;
  std::vector<TrainSample> kept;
  for (int64_t i : ReservoirSample(total, capacity, MixSeed(seed, kReservoirStream))) {
    kept.push_back(std::move(samples[static_cast<size_t>(i)]));
  }
  samples = std::move(kept);
  loaded.images = capacity;
  corpus.descriptions[kBuffer] += fmt::format(" (a reservoir of {} of their {} images)", capacity, total);
}

}  // namespace

std::string TrainingSelector(const std::string& text) {
  return text.find('@') == std::string::npos
             ? (text.find('#') == std::string::npos ? text + "@train"
                                                    : text.substr(0, text.find('#')) + "@train" + text.substr(text.find('#')))
             : text;
}

TrainingResult RunTraining(Reporter& reporter, const YAML::Node& document, const TrainingJob& job) {
  const UpdateOptions& o = job.options;
  o.method.Validate();
  CheckFreezePatterns(job.config, o.method);
  if (o.data.empty()) throw UsageError("no training data: give --data SELECTOR (e.g. --data fmnist:5-9)");
  // Captions are CLIP token ids up to 49407: a smaller vocabulary cannot read them.
  const auto clip_vocab = static_cast<int64_t>(core::ClipTokenizer::Default().vocab_size());
  if (job.config.vocab_size < clip_vocab) {
    throw Error(fmt::format("this model has a vocabulary of {} tokens; training on CLIP captions needs {}",
                            job.config.vocab_size, clip_vocab));
  }
  core::DatasetRegistry registry = core::DatasetRegistry::FromYaml(document, "fomo.yaml");

  TrainCorpus corpus;
  std::vector<LoadedSource> loaded(kSourceCount);
  loaded[kUpdate] = LoadSource(registry, o.data, kUpdate, o.seed, corpus, reporter);
  loaded[kPretrain] = LoadSource(registry, job.pretrain, kPretrain, o.seed, corpus, reporter);
  loaded[kBuffer] = LoadSource(registry, job.buffer, kBuffer, o.seed, corpus, reporter);
  if (o.buffer_reservoir) KeepReservoir(corpus, loaded[kBuffer], *o.buffer_reservoir, o.seed);
  std::array<bool, kSourceCount> available{};
  for (int s = 0; s < kSourceCount; ++s) available[s] = !corpus.sources[s].empty();
  const MixtureShares shares = o.replay.Resolved(available);

  const StepCost cost = EstimateStepCost(job.config, o.batch_size, o.method);
  const int64_t steps = StepsFor(o.budget, o.batch_size, cost);

  TrainingResult result;
  result.steps = steps;
  result.estimated_memory_bytes = cost.memory_bytes;
  result.memory_multiplier = cost.memory_multiplier;
  result.trained_parameters = TrainedParameterCount(job.config, o.method);
  result.data = nlohmann::json::object();
  const auto slots = shares.Slots(o.batch_size);
  for (int s = 0; s < kSourceCount; ++s) {
    result.data[SourceName(s)] = {{"selectors", loaded[s].selectors},
                                         {"images", loaded[s].images},
                                         {"share", s == 0 ? shares.pretrain : s == 1 ? shares.update : shares.buffer},
                                         {"slots", slots[s]}};
  }

  reporter.Info(fmt::format("{}: {} steps of batch {} ({}), {} schedule, peak lr {:.3g}, task {}", job.label, steps,
                            o.batch_size, o.budget.Describe(), schedules::ScheduleName(o.schedule.kind),
                            o.schedule.peak_lr, job.task_index));
  reporter.Info(fmt::format("  method   {}: trains {} values, {} per step x memory {:.3f}", MethodName(o.method.method),
                            result.trained_parameters, FormatFlops(cost.flops) + "FLOP", cost.memory_multiplier));
  for (int s = 0; s < kSourceCount; ++s) {
    if (slots[s] == 0) continue;
    reporter.Info(fmt::format("  {:<8} {:>3} of {} per batch from {} images: {}", SourceName(s), slots[s],
                              o.batch_size, loaded[s].images, corpus.descriptions[s]));
  }

  if (job.repo) {
    result.run_id = job.run_id ? *job.run_id
                               : job.repo->db().BeginTrainingRun(job.parent_commit, job.level, o.ToJson().dump());
  }

  TrainRequest request;
  request.config = job.config;
  request.weights = job.weights;
  request.corpus = &corpus;
  request.shares = shares;
  request.steps = steps;
  request.batch_size = o.batch_size;
  request.schedule = o.schedule;
  request.task_index = job.task_index;
  request.weight_decay = o.weight_decay;
  request.clip_norm = o.clip_norm;
  request.temperature = o.temperature;
  request.seed = o.seed;
  request.device = o.device;
  request.method = o.method;
  request.method_state = job.method_state;
  request.state_path = job.state_path;
  // How often a resumable state is saved (SIGKILL loses at most this much work).
  if (const char* every = std::getenv("FOMO_CHECKPOINT_SECONDS")) request.checkpoint_seconds = std::atof(every);
  request.resume = job.resume;

  StopSignals signals;
  std::unique_ptr<Progress> meter = reporter.StartProgress(job.label, "steps");
  // Steps go to fomo.sqlite every few seconds and at the end, so a killed run's
  // curve is there up to its last flush.
  std::vector<TrainingStepRow> unsaved;
  auto flush = [&] {
    if (job.repo && result.run_id && !unsaved.empty()) job.repo->db().InsertTrainingSteps(*result.run_id, unsaved);
    unsaved.clear();
  };
  auto last_flush = std::chrono::steady_clock::now();
  std::optional<StepReport> last;
  request.on_step = [&](const StepReport& s) {
    last = s;
    meter->Update(static_cast<uint64_t>(s.step), static_cast<uint64_t>(s.steps),
                 fmt::format("loss {:.4f}, lr {:.3g}, {:.0f} samples/s", s.loss, s.lr, s.samples_per_second));
    unsaved.push_back({s.step, s.loss, s.lr, s.samples_per_second});
    if (std::chrono::steady_clock::now() - last_flush > std::chrono::seconds(5)) {
      flush();
      last_flush = std::chrono::steady_clock::now();
    }
  };
  // FOMO_STOP_AFTER_STEP=N sends this process a Ctrl-C (SIGINT) once N steps are
  // done, so tests of --resume take the real signal path without depending on timing.
  // FOMO_PAUSE_AT_STEP=N stops the process (SIGSTOP) once, after step N, as a
  // debugger would: tests do their work beside a training frozen at a known step.
  const char* stop_after = std::getenv("FOMO_STOP_AFTER_STEP");
  const int64_t stop_at = stop_after ? std::atoll(stop_after) : 0;
  const char* pause_after = std::getenv("FOMO_PAUSE_AT_STEP");
  int64_t pause_at = pause_after ? std::atoll(pause_after) : 0;
  request.should_stop = [&] {
    if (pause_at > 0 && last && last->step >= pause_at) {
      pause_at = 0;
      ::raise(SIGSTOP);
    }
    if (job.state_path.empty()) return false;
    if (stop_at > 0 && last && last->step >= stop_at && !signals.requested()) ::raise(SIGINT);
    return signals.requested();
  };
  std::unique_ptr<Progress> fisher_meter;
  request.on_fisher_batch = [&](int64_t done, int64_t total) {
    if (!fisher_meter) {
      meter->Finish();
      fisher_meter = reporter.StartProgress("ewc: Fisher pass", "batches");
    }
    fisher_meter->Update(static_cast<uint64_t>(done), static_cast<uint64_t>(total));
  };
  try {
    result.outcome = TrainModule().train(request);
    result.stop_signal = g_stop_signal.load();
  } catch (...) {
    meter->Finish();
    flush();
    throw;
  }
  meter->Finish();
  flush();

  const double samples = static_cast<double>(result.outcome.steps_done) * static_cast<double>(o.batch_size);
  result.budget.steps = result.outcome.steps_done;
  result.budget.samples = static_cast<int64_t>(samples);
  result.budget.flops = cost.flops * static_cast<double>(result.outcome.steps_done);
  result.budget.maf = cost.maf() * static_cast<double>(result.outcome.steps_done);
  result.budget.seconds = result.outcome.seconds;
  if (!result.outcome.interrupted && last) {
    reporter.Info(fmt::format("{}: {} steps in {:.1f} s on {}, final loss {:.4f}, {:.0f} samples/s", job.label,
                              result.outcome.steps_done, result.outcome.seconds, result.outcome.device, last->loss,
                              last->samples_per_second));
  }
  return result;
}

}  // namespace fomo::train
