#include "train/publication.hpp"

#include <fmt/format.h>

#include "core/evaluation.hpp"
#include "core/gate.hpp"
#include "storage/error.hpp"
#include "train/version_evaluation.hpp"

namespace fomo::train {

std::string FreeBranchName(const Graph& graph, const std::string& base) {
  if (!graph.BranchTarget(base)) return base;
  for (int i = 2;; ++i) {
    std::string name = fmt::format("{}-{}", base, i);
    if (!graph.BranchTarget(name)) return name;
  }
}

void CheckGateMeasurable(const Repository& repo, const std::string& require, const std::vector<std::string>& training) {
  const core::Gate gate = core::Gate::Parse(require);
  const std::vector<std::string> keys = core::MeasuredKeys(repo, training);
  const std::vector<std::string> unknown = gate.UnmeasurableNames(keys);
  if (unknown.empty()) return;
  throw UsageError(fmt::format("--require names {}, which the evaluation of this version will not measure (it "
                               "measures adaptation, retention, gm{}{}; a dataset's metric: .top1, .top5, .recall@5)",
                               fmt::format("'{}'", fmt::join(unknown, "', '")), keys.empty() ? "" : ", ",
                               fmt::join(keys, ", ")));
}

std::string LineAt(const Graph& graph, const CommitId& first_parent) {
  HeadState head = graph.Head();
  if (!head.branch && !head.commit) throw Error("HEAD points nowhere; 'fomo switch BRANCH' first");
  if (head.branch && head.commit && *head.commit == first_parent) return *head.branch;
  return std::string();
}

bool Publication::LineMoved(const Graph& graph) const {
  return !plan_.line.empty() && graph.BranchTarget(plan_.line) != plan_.first_parent;
}

void Publication::Prepare(Repository& repo, VersionDraft& draft) {
  if (gated()) core::Gate::Parse(plan_.require);  // a typo fails before any work is stored
  const Graph& graph = repo.graph();
  moved_ = LineMoved(graph);
  const SemVer release = NextFreeVersion(graph, plan_.bumped_from, plan_.level);
  if (!gated() && !moved_) {
    draft.version = release;
    branch_ = plan_.line.empty() ? FreeBranchName(graph, "fork/" + release.Tag()) : plan_.line;
    draft.branch = branch_;
    draft.tag = true;
    return;
  }
  // A candidate: its own pre-release number, no tag, a pending/ branch.
  draft.version = NextCandidate(repo, release);
  branch_ = FreeBranchName(graph, "pending/" + draft.version->Tag());
  draft.branch = branch_;
  draft.tag = false;
}

int Publication::Pending(Repository& repo, const StoredVersion& made, Reporter& reporter, std::string* status) const {
  *status = "pending";
  const Graph& graph = repo.graph();
  const auto tip = graph.BranchTarget(plan_.line);
  const std::string now = tip ? LoadVersion(graph, *tip).version.Tag() + " (" + ShortId(*tip) + ")" : "nothing";
  const std::string message = fmt::format(
      "'{0}' moved to {1} while this version was made from {2}: it is {3} on branch '{4}' and '{0}' is unchanged; "
      "merge it with 'fomo switch {0} && fomo merge {0} {4}', or rebase it by making it again with --from {0} and "
      "dropping this one with 'fomo branch -d {4}'",
      plan_.line, now, ShortId(plan_.first_parent), made.version.Tag(), branch_);
  reporter.Result(fmt::format("pending: {} is on {}", made.version.Tag(), branch_));
  reporter.Warning(message);
  return static_cast<int>(ExitCode::kPending);
}

int Publication::Finish(Repository& repo, StoredVersion& made, const CommitId& anchor, bool no_eval,
                        Reporter& reporter, std::string* status, nlohmann::json* verdict_json) {
  *status = "committed";
  *verdict_json = nullptr;
  if (!no_eval || gated()) {
    EvaluateNewVersion(repo, made.commit.id, reporter);
    EvaluateMissing(repo, {plan_.first_parent}, reporter);
  }
  if (!gated()) return moved_ ? Pending(repo, made, reporter, status) : 0;

  // All three over the new version's suite, so "adaptation > parent.adaptation"
  // compares them on the same data (the parent's own suite lacks what this trained on).
  const core::Suites suites = core::SuiteHistory(repo).AsMade(made.commit.id);
  core::GateInputs inputs{core::MetricsOf(repo, made.commit.id, suites),
                          core::MetricsOf(repo, plan_.first_parent, suites), core::MetricsOf(repo, anchor, suites)};
  const core::GateResult verdict = core::Gate::Parse(plan_.require).Evaluate(inputs);
  // Settling moves refs: under the lock, against the refs as they are now.
  repo.LockForWriting(reporter.quiet());
  Graph& graph = repo.graph();
  const std::string pending = branch_;
  if (!verdict.passed) {
    branch_ = FreeBranchName(graph, "rejected/" + made.version.Tag());
    graph.SetBranch(branch_, made.commit.id, fmt::format("fomo: {} failed --require", made.version.ToString()));
    graph.DeleteBranch(pending);
    repo.Unlock();
    *status = "rejected";
    *verdict_json = {{"require", plan_.require}, {"passed", false}, {"values", verdict.explanation}, {"branch", branch_}};
    const std::string line = plan_.line.empty() ? "no line" : "'" + plan_.line + "'";
    reporter.Verdict(fmt::format("rejected: {} fails --require '{}' ({}); it is on {}, {} did not advance",
                                 made.version.Tag(), plan_.require, verdict.explanation, branch_, line));
    reporter.Warning(fmt::format("--require '{}' failed ({}): the version is on branch '{}', {} did not advance",
                                 plan_.require, verdict.explanation, branch_, line));
    return static_cast<int>(ExitCode::kGateFailed);
  }
  *verdict_json = {{"require", plan_.require}, {"passed", true}, {"values", verdict.explanation}, {"branch", branch_}};
  if (moved_ || LineMoved(graph)) {
    repo.Unlock();
    reporter.Result(fmt::format("passed: {} holds --require '{}' ({})", made.version.Tag(), plan_.require,
                                verdict.explanation));
    moved_ = true;
    return Pending(repo, made, reporter, status);
  }
  // The candidate becomes the release: its number now, the line, the tag.
  const SemVer release = NextFreeVersion(graph, plan_.bumped_from, plan_.level);
  StoredVersion promoted = RenumberVersion(repo, made.commit.id, release);
  branch_ = plan_.line.empty() ? FreeBranchName(graph, "fork/" + release.Tag()) : plan_.line;
  graph.SetBranch(branch_, promoted.commit.id, fmt::format("fomo: version {} passed --require", release.ToString()));
  graph.CreateTag(release.Tag(), promoted.commit.id);
  graph.DeleteBranch(pending);
  repo.Unlock();
  (*verdict_json)["branch"] = branch_;
  (*verdict_json)["candidate"] = made.version.Tag();
  reporter.Result(fmt::format("passed: {} holds --require '{}' ({}) and is on {} as {}", made.version.Tag(),
                              plan_.require, verdict.explanation, branch_, release.Tag()));
  made = std::move(promoted);
  return 0;
}

}  // namespace fomo::train
