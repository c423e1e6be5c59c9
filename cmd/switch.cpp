// fomo switch BRANCH | -c NEW [REV] | --detach REV: move HEAD. Nothing else changes:
// fomo has no working copy of the weights to update.
#include <iostream>

#include <fmt/format.h>

#include "cmd/command.hpp"
#include "cmd/output.hpp"
#include "storage/error.hpp"
#include "storage/versions.hpp"

namespace fomo::cmd {

namespace {

struct SwitchOptions {
  std::string target;
  std::string create;
  bool detach = false;
};

int RunSwitch(Context& ctx, const SwitchOptions& o) {
  Repository& repo = ctx.repo();
  Graph& graph = repo.graph();
  std::string branch;
  if (!o.create.empty()) {
    if (!IsValidRefName(o.create)) throw UsageError(fmt::format("'{}' is not a valid branch name", o.create));
    if (graph.BranchTarget(o.create)) throw Error(fmt::format("branch '{}' already exists", o.create));
    CommitId start = ResolveRevision(repo, o.target.empty() ? "HEAD" : o.target);
    graph.SetBranch(o.create, start, "fomo: switch -c");
    branch = o.create;
  } else if (o.detach) {
    if (o.target.empty()) throw UsageError("--detach needs a revision");
    CommitId commit = ResolveRevision(repo, o.target);
    graph.SetHeadDetached(commit);
    std::string version = LoadVersion(graph, commit).version.Tag();
    if (ctx.global.json) {
      PrintJson({{"branch", nullptr}, {"commit", commit}, {"version", version}});
    } else if (!ctx.global.quiet) {
      std::cout << fmt::format("HEAD is now at {} ({}), detached\n", ShortId(commit), version);
    }
    return 0;
  } else {
    if (o.target.empty()) throw UsageError("switch needs a branch name");
    if (!graph.BranchTarget(o.target)) {
      // A version or commit, not a branch: say how to look at it or start a line
      // from it, as git does, rather than suggest a branch named like a version.
      std::optional<CommitId> commit;
      try {
        commit = ResolveRevision(repo, o.target);
      } catch (const Error&) {
      }
      if (commit) {
        throw Error(fmt::format("'{}' is {}, not a branch: 'fomo switch --detach {}' points HEAD at it, 'fomo switch "
                                "-c NAME {}' starts a branch there",
                                o.target, LoadVersion(graph, *commit).version.Tag() == o.target ? "a version" : "a revision",
                                o.target, o.target));
      }
      throw Error(fmt::format("no branch '{}' (use 'fomo switch -c {}' to create it, or --detach)",
                              o.target, o.target));
    }
    branch = o.target;
  }
  graph.SetHeadToBranch(branch);
  CommitId commit = *graph.BranchTarget(branch);
  std::string version = LoadVersion(graph, commit).version.Tag();
  if (ctx.global.json) {
    PrintJson({{"branch", branch}, {"commit", commit}, {"version", version}});
  } else if (!ctx.global.quiet) {
    std::cout << fmt::format("switched to branch '{}' ({})\n", branch, version);
  }
  return 0;
}

}  // namespace

Runner SetupSwitch(CommandLine& cli) {
  auto o = std::make_shared<SwitchOptions>();
  cli.Option("target", &o->target, "branch to switch to (with -c or --detach: a revision)", "BRANCH|REV");
  cli.Option("-c,--create", &o->create, "create this branch (at REV or HEAD) and switch to it", "NEW");
  cli.Flag("--detach", &o->detach, "point HEAD at a version instead of a branch");
  return [o](Context& ctx) { return RunSwitch(ctx, *o); };
}

}  // namespace fomo::cmd
