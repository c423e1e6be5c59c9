// fomo export REV -o PATH [--layout openai|hf|openclip] [--dtype f32|f16|bf16]: a
// full checkpoint, bit for bit the version that was committed (unless --dtype
// converts it): one safetensors file, or a Hugging Face or OpenCLIP model directory.
#include <iostream>

#include <fmt/format.h>

#include "cmd/command.hpp"
#include "cmd/output.hpp"
#include "cmd/output_path.hpp"
#include "core/checkpoint.hpp"
#include "core/model_directory.hpp"
#include "core/weight_dtype.hpp"
#include "storage/error.hpp"
#include "storage/versions.hpp"

namespace fomo::cmd {

namespace {

struct ExportOptions {
  std::string rev = "HEAD";
  std::string output;
  std::string layout;
  std::string dtype;
};

// The layout the repository's root version was imported in.
std::string ImportedLayout(const Graph& graph, const CommitId& commit) {
  std::vector<CommitId> history = graph.Walk({commit});
  StoredVersion root = LoadVersion(graph, history.back());
  auto layout = core::ParseLayout(root.recipe.value("layout", "openai"));
  return std::string(core::LayoutName(layout.value_or(core::Layout::kOpenAI)));
}

bool NamesFile(const std::string& path) {
  const std::string suffix = ".safetensors";
  return path.size() >= suffix.size() && path.compare(path.size() - suffix.size(), suffix.size(), suffix) == 0;
}

uint64_t BytesUnder(const fs::path& path) {
  if (!fs::is_directory(path)) return fs::file_size(path);
  uint64_t total = 0;
  for (const auto& e : fs::directory_iterator(path)) total += e.file_size();
  return total;
}

int RunExport(Context& ctx, const ExportOptions& o) {
  const std::string layout_name = o.layout.empty() ? "" : o.layout;
  if (!layout_name.empty() && layout_name != "openai" && layout_name != "hf" && layout_name != "openclip") {
    throw UsageError(fmt::format("--layout must be openai, hf or openclip, not '{}'", o.layout));
  }
  std::optional<Dtype> dtype;
  if (!o.dtype.empty()) dtype = core::ParseWeightDtype(o.dtype, "--dtype");
  Repository& repo = ctx.repo();
  CommitId commit = ResolveRevision(repo, o.rev);
  StoredVersion v = LoadVersion(repo.graph(), commit);
  repo.RequireTensors(commit, v.version.Tag());
  const std::string layout = layout_name.empty() ? ImportedLayout(repo.graph(), commit) : layout_name;
  core::ClipConfig config = core::ClipConfig::FromJsonText(v.config_json, "version config");
  core::CheckManifest(v.manifest, config, v.version.Tag());
  core::ExportOptions options;
  options.layout = layout == "hf" ? core::Layout::kHuggingFace : core::Layout::kOpenAI;
  options.dtype = dtype;
  options.threads = repo.config().storage.threads;
  options.metadata = {{"fomo.version", v.version.ToString()}, {"fomo.commit", commit}};

  // hf and openclip write a model directory unless -o names a .safetensors file.
  const bool directory = layout != "openai" && !NamesFile(o.output);
  const fs::path target = CheckedOutputPath(o.output, &repo, directory);
  std::vector<std::string> files;
  try {
    if (directory) {
      auto format = layout == "hf" ? core::DirectoryFormat::kHuggingFace : core::DirectoryFormat::kOpenClip;
      files = core::ExportModelDirectory(repo.objects(), v.manifest, config, target, format, options);
    } else {
      core::ExportCheckpoint(repo.objects(), v.manifest, config, target, options);
    }
  } catch (const CorruptError& e) {
    throw CorruptError(
        fmt::format("version {} is damaged: {} ('fomo fsck' lists every problem)", v.version.Tag(), e.what()));
  }
  const std::string dtype_name = dtype ? std::string(DtypeName(*dtype)) : core::DescribeDtypes(v.manifest);
  const uint64_t bytes = BytesUnder(target);
  if (ctx.global.json) {
    nlohmann::json out = {{"version", v.version.ToString()}, {"commit", commit},    {"layout", layout},
                          {"dtype", dtype_name},             {"bytes", bytes}};
    out[directory ? "directory" : "file"] = o.output;
    if (directory) out["files"] = files;
    PrintJson(out);
  } else if (!ctx.global.quiet) {
    std::cout << fmt::format("wrote {}{} ({}, {} layout, {}, {})\n", o.output, directory ? "/" : "", v.version.Tag(),
                             layout, dtype_name, FormatBytes(bytes));
    if (directory) std::cout << fmt::format("  {}\n", fmt::join(files, " "));
  }
  return 0;
}

}  // namespace

Runner SetupExport(CommandLine& cli) {
  auto o = std::make_shared<ExportOptions>();
  cli.Option("revision", &o->rev, "version to export (default HEAD)", "REV");
  cli.Option("-o,--output", &o->output,
             "where to write: a safetensors file, or for --layout hf|openclip a model directory (unless the name ends in .safetensors)",
             "PATH", /*required=*/true);
  cli.Option("--layout", &o->layout, "openai, hf or openclip (default: the layout the base was imported in)", "LAYOUT");
  cli.Option("--dtype", &o->dtype, "convert floating-point weights to f32, f16 or bf16 (default: as stored)", "DTYPE");
  return [o](Context& ctx) { return RunExport(ctx, *o); };
}

}  // namespace fomo::cmd
