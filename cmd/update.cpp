// fomo patch|minor|major: train from HEAD (or --from REV) on --data, evaluate on the
// repository's suites, commit the bumped version. With --require, the version is
// promoted only if the gate holds; otherwise it stays on rejected/<version> and the
// command exits 3. Ctrl-C leaves a resumable state in .fomo/train.
#include "cmd/update.hpp"

#include <cstdlib>
#include <iostream>

#include <fmt/format.h>

#include "cmd/evaluate_new.hpp"
#include "cmd/gate_commit.hpp"
#include "cmd/output.hpp"
#include "cmd/train_run.hpp"
#include "cmd/version_view.hpp"
#include "core/checkpoint.hpp"
#include "core/evaluation.hpp"
#include "core/gate.hpp"
#include "core/weight_dtype.hpp"
#include "merge/merge_versions.hpp"
#include "storage/atomic_file.hpp"
#include "storage/error.hpp"
#include "storage/versions.hpp"
#include "storage/training_runs.hpp"
#include "train/history.hpp"

namespace fomo::cmd {

namespace {

// Every training option is a string, empty when not given: the level's defaults
// from fomo.yaml fill the rest, and --resume must come alone.
struct UpdateArgs {
  std::vector<std::string> data;
  std::string method, schedule, lr, warmup, cooldown, steps, samples, budget, replay, batch_size, seed,
      weight_decay, temperature, device, merge, dtype;
  // Method options.
  std::string rank, adapter_scale, targets, galore_rank, galore_gap, galore_scale, ewc_lambda, ewc_gamma,
      fisher_samples, si_c, si_xi;
  std::vector<std::string> freeze;
  bool tune_temperature = false;
  std::string from, anchor, message, require;
  bool no_eval = false;
  bool resume = false;
  bool abort = false;

  bool AnyTrainingOption() const {
    return !data.empty() || !method.empty() || !schedule.empty() || !lr.empty() || !warmup.empty() ||
           !cooldown.empty() || !steps.empty() || !samples.empty() || !budget.empty() || !replay.empty() ||
           !batch_size.empty() || !seed.empty() || !weight_decay.empty() || !temperature.empty() ||
           !device.empty() || !merge.empty() || !dtype.empty() || !from.empty() || !anchor.empty() || !rank.empty() ||
           !adapter_scale.empty() || !targets.empty() || !galore_rank.empty() || !galore_gap.empty() ||
           !galore_scale.empty() || !ewc_lambda.empty() || !ewc_gamma.empty() || !fisher_samples.empty() ||
           !si_c.empty() || !si_xi.empty() || !freeze.empty() || tune_temperature;
  }
};

void ApplyMethodArgs(const UpdateArgs& a, train::MethodOptions& m) {
  if (!a.method.empty()) {
    const train::Method chosen = train::ParseMethod(a.method);
    // Another method than fomo.yaml's default starts from that method's defaults.
    if (chosen != m.method) m = train::MethodOptions{};
    m.method = chosen;
  }
  if (!a.rank.empty()) m.rank = ParseOptionCount("--rank", a.rank);
  if (!a.adapter_scale.empty()) m.scale = ParseOptionNumber("--adapter-scale", a.adapter_scale);
  if (!a.targets.empty()) m.targets = train::ParseNameList(a.targets);
  if (!a.freeze.empty()) {
    m.freeze.clear();
    for (const auto& f : a.freeze) {
      for (auto& p : train::ParseNameList(f)) m.freeze.push_back(p);
    }
  }
  if (!a.galore_rank.empty()) m.galore_rank = ParseOptionCount("--galore-rank", a.galore_rank);
  if (!a.galore_gap.empty()) m.galore_gap = ParseOptionCount("--galore-gap", a.galore_gap);
  if (!a.galore_scale.empty()) m.galore_scale = ParseOptionNumber("--galore-scale", a.galore_scale);
  if (!a.ewc_lambda.empty()) m.ewc_lambda = ParseOptionNumber("--ewc-lambda", a.ewc_lambda);
  if (!a.ewc_gamma.empty()) m.ewc_gamma = ParseOptionNumber("--ewc-gamma", a.ewc_gamma);
  if (!a.fisher_samples.empty()) m.fisher_samples = ParseOptionCount("--fisher-samples", a.fisher_samples);
  if (!a.si_c.empty()) m.si_c = ParseOptionNumber("--si-c", a.si_c);
  if (!a.si_xi.empty()) m.si_xi = ParseOptionNumber("--si-xi", a.si_xi);
  if (a.tune_temperature) m.tune_temperature = true;
  m.Validate();
}

train::UpdateOptions OptionsFor(const std::string& level, const UpdateArgs& a, const YAML::Node& document) {
  train::UpdateOptions o = train::UpdateOptions::Defaults(level, document, "fomo.yaml");
  if (!a.data.empty()) o.data = a.data;
  ApplyMethodArgs(a, o.method);
  if (!a.schedule.empty()) o.schedule.kind = schedules::ParseScheduleKind(a.schedule);
  // --lr is taken as given; otherwise the level's lr, scaled for the method.
  if (!a.lr.empty()) {
    o.schedule.peak_lr = ParseOptionNumber("--lr", a.lr);
  } else {
    o.schedule.peak_lr *= train::MethodLrScale(o.method.method);
  }
  if (!a.warmup.empty()) o.schedule.warmup = ParseOptionNumber("--warmup", a.warmup);
  if (!a.cooldown.empty()) o.schedule.cooldown = ParseOptionNumber("--cooldown", a.cooldown);
  const int budgets = !a.steps.empty() + !a.samples.empty() + !a.budget.empty();
  if (budgets > 1) throw UsageError("give the budget one way: --steps, --samples or --budget");
  if (!a.steps.empty()) o.budget = {ParseOptionCount("--steps", a.steps), std::nullopt, std::nullopt};
  if (!a.samples.empty()) o.budget = {std::nullopt, ParseOptionCount("--samples", a.samples), std::nullopt};
  if (!a.budget.empty()) o.budget = {std::nullopt, std::nullopt, train::ParseFlops(a.budget)};
  if (!a.replay.empty()) o.replay = train::MixtureShares::Parse(a.replay);
  if (!a.batch_size.empty()) o.batch_size = ParseOptionCount("--batch-size", a.batch_size);
  if (!a.seed.empty()) {
    double v = ParseOptionNumber("--seed", a.seed);
    if (v < 0 || v != std::floor(v)) throw UsageError(fmt::format("--seed must be a whole number >= 0, not '{}'", a.seed));
    o.seed = static_cast<uint64_t>(v);
  }
  if (!a.weight_decay.empty()) o.weight_decay = ParseOptionNumber("--weight-decay", a.weight_decay);
  if (!a.temperature.empty()) {
    double t = ParseOptionNumber("--temperature", a.temperature);
    if (t <= 0) throw UsageError("--temperature must be positive");
    o.temperature = t;
  }
  if (!a.device.empty()) o.device = a.device;
  if (!a.merge.empty()) o.merge = train::MergeUpdate::Parse(a.merge);
  // Check the schedule's shares now rather than after the data is loaded.
  schedules::TaskSchedule(o.schedule, 1000, 0);
  return o;
}

void WriteRunFile(const fs::path& path, const nlohmann::json& run) {
  std::string text = run.dump(2) + "\n";
  WriteFileAtomic(path, text.data(), text.size());
}

// --merge: commits the finetuned weights as they are (no ref of their own; the
// merged version names them as its second parent, so nothing is lost and `fomo diff
// vX.Y.Z^2 vX.Y.Z` compares them), then turns the draft into the merge of those
// weights with the current version (ema, zeroshot) or the anchor (finetune),
// computed tensor by tensor in the object store.
void MergeFinetuned(Context& ctx, const train::MergeUpdate& merge, const StoredVersion& trained_from,
                    const CommitId& anchor, VersionDraft& draft, const StoreProgress& progress) {
  Repository& repo = ctx.repo();
  const CommitId current = draft.parents.front();
  VersionDraft finetuned = draft;
  finetuned.kind = "finetuned";
  finetuned.parents = {trained_from.commit.id};
  finetuned.branch = std::string();  // no ref: the merged version keeps it reachable
  finetuned.tag = false;
  finetuned.message = fmt::format("{} (finetuned, before the {} merge)", draft.message, merge.ToString());
  const StoredVersion tuned = *CommitVersion(repo, finetuned, progress);

  const CommitId partner_commit = merge.MergesWith() == train::MergeRole::kAnchor ? anchor : current;
  const StoredVersion partner = LoadVersion(repo.graph(), partner_commit);
  const std::string anchor_tag =
      partner_commit == anchor ? partner.version.Tag() : LoadVersion(repo.graph(), anchor).version.Tag();
  merge::MergeParams params;
  params.weights = {1.0 - merge.w, merge.w};
  merge::MergedTensors merged = merge::MergeVersions(
      repo.objects(), {&tuned.manifest, &partner.manifest}, nullptr, merge::MergeMethod::kLinear,
      [&](const std::string&) -> const merge::MergeParams& { return params; }, progress);

  draft.tensors.clear();
  draft.low_rank.clear();  // the merged weights are no low-rank update of the current version
  draft.stored = merged.entries;
  draft.written_objects = merged.written;
  draft.parents = {current, tuned.commit.id};
  draft.recipe["merge"] = {{"strategy", merge.StrategyName()},
                           {"w", merge.w},
                           {"anchor", anchor_tag},
                           {"anchor_commit", anchor},
                           {"trained_from_commit", trained_from.commit.id},
                           {"merged_with", partner.version.Tag()},
                           {"merged_with_commit", partner_commit},
                           {"finetuned_commit", tuned.commit.id}};
  draft.message = fmt::format("{}, {} merge", draft.message, merge.ToString());
}

// The interrupted run --resume or --abort means: the one of this level, the one
// on HEAD's branch when several wait.
TrainingRunDir PickInterrupted(const std::vector<TrainingRunDir>& runs, const std::string& level,
                               const HeadState& head, const char* verb) {
  std::vector<const TrainingRunDir*> waiting, of_level;
  for (const auto& r : runs) {
    if (r.running || !r.run.is_object()) continue;
    waiting.push_back(&r);
    if (r.level() == level) of_level.push_back(&r);
  }
  if (waiting.empty()) {
    size_t running = 0;
    for (const auto& r : runs) running += r.running;
    throw Error(fmt::format("nothing to {}: no interrupted update in .fomo/train{}", verb,
                            running ? fmt::format(" ({} running now; 'fomo status' shows them)", running) : ""));
  }
  if (of_level.empty()) {
    throw UsageError(fmt::format("the interrupted update is a 'fomo {0}': {1} it with 'fomo {0} --{1}'",
                                 waiting.front()->level(), verb));
  }
  if (of_level.size() > 1 && head.branch) {
    std::vector<const TrainingRunDir*> here;
    for (const auto* r : of_level) {
      if (r->line() == *head.branch) here.push_back(r);
    }
    if (!here.empty()) of_level = here;
  }
  if (of_level.size() > 1) {
    std::vector<std::string> described;
    for (const auto* r : of_level) described.push_back(r->Describe());
    throw Error(fmt::format("{} interrupted 'fomo {}' runs wait ({}); switch to the branch of the one to {}",
                            of_level.size(), level, fmt::join(described, "; "), verb));
  }
  return *of_level.front();
}

// Removes a run's directory, and .fomo/train with it when it is left empty.
void DropRunDir(const fs::path& dir) {
  std::error_code ec;
  fs::remove_all(dir, ec);
  fs::remove(dir.parent_path(), ec);  // fails, as it should, while other runs remain
}

int RunUpdate(Context& ctx, BumpLevel level, const UpdateArgs& a) {
  Repository& repo = ctx.repo();
  const std::string level_name(BumpLevelName(level));
  const bool chatty = !ctx.global.quiet && !ctx.global.json;
  repo.RequireWritable();
  const std::vector<TrainingRunDir> runs = ListTrainingRuns(repo.fomo_dir());
  const HeadState head = repo.graph().Head();

  // This process's run directory, held (its lock) until the command ends: others
  // see it running, and a free lock means interrupted.
  TrainingRunDir dir;
  std::unique_ptr<RepoLock> claimed;
  if (a.abort) {
    dir = PickInterrupted(runs, level_name, head, "abort");
    claimed = ClaimTrainingRun(dir);
    if (dir.run.contains("run_id")) repo.db().FinishTrainingRun(dir.run["run_id"].get<int64_t>(), "aborted", std::nullopt);
    claimed.reset();
    DropRunDir(dir.dir);
    if (chatty) std::cout << "dropped the interrupted update\n";
    return 0;
  }

  nlohmann::json run;
  if (a.resume) {
    if (a.AnyTrainingOption()) {
      throw UsageError("--resume takes no training options: the interrupted run remembers them");
    }
    dir = PickInterrupted(runs, level_name, head, "resume");
    run = dir.run;
    if (!run.contains("options")) throw Error(fmt::format("'{}' is unreadable", dir.run_file().string()));
    claimed = ClaimTrainingRun(dir);
    // Saved by a fomo before publish-time locking: the line is HEAD's if it is still there.
    if (!run.contains("line")) run["line"] = LineAt(repo.graph(), run["from"].get<std::string>());
  } else {
    const CommitId from = ResolveRevision(repo, a.from.empty() ? "HEAD" : a.from);
    const std::string line = LineAt(repo.graph(), from);
    for (const auto& r : runs) {
      if (r.running || !r.run.is_object() || r.line() != line || line.empty()) continue;
      throw Error(fmt::format("an interrupted 'fomo {0}' on '{1}' is waiting in .fomo/train: continue it with 'fomo {0} "
                              "--resume' or drop it with 'fomo {0} --abort'",
                              r.level(), line));
    }
    train::UpdateOptions options = OptionsFor(level_name, a, repo.config().document);
    if (!a.dtype.empty()) core::ParseWeightDtype(a.dtype, "--dtype");
    train::LineHistory history = train::ReadLineHistory(repo.graph(), from);
    std::vector<std::string> data;
    for (const auto& s : options.data) data.push_back(TrainingSelector(s));
    options.data = data;
    // A typo or a dataset no suite measures fails now, not after hours of training.
    if (!a.require.empty()) CheckGateMeasurable(repo, a.require, options.data);
    // theta_0 of the merge strategies (and base. in --require): --anchor, else the
    // anchor the line's last merge-based update used, else the root version.
    if (!a.anchor.empty() && !options.merge) {
      throw UsageError("--anchor names the model --merge trains from or merges with: give --merge too");
    }
    CommitId anchor = history.anchor;
    if (!a.anchor.empty()) {
      anchor = ResolveRevision(repo, a.anchor);
    } else if (history.merge_anchor && repo.graph().Resolve(*history.merge_anchor)) {
      anchor = *history.merge_anchor;
    }
    const bool from_anchor = options.merge && options.merge->TrainsFrom() == train::MergeRole::kAnchor;
    run = {{"level", level_name},
           {"from", from},
           {"line", line},
           {"train_from", from_anchor ? anchor : from},
           {"options", options.ToJson()},
           {"dtype", a.dtype},
           {"task_index", history.task_index},
           {"pretrain", history.pretrain},
           {"buffer", history.updates},
           {"anchor", anchor},
           {"message", a.message},
           {"require", a.require},
           {"no_eval", a.no_eval}};
  }
  const CommitId from = run["from"].get<std::string>();
  const train::UpdateOptions options = train::UpdateOptions::FromJson(run["options"]);
  const std::string require = run.value("require", "");
  const bool no_eval = run.value("no_eval", false);

  const CommitId train_from = run.value("train_from", from);
  StoredVersion parent = LoadVersion(repo.graph(), from);
  const StoredVersion source = train_from == from ? parent : LoadVersion(repo.graph(), train_from);
  if (source.config_json != parent.config_json) {
    throw Error(fmt::format("the anchor {} has another model config than {}: merge strategies need one architecture",
                            source.version.Tag(), parent.version.Tag()));
  }
  const core::ClipConfig config = core::ClipConfig::FromJsonText(parent.config_json, "repository config");
  // The number it would get now, for progress lines; the publish step settles it.
  const SemVer next = NextFreeVersion(repo.graph(), parent.version, level);
  core::CheckManifest(source.manifest, config, source.version.Tag());
  core::StoredWeights weights = core::ReadWeights(repo.objects(), source.manifest, repo.config().storage.threads);
  core::StoredWeights carried = core::ReadWeights(repo.objects(), source.method_state, repo.config().storage.threads);

  TrainingJob job;
  job.label = "training " + next.Tag();
  job.config = config;
  job.weights = weights.named;
  job.method_state = carried.named;
  job.options = options;
  job.task_index = run["task_index"].get<int64_t>();
  job.pretrain = run["pretrain"].get<std::vector<std::string>>();
  job.buffer = run["buffer"].get<std::vector<std::string>>();
  job.resume = a.resume && fs::exists(dir.state_file());
  job.repo = &repo;
  if (run.contains("run_id")) job.run_id = run["run_id"].get<int64_t>();
  job.parent_commit = train_from;
  job.level = level_name;

  if (!a.resume) {
    job.run_id = repo.db().BeginTrainingRun(from, level_name, run["options"].dump());
    run["run_id"] = *job.run_id;
    claimed = ClaimNewTrainingRun(repo.fomo_dir(), *job.run_id, &dir);
    WriteRunFile(dir.run_file(), run);
  }
  job.state_path = dir.state_file();
  TrainingResult trained;
  try {
    trained = RunTraining(ctx, repo.config().document, job);
  } catch (...) {
    // A failed run (NaN loss, bad data) cannot be resumed into anything better.
    if (job.run_id) repo.db().FinishTrainingRun(*job.run_id, "failed", std::nullopt);
    claimed.reset();
    DropRunDir(dir.dir);
    throw;
  }
  if (trained.outcome.interrupted) {
    // Exit as a shell reports the signal (130 for Ctrl-C, 143 for SIGTERM), so a
    // script can tell a stop from a failure.
    const int code = trained.stop_signal ? 128 + trained.stop_signal : static_cast<int>(ExitCode::kInterrupted);
    throw Error(fmt::format("interrupted at step {} of {}; the state is saved: 'fomo {} --resume' finishes the update",
                            trained.outcome.steps_done, trained.steps, level_name),
                static_cast<ExitCode>(code));
  }

  // The version.
  VersionDraft draft;
  auto expected = config.ExpectedTensors();
  std::vector<NamedTensor> trained_weights;
  for (size_t i = 0; i < expected.size(); ++i) trained_weights.push_back({expected[i].first, trained.outcome.weights[i].view()});
  // Trained in F32 master weights, committed in the parent's dtype unless --dtype.
  const std::string dtype_option = run.value("dtype", "");
  const core::ConvertedWeights kept =
      dtype_option.empty() ? core::ConvertWeightsLike(trained_weights, parent.manifest)
                           : core::ConvertWeights(trained_weights, core::ParseWeightDtype(dtype_option, "--dtype"));
  draft.tensors = kept.named;
  const size_t dtype_changes = core::CountDtypeChanges(kept.named, parent.manifest);
  if (dtype_changes && chatty) {
    std::cout << fmt::format("note: --dtype changes the line from {} to {}: tensors are stored as full frames, not deltas\n",
                             core::DescribeDtypes(parent.manifest), core::DescribeDtypes(kept.named));
  }
  draft.config_json = parent.config_json;
  draft.low_rank = trained.outcome.low_rank;
  for (const auto& [name, t] : trained.outcome.method_state) draft.method_state.push_back({name, t.view()});
  draft.recipe = {{"command", "fomo " + level_name},
                  {"level", level_name},
                  {"from", parent.version.Tag()},
                  {"from_commit", from},
                  {"data", options.data},
                  {"method", train::MethodName(options.method.method)},
                  {"method_options", options.method.ToJson()},
                  {"trained_parameters", trained.trained_parameters},
                  {"options", run["options"]},
                  {"task_index", job.task_index},
                  {"anchor", run["anchor"]},
                  {"replay_data", job.pretrain},
                  {"buffer_data", job.buffer},
                  {"mixture", trained.data},
                  {"steps", trained.steps},
                  {"device", trained.outcome.device},
                  {"memory",
                   {{"estimated_bytes", trained.estimated_memory_bytes},
                    {"measured_peak_bytes", trained.outcome.peak_memory_bytes > 0
                                                ? nlohmann::json(trained.outcome.peak_memory_bytes)
                                                : nlohmann::json(nullptr)},
                    {"multiplier", trained.memory_multiplier}}},
                  {"fomo_version", FOMO_VERSION}};
  draft.recipe["dtype"] = core::DescribeDtypes(kept.named);
  if (!dtype_option.empty()) draft.recipe["dtype_option"] = dtype_option;
  if (!require.empty()) draft.recipe["require"] = require;
  std::string message = run.value("message", "");
  if (message.empty()) {
    message = fmt::format("{}: {} on {} ({} steps)", level_name, train::MethodName(options.method.method), fmt::join(options.data, " "),
                          trained.steps);
  }
  draft.message = message;
  draft.kind = "train";
  draft.parents = {from};
  draft.bump = level;
  draft.budget = trained.budget;
  draft.allow_empty = true;
  // The publish step: the write lock from here until the refs have moved.
  repo.LockForWriting(ctx.global.quiet);
  Publication publication({require, run.value("line", ""), from, parent.version, level});
  ProgressMeter meter("storing tensors", chatty);
  const StoreProgress progress = [&](uint64_t d, uint64_t t) { meter.Update(d, t); };
  if (options.merge) MergeFinetuned(ctx, *options.merge, source, run["anchor"].get<std::string>(), draft, progress);
  publication.Prepare(repo, draft);
  StoredVersion made = *CommitVersion(repo, draft, progress);
  repo.Unlock();
  meter.Finish();
  claimed.reset();
  DropRunDir(dir.dir);

  if (chatty) {
    std::cout << VersionLine(made, publication.branch(),
                             fmt::format("{} steps, {} samples, {:.1f} s", trained.steps, *trained.budget.samples,
                                         *trained.budget.seconds))
              << "\n";
  }
  std::string status;
  nlohmann::json verdict;
  const int exit_code = publication.Finish(ctx, repo, made, run["anchor"].get<std::string>(), no_eval, &status, &verdict);
  if (job.run_id) repo.db().FinishTrainingRun(*job.run_id, status, made.commit.id);
  if (ctx.global.json) {
    StoredVersion stored = LoadVersion(repo.graph(), made.commit.id);
    nlohmann::json out = VersionJson(stored, RefNames::Collect(repo.graph()), core::MetricsOf(repo, made.commit.id));
    out["status"] = status;
    out["gate"] = verdict;
    PrintJson(out);
  }
  return exit_code;
}

}  // namespace

Runner SetupUpdate(CommandLine& cli, BumpLevel level) {
  auto a = std::make_shared<UpdateArgs>();
  cli.Option("--data", &a->data, "training data selectors, train split unless named (e.g. fmnist:5-9)", "SEL");
  cli.Option("--method", &a->method,
             "continual-learning method: full, locked-image, locked-text, freeze, lora, dora, vera, ia3, bitfit, lnfit, "
             "galore, ewc, si",
             "NAME");
  cli.Option("--rank", &a->rank, "lora, dora, vera: adapter rank (default 4)", "R");
  cli.Option("--adapter-scale", &a->adapter_scale, "lora, dora, vera: scale s of the update s B A (default 1)", "S");
  cli.Option("--targets", &a->targets, "lora, dora, vera: adapted maps among q,k,v,out,mlp-in,mlp-out (default all)", "LIST");
  cli.Option("--freeze", &a->freeze,
             "freeze: what stays fixed: vision, text, vision:0-5, text:3, attention, mlp, embeddings, norms, "
             "projections, temperature, or a glob over tensor names",
             "PATTERN");
  cli.Option("--galore-rank", &a->galore_rank, "galore: rank of the gradient projection (default 128)", "R");
  cli.Option("--galore-gap", &a->galore_gap, "galore: steps between projector refreshes (default 200)", "N");
  cli.Option("--galore-scale", &a->galore_scale, "galore: scale of the projected update (default 0.25)", "S");
  cli.Option("--ewc-lambda", &a->ewc_lambda, "ewc: penalty weight lambda (default 1)", "X");
  cli.Option("--ewc-gamma", &a->ewc_gamma, "ewc: decay of the earlier Fisher, online EWC (default 1)", "X");
  cli.Option("--fisher-samples", &a->fisher_samples, "ewc: samples of the Fisher pass at the update's end (default 50000)", "N");
  cli.Option("--si-c", &a->si_c, "si: penalty weight c (default 0.5)", "X");
  cli.Option("--si-xi", &a->si_xi, "si: damping xi (default 1)", "X");
  cli.Flag("--tune-temperature", &a->tune_temperature, "train logit_scale with a PEFT or selective method");
  cli.Option("--schedule", &a->schedule,
             "learning-rate schedule: constant, cosine, rsqrt, autoregressive-cosine, continued-cosine, "
             "autoregressive-rsqrt, continued-rsqrt",
             "NAME");
  cli.Option("--lr", &a->lr, "peak learning rate (default: the level's; x10 for lora, dora, vera, ia3, bitfit, lnfit)", "X");
  cli.Option("--warmup", &a->warmup, "warmup steps as a share of the update's steps (default 0.1)", "F");
  cli.Option("--cooldown", &a->cooldown, "cooldown steps as a share of the steps, rsqrt schedules (default 0.1)", "F");
  cli.Option("--steps", &a->steps, "budget: optimizer steps", "N");
  cli.Option("--samples", &a->samples, "budget: training samples (steps = samples / batch size)", "N");
  cli.Option("--budget", &a->budget, "budget: memory-adjusted FLOPs, e.g. 5e15 or 63395G", "FLOPS");
  cli.Option("--replay", &a->replay, "batch shares of pretraining replay, update data and buffer (default 0.33/0.34/0.33)", "P/D/B");
  cli.Option("--batch-size", &a->batch_size, "samples per step", "N");
  cli.Option("--seed", &a->seed, "seed of data order and augmentation", "N");
  cli.Option("--weight-decay", &a->weight_decay, "AdamW weight decay (default 0.2)", "X");
  cli.Option("--temperature", &a->temperature, "fix the softmax temperature (logit_scale = ln(1/T)) instead of learning it", "T");
  cli.Option("--device", &a->device, "auto, cpu or cuda", "NAME");
  cli.Option("--dtype", &a->dtype, "commit the version in f32, f16 or bf16 (default: the parent's dtype; training runs in F32)", "DTYPE");
  cli.Option("--from", &a->from, "train from this version instead of HEAD", "REV");
  cli.Option("--merge", &a->merge,
             "merge-based update: ema:W, finetune:W or zeroshot:W (W, the weight on the older or anchor model)",
             "STRATEGY:W");
  cli.Option("--anchor", &a->anchor, "theta_0 of --merge finetune/zeroshot (default: the line's root version)", "REV");
  cli.Option("-m,--message", &a->message, "message of the new version", "MSG");
  cli.Option("--require", &a->require, "gate over the new metrics and the parent's; failing it commits on rejected/ and exits 3", "EXPR");
  cli.Flag("--no-eval", &a->no_eval, "do not evaluate the new version");
  cli.Flag("--resume", &a->resume, "finish the interrupted update with its saved options and state");
  cli.Flag("--abort", &a->abort, "drop the interrupted update's saved state");
  return [a, level](Context& ctx) { return RunUpdate(ctx, level, *a); };
}

}  // namespace fomo::cmd
