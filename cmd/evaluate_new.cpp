#include "cmd/evaluate_new.hpp"

#include <iostream>

#include <fmt/format.h>

#include "storage/error.hpp"

namespace fomo::cmd {

namespace {

// Evaluates one version; a failure becomes a note ending in hint.
std::optional<std::vector<core::EvalRecord>> TryEvaluate(const Context& ctx, Repository& repo, const CommitId& commit,
                                                         const std::vector<std::string>& selectors,
                                                         EvalReporter& reporter, const char* hint) {
  try {
    auto records = core::EvaluateVersions(repo, {commit}, selectors, false, reporter.callbacks());
    reporter.Finish();
    return records;
  } catch (const Error& e) {
    reporter.Finish();
    if (!ctx.global.quiet) std::cerr << fmt::format("note: {} is not evaluated: {} ({})\n", ShortId(commit), e.what(), hint);
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

EvalReporter::EvalReporter(const Context& ctx)
    : meter_("evaluating", !ctx.global.quiet && !ctx.global.json, "images") {
  const bool chatty = !ctx.global.quiet && !ctx.global.json;
  const bool quiet = ctx.global.quiet;
  callbacks_.on_start = [this, chatty](const std::string& what) {
    meter_.Relabel("evaluating " + what);
    if (chatty && !StderrIsTerminal()) std::cerr << "evaluating " << what << "\n";
  };
  callbacks_.on_progress = [this](int64_t done, int64_t total) {
    meter_.Update(static_cast<uint64_t>(done), static_cast<uint64_t>(total));
  };
  callbacks_.on_notice = [quiet](const std::string& message) {
    if (!quiet) std::cerr << "note: " << message << "\n";
  };
}

void EvaluateNewVersion(Context& ctx, Repository& repo, const CommitId& commit) {
  std::vector<std::string> selectors = SuiteSelectors(repo);
  if (selectors.empty()) return;
  EvalReporter reporter(ctx);
  auto records = TryEvaluate(ctx, repo, commit, selectors, reporter,
                             "the version is committed; 'fomo eval' measures it later, --no-eval skips this");
  if (!records || ctx.global.quiet || ctx.global.json) return;
  for (const auto& r : *records) {
    if (r.metric == "top1" || r.metric == "recall@5") {
      std::cout << fmt::format("  {:<24} {:<8} {:6.2f}\n", r.dataset, r.metric, r.value);
    }
  }
}

void EvaluateMissing(Context& ctx, Repository& repo, const std::vector<CommitId>& commits) {
  std::vector<std::string> selectors = SuiteSelectors(repo);
  if (selectors.empty()) return;
  if (repo.db().read_only()) {
    // Results are stored as they are measured; a read-only repository shows what it holds.
    if (!ctx.global.quiet) std::cerr << "note: the repository is read-only: showing the metrics it stores\n";
    return;
  }
  // No write lock: evaluations are rows in fomo.sqlite (WAL), written in one
  // transaction each, so they never wait on a training or a publish.
  EvalReporter reporter(ctx);
  for (const auto& commit : commits) TryEvaluate(ctx, repo, commit, selectors, reporter, "--no-eval skips this");
}

}  // namespace fomo::cmd
