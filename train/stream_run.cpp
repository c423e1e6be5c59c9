#include "train/stream_run.hpp"

#include <fmt/format.h>

#include "storage/error.hpp"
#include "storage/training_runs.hpp"
#include "train/history.hpp"
#include "train/update.hpp"

namespace fomo::train {

StreamRunResult RunStream(Repository& repo, const StreamPlan& plan, const StreamRunOptions& options,
                          Reporter& reporter) {
  const StreamSpec& spec = plan.spec;
  if (spec.reservoir) {
    throw Error("a reservoir buffer is not built yet: give 'buffer: all' (every earlier task, the study's default)");
  }
  repo.RequireWritable();
  const std::string branch = "stream/" + spec.name;
  const CommitId base = ResolveRevision(repo.graph(), spec.base);
  StreamRunResult result;
  if (!options.resume) {
    repo.LockForWriting(reporter.quiet());
    if (repo.graph().BranchTarget(branch)) {
      repo.Unlock();
      throw Error(fmt::format("the stream '{}' exists (branch {}): 'fomo stream run --resume' continues it, 'fomo "
                              "branch -d {}' drops it",
                              spec.name, branch, branch));
    }
    repo.graph().SetBranch(branch, base, fmt::format("fomo: stream {} from {}", spec.name, ShortId(base)));
    repo.Unlock();
  } else if (!repo.graph().BranchTarget(branch)) {
    throw Error(fmt::format("no stream '{}' to resume: branch {} does not exist", spec.name, branch));
  }
  const std::vector<StreamStep> done = ReadStreamSteps(repo.graph(), spec.name);
  result.tasks_done = static_cast<int>(done.size());
  if (done.size() > plan.tasks.size()) {
    throw Error(fmt::format("branch {} holds {} tasks of the stream; its file plans {}", branch, done.size(),
                            plan.tasks.size()));
  }
  const std::string level(BumpLevelName(spec.level));
  bool interrupted = false;
  if (options.resume) {
    const CommitId tip = *repo.graph().BranchTarget(branch);
    for (const auto& r : ListTrainingRuns(repo.fomo_dir())) {
      if (r.running || !r.run.is_object() || r.line() != branch || r.level() != level) continue;
      if (r.run.value("from", "") == tip) {
        interrupted = true;  // the next task, stopped inside its training
      } else {
        // Killed after its version was committed: the branch holds that task.
        DropInterruptedRun(repo, r, "committed");
      }
    }
  }
  for (size_t t = done.size(); t < plan.tasks.size(); ++t) {
    const StreamTask& task = plan.tasks[t];
    std::vector<std::string> names;
    for (const auto& c : task.concepts) names.push_back(c.name);
    reporter.Info(fmt::format("stream {}: task {} of {}: {}", spec.name, t + 1, plan.tasks.size(), fmt::join(names, ", ")));
    UpdateRequest request;
    request.level = spec.level;
    request.line = branch;
    if (interrupted) {
      request.resume = true;  // the interrupted task, with its saved plan and state
      interrupted = false;
    } else {
      request.options = spec.update;
      request.options.data = task.data;
      request.options.budget = task.budget;
      request.from = branch;
      request.message = fmt::format("stream {} task {}/{}: {}", spec.name, t + 1, plan.tasks.size(), fmt::join(names, ", "));
      request.require = options.require;
      request.no_eval = options.no_eval;
      request.stream = {{"name", spec.name},
                        {"task", t + 1},
                        {"tasks", plan.tasks.size()},
                        {"concepts", names},
                        {"ordering", std::string(OrderingName(spec.ordering))},
                        {"seed", spec.seed}};
    }
    Update update(repo, std::move(request));
    const UpdateResult made = update.Run(reporter);
    result.versions.push_back(made.made);
    result.status = made.status;
    if (made.exit_code != 0) {
      result.exit_code = made.exit_code;
      reporter.Warning(fmt::format("stream {} stopped at task {} of {} ({})", spec.name, t + 1, plan.tasks.size(),
                                   made.status));
      return result;
    }
  }
  return result;
}

}  // namespace fomo::train
