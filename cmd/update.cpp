// fomo patch|minor|major: the command line of an update. The update itself (train
// from HEAD or --from REV on --data, evaluate on the repository's suites, commit
// the bumped version, gate it with --require, resume after Ctrl-C) is
// train::Update (train/update.cpp).
#include "cmd/update.hpp"

#include <cmath>
#include <cstdlib>
#include <iostream>

#include <fmt/format.h>

#include "cmd/option_values.hpp"
#include "cmd/output.hpp"
#include "cmd/terminal_reporter.hpp"
#include "cmd/version_view.hpp"
#include "core/evaluation.hpp"
#include "storage/error.hpp"
#include "storage/versions.hpp"
#include "train/update.hpp"

namespace fomo::cmd {

namespace {

// Every training option is a string, empty when not given: the level's defaults
// from fomo.yaml fill the rest, and --resume must come alone.
struct UpdateArgs {
  std::vector<std::string> data;
  std::string method, schedule, lr, warmup, cooldown, steps, samples, budget, replay, batch_size, seed,
      weight_decay, temperature, device, merge, dtype;
  // Method options.
  std::string rank, adapter_scale, targets, galore_rank, galore_gap, galore_scale, ewc_lambda, ewc_gamma,
      fisher_samples, si_c, si_xi;
  std::vector<std::string> freeze;
  bool tune_temperature = false;
  std::string from, anchor, message, require;
  bool no_eval = false;
  bool resume = false;
  bool abort = false;

  bool AnyTrainingOption() const {
    return !data.empty() || !method.empty() || !schedule.empty() || !lr.empty() || !warmup.empty() ||
           !cooldown.empty() || !steps.empty() || !samples.empty() || !budget.empty() || !replay.empty() ||
           !batch_size.empty() || !seed.empty() || !weight_decay.empty() || !temperature.empty() ||
           !device.empty() || !merge.empty() || !dtype.empty() || !from.empty() || !anchor.empty() || !rank.empty() ||
           !adapter_scale.empty() || !targets.empty() || !galore_rank.empty() || !galore_gap.empty() ||
           !galore_scale.empty() || !ewc_lambda.empty() || !ewc_gamma.empty() || !fisher_samples.empty() ||
           !si_c.empty() || !si_xi.empty() || !freeze.empty() || tune_temperature;
  }
};

void ApplyMethodArgs(const UpdateArgs& a, train::MethodOptions& m) {
  if (!a.method.empty()) {
    const train::Method chosen = train::ParseMethod(a.method);
    // Another method than fomo.yaml's default starts from that method's defaults.
    if (chosen != m.method) m = train::MethodOptions{};
    m.method = chosen;
  }
  if (!a.rank.empty()) m.rank = ParseOptionCount("--rank", a.rank);
  if (!a.adapter_scale.empty()) m.scale = ParseOptionNumber("--adapter-scale", a.adapter_scale);
  if (!a.targets.empty()) m.targets = train::ParseNameList(a.targets);
  if (!a.freeze.empty()) {
    m.freeze.clear();
    for (const auto& f : a.freeze) {
      for (auto& p : train::ParseNameList(f)) m.freeze.push_back(p);
    }
  }
  if (!a.galore_rank.empty()) m.galore_rank = ParseOptionCount("--galore-rank", a.galore_rank);
  if (!a.galore_gap.empty()) m.galore_gap = ParseOptionCount("--galore-gap", a.galore_gap);
  if (!a.galore_scale.empty()) m.galore_scale = ParseOptionNumber("--galore-scale", a.galore_scale);
  if (!a.ewc_lambda.empty()) m.ewc_lambda = ParseOptionNumber("--ewc-lambda", a.ewc_lambda);
  if (!a.ewc_gamma.empty()) m.ewc_gamma = ParseOptionNumber("--ewc-gamma", a.ewc_gamma);
  if (!a.fisher_samples.empty()) m.fisher_samples = ParseOptionCount("--fisher-samples", a.fisher_samples);
  if (!a.si_c.empty()) m.si_c = ParseOptionNumber("--si-c", a.si_c);
  if (!a.si_xi.empty()) m.si_xi = ParseOptionNumber("--si-xi", a.si_xi);
  if (a.tune_temperature) m.tune_temperature = true;
  m.Validate();
}

train::UpdateOptions OptionsFor(const std::string& level, const UpdateArgs& a, const YAML::Node& document) {
  train::UpdateOptions o = train::UpdateOptions::Defaults(level, document, "fomo.yaml");
  if (!a.data.empty()) o.data = a.data;
  ApplyMethodArgs(a, o.method);
  if (!a.schedule.empty()) o.schedule.kind = schedules::ParseScheduleKind(a.schedule);
  // --lr is taken as given; otherwise the level's lr, scaled for the method.
  if (!a.lr.empty()) {
    o.schedule.peak_lr = ParseOptionNumber("--lr", a.lr);
  } else {
    o.schedule.peak_lr *= train::MethodLrScale(o.method.method);
  }
  if (!a.warmup.empty()) o.schedule.warmup = ParseOptionNumber("--warmup", a.warmup);
  if (!a.cooldown.empty()) o.schedule.cooldown = ParseOptionNumber("--cooldown", a.cooldown);
  const int budgets = !a.steps.empty() + !a.samples.empty() + !a.budget.empty();
  if (budgets > 1) throw UsageError("give the budget one way: --steps, --samples or --budget");
  if (!a.steps.empty()) o.budget = {ParseOptionCount("--steps", a.steps), std::nullopt, std::nullopt};
  if (!a.samples.empty()) o.budget = {std::nullopt, ParseOptionCount("--samples", a.samples), std::nullopt};
  if (!a.budget.empty()) o.budget = {std::nullopt, std::nullopt, train::ParseFlops(a.budget)};
  if (!a.replay.empty()) o.replay = train::MixtureShares::Parse(a.replay);
  if (!a.batch_size.empty()) o.batch_size = ParseOptionCount("--batch-size", a.batch_size);
  if (!a.seed.empty()) {
    double v = ParseOptionNumber("--seed", a.seed);
    if (v < 0 || v != std::floor(v)) throw UsageError(fmt::format("--seed must be a whole number >= 0, not '{}'", a.seed));
    o.seed = static_cast<uint64_t>(v);
  }
  if (!a.weight_decay.empty()) o.weight_decay = ParseOptionNumber("--weight-decay", a.weight_decay);
  if (!a.temperature.empty()) {
    double t = ParseOptionNumber("--temperature", a.temperature);
    if (t <= 0) throw UsageError("--temperature must be positive");
    o.temperature = t;
  }
  if (!a.device.empty()) o.device = a.device;
  if (!a.merge.empty()) o.merge = train::MergeUpdate::Parse(a.merge);
  // Check the schedule's shares now rather than after the data is loaded.
  schedules::TaskSchedule(o.schedule, 1000, 0);
  return o;
}

int RunUpdate(Context& ctx, BumpLevel level, const UpdateArgs& a) {
  Repository& repo = ctx.repo();
  TerminalReporter reporter(ctx);
  if (a.abort) {
    train::AbortUpdate(repo, level, reporter);
    return 0;
  }
  train::UpdateRequest request;
  request.level = level;
  request.resume = a.resume;
  if (a.resume) {
    if (a.AnyTrainingOption()) {
      throw UsageError("--resume takes no training options: the interrupted run remembers them");
    }
  } else {
    request.options = OptionsFor(std::string(BumpLevelName(level)), a, repo.config().document);
    request.from = a.from;
    request.anchor = a.anchor;
    request.dtype = a.dtype;
    request.message = a.message;
    request.require = a.require;
    request.no_eval = a.no_eval;
  }
  train::Update update(repo, std::move(request));
  const train::UpdateResult result = update.Run(reporter);
  if (ctx.global.json) {
    StoredVersion stored = LoadVersion(repo.graph(), result.made);
    nlohmann::json out = VersionJson(stored, RefNames::Collect(repo.graph()), core::MetricsOf(repo, result.made));
    out["status"] = result.status;
    out["gate"] = result.verdict;
    PrintJson(out);
  }
  return result.exit_code;
}

}  // namespace

Runner SetupUpdate(CommandLine& cli, BumpLevel level) {
  auto a = std::make_shared<UpdateArgs>();
  cli.Option("--data", &a->data, "training data selectors, train split unless named (e.g. fmnist:5-9)", "SEL");
  cli.Option("--method", &a->method,
             "continual-learning method: full, locked-image, locked-text, freeze, lora, dora, vera, ia3, bitfit, lnfit, "
             "galore, ewc, si",
             "NAME");
  cli.Option("--rank", &a->rank, "lora, dora, vera: adapter rank (default 4)", "R");
  cli.Option("--adapter-scale", &a->adapter_scale, "lora, dora, vera: scale s of the update s B A (default 1)", "S");
  cli.Option("--targets", &a->targets, "lora, dora, vera: adapted maps among q,k,v,out,mlp-in,mlp-out (default all)", "LIST");
  cli.Option("--freeze", &a->freeze,
             "freeze: what stays fixed: vision, text, vision:0-5, text:3, attention, mlp, embeddings, norms, "
             "projections, temperature, or a glob over tensor names",
             "PATTERN");
  cli.Option("--galore-rank", &a->galore_rank, "galore: rank of the gradient projection (default 128)", "R");
  cli.Option("--galore-gap", &a->galore_gap, "galore: steps between projector refreshes (default 200)", "N");
  cli.Option("--galore-scale", &a->galore_scale, "galore: scale of the projected update (default 0.25)", "S");
  cli.Option("--ewc-lambda", &a->ewc_lambda, "ewc: penalty weight lambda (default 1)", "X");
  cli.Option("--ewc-gamma", &a->ewc_gamma, "ewc: decay of the earlier Fisher, online EWC (default 1)", "X");
  cli.Option("--fisher-samples", &a->fisher_samples, "ewc: samples of the Fisher pass at the update's end (default 50000)", "N");
  cli.Option("--si-c", &a->si_c, "si: penalty weight c (default 0.5)", "X");
  cli.Option("--si-xi", &a->si_xi, "si: damping xi (default 1)", "X");
  cli.Flag("--tune-temperature", &a->tune_temperature, "train logit_scale with a PEFT or selective method");
  cli.Option("--schedule", &a->schedule,
             "learning-rate schedule: constant, cosine, rsqrt, autoregressive-cosine, continued-cosine, "
             "autoregressive-rsqrt, continued-rsqrt",
             "NAME");
  cli.Option("--lr", &a->lr, "peak learning rate (default: the level's; x10 for lora, dora, vera, ia3, bitfit, lnfit)", "X");
  cli.Option("--warmup", &a->warmup, "warmup steps as a share of the update's steps (default 0.1)", "F");
  cli.Option("--cooldown", &a->cooldown, "cooldown steps as a share of the steps, rsqrt schedules (default 0.1)", "F");
  cli.Option("--steps", &a->steps, "budget: optimizer steps", "N");
  cli.Option("--samples", &a->samples, "budget: training samples (steps = samples / batch size)", "N");
  cli.Option("--budget", &a->budget, "budget: memory-adjusted FLOPs, e.g. 5e15 or 63395G", "FLOPS");
  cli.Option("--replay", &a->replay, "batch shares of pretraining replay, update data and buffer (default 0.33/0.34/0.33)", "P/D/B");
  cli.Option("--batch-size", &a->batch_size, "samples per step", "N");
  cli.Option("--seed", &a->seed, "seed of data order and augmentation", "N");
  cli.Option("--weight-decay", &a->weight_decay, "AdamW weight decay (default 0.2)", "X");
  cli.Option("--temperature", &a->temperature, "fix the softmax temperature (logit_scale = ln(1/T)) instead of learning it", "T");
  cli.Option("--device", &a->device, "auto, cpu or cuda", "NAME");
  cli.Option("--dtype", &a->dtype, "commit the version in f32, f16 or bf16 (default: the parent's dtype; training runs in F32)", "DTYPE");
  cli.Option("--from", &a->from, "train from this version instead of HEAD", "REV");
  cli.Option("--merge", &a->merge,
             "merge-based update: ema:W, finetune:W or zeroshot:W (W, the weight on the older or anchor model)",
             "STRATEGY:W");
  cli.Option("--anchor", &a->anchor, "theta_0 of --merge finetune/zeroshot (default: the line's root version)", "REV");
  cli.Option("-m,--message", &a->message, "message of the new version", "MSG");
  cli.Option("--require", &a->require, "gate over the new metrics and the parent's; failing it commits on rejected/ and exits 3", "EXPR");
  cli.Flag("--no-eval", &a->no_eval, "do not evaluate the new version");
  cli.Flag("--resume", &a->resume, "finish the interrupted update with its saved options and state");
  cli.Flag("--abort", &a->abort, "drop the interrupted update's saved state");
  return [a, level](Context& ctx) { return RunUpdate(ctx, level, *a); };
}

}  // namespace fomo::cmd
