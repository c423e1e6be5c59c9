// fomo gc [--dry-run]: drop objects that no version reachable from a ref needs and
// temporary files of interrupted writes, then repack: small tensor objects into one
// pack (upgrading a store of the old layout), the version graph into one git pack.
#include <iostream>

#include <fmt/format.h>

#include "cmd/command.hpp"
#include "cmd/output.hpp"
#include "storage/fsck.hpp"

namespace fomo::cmd {

namespace {

int RunGc(Context& ctx, bool dry_run) {
  GcReport report = CollectGarbage(ctx.repo(), dry_run);
  if (ctx.global.json) {
    PrintJson({{"dry_run", dry_run},
               {"objects_removed", report.objects_removed},
               {"bytes_removed", report.bytes_removed},
               {"temporary_files_removed", report.temporary_files_removed},
               {"packs_replaced", report.packs_before},
               {"objects_packed", report.objects_packed},
               {"loose_objects_packed", report.loose_packed},
               {"graph", {{"objects_packed", report.graph.objects_packed},
                          {"loose_removed", report.graph.loose_removed},
                          {"packs_replaced", report.graph.packs_removed},
                          {"refs_packed", report.graph.loose_refs}}}});
  } else if (!ctx.global.quiet) {
    std::cout << fmt::format("{} {} unreachable objects ({})", dry_run ? "would remove" : "removed",
                             report.objects_removed, FormatBytes(report.bytes_removed));
    if (report.temporary_files_removed) {
      std::cout << fmt::format(" and {} temporary files", report.temporary_files_removed);
    }
    std::cout << "\n";
    if (!dry_run) {
      std::cout << fmt::format("packed {} small objects ({} were loose, {} packs replaced); graph: {} objects packed, "
                               "{} loose files removed, {} refs packed\n",
                               report.objects_packed, report.loose_packed, report.packs_before,
                               report.graph.objects_packed, report.graph.loose_removed, report.graph.loose_refs);
    }
  }
  return 0;
}

}  // namespace

Runner SetupGc(CommandLine& cli) {
  auto dry_run = std::make_shared<bool>(false);
  cli.Flag("-n,--dry-run", dry_run.get(), "say what would be removed, remove nothing");
  return [dry_run](Context& ctx) { return RunGc(ctx, *dry_run); };
}

}  // namespace fomo::cmd
