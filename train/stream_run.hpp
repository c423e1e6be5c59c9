// Running a stream (fomo stream run): its tasks one after another, each an
// ordinary update (train/update.hpp) on the branch stream/NAME started from the
// stream's base, its recipe recording the stream and the task. Resumable: the
// versions on the branch say which tasks are done, and an interrupted task
// continues from its training state.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "train/reporter.hpp"
#include "train/stream_plan.hpp"

namespace fomo::train {

struct StreamRunOptions {
  bool resume = false;   // continue the stream's branch instead of starting it
  std::string require;   // every task's gate; a rejected task stops the stream
  bool no_eval = false;  // with no gate: do not evaluate the versions
  // After the tasks, the joint-training reference (train/history.hpp JointBranch):
  // one update from the base on every task's data with the tasks' budgets summed.
  bool joint = false;
};

struct StreamRunResult {
  int exit_code = 0;       // 0, or the stopping update's (3 rejected, 4 pending)
  int tasks_done = 0;      // before this run
  std::vector<CommitId> versions;  // made by this run, a task each
  std::string status;      // the last update's: committed, rejected, pending
  std::optional<CommitId> joint;  // the joint reference, made by this run or before
  bool joint_made = false;        // by this run
};

StreamRunResult RunStream(Repository& repo, const StreamPlan& plan, const StreamRunOptions& options, Reporter& reporter);

}  // namespace fomo::train
