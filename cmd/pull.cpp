// fomo pull [REMOTE] [BRANCH]: fetch, then fast-forward the current branch to the
// remote's BRANCH (default: the current branch's name). A line that has diverged
// is left as it is, with the merge that would join it suggested.
#include <iostream>

#include <fmt/format.h>

#include "cmd/command.hpp"
#include "cmd/remote_access.hpp"
#include "storage/error.hpp"
#include "storage/transfer.hpp"

namespace fomo::cmd {

namespace {

struct PullOptions {
  bool insecure = false;
  std::string remote;
  std::string branch;
};

int RunPull(Context& ctx, const PullOptions& o) {
  Repository& repo = ctx.repo();
  Graph& graph = repo.graph();
  const HeadState head = graph.Head();
  if (!head.branch) throw UsageError("HEAD is on no branch: switch to the branch to pull into");
  NamedRemote remote = OpenNamedRemote(repo, o.remote, /*create=*/false, o.insecure);
  const std::string branch = o.branch.empty() ? *head.branch : o.branch;
  FetchRequest request;
  request.remote_name = remote.name;
  TransferMeter meter(ctx.global, "receiving objects");
  TransferReport report = Fetch(repo, *remote.remote, request, meter.callback());
  meter.Finish();

  const auto tracking = graph.RemoteBranches(remote.name);
  auto theirs = tracking.find(branch);
  if (theirs == tracking.end()) throw Error(fmt::format("{} has no branch '{}'", remote.url, branch));
  const std::string upstream = remote.name + "/" + branch;
  std::string outcome;
  if (!head.commit) {
    graph.SetBranch(*head.branch, theirs->second, "pull: from " + upstream);
    outcome = fmt::format("{} is at {} ({})", *head.branch, ShortId(theirs->second), upstream);
  } else if (IsAncestor(graph, theirs->second, *head.commit)) {
    outcome = fmt::format("{} is up to date with {}", *head.branch, upstream);
  } else if (IsAncestor(graph, *head.commit, theirs->second)) {
    graph.SetBranch(*head.branch, theirs->second, "pull: fast-forward to " + upstream);
    outcome = fmt::format("{} fast-forwarded {}..{} ({})", *head.branch, ShortId(*head.commit),
                          ShortId(theirs->second), upstream);
  } else {
    throw Error(fmt::format("{} and {} have diverged: nothing moved; join them with 'fomo merge {}' (the versions "
                            "are here now)",
                            *head.branch, upstream, upstream));
  }
  if (ctx.global.json) {
    nlohmann::json out = TransferJson(report, remote);
    out["branch"] = *head.branch;
    out["commit"] = *graph.BranchTarget(*head.branch);
    PrintJson(out);
  } else if (!ctx.global.quiet) {
    PrintTransfer(ctx.global, report, "fetched from", remote);
    std::cout << outcome << "\n";
  }
  return 0;
}

}  // namespace

Runner SetupPull(CommandLine& cli) {
  auto o = std::make_shared<PullOptions>();
  cli.Option("remote", &o->remote, "a remote's name or a URL (default origin)", "REMOTE");
  cli.Option("branch", &o->branch, "the remote's branch to take (default: the current branch's name)", "BRANCH");
  cli.Flag("--insecure", &o->insecure, "plain http to a registry given by URL (one on localhost)");
  return [o](Context& ctx) { return RunPull(ctx, *o); };
}

}  // namespace fomo::cmd
