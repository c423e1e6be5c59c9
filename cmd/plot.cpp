// fomo plot: the study's accumulation-retention picture (A_KA across, A_ZS up),
// a polyline per stream or line of versions with the base-to-joint trade-off line
// dashed, or with --metric one dataset's metric over the versions of each line.
// Drawn by cmd/svg_chart.cpp; PNG through rsvg-convert (librsvg).
#include <spawn.h>
#include <sys/wait.h>

#include <iostream>

#include <fmt/format.h>

#include "cmd/command.hpp"
#include "cmd/output.hpp"
#include "cmd/output_path.hpp"
#include "cmd/svg_chart.hpp"
#include "cmd/terminal_reporter.hpp"
#include "core/evaluation.hpp"
#include "storage/atomic_file.hpp"
#include "storage/error.hpp"
#include "storage/versions.hpp"
#include "train/stream_report.hpp"

extern char** environ;

namespace fomo::cmd {

namespace {

struct PlotOptions {
  std::vector<std::string> revisions;
  std::vector<std::string> streams;
  std::vector<std::string> metrics;
  std::string output;
  std::string title;
};

// What is drawn: a line of versions with its measurements.
struct Line {
  std::string name;
  train::StreamReport report;
};

// "A..B": the first-parent line from A to B; else one revision.
std::vector<CommitId> LineOf(const Graph& graph, const std::string& range) {
  const size_t dots = range.find("..");
  if (dots == std::string::npos) return {ResolveRevision(graph, range)};
  const CommitId from = ResolveRevision(graph, range.substr(0, dots));
  const CommitId to = ResolveRevision(graph, range.substr(dots + 2));
  std::vector<CommitId> line = {to};
  while (line.back() != from) {
    const auto parents = graph.ReadCommit(line.back()).parents;
    if (parents.empty()) {
      throw Error(fmt::format("{}: {} is not on the first-parent line of {}", range, range.substr(0, dots),
                              range.substr(dots + 2)));
    }
    line.push_back(parents.front());
  }
  return {line.rbegin(), line.rend()};
}

std::vector<Line> Lines(Repository& repo, const PlotOptions& o, TerminalReporter& reporter) {
  std::vector<Line> lines;
  for (const auto& name : o.streams) lines.push_back({"stream " + name, train::ReportStream(repo, name, reporter)});
  // Each range is a line of its own; single revisions make one line together.
  std::vector<CommitId> singles;
  std::vector<std::string> single_names;
  for (const auto& rev : o.revisions) {
    if (rev.find("..") != std::string::npos) {
      lines.push_back({rev, train::ReportVersions(repo, LineOf(repo.graph(), rev), std::nullopt, reporter)});
    } else {
      singles.push_back(ResolveRevision(repo.graph(), rev));
      single_names.push_back(rev);
    }
  }
  if (!singles.empty()) {
    lines.push_back({fmt::format("{}", fmt::join(single_names, " ")),
                     train::ReportVersions(repo, singles, std::nullopt, reporter)});
  }
  return lines;
}

Chart TradeOffChart(const std::vector<Line>& lines, std::vector<std::string>& notes) {
  Chart chart;
  chart.title = "Knowledge accumulation and zero-shot retention";
  chart.x_title = "A_KA, knowledge accumulation (top-1 %)";
  chart.y_title = "A_ZS, zero-shot retention (top-1 %)";
  for (const auto& line : lines) {
    ChartSeries series{line.name, {}};
    for (const auto& p : line.report.points) {
      if (p.accumulation && p.retention) {
        series.points.push_back({*p.accumulation, *p.retention, p.version});
      } else {
        notes.push_back(fmt::format("{} ({}) left out: it has no {}", p.version, line.name,
                                    p.accumulation ? "A_ZS (fomo.yaml names no retention suite)" : "A_KA"));
      }
    }
    const auto& j = line.report.joint;
    const auto& b = line.report.points.front();
    if (j && j->accumulation && j->retention && b.accumulation && b.retention) {
      ChartReference ref{fmt::format("base to joint {}", j->version),
                         {*b.accumulation, *b.retention, ""},
                         {*j->accumulation, *j->retention, "joint " + j->version}};
      const bool same = std::any_of(chart.references.begin(), chart.references.end(), [&](const ChartReference& r) {
        return r.to.label == ref.to.label && r.from.x == ref.from.x && r.from.y == ref.from.y;
      });
      if (!same) chart.references.push_back(ref);
    }
    chart.series.push_back(std::move(series));
  }
  if (chart.references.empty()) {
    notes.push_back("no joint reference to draw the trade-off line to: 'fomo stream run FILE --resume --joint' trains one");
  }
  return chart;
}

// DATASET:METRIC, the metric after the last colon ("fmnist:0-4#100:top1").
std::pair<std::string, std::string> SplitMetric(const std::string& text) {
  const size_t colon = text.rfind(':');
  if (colon == std::string::npos || colon == 0 || colon + 1 == text.size()) {
    throw UsageError(fmt::format("--metric '{}': give DATASET:METRIC, e.g. fmnist:top1 or fmnist:0-4:top5", text));
  }
  return {text.substr(0, colon), text.substr(colon + 1)};
}

Chart MetricChart(Repository& repo, const std::vector<Line>& lines, const std::vector<std::string>& metrics,
                  TerminalReporter& reporter, std::vector<std::string>& notes) {
  const core::DatasetRegistry registry = core::DatasetRegistry::FromYaml(repo.config().document, "fomo.yaml");
  std::vector<std::pair<std::string, std::string>> wanted;
  std::vector<std::string> selectors;
  for (const auto& text : metrics) {
    wanted.push_back(SplitMetric(text));
    selectors.push_back(wanted.back().first);
    core::Selector::Parse(wanted.back().first, registry);  // an unknown dataset fails here, before any work
  }
  std::vector<CommitId> commits;
  for (const auto& line : lines) {
    for (const auto& p : line.report.points) commits.push_back(p.commit);
  }
  if (!repo.db().read_only()) {
    auto evaluation = reporter.StartEvaluation();
    core::EvaluateVersions(repo, commits, selectors, false, evaluation->callbacks());
    evaluation->Finish();
  }
  Chart chart;
  size_t longest = 0;
  for (const auto& line : lines) longest = std::max(longest, line.report.points.size());
  const bool one_line = lines.size() == 1;
  for (size_t k = 0; k < longest; ++k) {
    chart.x_categories.push_back(one_line ? lines[0].report.points[k].version : k == 0 ? "base" : std::to_string(k));
  }
  chart.x_title = one_line ? "version" : "update (0: the base)";
  std::vector<std::string> names;
  for (const auto& [dataset, metric] : wanted) names.push_back(fmt::format("{} {}", dataset, metric));
  chart.y_title = fmt::format("{} (%)", fmt::join(names, ", "));
  chart.title = fmt::format("{} over the versions", fmt::join(names, ", "));
  const core::Suites none{{}, {}, false};
  for (const auto& line : lines) {
    for (const auto& [dataset, metric] : wanted) {
      const core::Selector selector = core::Selector::Parse(dataset, registry);
      const std::string key = core::MetricsKey(selector.WithoutSplit(), selector.split);
      ChartSeries series{wanted.size() == 1 ? line.name : fmt::format("{}: {} {}", line.name, dataset, metric), {}};
      for (size_t k = 0; k < line.report.points.size(); ++k) {
        const auto& p = line.report.points[k];
        const nlohmann::json datasets = core::MetricsOf(repo, p.commit, none, registry)["datasets"];
        if (!datasets.contains(key) || !datasets[key].contains(metric)) {
          notes.push_back(fmt::format("{} has no {} on {}", p.version, metric, key));
          continue;
        }
        series.points.push_back({static_cast<double>(k), datasets[key][metric].get<double>(), one_line ? "" : p.version});
      }
      chart.series.push_back(std::move(series));
    }
  }
  return chart;
}

// Renders the SVG file as a PNG at twice its size with rsvg-convert.
void RenderPng(const fs::path& svg, const fs::path& png) {
  const std::string zoom = "2", out = png.string(), in = svg.string();
  std::vector<char*> argv = {const_cast<char*>("rsvg-convert"), const_cast<char*>("-z"), const_cast<char*>(zoom.c_str()),
                             const_cast<char*>("-f"), const_cast<char*>("png"), const_cast<char*>("-o"),
                             const_cast<char*>(out.c_str()), const_cast<char*>(in.c_str()), nullptr};
  pid_t pid = 0;
  if (posix_spawnp(&pid, "rsvg-convert", nullptr, nullptr, argv.data(), environ) != 0) {
    throw Error("PNG output needs rsvg-convert (Debian's librsvg2-bin; scripts/setup.sh installs it): install it, or "
                "write .svg");
  }
  int status = 0;
  if (waitpid(pid, &status, 0) < 0 || !WIFEXITED(status) || WEXITSTATUS(status) != 0) {
    throw Error(fmt::format("rsvg-convert could not render {}", png.string()));
  }
}

int RunPlot(Context& ctx, const PlotOptions& o) {
  if (o.streams.empty() && o.revisions.empty()) {
    throw UsageError("fomo plot needs versions (REV..., A..B for a line) or --stream NAME");
  }
  const std::string extension = fs::path(o.output).extension().string();
  if (extension != ".svg" && extension != ".png") {
    throw UsageError(fmt::format("-o {}: the picture is written as .svg or .png", o.output));
  }
  Repository& repo = ctx.repo();
  const fs::path output = CheckedOutputPath(o.output, &repo);
  TerminalReporter reporter(ctx);
  const std::vector<Line> lines = Lines(repo, o, reporter);
  std::vector<std::string> notes;
  Chart chart = o.metrics.empty() ? TradeOffChart(lines, notes) : MetricChart(repo, lines, o.metrics, reporter, notes);
  if (!o.title.empty()) chart.title = o.title;
  size_t drawn = 0;
  for (const auto& s : chart.series) drawn += s.points.size();
  if (drawn == 0) throw Error("nothing to draw: no version has the measurements the picture needs");
  const std::string svg = RenderSvg(chart);
  if (extension == ".svg") {
    WriteFileAtomic(output, svg.data(), svg.size());
  } else {
    const fs::path temp = output.parent_path() / ("." + output.filename().string() + ".svg");
    WriteFileAtomic(temp, svg.data(), svg.size());
    try {
      RenderPng(temp, output);
    } catch (...) {
      fs::remove(temp);
      throw;
    }
    fs::remove(temp);
  }
  if (ctx.global.json) {
    nlohmann::json series = nlohmann::json::array();
    for (const auto& s : chart.series) {
      nlohmann::json points = nlohmann::json::array();
      for (const auto& p : s.points) points.push_back({{"x", p.x}, {"y", p.y}, {"label", p.label}});
      series.push_back({{"name", s.name}, {"points", points}});
    }
    nlohmann::json references = nlohmann::json::array();
    for (const auto& r : chart.references) {
      references.push_back({{"name", r.name}, {"from", {r.from.x, r.from.y}}, {"to", {r.to.x, r.to.y}}});
    }
    PrintJson({{"output", output.string()},
               {"format", extension.substr(1)},
               {"x", chart.x_title},
               {"y", chart.y_title},
               {"series", series},
               {"references", references},
               {"notes", notes}});
    return 0;
  }
  for (const auto& note : notes) std::cerr << "note: " << note << "\n";
  if (!ctx.global.quiet) {
    std::cout << fmt::format("wrote {}: {} line{}, {} points\n", output.string(), chart.series.size(),
                             chart.series.size() == 1 ? "" : "s", drawn);
  }
  return 0;
}

}  // namespace

Runner SetupPlot(CommandLine& cli) {
  auto o = std::make_shared<PlotOptions>();
  cli.Option("revisions", &o->revisions,
             "versions drawn as one line in the order given; A..B is the first-parent line from A to B, a line of its own",
             "REV");
  cli.Option("--stream", &o->streams, "a stream's base, tasks and joint reference (repeat to compare streams)", "NAME");
  cli.Option("--metric", &o->metrics,
             "instead of A_KA against A_ZS: this dataset's metric over the versions of each line (repeatable)",
             "DATASET:METRIC");
  cli.Option("-o,--output", &o->output, "the picture to write: FILE.svg, or FILE.png (through rsvg-convert)", "FILE",
             true);
  cli.Option("--title", &o->title, "the picture's title", "TEXT");
  return [o](Context& ctx) { return RunPlot(ctx, *o); };
}

}  // namespace fomo::cmd
