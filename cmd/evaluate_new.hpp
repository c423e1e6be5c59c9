// Evaluation as the commands run it: the suites' selectors, progress and notes on
// the terminal, and the evaluations that init, commit, diff and log --metrics do
// on their own. An evaluation that cannot run (no dataset, a vocabulary that is not
// CLIP's) leaves the repository as it is and says why in a note.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "cmd/command.hpp"
#include "cmd/output.hpp"
#include "core/evaluation.hpp"

namespace fomo::cmd {

// fomo.yaml's suite selectors: suite is adaptation, retention or all.
std::vector<std::string> SuiteSelectors(const Repository& repo, const std::string& suite = "all");

// Progress of an evaluation (a meter on a terminal, a line per dataset when piped)
// and its notes, as core::EvalCallbacks.
class EvalReporter {
 public:
  explicit EvalReporter(const Context& ctx);
  EvalReporter(const EvalReporter&) = delete;  // the callbacks point at this object
  EvalReporter& operator=(const EvalReporter&) = delete;
  const core::EvalCallbacks& callbacks() const { return callbacks_; }
  void Finish() { meter_.Finish(); }

 private:
  ProgressMeter meter_;
  core::EvalCallbacks callbacks_;
};

// init and commit: evaluates the version they made on the suites.
void EvaluateNewVersion(Context& ctx, Repository& repo, const CommitId& commit);

// diff and log --metrics: measures on the suites whatever is not stored yet for
// these versions, so the numbers compared were measured the same way. Takes the
// write lock.
void EvaluateMissing(Context& ctx, Repository& repo, const std::vector<CommitId>& commits);

}  // namespace fomo::cmd
