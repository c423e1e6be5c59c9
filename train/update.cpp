#include "train/update.hpp"

#include <fmt/format.h>

#include "core/checkpoint.hpp"
#include "core/weight_dtype.hpp"
#include "merge/merge_versions.hpp"
#include "storage/atomic_file.hpp"
#include "storage/error.hpp"
#include "train/history.hpp"
#include "train/publication.hpp"
#include "train/training_job.hpp"

namespace fomo::train {

namespace {

void WriteRunFile(const fs::path& path, const nlohmann::json& run) {
  std::string text = run.dump(2) + "\n";
  WriteFileAtomic(path, text.data(), text.size());
}

// --merge: commits the finetuned weights as they are (no ref of their own; the
// merged version names them as its second parent, so nothing is lost and `fomo diff
// vX.Y.Z^2 vX.Y.Z` compares them), then turns the draft into the merge of those
// weights with the current version (ema, zeroshot) or the anchor (finetune),
// computed tensor by tensor in the object store.
void MergeFinetuned(Repository& repo, const MergeUpdate& merge, const StoredVersion& trained_from,
                    const CommitId& anchor, VersionDraft& draft, const StoreProgress& progress) {
  const CommitId current = draft.parents.front();
  VersionDraft finetuned = draft;
  finetuned.kind = "finetuned";
  finetuned.parents = {trained_from.commit.id};
  finetuned.branch = std::string();  // no ref: the merged version keeps it reachable
  finetuned.tag = false;
  finetuned.message = fmt::format("{} (finetuned, before the {} merge)", draft.message, merge.ToString());
  const StoredVersion tuned = *CommitVersion(repo, finetuned, progress);

  const CommitId partner_commit = merge.MergesWith() == MergeRole::kAnchor ? anchor : current;
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
                               const HeadState& head, const char* verb, const std::string& line = "") {
  std::vector<const TrainingRunDir*> waiting, of_level;
  for (const auto& r : runs) {
    if (r.running || !r.run.is_object() || (!line.empty() && r.line() != line)) continue;
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


}  // namespace

void DropInterruptedRun(Repository& repo, const TrainingRunDir& run, const std::string& status) {
  std::unique_ptr<RepoLock> claimed = ClaimTrainingRun(run);
  if (run.run.contains("run_id")) repo.db().FinishTrainingRun(run.run["run_id"].get<int64_t>(), status, std::nullopt);
  claimed.reset();
  DropRunDir(run.dir);
}

void AbortUpdate(Repository& repo, BumpLevel level, Reporter& reporter) {
  repo.RequireWritable();
  const std::string level_name(BumpLevelName(level));
  DropInterruptedRun(repo, PickInterrupted(ListTrainingRuns(repo.fomo_dir()), level_name, repo.graph().Head(), "abort"),
                     "aborted");
  reporter.Result("dropped the interrupted update");
}

Update::Update(Repository& repo, UpdateRequest request)
    : repo_(repo), request_(std::move(request)), level_name_(BumpLevelName(request_.level)) {
  repo_.RequireWritable();
  const std::vector<TrainingRunDir> runs = ListTrainingRuns(repo_.fomo_dir());
  const HeadState head = repo_.graph().Head();
  if (request_.resume) {
    // This process's run directory is held (its lock) until the update ends:
    // others see it running, and a free lock means interrupted.
    dir_ = PickInterrupted(runs, level_name_, head, "resume", request_.line);
    run_ = dir_.run;
    if (!run_.contains("options")) throw Error(fmt::format("'{}' is unreadable", dir_.run_file().string()));
    claimed_ = ClaimTrainingRun(dir_);
    // Saved by a fomo before publish-time locking: the line is HEAD's if it is still there.
    if (!run_.contains("line")) run_["line"] = LineAt(repo_.graph(), run_["from"].get<std::string>());
    return;
  }
  const CommitId from = ResolveRevision(repo_.graph(), request_.from.empty() ? "HEAD" : request_.from);
  if (!request_.line.empty() && repo_.graph().BranchTarget(request_.line) != from) {
    throw Error(fmt::format("the update advances '{}', which is not at {}", request_.line, ShortId(from)));
  }
  const std::string line = request_.line.empty() ? LineAt(repo_.graph(), from) : request_.line;
  for (const auto& r : runs) {
    if (r.running || !r.run.is_object() || r.line() != line || line.empty()) continue;
    throw Error(fmt::format("an interrupted 'fomo {0}' on '{1}' is waiting in .fomo/train: continue it with 'fomo {0} "
                            "--resume' or drop it with 'fomo {0} --abort'",
                            r.level(), line));
  }
  UpdateOptions options = request_.options;
  if (!request_.dtype.empty()) core::ParseWeightDtype(request_.dtype, "--dtype");
  LineHistory history = ReadLineHistory(repo_.graph(), from);
  std::vector<std::string> data;
  for (const auto& s : options.data) data.push_back(TrainingSelector(s));
  options.data = data;
  // A typo or a dataset no suite measures fails now, not after hours of training.
  if (!request_.require.empty()) CheckGateMeasurable(repo_, request_.require, options.data);
  // theta_0 of the merge strategies (and base. in --require): --anchor, else the
  // anchor the line's last merge-based update used, else the root version.
  if (!request_.anchor.empty() && !options.merge) {
    throw UsageError("--anchor names the model --merge trains from or merges with: give --merge too");
  }
  CommitId anchor = history.anchor;
  if (!request_.anchor.empty()) {
    anchor = ResolveRevision(repo_.graph(), request_.anchor);
  } else if (history.merge_anchor && repo_.graph().Resolve(*history.merge_anchor)) {
    anchor = *history.merge_anchor;
  }
  const bool from_anchor = options.merge && options.merge->TrainsFrom() == MergeRole::kAnchor;
  run_ = {{"level", level_name_},
          {"from", from},
          {"line", line},
          {"train_from", from_anchor ? anchor : from},
          {"options", options.ToJson()},
          {"dtype", request_.dtype},
          {"task_index", history.task_index},
          {"pretrain", history.pretrain},
          {"buffer", history.updates},
          {"anchor", anchor},
          {"message", request_.message},
          {"require", request_.require},
          {"no_eval", request_.no_eval}};
  if (!request_.stream.is_null()) run_["stream"] = request_.stream;
}

Update::~Update() = default;

UpdateResult Update::Run(Reporter& reporter) {
  Repository& repo = repo_;
  const nlohmann::json& run = run_;
  const BumpLevel level = request_.level;
  const CommitId from = run["from"].get<std::string>();
  const UpdateOptions options = UpdateOptions::FromJson(run["options"]);
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
  job.resume = request_.resume && fs::exists(dir_.state_file());
  job.repo = &repo;
  if (run.contains("run_id")) job.run_id = run["run_id"].get<int64_t>();
  job.parent_commit = train_from;
  job.level = level_name_;

  if (!request_.resume) {
    job.run_id = repo.db().BeginTrainingRun(from, level_name_, run["options"].dump());
    run_["run_id"] = *job.run_id;
    claimed_ = ClaimNewTrainingRun(repo.fomo_dir(), *job.run_id, &dir_);
    WriteRunFile(dir_.run_file(), run);
  }
  job.state_path = dir_.state_file();
  TrainingResult trained;
  try {
    trained = RunTraining(reporter, repo.config().document, job);
  } catch (...) {
    // A failed run (NaN loss, bad data) cannot be resumed into anything better.
    if (job.run_id) repo.db().FinishTrainingRun(*job.run_id, "failed", std::nullopt);
    claimed_.reset();
    DropRunDir(dir_.dir);
    throw;
  }
  if (trained.outcome.interrupted) {
    // Exit as a shell reports the signal (130 for Ctrl-C, 143 for SIGTERM), so a
    // script can tell a stop from a failure.
    const int code = trained.stop_signal ? 128 + trained.stop_signal : static_cast<int>(ExitCode::kInterrupted);
    throw Error(fmt::format("interrupted at step {} of {}; the state is saved: 'fomo {} --resume' finishes the update",
                            trained.outcome.steps_done, trained.steps, level_name_),
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
  if (core::CountDtypeChanges(kept.named, parent.manifest)) {
    reporter.Result(fmt::format("note: --dtype changes the line from {} to {}: tensors are stored as full frames, not deltas",
                                core::DescribeDtypes(parent.manifest), core::DescribeDtypes(kept.named)));
  }
  draft.config_json = parent.config_json;
  draft.low_rank = trained.outcome.low_rank;
  for (const auto& [name, t] : trained.outcome.method_state) draft.method_state.push_back({name, t.view()});
  draft.recipe = {{"command", "fomo " + level_name_},
                  {"level", level_name_},
                  {"from", parent.version.Tag()},
                  {"from_commit", from},
                  {"data", options.data},
                  {"method", MethodName(options.method.method)},
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
  if (run.contains("stream")) draft.recipe["stream"] = run["stream"];
  std::string message = run.value("message", "");
  if (message.empty()) {
    message = fmt::format("{}: {} on {} ({} steps)", level_name_, MethodName(options.method.method),
                          fmt::join(options.data, " "), trained.steps);
  }
  draft.message = message;
  draft.kind = "train";
  draft.parents = {from};
  draft.bump = level;
  draft.budget = trained.budget;
  draft.allow_empty = true;
  // The publish step: the write lock from here until the refs have moved.
  repo.LockForWriting(reporter.quiet());
  Publication publication({require, run.value("line", ""), from, parent.version, level});
  std::unique_ptr<Progress> meter = reporter.StartProgress("storing tensors", "");
  const StoreProgress progress = [&](uint64_t d, uint64_t t) { meter->Update(d, t); };
  if (options.merge) MergeFinetuned(repo, *options.merge, source, run["anchor"].get<std::string>(), draft, progress);
  publication.Prepare(repo, draft);
  StoredVersion made = *CommitVersion(repo, draft, progress);
  repo.Unlock();
  meter->Finish();
  claimed_.reset();
  DropRunDir(dir_.dir);

  reporter.Committed(made, publication.branch(),
                     fmt::format("{} steps, {} samples, {:.1f} s", trained.steps, *trained.budget.samples,
                                 *trained.budget.seconds));
  UpdateResult result;
  result.exit_code =
      publication.Finish(repo, made, run["anchor"].get<std::string>(), no_eval, reporter, &result.status, &result.verdict);
  if (job.run_id) repo.db().FinishTrainingRun(*job.run_id, result.status, made.commit.id);
  result.made = made.commit.id;
  return result;
}

}  // namespace fomo::train
