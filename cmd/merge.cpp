// fomo merge REV REV... [--method M] [--weights w1,w2,...] [--base REV]: merges
// versions in weight space (merge/merge_versions.cpp streams it tensor by tensor)
// and commits the result with every merged version as a parent.
#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <iostream>
#include <sstream>

#include <fmt/format.h>

#include "cmd/command.hpp"
#include "cmd/terminal_reporter.hpp"
#include "cmd/output.hpp"
#include "core/checkpoint.hpp"
#include "cmd/version_view.hpp"
#include "core/evaluation.hpp"
#include "merge/merge_recipe.hpp"
#include "merge/merge_versions.hpp"
#include "storage/atomic_file.hpp"
#include "storage/error.hpp"
#include "storage/versions.hpp"
#include "train/publication.hpp"

namespace fomo::cmd {

namespace {

struct MergeArgs {
  std::vector<std::string> revisions;
  std::string method = "linear";
  std::string weights;
  std::string base;
  double lambda = 1.0;
  double density = 0.2;
  double drop = 0.1;
  double t = 0.5;
  int seed = 0;
  bool dare_ties = false;
  std::string bump = "minor";
  std::string message;
  std::string require;
  std::string recipe;
  bool no_eval = false;
};

std::vector<double> ParseWeights(const std::string& text) {
  std::vector<double> weights;
  std::stringstream stream(text);
  std::string part;
  while (std::getline(stream, part, ',')) {
    char* end = nullptr;
    double v = std::strtod(part.c_str(), &end);
    if (part.empty() || *end || !std::isfinite(v)) {
      throw UsageError(fmt::format("--weights '{}' must be numbers separated by commas", text));
    }
    weights.push_back(v);
  }
  return weights;
}

// The merge as the command line or a --recipe file describes it.
merge::MergeRecipe RecipeOf(const MergeArgs& a) {
  if (!a.recipe.empty()) {
    if (!a.revisions.empty() || !a.weights.empty() || !a.base.empty()) {
      throw UsageError("--recipe names the versions, weights and base itself: give no REV, --weights or --base");
    }
    return merge::MergeRecipe::Parse(ReadFileToString(a.recipe), a.recipe);
  }
  if (a.revisions.empty()) throw UsageError("merge needs the versions to merge (REV REV...) or --recipe FILE");
  if (a.revisions.size() > merge::kMaxMergeModels) {
    throw UsageError(fmt::format("{} versions; a merge takes at most {}", a.revisions.size(), merge::kMaxMergeModels));
  }
  merge::MergeRecipe r;
  r.method = merge::ParseMergeMethod(a.method);
  r.models = a.revisions;
  if (!a.base.empty()) r.base = a.base;
  if (!a.weights.empty()) r.params.weights = ParseWeights(a.weights);
  r.params.lambda = a.lambda;
  r.params.density = a.density;
  r.params.drop = a.drop;
  r.params.t = a.t;
  r.params.seed = static_cast<uint64_t>(a.seed);
  r.params.dare_ties = a.dare_ties;
  return r;
}

int RunMerge(Context& ctx, const MergeArgs& a) {
  Repository& repo = ctx.repo();
  Graph& graph = repo.graph();
  const merge::MergeRecipe recipe = RecipeOf(a);
  const merge::MergeMethod method = recipe.method;
  const std::string method_name = merge::MergeMethodName(method);
  auto level = ParseBumpLevel(a.bump);
  if (!level) throw UsageError(fmt::format("--bump must be patch, minor or major, not '{}'", a.bump));
  if (!a.require.empty()) train::CheckGateMeasurable(repo, a.require, {});
  if (recipe.models.size() < 2 && method != merge::MergeMethod::kTaskArithmetic && method != merge::MergeMethod::kTies &&
      method != merge::MergeMethod::kDare && method != merge::MergeMethod::kMagmax) {
    throw UsageError(fmt::format("merge method '{}' needs at least two versions", method_name));
  }
  const merge::MergeParams& params = recipe.params;
  if (!params.weights.empty() && params.weights.size() != recipe.models.size()) {
    throw UsageError(fmt::format("--weights gives {} weights for {} versions", params.weights.size(), recipe.models.size()));
  }
  repo.RequireWritable();
  HeadState head = graph.Head();
  if (!head.branch) throw Error("HEAD is detached; 'fomo switch BRANCH' before merging");

  // A version named more than once is read once.
  std::vector<CommitId> commits;
  std::map<CommitId, StoredVersion> loaded;
  std::vector<const StoredVersion*> inputs;
  for (const auto& rev : recipe.models) {
    commits.push_back(ResolveRevision(repo, rev));
    auto it = loaded.find(commits.back());
    if (it == loaded.end()) {
      it = loaded.emplace(commits.back(), LoadVersion(graph, commits.back())).first;
      core::CheckManifest(it->second.manifest, core::ClipConfig::FromJsonText(it->second.config_json, "version config"),
                          it->second.version.Tag());
    }
    inputs.push_back(&it->second);
    if (inputs.back()->config_json != inputs.front()->config_json) {
      throw Error(fmt::format("'{}' has another model config than '{}': only one architecture merges", rev,
                              recipe.models.front()));
    }
  }
  std::optional<CommitId> base_commit;
  std::optional<StoredVersion> base;
  if (merge::NeedsBase(method)) {
    base_commit = recipe.base ? std::optional<CommitId>(ResolveRevision(repo, *recipe.base)) : graph.MergeBase(commits);
    if (!base_commit) throw Error("the versions share no ancestor: give the base with --base REV");
    base = LoadVersion(graph, *base_commit);
  } else if (recipe.base) {
    throw UsageError(fmt::format("merge method '{}' takes no --base", method_name));
  }

  std::vector<const Manifest*> manifests;
  for (const StoredVersion* v : inputs) manifests.push_back(&v->manifest);
  const bool chatty = !ctx.global.quiet && !ctx.global.json;
  // The line is HEAD's branch when its tip is merged: decided now, settled when the
  // merge is published. Merged tensors go to the store as they are computed, so the
  // write lock is held from here (gc must not see them unreferenced).
  const std::string line = head.commit && std::find(commits.begin(), commits.end(), *head.commit) != commits.end()
                               ? train::LineAt(graph, *head.commit)
                               : std::string();
  repo.LockForWriting(ctx.global.quiet);
  ProgressMeter meter("merging", chatty);
  merge::MergedTensors merged = merge::MergeVersions(
      repo.objects(), manifests, base ? &base->manifest : nullptr, method,
      [&](const std::string& name) -> const merge::MergeParams& { return recipe.ParamsFor(name); },
      [&](uint64_t d, uint64_t t) { meter.Update(d, t); });
  meter.Finish();

  // Parents: the current line first (when it is merged), then the others, once each.
  std::vector<CommitId> parents;
  if (head.commit && std::find(commits.begin(), commits.end(), *head.commit) != commits.end()) parents.push_back(*head.commit);
  for (const auto& c : commits) {
    if (std::find(parents.begin(), parents.end(), c) == parents.end()) parents.push_back(c);
  }
  SemVer highest = inputs.front()->version;
  for (const StoredVersion* v : inputs) highest = highest < v->version ? v->version : highest;

  VersionDraft draft;
  draft.stored = merged.entries;
  draft.written_objects = merged.written;
  draft.config_json = inputs.front()->config_json;
  std::vector<std::string> tags;
  for (const StoredVersion* v : inputs) tags.push_back(v->version.Tag());
  nlohmann::json overrides = nlohmann::json::array();
  for (const auto& o : recipe.overrides) {
    overrides.push_back({{"pattern", o.pattern}, {"weights", o.params.weights}, {"lambda", o.params.lambda},
                         {"density", o.params.density}, {"drop", o.params.drop}, {"t", o.params.t}});
  }
  draft.recipe = {{"command", "fomo merge"},
                  {"method", method_name},
                  {"models", tags},
                  {"model_commits", commits},
                  {"weights", params.weights},
                  {"base", base ? nlohmann::json(base->version.Tag()) : nlohmann::json(nullptr)},
                  {"base_commit", base_commit ? nlohmann::json(*base_commit) : nlohmann::json(nullptr)},
                  {"lambda", params.lambda},
                  {"density", params.density},
                  {"drop", params.drop},
                  {"dare_ties", params.dare_ties},
                  {"seed", params.seed},
                  {"t", params.t},
                  {"overrides", overrides},
                  {"recipe_file", a.recipe.empty() ? nlohmann::json(nullptr) : nlohmann::json(ReadFileToString(a.recipe))},
                  {"fomo_version", FOMO_VERSION}};
  draft.message = a.message.empty() ? fmt::format("merge {} ({})", fmt::join(tags, " "), method_name) : a.message;
  draft.kind = "merge";
  draft.parents = parents;
  draft.allow_empty = true;
  // The line advances when its tip is one of the merged versions; otherwise the
  // merge starts a branch of its own, as `fomo minor --from` does.
  train::Publication publication({a.require, line, parents.front(), highest, *level});
  publication.Prepare(repo, draft);
  StoredVersion made = *CommitVersion(repo, draft);
  repo.Unlock();
  if (chatty) {
    std::cout << VersionLine(made, publication.branch(), "") << "\n";
  }
  // The gate compares with the first parent (the line's tip when it is merged) and
  // with the root of the line.
  std::string status;
  CommitId root = parents.front();
  while (true) {
    CommitInfo info = graph.ReadCommit(root);
    if (info.parents.empty()) break;
    root = info.parents.front();
  }
  nlohmann::json verdict;
  TerminalReporter reporter(ctx);
  const int exit_code = publication.Finish(repo, made, root, a.no_eval, reporter, &status, &verdict);
  if (ctx.global.json) {
    nlohmann::json out = VersionJson(LoadVersion(graph, made.commit.id), RefNames::Collect(graph),
                                     core::MetricsOf(repo, made.commit.id));
    out["status"] = status;
    out["gate"] = verdict;
    PrintJson(out);
  }
  return exit_code;
}

}  // namespace

Runner SetupMerge(CommandLine& cli) {
  auto a = std::make_shared<MergeArgs>();
  cli.Option("revisions", &a->revisions, "the versions to merge", "REV");
  cli.Option("--recipe", &a->recipe, "a mergekit-style YAML recipe: models, weights, method, base, parameters, per-tensor-group overrides", "FILE");
  cli.Option("--method", &a->method, "linear, task-arithmetic, ties, dare, slerp, model-stock or magmax (default linear)", "M");
  cli.Option("--weights", &a->weights, "per-version weights, e.g. 0.7,0.3 (linear: normalised)", "W,...");
  cli.Option("--base", &a->base, "theta_0 of the task-vector methods (default: the nearest common ancestor)", "REV");
  cli.Option("--lambda", &a->lambda, "scale of the merged task vector (default 1)", "X");
  cli.Option("--density", &a->density, "ties: share of each task vector kept (default 0.2)", "F");
  cli.Option("--drop", &a->drop, "dare: drop rate (default 0.1)", "P");
  cli.Flag("--dare-ties", &a->dare_ties, "dare: elect signs and take the disjoint mean, as TIES does");
  cli.Option("--seed", &a->seed, "dare: seed of the drop mask (default 0)", "N");
  cli.Option("--t", &a->t, "slerp: position between the two versions, 0 to 1 (default 0.5)", "T");
  cli.Option("--bump", &a->bump, "patch, minor or major (default minor)", "LEVEL");
  cli.Option("-m,--message", &a->message, "message of the merged version", "MSG");
  cli.Option("--require", &a->require, "gate over the merged version's metrics and its first parent's; failing it commits on rejected/ and exits 3", "EXPR");
  cli.Flag("--no-eval", &a->no_eval, "do not evaluate the merged version");
  return [a](Context& ctx) { return RunMerge(ctx, *a); };
}

}  // namespace fomo::cmd
