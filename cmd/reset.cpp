// fomo reset REV: moves HEAD's branch to REV (git reset, with no working copy to
// touch). Versions that leave the branch stay where other refs hold them (their
// tags, other branches); an unreleased one is retracted with 'fomo tag -d', and
// 'fomo gc' then frees what only it needed.
#include <algorithm>
#include <iostream>
#include <set>

#include <fmt/format.h>
#include <fmt/ranges.h>

#include "cmd/command.hpp"
#include "cmd/output.hpp"
#include "cmd/version_view.hpp"
#include "storage/error.hpp"
#include "storage/versions.hpp"

namespace fomo::cmd {

namespace {

int RunReset(Context& ctx, const std::string& rev) {
  Repository& repo = ctx.repo();
  Graph& graph = repo.graph();
  const HeadState head = graph.Head();
  if (!head.branch) throw Error("HEAD is detached: 'fomo switch BRANCH' to the branch to move first");
  if (!head.commit) throw Error(fmt::format("branch '{}' has no versions yet", *head.branch));
  const CommitId target = ResolveRevision(repo, rev);
  const CommitId was = *head.commit;
  graph.SetBranch(*head.branch, target, fmt::format("fomo: reset to {}", rev));

  // What left the branch, newest first, and what still holds each.
  const std::vector<CommitId> now = graph.Walk({target});
  const std::set<CommitId> kept(now.begin(), now.end());
  const RefNames refs = RefNames::Collect(graph);
  nlohmann::json left = nlohmann::json::array();
  std::vector<std::string> left_names;
  for (const auto& commit : graph.Walk({was})) {
    if (kept.count(commit)) continue;
    const StoredVersion v = LoadVersion(graph, commit);
    std::vector<std::string> held;
    if (auto t = refs.tags.find(commit); t != refs.tags.end()) held.insert(held.end(), t->second.begin(), t->second.end());
    if (auto b = refs.branches.find(commit); b != refs.branches.end()) {
      held.insert(held.end(), b->second.begin(), b->second.end());
    }
    left.push_back({{"version", v.version.ToString()}, {"commit", commit}, {"held_by", held}});
    left_names.push_back(v.version.Tag());
  }
  const StoredVersion at = LoadVersion(graph, target);
  if (ctx.global.json) {
    PrintJson({{"branch", *head.branch}, {"from", was}, {"commit", target}, {"version", at.version.ToString()},
               {"left", left}});
    return 0;
  }
  if (ctx.global.quiet) return 0;
  std::cout << fmt::format("{} is now at {} ({}), was {}\n", *head.branch, at.version.Tag(), ShortId(target), ShortId(was));
  if (!left_names.empty()) {
    std::cout << fmt::format("left the branch: {}; 'fomo tag -d VERSION' retracts an unreleased one, then 'fomo gc' "
                             "frees what only it needed ('fomo du' shows how much)\n",
                             fmt::join(left_names, ", "));
  }
  return 0;
}

}  // namespace

Runner SetupReset(CommandLine& cli) {
  auto rev = std::make_shared<std::string>();
  cli.Option("revision", rev.get(), "where the current branch moves to", "REV", /*required=*/true);
  return [rev](Context& ctx) { return RunReset(ctx, *rev); };
}

}  // namespace fomo::cmd
