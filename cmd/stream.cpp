// fomo stream plan FILE: reads a stream file (train/stream_plan.hpp) and prints its
// tasks (the concepts of each, their training samples, the budget each gets) and
// the scores that decided the order, without training anything.
#include <iostream>

#include <fmt/format.h>

#include "cmd/command.hpp"
#include "cmd/output.hpp"
#include "storage/error.hpp"
#include "train/stream_plan.hpp"

namespace fomo::cmd {

namespace {

struct StreamOptions {
  std::string action;
  std::string file;
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
                           s.reservoir ? fmt::format("reservoir of {} samples", *s.reservoir) : "every earlier task");
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

int RunStream(Context& ctx, const StreamOptions& o) {
  if (o.action != "plan") {
    throw UsageError(fmt::format("unknown stream action '{}' (plan)", o.action));
  }
  if (o.file.empty()) throw UsageError("fomo stream plan needs a stream FILE");
  Repository& repo = ctx.repo();
  const train::StreamSpec spec = train::StreamSpec::Load(o.file, repo);
  ResolveRevision(repo, spec.base);  // an unknown base fails the plan, as it would the run
  const train::StreamPlan plan = train::PlanStream(repo, spec);
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
  cli.Option("action", &o->action, "plan: print the tasks of a stream file without training", "ACTION", true);
  cli.Option("file", &o->file, "the stream file (YAML: name, concepts, tasks, ordering, update, buffer)", "FILE");
  return [o](Context& ctx) { return RunStream(ctx, *o); };
}

}  // namespace fomo::cmd
