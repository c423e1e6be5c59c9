// fomo fsck [--repair] [--quick]: verify every object's hash, every version's
// manifest, and that graph and database agree. Exit 1 when data is damaged.
#include <iostream>

#include <fmt/format.h>

#include "cmd/command.hpp"
#include "cmd/output.hpp"
#include "core/checkpoint.hpp"
#include "storage/error.hpp"
#include "storage/fsck.hpp"

namespace fomo::cmd {

namespace {

struct FsckOptions {
  bool repair = false;
  bool quick = false;
};

// Every version's manifest against its own model config: names, shapes, dtypes.
void CheckAgainstConfig(const StoredVersion& v, std::vector<std::string>* errors) {
  try {
    const core::ClipConfig config = core::ClipConfig::FromJsonText(v.config_json, "version config");
    for (const auto& p : core::ManifestProblems(v.manifest, config)) errors->push_back(fmt::format("{}: {}", v.version.Tag(), p));
  } catch (const Error& e) {
    errors->push_back(fmt::format("{}: {}", v.version.Tag(), e.what()));
  }
}

int RunFsck(Context& ctx, const FsckOptions& o) {
  Repository& repo = ctx.repo();
  if (o.repair) repo.LockForWriting(ctx.global.quiet);
  FsckReport report = CheckRepository(repo, !o.quick, CheckAgainstConfig);
  std::vector<std::string> fixes;
  if (o.repair) {
    fixes = RepairRepository(repo, report);
    // What is left after the repairs is what the exit code says.
    if (!fixes.empty()) report = CheckRepository(repo, !o.quick, CheckAgainstConfig);
  }
  if (ctx.global.json) {
    PrintJson({{"ok", report.ok()},
               {"versions_checked", report.versions_checked},
               {"objects_checked", report.objects_checked},
               {"bytes_hashed", report.bytes_hashed},
               {"errors", report.errors},
               {"notices", report.notices},
               {"repaired", fixes}});
  } else {
    for (const auto& e : report.errors) std::cerr << "error: " << e << "\n";
    if (!ctx.global.quiet) {
      for (const auto& n : report.notices) std::cout << "notice: " << n << "\n";
      for (const auto& f : fixes) std::cout << "repaired: " << f << "\n";
      std::cout << fmt::format("checked {} versions and {} objects{}: {}\n", report.versions_checked,
                               report.objects_checked, o.quick ? fmt::format(" (stored bytes hashed: {}; nothing decoded)", FormatBytes(report.bytes_hashed)) : "",
                               report.ok() ? "ok" : fmt::format("{} errors", report.errors.size()));
    }
  }
  return report.ok() ? 0 : 1;
}

}  // namespace

Runner SetupFsck(CommandLine& cli) {
  auto o = std::make_shared<FsckOptions>();
  cli.Flag("--repair", &o->repair, "rebuild the database's tables, add missing rows and tags, drop stale rows and temporary files");
  cli.Flag("--quick", &o->quick, "hash the stored bytes and check headers; decode nothing");
  return [o](Context& ctx) { return RunFsck(ctx, *o); };
}

}  // namespace fomo::cmd
