#include "cmd/evaluate_new.hpp"

#include <iostream>

#include <fmt/format.h>

#include "cmd/output.hpp"
#include "core/evaluation.hpp"
#include "storage/error.hpp"

namespace fomo::cmd {

namespace {

std::vector<std::string> SuiteSelectors(const Repository& repo) {
  core::Suites suites = core::Suites::FromYaml(repo.config().document, "fomo.yaml");
  std::vector<std::string> selectors = suites.adaptation;
  selectors.insert(selectors.end(), suites.retention.begin(), suites.retention.end());
  return selectors;
}

}  // namespace

void EvaluateMissing(Context& ctx, Repository& repo, const std::vector<CommitId>& commits) {
  std::vector<std::string> selectors = SuiteSelectors(repo);
  if (selectors.empty()) return;
  repo.LockForWriting(ctx.global.quiet);
  const bool chatty = !ctx.global.quiet && !ctx.global.json;
  ProgressMeter meter("evaluating", chatty, "images");
  core::EvalCallbacks callbacks;
  callbacks.on_start = [&](const std::string& what) { meter.Relabel("evaluating " + what); };
  callbacks.on_progress = [&](int64_t done, int64_t total) {
    meter.Update(static_cast<uint64_t>(done), static_cast<uint64_t>(total));
  };
  for (const auto& commit : commits) {
    try {
      core::EvaluateVersions(repo, {commit}, selectors, false, callbacks);
    } catch (const Error& e) {
      meter.Finish();
      if (!ctx.global.quiet) {
        std::cerr << fmt::format("note: {} is not evaluated: {} (--no-eval skips this)\n", ShortId(commit), e.what());
      }
    }
  }
  meter.Finish();
}

void EvaluateNewVersion(Context& ctx, Repository& repo, const CommitId& commit) {
  std::vector<std::string> selectors = SuiteSelectors(repo);
  if (selectors.empty()) return;
  const bool chatty = !ctx.global.quiet && !ctx.global.json;
  ProgressMeter meter("evaluating", chatty, "images");
  core::EvalCallbacks callbacks;
  callbacks.on_start = [&](const std::string& what) { meter.Relabel("evaluating " + what); };
  callbacks.on_progress = [&](int64_t done, int64_t total) {
    meter.Update(static_cast<uint64_t>(done), static_cast<uint64_t>(total));
  };
  try {
    auto records = core::EvaluateVersions(repo, {commit}, selectors, false, callbacks);
    meter.Finish();
    if (chatty) {
      for (const auto& r : records) {
        if (r.metric == "top1" || r.metric == "recall@5") {
          std::cout << fmt::format("  {:<24} {:<8} {:6.2f}\n", r.dataset, r.metric, r.value);
        }
      }
    }
  } catch (const Error& e) {
    meter.Finish();
    if (!ctx.global.quiet) {
      std::cerr << fmt::format("note: {} is committed but not evaluated: {} ('fomo eval' measures it later; "
                               "--no-eval skips this)\n",
                               ShortId(commit), e.what());
    }
  }
}

}  // namespace fomo::cmd
