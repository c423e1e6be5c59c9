// fomo init [DIR] --from CKPT [--config FILE] [-m MSG]: a new repository whose
// v1.0.0 is the imported checkpoint. Everything is built under a temporary name and
// renamed into place at the end, so a failed init leaves nothing behind.
#include <unistd.h>

#include <iostream>

#include <fmt/format.h>

#include "cmd/command.hpp"
#include "cmd/option_values.hpp"
#include "cmd/terminal_reporter.hpp"
#include "cmd/checkpoint_import.hpp"
#include "cmd/output.hpp"
#include "cmd/version_view.hpp"
#include "core/arch.hpp"
#include "core/checkpoint.hpp"
#include "core/evaluation.hpp"
#include "core/torch_api.hpp"
#include "storage/atomic_file.hpp"
#include "storage/error.hpp"
#include "storage/versions.hpp"
#include "train/training_job.hpp"
#include "train/version_evaluation.hpp"

namespace fomo::cmd {

namespace {

struct InitOptions {
  std::string directory = ".";
  std::string from;
  std::string arch;
  int seed = 0;
  CheckpointOptions checkpoint;
  std::string message;
  bool no_eval = false;
  std::vector<std::string> pretrain;
  std::string steps, lr, batch_size;
};

// init --pretrain: trains the fresh (or imported) weights on DATA before they
// become v1.0.0; DATA's test split becomes the retention suite.
struct Pretrained {
  std::vector<Tensor> weights;
  train::UpdateOptions options;
  Budget budget;
};

Pretrained Pretrain(Context& ctx, const InitOptions& o, const core::Checkpoint& ckpt, const YAML::Node& document) {
  train::UpdateOptions options = train::UpdateOptions::Defaults("pretrain", document, "fomo.yaml");
  options.data.clear();
  for (const auto& selector : o.pretrain) options.data.push_back(train::TrainingSelector(selector));
  if (!o.steps.empty()) options.budget = {ParseOptionCount("--steps", o.steps), std::nullopt, std::nullopt};
  if (!o.batch_size.empty()) options.batch_size = ParseOptionCount("--batch-size", o.batch_size);
  if (!o.lr.empty()) options.schedule.peak_lr = ParseOptionNumber("--lr", o.lr);
  schedules::TaskSchedule(options.schedule, 1000, 0);  // a bad --lr fails before any work
  options.seed = static_cast<uint64_t>(o.seed);
  train::TrainingJob job;
  job.label = "pretraining v1.0.0";
  job.config = ckpt.config;
  job.weights = ckpt.tensors;
  job.options = options;
  TerminalReporter reporter(ctx);
  train::TrainingResult trained = train::RunTraining(reporter, document, job);
  return {std::move(trained.outcome.weights), options, trained.budget};
}

int RunInit(Context& ctx, InitOptions o) {
  // Pretraining with no model named trains the embedded default, tiny.
  if (!o.pretrain.empty() && o.from.empty() && o.arch.empty() && o.checkpoint.config.empty()) o.arch = "tiny";
  const bool fresh = o.from.empty();  // random initialisation from --arch or --config
  if (!o.from.empty() && !o.arch.empty()) throw UsageError("give --from CKPT or --arch NAME, not both");
  if (fresh && o.arch.empty() && o.checkpoint.config.empty()) {
    throw UsageError("init needs --from CKPT (a checkpoint file or model directory), --arch NAME (a built-in config) or --config FILE");
  }
  if (!o.arch.empty() && !o.checkpoint.config.empty()) throw UsageError("give --arch NAME or --config FILE, not both");
  if (fresh && (!o.checkpoint.heads.empty() || !o.checkpoint.activation.empty())) {
    throw UsageError("--heads and --activation describe a checkpoint: they go with --from CKPT");
  }
  fs::path root = fs::absolute(o.directory).lexically_normal();
  if (root.filename().empty()) root = root.parent_path();
  if (fs::exists(root / kFomoDirName)) {
    throw Error(fmt::format("'{}' is already a fomo repository", root.string()));
  }
  core::Checkpoint ckpt;
  std::vector<Tensor> initialised;
  if (fresh) {
    if (!o.arch.empty()) {
      auto config = core::BuiltinArch(o.arch);
      if (!config) {
        throw UsageError(fmt::format("unknown --arch '{}' (built in: {})", o.arch, fmt::join(core::BuiltinArchNames(), ", ")));
      }
      ckpt.config = *config;
      ckpt.config_source = "--arch " + o.arch;
    } else {
      ckpt.config = core::ClipConfig::FromJsonText(ReadFileToString(o.checkpoint.config), o.checkpoint.config);
      ckpt.config.Validate();
      ckpt.config_source = "--config " + o.checkpoint.config;
    }
    const std::string shape = o.arch.empty() ? fs::path(o.checkpoint.config).filename().string() : o.arch;
    ckpt.path = fmt::format("{} (random initialisation, seed {})", shape, o.seed);
    initialised = core::Torch().init_weights(ckpt.config, static_cast<uint64_t>(o.seed));
    auto expected = ckpt.config.ExpectedTensors();
    for (size_t i = 0; i < expected.size(); ++i) ckpt.tensors.push_back({expected[i].first, initialised[i].view()});
  } else {
    // Converted tensors are made as they are stored, unless training reads them first.
    ckpt = core::LoadCheckpoint(o.from, ConfigSourceOf(o.checkpoint, std::nullopt), /*on_demand=*/o.pretrain.empty());
    if (!ctx.global.quiet && !ctx.global.json) PrintImportReport(ckpt);
  }

  YAML::Node document;
  if (fs::exists(root / kConfigFileName)) document = RepoConfig::Load(root / kConfigFileName).document;
  std::optional<Pretrained> pretrained;
  if (!o.pretrain.empty()) {
    pretrained = Pretrain(ctx, o, ckpt, document);
    auto expected = ckpt.config.ExpectedTensors();
    for (size_t i = 0; i < expected.size(); ++i) ckpt.tensors[i] = {expected[i].first, pretrained->weights[i].view()};
  } else if (!o.steps.empty() || !o.lr.empty() || !o.batch_size.empty()) {
    throw UsageError("--steps, --lr and --batch-size go with --pretrain DATA");
  }

  std::error_code ec;
  fs::create_directories(root, ec);
  if (ec) throw Error(fmt::format("cannot create '{}': {}", root.string(), ec.message()));
  const bool write_config = !fs::exists(root / kConfigFileName);
  if (!write_config) RepoConfig::Load(root / kConfigFileName);  // refuse a malformed one now

  fs::path staging = root / fmt::format(".fomo-init-{}", ::getpid());
  StoredVersion base;
  try {
    {
      Repository repo = Repository::Create(root, staging);
      VersionDraft draft;
      draft.tensors = ckpt.tensors;
      draft.release = [&ckpt](const TensorView& view) { ckpt.Release(view); };
      draft.produce = [&ckpt](size_t i, uint8_t* out) { ckpt.Produce(i, out); };
      draft.config_json = ckpt.config.ToJson();
      std::string message = o.message;
      if (message.empty()) {
        message = !fresh ? fmt::format("import {}", ckpt.path.filename().string())
                         : fmt::format("initialise {} (seed {})", o.arch.empty() ? o.checkpoint.config : o.arch, o.seed);
        if (!o.pretrain.empty()) message += fmt::format(", pretrained on {}", fmt::join(o.pretrain, " "));
      }
      draft.recipe = ImportRecipe("fomo init", ckpt, message);
      if (fresh) {
        if (!o.arch.empty()) draft.recipe["arch"] = o.arch;
        draft.recipe["seed"] = o.seed;
        draft.recipe["source"] = fmt::format("initialised from {}, seed {}", ckpt.config_source, o.seed);
        draft.recipe.erase("file");
      }
      if (pretrained) {
        draft.recipe["pretrain"] = pretrained->options.data;
        draft.recipe["pretrain_options"] = pretrained->options.ToJson();
        draft.budget = pretrained->budget;
      }
      draft.message = message;
      draft.kind = fresh ? "init" : "import";
      draft.version = SemVer{1, 0, 0};
      ProgressMeter meter("storing tensors", !ctx.global.quiet && !ctx.global.json);
      base = *CommitVersion(repo, draft, [&](uint64_t d, uint64_t t) { meter.Update(d, t); });
    }
    if (write_config) {
      std::string retention = "fmnist";
      if (pretrained) {
        core::DatasetRegistry registry = core::DatasetRegistry::FromYaml(document, "fomo.yaml");
        std::vector<std::string> tests;
        for (const auto& selector : o.pretrain) tests.push_back(core::TestSplitOf(selector, registry));
        retention = fmt::format("{}", fmt::join(tests, ", "));
      }
      std::string text = RepoConfig::Template(retention);
      WriteFileAtomic(staging / "fomo.yaml.new", text.data(), text.size());
    }
    fs::rename(staging, root / kFomoDirName);
    FsyncDirectory(root);
  } catch (...) {
    fs::remove_all(staging, ec);
    throw;
  }
  if (write_config) fs::rename(root / kFomoDirName / "fomo.yaml.new", root / kConfigFileName);

  Repository repo = Repository::Open(root);
  if (!o.no_eval) repo.LockForWriting(ctx.global.quiet);
  TerminalReporter reporter(ctx);
  if (ctx.global.json) {
    // Scripts get the measured metrics in the same object.
    if (!o.no_eval) train::EvaluateNewVersion(repo, base.commit.id, reporter);
    nlohmann::json out = VersionJson(base, RefNames::Collect(repo.graph()), core::MetricsOf(repo, base.commit.id));
    if (!fresh) out["import"] = ImportReportJson(ckpt);
    PrintJson(out);
    return 0;
  }
  if (!ctx.global.quiet) {
    std::cout << fmt::format("Initialized fomo repository in {}\n", (root / kFomoDirName).string());
    std::cout << VersionLine(base, kDefaultBranch,
                             fmt::format("{} layout, config from {}, {} tensors", core::LayoutName(ckpt.layout),
                                         ckpt.config_source, base.manifest.tensors.size()))
              << "\n";
    if (ctx.global.verbose) PrintTensorTable(base.manifest);
  }
  if (!o.no_eval) train::EvaluateNewVersion(repo, base.commit.id, reporter);
  return 0;
}

}  // namespace

Runner SetupInit(CommandLine& cli) {
  auto o = std::make_shared<InitOptions>();
  cli.Option("directory", &o->directory, "where to create the repository (default: .)", "DIR");
  cli.Option("--from", &o->from, "base checkpoint: safetensors, torch.save or TorchScript file, Hugging Face or OpenCLIP directory, shard index", "CKPT");
  cli.Option("--arch", &o->arch, "start from a built-in config, randomly initialised: tiny, vit-b-32, vit-b-16, vit-l-14", "NAME");
  cli.Option("--seed", &o->seed, "seed of the --arch initialisation (default 0)", "N");
  AddCheckpointOptions(cli, &o->checkpoint, "model config (OpenCLIP model config, open_clip_config.json or Hugging Face config.json); without --from, randomly initialised");
  cli.Option("-m,--message", &o->message, "message of the first version", "MSG");
  cli.Flag("--no-eval", &o->no_eval, "do not evaluate the base version");
  cli.Option("--pretrain", &o->pretrain, "train the base on these selectors first (train split); their test split becomes the retention suite", "SEL");
  cli.Option("--steps", &o->steps, "pretraining steps (default from fomo.yaml's defaults.pretrain, else 300)", "N");
  cli.Option("--lr", &o->lr, "pretraining peak learning rate (default 1e-3)", "X");
  cli.Option("--batch-size", &o->batch_size, "pretraining batch size (default 64)", "N");
  return [o](Context& ctx) { return RunInit(ctx, *o); };
}

}  // namespace fomo::cmd
