// fomo log [REV] [--oneline] [--graph] [--all] [-n N] [--metrics [--eval]]: history
// from HEAD (or REV), newest first. Reading history never evaluates unless asked.
#include <iostream>

#include <fmt/format.h>

#include "cmd/command.hpp"
#include "cmd/log_graph.hpp"
#include "cmd/terminal_reporter.hpp"
#include "cmd/output.hpp"
#include "cmd/version_view.hpp"
#include "core/evaluation.hpp"
#include "storage/error.hpp"
#include "storage/versions.hpp"
#include "train/version_evaluation.hpp"

namespace fomo::cmd {

namespace {

struct LogOptions {
  std::string rev = "HEAD";
  bool oneline = false;
  int max_count = -1;
  bool metrics = false;
  bool eval = false;
  bool no_eval = false;  // the default since reading history never evaluates; kept for scripts
  bool graph = false;
  bool all = false;
  bool current_suite = false;
};

std::string Summary(const nlohmann::json& measured) {
  const auto& s = measured["summary"];
  auto num = [](const nlohmann::json& v) { return v.is_number() ? fmt::format("{:.1f}", v.get<double>()) : std::string("-"); };
  return fmt::format("A_KA {:>5}  A_ZS {:>5}  gm {:>5}", num(s["adaptation"]), num(s["retention"]), num(s["gm"]));
}

void PrintLong(const StoredVersion& v, const RefNames& refs, const nlohmann::json* measured) {
  std::string deco = Decorations(v.commit.id, refs);
  std::cout << Colour(fmt::format("version {}", v.version.ToString()), "33")
            << (deco.empty() ? "" : " " + Colour(deco, "36")) << "\n";
  std::cout << "commit  " << v.commit.id << "\n";
  if (v.commit.parents.size() > 1) {
    std::vector<std::string> shorts;
    for (const auto& p : v.commit.parents) shorts.push_back(ShortId(p));
    std::cout << "Merge:  " << fmt::format("{}", fmt::join(shorts, " ")) << "\n";
  }
  std::cout << "Author: " << v.commit.author << "\n";
  std::cout << "Date:   " << FormatTime(v.commit.time) << "\n";
  std::string budget = BudgetLine(v.budget);
  std::cout << fmt::format("Stored: {} new of {} ({}){}\n", FormatBytes(v.stored_bytes),
                           FormatBytes(v.raw_bytes), v.kind, budget.empty() ? "" : "; " + budget);
  if (measured) std::cout << "Metrics: " << Summary(*measured) << "\n";
  std::cout << "\n" << MessageBody(v.commit.message, "    ") << "\n\n";
}

int RunLog(Context& ctx, const LogOptions& o) {
  Repository& repo = ctx.repo();
  const Graph& graph = repo.graph();
  HeadState head = graph.Head();
  if (o.rev == "HEAD" && !head.commit) throw Error("HEAD has no versions yet");
  std::vector<CommitId> starts = {ResolveRevision(repo, o.rev)};
  if (o.all) {
    for (const auto& branch : graph.Branches()) starts.push_back(*graph.BranchTarget(branch));
  }
  RefNames refs = RefNames::Collect(graph);
  LogGraph drawing;
  if (o.eval && !o.metrics) throw UsageError("--eval measures what --metrics shows: give --metrics too");
  if (o.eval && o.no_eval) throw UsageError("give --eval or --no-eval, not both");
  // -n N reads about N commits, however long the history.
  const std::vector<CommitId> walked =
      o.max_count >= 0 ? graph.WalkFirst(starts, static_cast<size_t>(o.max_count)) : graph.Walk(starts);
  if (o.metrics && o.eval) {
    TerminalReporter reporter(ctx);
    train::EvaluateMissing(repo, walked, reporter);
  }
  // One line per version needs only the commit, its version number and (with
  // --metrics) its stored numbers: the manifest, a line per tensor, is not read.
  const bool light = !ctx.global.json && (o.oneline || o.graph);
  // Each version's numbers over its suite as it was made, unless asked otherwise.
  core::SuiteHistory history(repo);
  const std::optional<core::Suites> current =
      o.current_suite ? std::optional<core::Suites>(core::Suites::ForRepository(repo)) : std::nullopt;
  nlohmann::json list = nlohmann::json::array();
  int shown = 0;
  int unmeasured = 0;
  for (const auto& commit : walked) {
    ++shown;
    // A one-line row, with or without numbers.
    auto one_line = [&](const CommitInfo& info, const SemVer& version, const std::string& numbers) {
      const std::string deco = Decorations(commit, refs);
      if (o.graph) std::cout << drawing.CommitRow(info);
      std::cout << Colour(ShortId(commit), "33") << " " << fmt::format("{:<8}", version.Tag())
                << (numbers.empty() ? "" : " " + numbers) << (deco.empty() ? "" : " " + Colour(deco, "36")) << " "
                << MessageLine(info.message) << "\n";
      if (o.graph) {
        for (const auto& row : drawing.ConnectorRows()) std::cout << row << "\n";
      }
    };
    if (light && !o.metrics) {
      one_line(graph.ReadCommit(commit), LoadVersionNumber(graph, commit), "");
      continue;
    }
    const core::Suites suites = current ? *current : history.AsMade(commit);
    nlohmann::json measured = core::MetricsOf(repo, commit, suites, history.registry());
    // A suite with datasets whose summary is missing lacks stored numbers (an
    // empty suite, as before any update with `adaptation: auto`, lacks nothing).
    const auto& summary = measured["summary"];
    if (o.metrics && ((!suites.adaptation.empty() && !summary["adaptation"].is_number()) ||
                      (!suites.retention.empty() && !summary["retention"].is_number()))) {
      ++unmeasured;
    }
    if (light) {
      one_line(graph.ReadCommit(commit), LoadVersionNumber(graph, commit), Summary(measured));
      continue;
    }
    StoredVersion v = LoadVersion(graph, commit);
    if (ctx.global.json) {
      list.push_back(VersionJson(v, refs, measured));
    } else {
      PrintLong(v, refs, o.metrics ? &measured : nullptr);
    }
  }
  if (ctx.global.json) PrintJson(list);
  if (unmeasured > 0 && !ctx.global.quiet && !ctx.global.json) {
    std::cerr << fmt::format("note: {} of {} versions lack stored numbers ('-'); 'fomo log --metrics --eval' or "
                             "'fomo eval REV' measures them\n",
                             unmeasured, shown);
  }
  return 0;
}

}  // namespace

Runner SetupLog(CommandLine& cli) {
  auto o = std::make_shared<LogOptions>();
  cli.Option("revision", &o->rev, "where to start (default HEAD)", "REV");
  cli.Flag("--oneline", &o->oneline, "one line per version");
  cli.Flag("--graph", &o->graph, "draw the commit graph beside one line per version");
  cli.Flag("--all", &o->all, "every branch, not only the history of REV");
  cli.Option("-n,--max-count", &o->max_count, "show at most N versions", "N");
  cli.Flag("--metrics", &o->metrics, "show the stored A_KA, A_ZS and their geometric mean per version ('-': not measured)");
  cli.Flag("--eval", &o->eval, "with --metrics: first measure what the shown versions lack");
  cli.Flag("--current-suite", &o->current_suite,
           "summarise every version over today's suite, not the suite as it stood when the version was made");
  cli.Flag("--no-eval", &o->no_eval, "with --metrics: show only what is stored (the default)");
  return [o](Context& ctx) { return RunLog(ctx, *o); };
}

}  // namespace fomo::cmd
