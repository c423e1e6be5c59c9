// fomo commit CKPT...: record weights trained elsewhere as the next versions on the
// current branch, one version per checkpoint (files, model directories, or a
// folder of checkpoints taken in name or modification-time order).
#include <sys/stat.h>

#include <algorithm>
#include <iostream>

#include <fmt/format.h>

#include "cmd/checkpoint_import.hpp"
#include "cmd/command.hpp"
#include "cmd/terminal_reporter.hpp"
#include "cmd/output.hpp"
#include "cmd/version_view.hpp"
#include "core/checkpoint.hpp"
#include "core/checkpoint_source.hpp"
#include "core/evaluation.hpp"
#include "core/weight_dtype.hpp"
#include "storage/error.hpp"
#include "storage/versions.hpp"
#include "train/version_evaluation.hpp"

namespace fomo::cmd {

namespace {

struct CommitOptions {
  std::vector<std::string> checkpoints;
  std::string bump = "patch";
  std::string message;
  CheckpointOptions checkpoint;
  std::string dtype;
  bool dtype_change = false;
  std::string order = "name";
  bool allow_empty = false;
  bool no_eval = false;
};

// Name order that reads numbers as numbers: epoch_2 before epoch_10.
bool NaturalLess(const std::string& a, const std::string& b) {
  size_t i = 0, j = 0;
  while (i < a.size() && j < b.size()) {
    if (std::isdigit(static_cast<unsigned char>(a[i])) && std::isdigit(static_cast<unsigned char>(b[j]))) {
      size_t i2 = i, j2 = j;
      while (i2 < a.size() && std::isdigit(static_cast<unsigned char>(a[i2]))) ++i2;
      while (j2 < b.size() && std::isdigit(static_cast<unsigned char>(b[j2]))) ++j2;
      std::string na = a.substr(i, i2 - i), nb = b.substr(j, j2 - j);
      na.erase(0, std::min(na.find_first_not_of('0'), na.size()));
      nb.erase(0, std::min(nb.find_first_not_of('0'), nb.size()));
      if (na.size() != nb.size()) return na.size() < nb.size();
      if (na != nb) return na < nb;
      i = i2;
      j = j2;
    } else {
      if (a[i] != b[j]) return a[i] < b[j];
      ++i;
      ++j;
    }
  }
  return a.size() - i < b.size() - j;
}

// The checkpoints of a folder: weight files and model directories, hidden
// entries and other files (configs, logs) left out.
std::vector<fs::path> CheckpointsIn(const fs::path& dir, const std::string& order) {
  struct Entry {
    fs::path path;
    int64_t mtime_ns;
  };
  std::vector<Entry> entries;
  for (const auto& item : fs::directory_iterator(dir)) {
    const std::string name = item.path().filename().string();
    if (name.empty() || name[0] == '.') continue;
    if (item.is_directory()) {
      if (!core::IsModelDirectory(item.path())) continue;
    } else if (item.is_regular_file()) {
      if (name.size() > 5 && name.compare(name.size() - 5, 5, ".json") == 0) continue;
      try {
        core::DetectWeightFormat(item.path());
      } catch (const Error&) {
        continue;
      }
    } else {
      continue;
    }
    struct stat st {};
    ::stat(item.path().c_str(), &st);
    entries.push_back({item.path(), static_cast<int64_t>(st.st_mtim.tv_sec) * 1000000000 + st.st_mtim.tv_nsec});
  }
  std::sort(entries.begin(), entries.end(), [&](const Entry& a, const Entry& b) {
    if (order == "mtime" && a.mtime_ns != b.mtime_ns) return a.mtime_ns < b.mtime_ns;
    return NaturalLess(a.path.filename().string(), b.path.filename().string());
  });
  std::vector<fs::path> out;
  for (const auto& e : entries) out.push_back(e.path);
  if (out.empty()) throw Error(fmt::format("'{}' holds no checkpoints", dir.string()));
  return out;
}

// What the command line names, expanded: a folder of checkpoints becomes its
// checkpoints; a model directory stays one checkpoint.
std::vector<fs::path> ExpandCheckpoints(const CommitOptions& o) {
  std::vector<fs::path> out;
  for (const auto& arg : o.checkpoints) {
    fs::path p(arg);
    std::error_code ec;
    if (fs::is_directory(p, ec) && !core::IsModelDirectory(p)) {
      auto inside = CheckpointsIn(p, o.order);
      out.insert(out.end(), inside.begin(), inside.end());
    } else {
      out.push_back(p);
    }
  }
  // Every input is located (exists, a known format) before anything is committed.
  for (const auto& p : out) core::LocateCheckpoint(p);
  return out;
}

std::optional<StoredVersion> CommitOne(Context& ctx, const CommitOptions& o, const fs::path& path,
                                       BumpLevel level, bool several) {
  Repository& repo = ctx.repo();
  HeadState head = repo.graph().Head();
  if (!head.branch) throw Error("HEAD is detached; 'fomo switch BRANCH' before committing");
  if (!head.commit) throw Error(fmt::format("branch '{}' has no versions yet", *head.branch));
  StoredVersion parent = LoadVersion(repo.graph(), *head.commit);
  core::ClipConfig repo_config = core::ClipConfig::FromJsonText(parent.config_json, "repository config");

  core::Checkpoint ckpt = core::LoadCheckpoint(path, ConfigSourceOf(o.checkpoint, repo_config), /*on_demand=*/true);
  if (!(ckpt.config == repo_config)) {
    throw Error(fmt::format("cannot commit '{}': its model config differs from the repository's", path.string()));
  }
  const bool chatty = !ctx.global.quiet && !ctx.global.json;
  if (chatty) {
    for (const auto& note : ckpt.notes) std::cout << fmt::format("note: {}: {}\n", path.filename().string(), note);
  }

  // A line keeps its dtype unless the commit says otherwise.
  if (!o.dtype.empty()) core::ConvertOnDemand(ckpt, core::ParseWeightDtype(o.dtype, "--dtype"));
  const std::vector<NamedTensor>& tensors = ckpt.tensors;
  const size_t changed = core::CountDtypeChanges(tensors, parent.manifest);
  if (changed && !o.dtype_change) {
    auto line = core::CommonFloatDtype(parent.manifest);
    std::string convert = line ? std::string(DtypeName(*line)) : "F32";
    std::transform(convert.begin(), convert.end(), convert.begin(), [](unsigned char c) { return std::tolower(c); });
    throw Error(fmt::format("cannot commit '{}': it is {} and the line is {} ({}); --dtype {} converts it, "
                            "--dtype-change commits it as it is",
                            path.string(), core::DescribeDtypes(tensors), core::DescribeDtypes(parent.manifest),
                            parent.version.Tag(), convert));
  }
  if (changed && chatty) {
    std::cout << fmt::format("note: the dtype changes from {} to {} for {} tensors: they are stored as full frames, "
                             "not deltas\n",
                             core::DescribeDtypes(parent.manifest), core::DescribeDtypes(tensors), changed);
  }

  VersionDraft draft;
  draft.tensors = tensors;
  draft.release = [&ckpt](const TensorView& view) { ckpt.Release(view); };
  draft.produce = [&ckpt](size_t i, uint8_t* out) { ckpt.Produce(i, out); };
  draft.config_json = parent.config_json;
  std::string message = o.message;
  if (message.empty() || several) {
    message = fmt::format("commit {}", path.filename().string());
    if (several && !o.message.empty()) message = fmt::format("{}: {}", o.message, path.filename().string());
  }
  draft.message = message;
  draft.recipe = ImportRecipe("fomo commit", ckpt, draft.message);
  draft.recipe["bump"] = o.bump;
  draft.recipe["dtype"] = core::DescribeDtypes(tensors);
  if (changed) draft.recipe["dtype_change"] = {{"from", core::DescribeDtypes(parent.manifest)}, {"tensors", changed}};
  draft.kind = "commit";
  draft.parents = {*head.commit};
  draft.bump = level;
  draft.allow_empty = o.allow_empty;
  std::optional<StoredVersion> v;
  {
    ProgressMeter meter("storing tensors", chatty);
    v = CommitVersion(repo, draft, [&](uint64_t d, uint64_t t) { meter.Update(d, t); });
  }
  if (!v) {
    std::string why = fmt::format("nothing to commit: '{}' has the same weights as {} (--allow-empty "
                                  "records it anyway)",
                                  path.string(), parent.version.Tag());
    if (ctx.global.json) {
      PrintJson({{"committed", false}, {"reason", why}, {"head", parent.version.ToString()}});
    } else if (!ctx.global.quiet) {
      std::cout << why << "\n";
    }
    return std::nullopt;
  }
  if (chatty) {
    std::cout << VersionLine(*v, *head.branch, "from " + parent.version.Tag()) << "\n";
    if (ctx.global.verbose) PrintTensorTable(v->manifest);
  }
  if (!o.no_eval) {
    TerminalReporter reporter(ctx);
    train::EvaluateNewVersion(repo, v->commit.id, reporter);
  }
  return v;
}

int RunCommit(Context& ctx, const CommitOptions& o) {
  auto level = ParseBumpLevel(o.bump);
  if (!level) throw UsageError(fmt::format("--bump must be patch, minor or major, not '{}'", o.bump));
  if (o.order != "name" && o.order != "mtime") {
    throw UsageError(fmt::format("--order must be name or mtime, not '{}'", o.order));
  }
  if (!o.dtype.empty()) core::ParseWeightDtype(o.dtype, "--dtype");
  ConfigSourceOf(o.checkpoint, std::nullopt);  // a malformed --heads fails before any work
  // Inputs are checked (regular files of a known format: a FIFO would block) before
  // the write lock is taken, so a bad one never holds other writers up.
  std::vector<fs::path> paths = ExpandCheckpoints(o);
  ctx.repo().LockForWriting(ctx.global.quiet);
  const bool several = paths.size() > 1;
  nlohmann::json committed = nlohmann::json::array();
  for (size_t i = 0; i < paths.size(); ++i) {
    std::optional<StoredVersion> v;
    try {
      v = CommitOne(ctx, o, paths[i], *level, several);
    } catch (const Error& e) {
      if (!several || i == 0) throw;
      throw Error(fmt::format("{} ({} of {} checkpoints were committed before it)", e.what(), i, paths.size()));
    }
    if (v && ctx.global.json) {
      committed.push_back(VersionJson(*v, RefNames::Collect(ctx.repo().graph()), core::MetricsOf(ctx.repo(), v->commit.id)));
    }
  }
  if (ctx.global.json && !committed.empty()) PrintJson(several ? committed : committed[0]);
  return 0;
}

}  // namespace

Runner SetupCommit(CommandLine& cli) {
  auto o = std::make_shared<CommitOptions>();
  cli.Option("checkpoint", &o->checkpoints,
             "checkpoints to record, one version each: files (safetensors, torch.save, TorchScript), model "
             "directories, shard indexes, or folders of checkpoints",
             "CKPT", /*required=*/true);
  cli.Option("--bump", &o->bump, "which part of the version to raise: patch, minor or major", "LEVEL");
  cli.Option("-m,--message", &o->message, "version message", "MSG");
  AddCheckpointOptions(cli, &o->checkpoint, "model config of the checkpoint; it must equal the repository's");
  cli.Option("--dtype", &o->dtype, "convert the weights to f32, f16 or bf16 before committing", "DTYPE");
  cli.Flag("--dtype-change", &o->dtype_change, "allow a version whose dtype differs from the line's");
  cli.Option("--order", &o->order, "order of a folder's checkpoints: name (numbers as numbers) or mtime", "ORDER");
  cli.Flag("--allow-empty", &o->allow_empty, "record a version even if the weights equal HEAD's");
  cli.Flag("--no-eval", &o->no_eval, "do not evaluate the new version");
  return [o](Context& ctx) { return RunCommit(ctx, *o); };
}

}  // namespace fomo::cmd
