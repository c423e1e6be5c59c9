// fomo export REV -o FILE [--layout openai|hf]: a full checkpoint, bit for bit the
// version that was committed, in either layout.
#include <iostream>

#include <fmt/format.h>

#include "cmd/command.hpp"
#include "cmd/output.hpp"
#include "core/checkpoint.hpp"
#include "storage/error.hpp"
#include "storage/versions.hpp"

namespace fomo::cmd {

namespace {

struct ExportOptions {
  std::string rev = "HEAD";
  std::string output;
  std::string layout;
};

// The layout the repository's root version was imported in.
core::Layout ImportedLayout(const Graph& graph, const CommitId& commit) {
  std::vector<CommitId> history = graph.Walk({commit});
  StoredVersion root = LoadVersion(graph, history.back());
  auto layout = core::ParseLayout(root.recipe.value("layout", "openai"));
  return layout.value_or(core::Layout::kOpenAI);
}

int RunExport(Context& ctx, const ExportOptions& o) {
  Repository& repo = ctx.repo();
  CommitId commit = ResolveRevision(repo, o.rev);
  StoredVersion v = LoadVersion(repo.graph(), commit);
  core::Layout layout;
  if (o.layout.empty()) {
    layout = ImportedLayout(repo.graph(), commit);
  } else if (auto parsed = core::ParseLayout(o.layout)) {
    layout = *parsed;
  } else {
    throw UsageError(fmt::format("--layout must be openai or hf, not '{}'", o.layout));
  }
  core::ClipConfig config = core::ClipConfig::FromJsonText(v.config_json, "version config");
  core::ExportOptions options;
  options.layout = layout;
  options.threads = repo.config().storage.threads;
  options.metadata = {{"fomo.version", v.version.ToString()}, {"fomo.commit", commit}};
  core::ExportCheckpoint(repo.objects(), v.manifest, config, o.output, options);
  if (ctx.global.json) {
    PrintJson({{"version", v.version.ToString()},
               {"commit", commit},
               {"file", o.output},
               {"layout", std::string(core::LayoutName(layout))},
               {"bytes", fs::file_size(o.output)}});
  } else if (!ctx.global.quiet) {
    std::cout << fmt::format("wrote {} ({}, {} layout, {})\n", o.output, v.version.Tag(),
                             core::LayoutName(layout), FormatBytes(fs::file_size(o.output)));
  }
  return 0;
}

}  // namespace

Runner SetupExport(CommandLine& cli) {
  auto o = std::make_shared<ExportOptions>();
  cli.Option("revision", &o->rev, "version to export (default HEAD)", "REV");
  cli.Option("-o,--output", &o->output, "checkpoint to write (safetensors)", "FILE", /*required=*/true);
  cli.Option("--layout", &o->layout, "openai or hf (default: the layout the base was imported in)", "LAYOUT");
  return [o](Context& ctx) { return RunExport(ctx, *o); };
}

}  // namespace fomo::cmd
