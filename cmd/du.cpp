// fomo du [REV...]: bytes per version (added, shared with earlier versions, total)
// and for the whole store (what versions own, what only delta chains need, what
// gc would free). Sizes are object files on disk, as git count-objects counts.
#include <iostream>
#include <map>

#include <fmt/format.h>

#include "cmd/command.hpp"
#include "cmd/output.hpp"
#include "storage/disk_usage.hpp"
#include "storage/versions.hpp"

namespace fomo::cmd {

namespace {

struct DuOptions {
  std::vector<std::string> revs;  // empty: every version reachable from a ref
};

int RunDu(Context& ctx, const DuOptions& o) {
  Repository& repo = ctx.repo();
  const Graph& graph = repo.graph();
  const DiskUsage usage = MeasureDiskUsage(repo);
  std::map<CommitId, const VersionUsage*> by_commit;
  for (const auto& v : usage.versions) by_commit[v.commit] = &v;
  // Newest first, as log lists them, unless the revisions are named.
  std::vector<const VersionUsage*> shown;
  if (o.revs.empty()) {
    for (auto it = usage.versions.rbegin(); it != usage.versions.rend(); ++it) shown.push_back(&*it);
  } else {
    for (const auto& rev : o.revs) {
      const CommitId commit = ResolveRevision(repo, rev);
      shown.push_back(by_commit.at(commit));  // a resolved revision is reachable from a ref
    }
  }
  const StoreUsage& s = usage.store;
  if (ctx.global.json) {
    nlohmann::json versions = nlohmann::json::array();
    for (const VersionUsage* v : shown) {
      const StoredVersion stored = LoadVersion(graph, v->commit);
      versions.push_back({{"version", stored.version.ToString()},
                          {"commit", v->commit},
                          {"added", v->added},
                          {"shared", v->shared()},
                          {"total", v->total}});
    }
    PrintJson({{"versions", versions},
               {"store",
                {{"bytes", s.bytes},
                 {"objects", s.objects},
                 {"versions_added", s.versions_added},
                 {"delta_bases", s.delta_bases},
                 {"unreachable", s.unreachable},
                 {"unreachable_objects", s.unreachable_objects},
                 {"files", s.files},
                 {"file_bytes", s.file_bytes},
                 {"disk_bytes", s.disk_bytes},
                 {"packs", s.packs}}}});
    return 0;
  }
  std::cout << fmt::format("{:<12} {:<10} {:>10} {:>10} {:>10}\n", "version", "commit", "added", "shared", "total");
  for (const VersionUsage* v : shown) {
    const StoredVersion stored = LoadVersion(graph, v->commit);
    std::cout << fmt::format("{:<12} {:<10} {:>10} {:>10} {:>10}\n", stored.version.Tag(), ShortId(v->commit),
                             FormatBytes(v->added), FormatBytes(v->shared()), FormatBytes(v->total));
  }
  std::cout << fmt::format("store: {} in {} objects: {} added by {} versions, {} only delta chains need, {} in {} "
                           "objects unreachable ('fomo gc' frees it)\n",
                           FormatBytes(s.bytes), s.objects, FormatBytes(s.versions_added), usage.versions.size(),
                           FormatBytes(s.delta_bases), FormatBytes(s.unreachable), s.unreachable_objects);
  std::cout << fmt::format("on disk: {} in {} files ({} packs), {} of disk blocks\n", FormatBytes(s.file_bytes), s.files,
                           s.packs, FormatBytes(s.disk_bytes));
  return 0;
}

}  // namespace

Runner SetupDu(CommandLine& cli) {
  auto o = std::make_shared<DuOptions>();
  cli.Option("revisions", &o->revs, "versions to show (default: every version reachable from a ref)", "REV");
  return [o](Context& ctx) { return RunDu(ctx, *o); };
}

}  // namespace fomo::cmd
