#include "train/stream_run.hpp"

#include <fmt/format.h>

#include "storage/error.hpp"
#include "storage/training_runs.hpp"
#include "train/history.hpp"
#include "train/update.hpp"

namespace fomo::train {

namespace {

std::vector<std::string> ConceptNames(const std::vector<Concept>& concepts) {
  std::vector<std::string> names;
  for (const auto& c : concepts) names.push_back(c.name);
  return names;
}

nlohmann::json StreamRecord(const StreamPlan& plan) {
  return {{"name", plan.spec.name},
          {"tasks", plan.tasks.size()},
          {"ordering", std::string(OrderingName(plan.spec.ordering))},
          {"seed", plan.spec.seed}};
}

// The tasks' budgets summed, kind by kind (a plan gives every task the same kind).
BudgetRequest TotalBudget(const std::vector<StreamTask>& tasks) {
  BudgetRequest total;
  auto add = [](auto& sum, const auto& part) {
    if (part) sum = sum.value_or(0) + *part;
  };
  for (const auto& t : tasks) {
    add(total.steps, t.budget.steps);
    add(total.samples, t.budget.samples);
    add(total.maf, t.budget.maf);
  }
  return total;
}

// An interrupted run waiting on `branch`: whether it continues from the branch's
// tip (the next update, stopped inside its training). One killed after its
// version was committed is dropped: the branch holds that version.
bool WaitingRunAt(Repository& repo, const std::string& branch, const std::string& level) {
  const std::optional<CommitId> tip = repo.graph().BranchTarget(branch);
  bool waiting = false;
  for (const auto& r : ListTrainingRuns(repo.fomo_dir())) {
    if (r.running || !r.run.is_object() || r.line() != branch || r.level() != level) continue;
    if (tip && r.run.value("from", "") == *tip) {
      waiting = true;
    } else {
      DropInterruptedRun(repo, r, "committed");
    }
  }
  return waiting;
}

UpdateResult RunOne(Repository& repo, UpdateRequest request, Reporter& reporter) {
  Update update(repo, std::move(request));
  return update.Run(reporter);
}

// The joint reference: the stream's update (method, schedule, replay) on every
// task's data with the tasks' budgets summed, from the base, without the merge
// strategy: the upper end of the base-to-joint trade-off line.
UpdateResult RunJoint(Repository& repo, const StreamPlan& plan, const CommitId& base, const StreamRunOptions& options,
                      Reporter& reporter) {
  const StreamSpec& spec = plan.spec;
  const std::string branch = JointBranch(spec.name);
  const std::string level(BumpLevelName(spec.level));
  if (!repo.graph().BranchTarget(branch)) {
    repo.LockForWriting(reporter.quiet());
    repo.graph().SetBranch(branch, base, fmt::format("fomo: joint reference of stream {}", spec.name));
    repo.Unlock();
  }
  UpdateRequest request;
  request.level = spec.level;
  request.line = branch;
  if (WaitingRunAt(repo, branch, level)) {
    request.resume = true;
  } else {
    request.options = spec.update;
    request.options.merge.reset();
    request.options.data.clear();
    std::vector<Concept> all;
    for (const auto& t : plan.tasks) {
      request.options.data.insert(request.options.data.end(), t.data.begin(), t.data.end());
      all.insert(all.end(), t.concepts.begin(), t.concepts.end());
    }
    request.options.budget = TotalBudget(plan.tasks);
    request.from = branch;
    request.message = fmt::format("stream {} joint reference: {} tasks' data at once", spec.name, plan.tasks.size());
    request.no_eval = options.no_eval;
    request.stream = StreamRecord(plan);
    request.stream["reference"] = "joint";
    request.stream["concepts"] = ConceptNames(all);
  }
  reporter.Info(fmt::format("stream {}: joint reference on {} ({})", spec.name, branch,
                            request.resume ? "resumed" : request.options.budget.Describe()));
  return RunOne(repo, std::move(request), reporter);
}

}  // namespace

StreamRunResult RunStream(Repository& repo, const StreamPlan& plan, const StreamRunOptions& options,
                          Reporter& reporter) {
  const StreamSpec& spec = plan.spec;
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
  bool interrupted = options.resume && WaitingRunAt(repo, branch, level);
  for (size_t t = done.size(); t < plan.tasks.size(); ++t) {
    const StreamTask& task = plan.tasks[t];
    const std::vector<std::string> names = ConceptNames(task.concepts);
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
      request.stream = StreamRecord(plan);
      request.stream["task"] = t + 1;
      request.stream["concepts"] = names;
    }
    const UpdateResult made = RunOne(repo, std::move(request), reporter);
    result.versions.push_back(made.made);
    result.status = made.status;
    if (made.exit_code != 0) {
      result.exit_code = made.exit_code;
      reporter.Warning(fmt::format("stream {} stopped at task {} of {} ({})", spec.name, t + 1, plan.tasks.size(),
                                   made.status));
      return result;
    }
  }
  if (const auto joint = ReadStreamJoint(repo.graph(), spec.name)) {
    result.joint = joint->commit;
  } else if (options.joint) {
    const UpdateResult made = RunJoint(repo, plan, base, options, reporter);
    result.status = made.status;
    result.exit_code = made.exit_code;
    result.joint = made.made;
    result.joint_made = true;
  }
  return result;
}

}  // namespace fomo::train
