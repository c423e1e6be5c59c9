// fomo tag [NAME [REV]] [-d NAME] [--release VERSION]: list, create or delete
// tags. Version tags (vMAJOR.MINOR.PATCH) belong to fomo: they are made by commits
// and never moved. An unreleased one that no branch holds can be deleted (the
// version is retracted, gc frees what only it needed); a released one (marked with
// --release, or pushed) names its weights forever.
#include <algorithm>
#include <ctime>
#include <iostream>
#include <set>

#include <fmt/format.h>

#include "cmd/command.hpp"
#include "cmd/output.hpp"
#include "storage/error.hpp"
#include "storage/semver.hpp"
#include "storage/versions.hpp"

namespace fomo::cmd {

namespace {

struct TagOptions {
  std::string name;
  std::string rev = "HEAD";
  std::string remove;
  std::string release;
};

bool IsVersionTag(const std::string& name) { return !name.empty() && name[0] == 'v' && SemVer::Parse(name); }

// A version tag may go only while nothing else holds its version: not released,
// and on no branch (a branch keeps the version, and its number must stay taken).
void CheckRetractable(Repository& repo, const std::string& tag) {
  const Graph& graph = repo.graph();
  const auto commit = graph.TagTarget(tag);
  if (!commit) throw Error(fmt::format("tag '{}' not found", tag));
  if (auto released = repo.db().FindRelease(tag)) {
    throw Error(fmt::format("{} is released ({}): a released version names its weights forever and its tag stays",
                            tag, released->how == "pushed" ? "pushed" : "marked with 'fomo tag --release'"));
  }
  std::vector<std::string> holding;
  for (const auto& branch : graph.Branches()) {
    const auto tip = graph.BranchTarget(branch);
    if (!tip) continue;
    const auto line = graph.Walk({*tip});
    if (std::find(line.begin(), line.end(), *commit) != line.end()) holding.push_back(branch);
  }
  if (!holding.empty()) {
    throw Error(fmt::format("{} is on branch {}: move the branch back first ('fomo reset' on it), then delete the tag",
                            tag, fmt::format("'{}'", fmt::join(holding, "', '"))));
  }
}

int RunTag(Context& ctx, const TagOptions& o) {
  Repository& repo = ctx.repo();
  Graph& graph = repo.graph();
  if (!o.release.empty()) {
    if (!IsVersionTag(o.release) || SemVer::Parse(o.release)->candidate()) {
      throw UsageError(fmt::format("--release takes a version tag such as v1.2.0, not '{}'", o.release));
    }
    const auto commit = graph.TagTarget(o.release);
    if (!commit) throw Error(fmt::format("version {} not found", o.release));
    repo.db().MarkReleased({o.release, *commit, static_cast<int64_t>(std::time(nullptr)), "marked"});
    if (ctx.global.json) {
      PrintJson({{"released", o.release}, {"commit", *commit}});
    } else if (!ctx.global.quiet) {
      std::cout << fmt::format("{} is released: its tag can no longer be deleted\n", o.release);
    }
    return 0;
  }
  if (!o.remove.empty()) {
    if (IsVersionTag(o.remove)) CheckRetractable(repo, o.remove);
    graph.DeleteTag(o.remove);
    if (!ctx.global.quiet && !ctx.global.json) std::cout << fmt::format("deleted tag '{}'\n", o.remove);
    if (ctx.global.json) PrintJson({{"deleted", o.remove}});
    return 0;
  }
  if (o.name.empty()) {
    nlohmann::json list = nlohmann::json::array();
    std::set<std::string> released;
    for (const auto& r : repo.db().Releases()) released.insert(r.tag);
    for (const auto& [tag, commit] : graph.Tags()) {
      std::string version = LoadVersionNumber(graph, commit).ToString();
      const bool is_released = released.count(tag) > 0;
      if (ctx.global.json) {
        list.push_back({{"tag", tag}, {"commit", commit}, {"version", version}, {"released", is_released}});
      } else {
        std::cout << fmt::format("{:<20} {} {}{}\n", tag, ShortId(commit), version, is_released ? " (released)" : "");
      }
    }
    if (ctx.global.json) PrintJson(list);
    return 0;
  }
  if (SemVer::Parse(o.name)) {
    throw UsageError(fmt::format("'{}' looks like a version; version tags are made by commits", o.name));
  }
  if (!IsValidRefName(o.name)) throw UsageError(fmt::format("'{}' is not a valid tag name", o.name));
  CommitId commit = ResolveRevision(ctx.repo(), o.rev);
  graph.CreateTag(o.name, commit);
  if (ctx.global.json) {
    PrintJson({{"tag", o.name}, {"commit", commit}});
  } else if (!ctx.global.quiet) {
    std::cout << fmt::format("tagged {} as '{}'\n", ShortId(commit), o.name);
  }
  return 0;
}

}  // namespace

Runner SetupTag(CommandLine& cli) {
  auto o = std::make_shared<TagOptions>();
  cli.Option("name", &o->name, "tag to create", "NAME");
  cli.Option("revision", &o->rev, "what it names (default HEAD)", "REV");
  cli.Option("-d,--delete", &o->remove, "delete this tag (a version tag: only unreleased and on no branch)", "TAG");
  cli.Option("--release", &o->release, "mark this version released: its tag can never be deleted", "VERSION");
  return [o](Context& ctx) { return RunTag(ctx, *o); };
}

}  // namespace fomo::cmd
