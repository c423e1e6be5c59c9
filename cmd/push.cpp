// fomo push [REMOTE] [REV...] [--all] [--tags] [--force]: sends the versions the
// remote lacks and moves its refs (storage/transfer.hpp). Without REV it pushes
// the current branch and the version tags on it.
#include <fmt/format.h>

#include "cmd/command.hpp"
#include "cmd/remote_access.hpp"
#include "storage/error.hpp"
#include "storage/semver.hpp"
#include "storage/transfer.hpp"

namespace fomo::cmd {

namespace {

struct PushOptions {
  bool insecure = false;
  std::string remote;
  std::vector<std::string> revs;
  bool all = false;
  bool tags = false;
  bool force = false;
};

bool IsVersionTag(const std::string& name) { return !name.empty() && name[0] == 'v' && SemVer::Parse(name); }

// The version tags on the lines of the given branches, as git push --follow-tags.
void AddVersionTagsOn(const Graph& graph, const std::vector<std::string>& branches, PushRequest* request) {
  std::vector<CommitId> tips;
  for (const auto& b : branches) tips.push_back(*graph.BranchTarget(b));
  if (tips.empty()) return;
  const auto line = graph.Walk(tips);
  const std::set<CommitId> on_line(line.begin(), line.end());
  for (const auto& [tag, id] : graph.Tags()) {
    if (IsVersionTag(tag) && on_line.count(id)) request->tags.push_back(tag);
  }
}

int RunPush(Context& ctx, const PushOptions& o) {
  Repository& repo = ctx.repo();
  const Graph& graph = repo.graph();
  std::string remote_name = o.remote;
  std::vector<std::string> revs = o.revs;
  // `fomo push v1.2.0` names no remote: a first argument that is a ref here and no
  // remote means the default remote.
  if (!remote_name.empty() && !graph.FindRemote(remote_name) &&
      (graph.BranchTarget(remote_name) || graph.TagTarget(remote_name))) {
    revs.insert(revs.begin(), remote_name);
    remote_name.clear();
  }
  PushRequest request;
  request.force = o.force;
  std::vector<std::string> branches;
  if (o.all) branches = graph.Branches();
  for (const auto& rev : revs) {
    if (graph.BranchTarget(rev)) {
      branches.push_back(rev);
    } else if (graph.TagTarget(rev)) {
      request.tags.push_back(rev);
    } else if (auto v = graph.TagTarget("v" + rev); v && IsVersionTag("v" + rev)) {
      request.tags.push_back("v" + rev);
    } else {
      throw UsageError(fmt::format("'{}' is no branch or tag here", rev));
    }
  }
  if (revs.empty() && !o.all && !o.tags) {
    const auto head = graph.Head();
    if (!head.branch || !head.commit) throw UsageError("HEAD is on no branch: name what to push");
    branches.push_back(*head.branch);
  }
  request.branches = branches;
  if (o.tags) {
    for (const auto& [tag, id] : graph.Tags()) request.tags.push_back(tag);
  } else {
    AddVersionTagsOn(graph, branches, &request);
  }
  std::sort(request.tags.begin(), request.tags.end());
  request.tags.erase(std::unique(request.tags.begin(), request.tags.end()), request.tags.end());

  NamedRemote remote = OpenNamedRemote(repo, remote_name, /*create=*/true, o.insecure);
  TransferMeter meter(ctx.global, "sending objects");
  const TransferReport report = Push(repo, *remote.remote, request, meter.callback());
  meter.Finish();
  PrintTransfer(ctx.global, report, "pushed to", remote);
  return 0;
}

}  // namespace

Runner SetupPush(CommandLine& cli) {
  auto o = std::make_shared<PushOptions>();
  cli.Option("remote", &o->remote, "a remote's name or a URL (default origin)", "REMOTE");
  cli.Option("revisions", &o->revs, "branches and tags to push (default: the current branch and its version tags)",
             "REV");
  cli.Flag("--all", &o->all, "push every branch (and the version tags on them)");
  cli.Flag("--tags", &o->tags, "push every tag");
  cli.Flag("-f,--force", &o->force, "let a remote branch move to a version that does not descend from it");
  cli.Flag("--insecure", &o->insecure, "plain http to a registry given by URL (one on localhost)");
  return [o](Context& ctx) { return RunPush(ctx, *o); };
}

}  // namespace fomo::cmd
