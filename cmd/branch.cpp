// fomo branch [NAME [REV]] [-d NAME]: list, create or delete branches.
#include <iostream>

#include <fmt/format.h>

#include "cmd/command.hpp"
#include "cmd/output.hpp"
#include "storage/error.hpp"
#include "storage/versions.hpp"

namespace fomo::cmd {

namespace {

struct BranchOptions {
  std::string name;
  std::string rev = "HEAD";
  std::string remove;
};

int RunBranch(Context& ctx, const BranchOptions& o) {
  Graph& graph = ctx.repo().graph();
  HeadState head = graph.Head();
  if (!o.remove.empty()) {
    if (!graph.BranchTarget(o.remove)) throw Error(fmt::format("branch '{}' not found", o.remove));
    if (head.branch == o.remove) {
      throw Error(fmt::format("cannot delete branch '{}': HEAD is on it", o.remove));
    }
    graph.DeleteBranch(o.remove);
    if (ctx.global.json) {
      PrintJson({{"deleted", o.remove}});
    } else if (!ctx.global.quiet) {
      std::cout << fmt::format("deleted branch '{}'\n", o.remove);
    }
    return 0;
  }
  if (o.name.empty()) {
    nlohmann::json list = nlohmann::json::array();
    for (const auto& branch : graph.Branches()) {
      CommitId commit = *graph.BranchTarget(branch);
      std::string version = LoadVersionNumber(graph, commit).ToString();
      bool current = head.branch == branch;
      if (ctx.global.json) {
        list.push_back({{"branch", branch}, {"commit", commit}, {"version", version}, {"current", current}});
      } else {
        std::cout << (current ? "* " : "  ") << fmt::format("{:<24} {} {}\n", branch, ShortId(commit), version);
      }
    }
    if (ctx.global.json) PrintJson(list);
    return 0;
  }
  if (!IsValidRefName(o.name)) throw UsageError(fmt::format("'{}' is not a valid branch name", o.name));
  if (graph.BranchTarget(o.name)) throw Error(fmt::format("branch '{}' already exists", o.name));
  CommitId commit = ResolveRevision(ctx.repo(), o.rev);
  graph.SetBranch(o.name, commit, "fomo: branch");
  if (ctx.global.json) {
    PrintJson({{"branch", o.name}, {"commit", commit}});
  } else if (!ctx.global.quiet) {
    std::cout << fmt::format("created branch '{}' at {}\n", o.name, ShortId(commit));
  }
  return 0;
}

}  // namespace

Runner SetupBranch(CommandLine& cli) {
  auto o = std::make_shared<BranchOptions>();
  cli.Option("name", &o->name, "branch to create", "NAME");
  cli.Option("revision", &o->rev, "where it starts (default HEAD)", "REV");
  cli.Option("-d,--delete", &o->remove, "delete this branch", "BRANCH");
  return [o](Context& ctx) { return RunBranch(ctx, *o); };
}

}  // namespace fomo::cmd
