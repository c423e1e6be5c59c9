// fomo commit CKPT: record weights trained elsewhere as the next version on the
// current branch.
#include <iostream>

#include <fmt/format.h>

#include "cmd/command.hpp"
#include "cmd/evaluate_new.hpp"
#include "cmd/import_recipe.hpp"
#include "cmd/output.hpp"
#include "cmd/version_view.hpp"
#include "core/checkpoint.hpp"
#include "core/evaluation.hpp"
#include "storage/error.hpp"
#include "storage/versions.hpp"

namespace fomo::cmd {

namespace {

struct CommitOptions {
  std::string checkpoint;
  std::string bump = "patch";
  std::string message;
  std::string config;
  bool allow_empty = false;
  bool no_eval = false;
};

int RunCommit(Context& ctx, const CommitOptions& o) {
  auto level = ParseBumpLevel(o.bump);
  if (!level) throw UsageError(fmt::format("--bump must be patch, minor or major, not '{}'", o.bump));
  Repository& repo = ctx.repo();
  HeadState head = repo.graph().Head();
  if (!head.branch) throw Error("HEAD is detached; 'fomo switch BRANCH' before committing");
  if (!head.commit) throw Error(fmt::format("branch '{}' has no versions yet", *head.branch));
  StoredVersion parent = LoadVersion(repo.graph(), *head.commit);
  core::ClipConfig repo_config = core::ClipConfig::FromJsonText(parent.config_json, "repository config");

  std::optional<fs::path> config_file;
  if (!o.config.empty()) config_file = o.config;
  core::Checkpoint ckpt = core::LoadCheckpoint(o.checkpoint, core::ConfigSource{config_file, repo_config});
  if (!(ckpt.config == repo_config)) {
    throw Error(fmt::format("cannot commit '{}': its model config differs from the repository's",
                            o.checkpoint));
  }

  VersionDraft draft;
  draft.tensors = ckpt.tensors;
  draft.config_json = parent.config_json;
  draft.message = o.message.empty() ? fmt::format("commit {}", ckpt.path.filename().string()) : o.message;
  draft.recipe = ImportRecipe("fomo commit", ckpt, draft.message);
  draft.recipe["bump"] = o.bump;
  draft.kind = "commit";
  draft.parents = {*head.commit};
  draft.bump = *level;
  draft.allow_empty = o.allow_empty;
  std::optional<StoredVersion> v;
  {
    ProgressMeter meter("storing tensors", !ctx.global.quiet && !ctx.global.json);
    v = CommitVersion(repo, draft, [&](uint64_t d, uint64_t t) { meter.Update(d, t); });
  }
  if (!v) {
    std::string why = fmt::format("nothing to commit: '{}' has the same weights as {} (--allow-empty "
                                  "records it anyway)",
                                  o.checkpoint, parent.version.Tag());
    if (ctx.global.json) {
      PrintJson({{"committed", false}, {"reason", why}, {"head", parent.version.ToString()}});
    } else if (!ctx.global.quiet) {
      std::cout << why << "\n";
    }
    return 0;
  }
  if (ctx.global.json) {
    if (!o.no_eval) EvaluateNewVersion(ctx, repo, v->commit.id);
    PrintJson(VersionJson(*v, RefNames::Collect(repo.graph()), core::MetricsOf(repo, v->commit.id)));
    return 0;
  }
  if (!ctx.global.quiet) {
    std::cout << fmt::format("[{} {}] {} ({} -> {}): {} stored for {} raw\n", *head.branch,
                             ShortId(v->commit.id), v->commit.message, parent.version.Tag(),
                             v->version.Tag(), FormatBytes(v->stored_bytes), FormatBytes(v->raw_bytes));
    if (ctx.global.verbose) PrintTensorTable(v->manifest);
  }
  if (!o.no_eval) EvaluateNewVersion(ctx, repo, v->commit.id);
  return 0;
}

}  // namespace

Runner SetupCommit(CommandLine& cli) {
  auto o = std::make_shared<CommitOptions>();
  cli.Option("checkpoint", &o->checkpoint, "safetensors checkpoint to record", "CKPT", /*required=*/true);
  cli.Option("--bump", &o->bump, "which part of the version to raise: patch, minor or major", "LEVEL");
  cli.Option("-m,--message", &o->message, "version message", "MSG");
  cli.Option("--config", &o->config, "model config of the checkpoint, if its metadata lacks one", "FILE");
  cli.Flag("--allow-empty", &o->allow_empty, "record a version even if the weights equal HEAD's");
  cli.Flag("--no-eval", &o->no_eval, "do not evaluate the new version");
  return [o](Context& ctx) { return RunCommit(ctx, *o); };
}

}  // namespace fomo::cmd
