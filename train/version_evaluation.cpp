#include "train/version_evaluation.hpp"

#include <optional>

#include <fmt/format.h>

#include "core/evaluation.hpp"
#include "storage/error.hpp"

namespace fomo::train {

namespace {

// Evaluates one version; a failure becomes a note ending in hint.
std::optional<std::vector<core::EvalRecord>> TryEvaluate(Repository& repo, const CommitId& commit,
                                                         const std::vector<std::string>& selectors,
                                                         Reporter::Evaluation& evaluation, Reporter& reporter,
                                                         const char* hint) {
  try {
    auto records = core::EvaluateVersions(repo, {commit}, selectors, false, evaluation.callbacks());
    evaluation.Finish();
    return records;
  } catch (const Error& e) {
    evaluation.Finish();
    reporter.Note(fmt::format("{} is not evaluated: {} ({})", ShortId(commit), e.what(), hint));
    return std::nullopt;
  }
}

}  // namespace

std::vector<std::string> SuiteSelectors(const Repository& repo, const std::string& suite) {
  core::Suites suites = core::Suites::ForRepository(repo);
  std::vector<std::string> selectors;
  if (suite != "retention") selectors.insert(selectors.end(), suites.adaptation.begin(), suites.adaptation.end());
  if (suite != "adaptation") selectors.insert(selectors.end(), suites.retention.begin(), suites.retention.end());
  return selectors;
}

void EvaluateNewVersion(Repository& repo, const CommitId& commit, Reporter& reporter) {
  std::vector<std::string> selectors = SuiteSelectors(repo);
  if (selectors.empty()) return;
  auto evaluation = reporter.StartEvaluation();
  auto records = TryEvaluate(repo, commit, selectors, *evaluation, reporter,
                             "the version is committed; 'fomo eval' measures it later, --no-eval skips this");
  if (!records) return;
  for (const auto& r : *records) {
    if (r.metric == "top1" || r.metric == "recall@5") {
      reporter.Result(fmt::format("  {:<24} {:<8} {:6.2f}", r.dataset, r.metric, r.value));
    }
  }
}

void EvaluateMissing(Repository& repo, const std::vector<CommitId>& commits, Reporter& reporter) {
  std::vector<std::string> selectors = SuiteSelectors(repo);
  if (selectors.empty()) return;
  if (repo.db().read_only()) {
    // Results are stored as they are measured; a read-only repository shows what it holds.
    reporter.Note("the repository is read-only: showing the metrics it stores");
    return;
  }
  auto evaluation = reporter.StartEvaluation();
  for (const auto& commit : commits) TryEvaluate(repo, commit, selectors, *evaluation, reporter, "--no-eval skips this");
}

}  // namespace fomo::train
