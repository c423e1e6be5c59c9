#include "cmd/gate_commit.hpp"

#include <iostream>

#include <fmt/format.h>

#include "cmd/evaluate_new.hpp"
#include "cmd/output.hpp"
#include "core/evaluation.hpp"
#include "core/gate.hpp"
#include "storage/error.hpp"

namespace fomo::cmd {

std::string LineFor(const Graph& graph, const CommitId& first_parent, const SemVer& version) {
  HeadState head = graph.Head();
  if (head.branch && head.commit && *head.commit == first_parent) return *head.branch;
  if (!head.branch && !head.commit) throw Error("HEAD points nowhere; 'fomo switch BRANCH' first");
  return "fork/" + version.Tag();
}

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

void GatedCommit::Prepare(const Graph& graph, VersionDraft& draft) const {
  if (!gated()) {
    draft.branch = line_;
    return;
  }
  core::Gate::Parse(require_);  // a typo fails before any work is stored
  if (!draft.version) throw Error("a gated version needs its version number up front");
  draft.branch = FreeBranchName(graph, "pending/" + draft.version->Tag());
  draft.tag = false;
}

int GatedCommit::Finish(Context& ctx, Repository& repo, const StoredVersion& made, const CommitId& parent,
                        const CommitId& anchor, bool no_eval, std::string* status, nlohmann::json* verdict_json) const {
  *status = "committed";
  if (!no_eval || gated()) {
    EvaluateNewVersion(ctx, repo, made.commit.id);
    EvaluateMissing(ctx, repo, {parent});
  }
  *status = "committed";
  *verdict_json = nullptr;
  if (!gated()) return 0;
  core::GateInputs inputs{core::MetricsOf(repo, made.commit.id), core::MetricsOf(repo, parent),
                          core::MetricsOf(repo, anchor)};
  core::GateResult verdict = core::Gate::Parse(require_).Evaluate(inputs);
  Graph& graph = repo.graph();
  auto drop_pending = [&] {
    // The pending branch is the one pointing at this version.
    for (const auto& branch : graph.Branches()) {
      if (branch.rfind("pending/", 0) == 0 && graph.BranchTarget(branch) == made.commit.id) graph.DeleteBranch(branch);
    }
  };
  if (verdict.passed) {
    graph.SetBranch(line_, made.commit.id, fmt::format("fomo: version {} passed --require", made.version.ToString()));
    graph.CreateTag(made.version.Tag(), made.commit.id);
    drop_pending();
    *verdict_json = {{"require", require_}, {"passed", true}, {"values", verdict.explanation}, {"branch", line_}};
    if (!ctx.global.quiet && !ctx.global.json) {
      std::cout << fmt::format("passed: {} holds --require '{}' ({}) and is on {}\n", made.version.Tag(), require_,
                               verdict.explanation, line_);
    }
    return 0;
  }
  const std::string rejected = FreeBranchName(graph, "rejected/" + made.version.Tag());
  graph.SetBranch(rejected, made.commit.id, fmt::format("fomo: version {} failed --require", made.version.ToString()));
  drop_pending();
  *status = "rejected";
  *verdict_json = {{"require", require_}, {"passed", false}, {"values", verdict.explanation}, {"branch", rejected}};
  if (!ctx.global.json) {
    std::cout << fmt::format("rejected: {} fails --require '{}' ({}); it is on {}, {} did not advance\n",
                             made.version.Tag(), require_, verdict.explanation, rejected, line_);
  }
  std::cerr << fmt::format("fomo: --require '{}' failed ({}): the version is on branch '{}', '{}' did not advance\n",
                           require_, verdict.explanation, rejected, line_);
  return static_cast<int>(ExitCode::kGateFailed);
}

}  // namespace fomo::cmd
