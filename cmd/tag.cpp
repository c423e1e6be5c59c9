// fomo tag [NAME [REV]] [-d NAME]: list, create or delete tags. Version tags
// (vMAJOR.MINOR.PATCH) belong to fomo: they are made by commits and never moved.
#include <iostream>

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
};

int RunTag(Context& ctx, const TagOptions& o) {
  Graph& graph = ctx.repo().graph();
  if (!o.remove.empty()) {
    if (SemVer::Parse(o.remove) && o.remove[0] == 'v') {
      throw Error(fmt::format("'{}' is a version tag; fomo keeps version tags", o.remove));
    }
    graph.DeleteTag(o.remove);
    if (!ctx.global.quiet && !ctx.global.json) std::cout << fmt::format("deleted tag '{}'\n", o.remove);
    if (ctx.global.json) PrintJson({{"deleted", o.remove}});
    return 0;
  }
  if (o.name.empty()) {
    nlohmann::json list = nlohmann::json::array();
    for (const auto& [tag, commit] : graph.Tags()) {
      std::string version = LoadVersion(graph, commit).version.ToString();
      if (ctx.global.json) {
        list.push_back({{"tag", tag}, {"commit", commit}, {"version", version}});
      } else {
        std::cout << fmt::format("{:<20} {} {}\n", tag, ShortId(commit), version);
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
  cli.Option("-d,--delete", &o->remove, "delete this tag", "NAME");
  return [o](Context& ctx) { return RunTag(ctx, *o); };
}

}  // namespace fomo::cmd
