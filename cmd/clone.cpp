// fomo clone URL [DIR] [--only REV...] [--depth N]: a repository with the remote's
// versions, tags, branches, metrics and recipes (storage/transfer.hpp, Clone).
#include <iostream>

#include <fmt/format.h>

#include "cmd/command.hpp"
#include "cmd/remote_access.hpp"
#include "storage/error.hpp"
#include "storage/transfer.hpp"

namespace fomo::cmd {

namespace {

struct CloneOptions {
  bool insecure = false;
  std::string url;
  std::string directory;
  std::vector<std::string> only;
  int depth = 0;
};

// "/data/models/clip/" -> "clip"; "oci://host/team/clip" -> "clip".
std::string DefaultDirectory(const std::string& url) {
  std::string trimmed = url;
  while (trimmed.size() > 1 && trimmed.back() == '/') trimmed.pop_back();
  const size_t slash = trimmed.find_last_of("/:");
  std::string name = slash == std::string::npos ? trimmed : trimmed.substr(slash + 1);
  return name.empty() || name == "." || name == ".." ? "clone" : name;
}

int RunClone(Context& ctx, const CloneOptions& o) {
  if (o.depth < 0) throw UsageError("--depth takes a number of versions, 1 or more");
  if (o.depth > 0 && !o.only.empty()) throw UsageError("--depth and --only do not go together");
  const std::string dir = o.directory.empty() ? DefaultDirectory(o.url) : o.directory;
  FetchRequest request;
  request.only = o.only;
  request.depth = o.depth;
  TransferMeter meter(ctx.global, "receiving objects");
  const CloneResult result = Clone(o.url, dir, request, o.insecure, meter.callback());
  meter.Finish();
  NamedRemote remote{"origin", o.url, nullptr};
  if (ctx.global.json) {
    nlohmann::json out = TransferJson(result.report, remote);
    out["directory"] = result.root.string();
    out["branch"] = result.branch ? nlohmann::json(*result.branch) : nlohmann::json(nullptr);
    out["head"] = result.head ? nlohmann::json(*result.head) : nlohmann::json(nullptr);
    out["shallow"] = o.depth > 0;
    PrintJson(out);
    return 0;
  }
  if (ctx.global.quiet) return 0;
  std::cout << fmt::format("cloned {} into {}: {} version{}, {} object{} ({})\n", o.url, result.root.string(),
                           result.report.versions, result.report.versions == 1 ? "" : "s", result.report.objects,
                           result.report.objects == 1 ? "" : "s", FormatBytes(result.report.bytes));
  if (result.branch) {
    std::cout << fmt::format("on branch {} at {}\n", *result.branch, ShortId(*result.head));
  } else {
    std::cout << fmt::format("HEAD detached at {}\n", ShortId(*result.head));
  }
  return 0;
}

}  // namespace

Runner SetupClone(CommandLine& cli) {
  auto o = std::make_shared<CloneOptions>();
  cli.Option("url", &o->url, "the remote: a fomo repository's path or file:// URL, or oci://HOST[:PORT]/NAME", "URL", true);
  cli.Option("directory", &o->directory, "where to make the clone (default: the URL's last part)", "DIR");
  cli.Option("--only", &o->only, "only these branches, tags or versions, with their ancestry", "REV");
  cli.Option("--depth", &o->depth, "only the last N versions of each line get their tensors (a shallow clone)", "N");
  cli.Flag("--insecure", &o->insecure, "plain http to a registry given by URL (one on localhost)");
  return [o](Context& ctx) { return RunClone(ctx, *o); };
}

}  // namespace fomo::cmd
