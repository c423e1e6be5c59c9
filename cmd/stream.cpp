// fomo stream plan FILE: reads a stream file (train/stream_plan.hpp) and prints its
// tasks (the concepts of each, their training samples, the budget each gets) and
// the scores that decided the order, without training anything.
// fomo stream run FILE: runs them (train/stream_run.hpp), each an update.
// fomo stream report NAME: the trajectory of A_KA and A_ZS (train/stream_report.hpp).
#include <iostream>

#include <fmt/format.h>

#include "cmd/command.hpp"
#include "cmd/output.hpp"
#include "cmd/terminal_reporter.hpp"
#include "cmd/version_view.hpp"
#include "storage/error.hpp"
#include "train/stream_plan.hpp"
#include "train/stream_report.hpp"
#include "train/history.hpp"
#include "train/stream_run.hpp"

namespace fomo::cmd {

namespace {

struct StreamOptions {
  std::string action;
  std::string file;
  bool resume = false;
  std::string require;
  bool no_eval = false;
  bool joint = false;
};

void PrintPlan(const train::StreamPlan& plan) {
  const train::StreamSpec& s = plan.spec;
  std::cout << fmt::format("stream {} (branch stream/{}) from {}: {} concepts in {} {} tasks, {} ordering{} (seed {})\n",
                           s.name, s.name, s.base, plan.ordered.size(), plan.tasks.size(), BumpLevelName(s.level),
                           train::OrderingName(s.ordering), s.reverse ? ", reversed" : "", s.seed);
  std::cout << fmt::format("each task: {} with {}, replay {}/{}/{}{}; buffer: {}\n",
                           train::MethodName(s.update.method.method), schedules::ScheduleName(s.update.schedule.kind),
                           s.update.replay.pretrain, s.update.replay.update, s.update.replay.buffer,
                           s.update.merge ? ", merge " + s.update.merge->ToString() : "",
                           s.update.buffer_reservoir ? fmt::format("a reservoir of {} samples of the earlier tasks", *s.update.buffer_reservoir)
                                                       : "every earlier task");
  for (const auto& t : plan.tasks) {
    std::vector<std::string> names;
    for (const auto& c : t.concepts) names.push_back(c.name);
    std::cout << fmt::format("task {:>2}: {:<28} {:>7} samples, {}: {}\n", t.index + 1, fmt::join(t.data, " "),
                             t.samples, t.budget.Describe(), fmt::join(names, ", "));
  }
  std::cout << fmt::format("order by {}:", plan.score);
  for (size_t k = 0; k < plan.ordered.size(); ++k) {
    std::cout << fmt::format(" {} ({:g})", plan.ordered[k].name, plan.scores[k]);
  }
  std::cout << "\n";
  for (const auto& note : plan.notes) std::cout << "note: " << note << "\n";
  for (const auto& t : plan.tasks) {
    for (const auto& w : t.warnings) std::cerr << "warning: " << w << "\n";
  }
}

int RunStreamRun(Context& ctx, const train::StreamPlan& plan, const StreamOptions& o, TerminalReporter& reporter) {
  Repository& repo = ctx.repo();
  train::StreamRunOptions options{o.resume, o.require, o.no_eval, o.joint};
  const train::StreamRunResult result = train::RunStream(repo, plan, options, reporter);
  if (ctx.global.json) {
    nlohmann::json versions = nlohmann::json::array();
    for (size_t k = 0; k < result.versions.size(); ++k) {
      const StoredVersion v = LoadVersion(repo.graph(), result.versions[k]);
      versions.push_back({{"task", result.tasks_done + static_cast<int>(k) + 1},
                          {"version", v.version.ToString()},
                          {"commit", v.commit.id}});
    }
    PrintJson({{"stream", plan.spec.name},
               {"branch", "stream/" + plan.spec.name},
               {"tasks", plan.tasks.size()},
               {"tasks_done_before", result.tasks_done},
               {"versions", versions},
               {"joint", result.joint ? nlohmann::json{{"version", LoadVersion(repo.graph(), *result.joint).version.ToString()},
                                                       {"commit", *result.joint},
                                                       {"made", result.joint_made}}
                                      : nlohmann::json(nullptr)},
               {"status", result.status.empty() ? "committed" : result.status}});
  } else if (!ctx.global.quiet && result.exit_code == 0) {
    std::cout << fmt::format("stream {}: {} of {} tasks done on stream/{}\n", plan.spec.name,
                             result.tasks_done + static_cast<int>(result.versions.size()), plan.tasks.size(),
                             plan.spec.name);
    if (result.joint) {
      std::cout << fmt::format("joint reference: {} on {}\n", LoadVersion(repo.graph(), *result.joint).version.Tag(),
                               train::JointBranch(plan.spec.name));
    }
  }
  return result.exit_code;
}

std::string Figure(const std::optional<double>& value) { return value ? fmt::format("{:.2f}", *value) : "-"; }
std::string SignedFigure(const std::optional<double>& value) { return value ? fmt::format("{:+.2f}", *value) : "-"; }

int RunStreamReport(Context& ctx, const std::string& name) {
  TerminalReporter reporter(ctx);
  const train::StreamReport report = train::ReportStream(ctx.repo(), name, reporter);
  if (ctx.global.json) {
    PrintJson(report.ToJson());
    return 0;
  }
  if (ctx.global.quiet) return 0;
  std::cout << fmt::format("stream {} (stream/{}): A_KA on {}; A_ZS on {}\n", name, name,
                           fmt::join(report.accumulation_suite, " "),
                           report.retention_suite.empty() ? "nothing (fomo.yaml names no retention suite)"
                                                          : fmt::format("{}", fmt::join(report.retention_suite, " ")));
  const bool distances = report.joint.has_value();
  auto row = [&](const std::string& task, const train::StreamPoint& p) {
    std::cout << fmt::format("{:>5}  {:<9} {:>7} {:>7} {:>7}{} {:>7}  {}{}\n", task, p.version, Figure(p.accumulation),
                             Figure(p.retention), Figure(p.gm),
                             distances ? fmt::format(" {:>7}", SignedFigure(p.distance)) : "",
                             p.budget.steps ? std::to_string(*p.budget.steps) : "-", fmt::join(p.concepts, ", "),
                             p.collapsed ? "  [collapsed]" : "");
  };
  std::cout << fmt::format("{:>5}  {:<9} {:>7} {:>7} {:>7}{} {:>7}  {}\n", "task", "version", "A_KA", "A_ZS", "gm",
                           distances ? fmt::format(" {:>7}", "dist") : "", "steps", "concepts");
  for (const auto& p : report.points) row(p.task == 0 ? "base" : std::to_string(p.task), p);
  if (report.joint) row("joint", *report.joint);
  std::cout << fmt::format("final A_KA {}, A_ZS {}; mean over the tasks A_KA {}, A_ZS {}", Figure(report.points.back().accumulation),
                           Figure(report.points.back().retention), Figure(report.mean_accumulation),
                           Figure(report.mean_retention));
  if (distances) {
    std::cout << fmt::format("; distance from the base-to-joint line: final {}, mean {}",
                             SignedFigure(report.points.back().distance), SignedFigure(report.mean_distance));
  }
  std::cout << "\n";
  for (const auto& note : report.notes) std::cout << "note: " << note << "\n";
  return 0;
}

int RunStream(Context& ctx, const StreamOptions& o) {
  if (o.action != "plan" && o.action != "run" && o.action != "report") {
    throw UsageError(fmt::format("unknown stream action '{}' (plan, run, report)", o.action));
  }
  if (o.file.empty()) {
    throw UsageError(o.action == "report" ? "fomo stream report needs the stream's NAME"
                                          : fmt::format("fomo stream {} needs a stream FILE", o.action));
  }
  if (o.action != "run" && (o.resume || !o.require.empty() || o.no_eval || o.joint)) {
    throw UsageError("--resume, --require, --no-eval and --joint go with 'fomo stream run'");
  }
  if (o.action == "report") return RunStreamReport(ctx, o.file);
  Repository& repo = ctx.repo();
  const train::StreamSpec spec = train::StreamSpec::Load(o.file, repo);
  TerminalReporter reporter(ctx);
  const train::StreamPlan plan = train::PlanStream(repo, spec, reporter);
  if (o.action == "run") return RunStreamRun(ctx, plan, o, reporter);
  if (ctx.global.json) {
    PrintJson(plan.ToJson());
  } else if (!ctx.global.quiet) {
    PrintPlan(plan);
  }
  return 0;
}

}  // namespace

Runner SetupStream(CommandLine& cli) {
  auto o = std::make_shared<StreamOptions>();
  cli.Option("action", &o->action,
             "plan: print the tasks of a stream file; run: train them, a version each; report: how a stream went",
             "ACTION", true);
  cli.Option("file", &o->file, "the stream file (YAML: name, concepts, tasks, ordering, update, buffer); for report, "
             "the stream's name", "FILE");
  cli.Flag("--resume", &o->resume, "run: continue the stream on its branch after the last task done");
  cli.Option("--require", &o->require, "run: every task's gate; a rejected task stops the stream with exit 3", "EXPR");
  cli.Flag("--no-eval", &o->no_eval, "run: do not evaluate the versions (unless --require needs it)");
  cli.Flag("--joint", &o->joint,
           "run: after the tasks, train the joint reference (every task's data at once, their budgets summed) on "
           "branch stream-joint/NAME");
  return [o](Context& ctx) { return RunStream(ctx, *o); };
}

}  // namespace fomo::cmd
