// fomo remote [-v] | remote add NAME URL [--insecure] | remote remove NAME: the
// remotes this repository pushes to and fetches from, kept as git keeps them
// (remote.NAME.url in .fomo/graph/config).
#include <iostream>

#include <fmt/format.h>

#include "cmd/command.hpp"
#include "cmd/output.hpp"
#include "storage/error.hpp"

namespace fomo::cmd {

namespace {

struct RemoteOptions {
  std::vector<std::string> args;
  bool insecure = false;
};

int RunRemote(Context& ctx, const RemoteOptions& o) {
  Repository& repo = ctx.repo();
  Graph& graph = repo.graph();
  const std::string action = o.args.empty() ? "" : o.args[0];
  if (action.empty() || action == "list") {
    if (o.args.size() > 1) throw UsageError("fomo remote takes no arguments to list the remotes");
    nlohmann::json list = nlohmann::json::array();
    for (const auto& remote : graph.Remotes()) {
      if (ctx.global.json) {
        list.push_back({{"name", remote.name}, {"url", remote.url}, {"insecure", remote.insecure}});
      } else if (ctx.global.verbose) {
        std::cout << fmt::format("{}\t{}{}\n", remote.name, remote.url, remote.insecure ? " (insecure)" : "");
      } else {
        std::cout << remote.name << "\n";
      }
    }
    if (ctx.global.json) PrintJson(list);
    return 0;
  }
  repo.LockForWriting(ctx.global.quiet);
  if (action == "add") {
    if (o.args.size() != 3) throw UsageError("usage: fomo remote add NAME URL");
    const std::string& name = o.args[1];
    if (!IsValidRefName(name) || name.find('/') != std::string::npos) {
      throw UsageError(fmt::format("'{}' is not a valid remote name", name));
    }
    if (graph.FindRemote(name)) throw Error(fmt::format("remote '{}' already exists", name));
    graph.SetRemote({name, o.args[2], o.insecure});
    if (ctx.global.json) {
      PrintJson({{"name", name}, {"url", o.args[2]}, {"insecure", o.insecure}});
    } else if (!ctx.global.quiet) {
      std::cout << fmt::format("added remote '{}': {}\n", name, o.args[2]);
    }
    return 0;
  }
  if (action == "remove" || action == "rm") {
    if (o.args.size() != 2) throw UsageError("usage: fomo remote remove NAME");
    const std::string& name = o.args[1];
    if (!graph.FindRemote(name)) throw Error(fmt::format("no such remote '{}'", name));
    for (const auto& [branch, id] : graph.RemoteBranches(name)) graph.DeleteRemoteBranch(name, branch);
    graph.RemoveRemote(name);
    if (ctx.global.json) {
      PrintJson({{"removed", name}});
    } else if (!ctx.global.quiet) {
      std::cout << fmt::format("removed remote '{}'\n", name);
    }
    return 0;
  }
  throw UsageError(fmt::format("unknown remote action '{}' (add, remove; none lists the remotes)", action));
}

}  // namespace

Runner SetupRemote(CommandLine& cli) {
  auto o = std::make_shared<RemoteOptions>();
  cli.Option("args", &o->args, "nothing: list the remotes (-v: with their URLs); add NAME URL; remove NAME",
             "ACTION");
  cli.Flag("--insecure", &o->insecure, "add: talk plain http to this registry (a registry on localhost)");
  return [o](Context& ctx) { return RunRemote(ctx, *o); };
}

}  // namespace fomo::cmd
