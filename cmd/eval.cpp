// fomo eval [REV...] [--suite S] [--dataset SEL...] [--force]: zero-shot accuracy of
// versions on the repository's suites (or the given datasets), stored in the
// database; results already stored for the same evaluation config are reused.
#include <iostream>

#include <fmt/format.h>

#include "cmd/command.hpp"
#include "cmd/terminal_reporter.hpp"
#include "cmd/output.hpp"
#include "core/evaluation.hpp"
#include "storage/error.hpp"
#include "storage/versions.hpp"
#include "train/version_evaluation.hpp"

namespace fomo::cmd {

namespace {

struct EvalOptions {
  std::vector<std::string> revs;
  std::string suite = "all";
  std::vector<std::string> datasets;
  bool force = false;
  bool allow_overlap = false;
};

int RunEval(Context& ctx, const EvalOptions& o) {
  Repository& repo = ctx.repo();
  repo.RequireWritable();  // results are stored as they are measured
  std::vector<std::string> selectors = o.datasets;
  if (selectors.empty()) {
    if (o.suite != "all" && o.suite != "adaptation" && o.suite != "retention") {
      throw UsageError(fmt::format("--suite must be adaptation, retention or all, not '{}'", o.suite));
    }
    selectors = train::SuiteSelectors(repo, o.suite);
    if (selectors.empty()) throw Error("no datasets to evaluate: fomo.yaml's suites are empty (or give --dataset)");
  }
  std::vector<CommitId> commits;
  for (const auto& rev : o.revs.empty() ? std::vector<std::string>{"HEAD"} : o.revs) {
    commits.push_back(ResolveRevision(repo, rev));
  }
  EvalReporter reporter(ctx.global);
  auto records = core::EvaluateVersions(repo, commits, selectors, o.force, reporter.callbacks(),
                                        o.allow_overlap ? core::OverlapPolicy::kAllow : core::OverlapPolicy::kRefuse);
  reporter.Finish();
  nlohmann::json list = nlohmann::json::array();
  for (const auto& r : records) {
    std::string version = LoadVersion(repo.graph(), r.commit).version.ToString();
    const std::string& dataset = r.dataset;
    if (ctx.global.json) {
      list.push_back({{"version", version},
                      {"commit", r.commit},
                      {"dataset", dataset},
                      {"split", r.split},
                      {"metric", r.metric},
                      {"value", r.value},
                      {"stored", r.cached}});
    } else if (!ctx.global.quiet) {
      std::cout << fmt::format("v{:<10} {:<24} {:<6} {:7.2f}{}\n", version, dataset, r.metric, r.value,
                               r.cached ? "  (stored)" : "");
    }
  }
  if (ctx.global.json) PrintJson(list);
  return 0;
}

}  // namespace

Runner SetupEval(CommandLine& cli) {
  auto o = std::make_shared<EvalOptions>();
  cli.Option("revisions", &o->revs, "versions to evaluate (default HEAD)", "REV");
  cli.Option("--suite", &o->suite, "adaptation, retention or all (default) of fomo.yaml's suites", "S");
  cli.Option("--dataset", &o->datasets, "a dataset selector instead of the suites, e.g. fmnist:5-9", "SEL");
  cli.Flag("--force", &o->force, "measure again even if results are stored");
  cli.Flag("--allow-overlap", &o->allow_overlap,
           "evaluate even on images the version's line trained on (refused by default)");
  return [o](Context& ctx) { return RunEval(ctx, *o); };
}

}  // namespace fomo::cmd
