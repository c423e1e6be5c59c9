// fomo diff A B: what B gained and forgot relative to A. Metrics per dataset (old,
// new, delta, largest loss first) and, per tensor group, the weight change.
#include <algorithm>
#include <cmath>
#include <set>
#include <iostream>

#include <fmt/format.h>

#include "cmd/command.hpp"
#include "cmd/terminal_reporter.hpp"
#include "cmd/output.hpp"
#include "cmd/version_view.hpp"
#include "core/evaluation.hpp"
#include "core/weight_diff.hpp"
#include "storage/versions.hpp"
#include "train/version_evaluation.hpp"

namespace fomo::cmd {

namespace {

using nlohmann::json;

struct DiffOptions {
  std::string a;
  std::string b = "HEAD";
  bool no_eval = false;
  bool current_suite = false;
};

json Optional(const json& j, const std::string& key) {
  return j.is_object() && j.contains(key) ? j[key] : json(nullptr);
}

json Delta(const json& old_value, const json& new_value) {
  if (!old_value.is_number() || !new_value.is_number()) return nullptr;
  return new_value.get<double>() - old_value.get<double>();
}

json MetricRows(const json& old_metrics, const json& new_metrics) {
  json rows = json::array();
  std::set<std::pair<std::string, std::string>> keys;
  for (const json* side : {&old_metrics, &new_metrics}) {
    if (!side->is_object()) continue;
    for (const auto& [dataset, values] : side->items()) {
      for (const auto& [metric, value] : values.items()) keys.insert({dataset, metric});
    }
  }
  for (const auto& [dataset, metric] : keys) {
    json o = Optional(Optional(old_metrics, dataset), metric);
    json n = Optional(Optional(new_metrics, dataset), metric);
    rows.push_back({{"dataset", dataset}, {"metric", metric}, {"old", o}, {"new", n}, {"delta", Delta(o, n)}});
  }
  // Largest loss first; rows without a delta last.
  std::stable_sort(rows.begin(), rows.end(), [](const json& x, const json& y) {
    double dx = x["delta"].is_number() ? x["delta"].get<double>() : INFINITY;
    double dy = y["delta"].is_number() ? y["delta"].get<double>() : INFINITY;
    return dx < dy;
  });
  return rows;
}

std::string Number(const json& v) { return v.is_number() ? fmt::format("{:.2f}", v.get<double>()) : "-"; }

int RunDiff(Context& ctx, const DiffOptions& o) {
  Repository& repo = ctx.repo();
  StoredVersion a = LoadVersion(repo.graph(), ResolveRevision(repo, o.a));
  StoredVersion b = LoadVersion(repo.graph(), ResolveRevision(repo, o.b));
  if (!o.no_eval) {
    TerminalReporter reporter(ctx);
    train::EvaluateMissing(repo, {a.commit.id, b.commit.id}, reporter);
  }
  // Both summarised over one suite: the newer version's as it was made (what the
  // older had been taught and what the newer added), or today's.
  const core::Suites suites =
      o.current_suite ? core::Suites::ForRepository(repo) : core::SuiteHistory(repo).AsMade(b.commit.id);
  json ja = VersionJson(a, {}, core::MetricsOf(repo, a.commit.id, suites));
  json jb = VersionJson(b, {}, core::MetricsOf(repo, b.commit.id, suites));
  json metrics = MetricRows(ja["metrics"], jb["metrics"]);
  json summary = json::object();
  for (const char* key : {"adaptation", "retention", "gm"}) {
    json old_value = ja["summary"][key], new_value = jb["summary"][key];
    summary[key] = {{"old", old_value}, {"new", new_value}, {"delta", Delta(old_value, new_value)}};
  }
  std::vector<core::GroupDiff> groups =
      core::DiffWeights(repo.objects(), a.manifest, b.manifest, repo.config().storage.threads);
  json weights = json::array();
  for (const auto& g : groups) {
    weights.push_back({{"group", g.group},
                       {"rel_l2", std::isfinite(g.rel_l2) ? json(g.rel_l2) : json(nullptr)},
                       {"changed_share", g.changed_share},
                       {"stored_bytes", g.stored_bytes}});
  }
  if (ctx.global.json) {
    PrintJson({{"from", {{"version", a.version.ToString()}, {"commit", a.commit.id}}},
               {"to", {{"version", b.version.ToString()}, {"commit", b.commit.id}}},
               {"metrics", metrics},
               {"summary", summary},
               {"weights", weights}});
    return 0;
  }
  std::cout << fmt::format("diff {} ({}) -> {} ({})\n\n", a.version.Tag(), ShortId(a.commit.id),
                           b.version.Tag(), ShortId(b.commit.id));
  if (metrics.empty()) {
    std::cout << "metrics: none measured on both versions\n\n";
  } else {
    std::cout << fmt::format("{:<28} {:<10} {:>8} {:>8} {:>8}\n", "dataset", "metric", "old", "new", "delta");
    for (const auto& r : metrics) {
      std::string delta = Number(r["delta"]);
      if (r["delta"].is_number()) {
        double d = r["delta"].get<double>();
        delta = Colour(fmt::format("{:+.2f}", d), d < 0 ? "31" : "32");
      }
      std::cout << fmt::format("{:<28} {:<10} {:>8} {:>8} ", r["dataset"].get<std::string>(),
                               r["metric"].get<std::string>(), Number(r["old"]), Number(r["new"]))
                << delta << "\n";
    }
    std::cout << "\n";
  }
  std::cout << fmt::format("{:<18} {:>12} {:>10} {:>12}\n", "weights", "rel. L2", "changed", "stored");
  for (const auto& g : groups) {
    std::string rel = std::isfinite(g.rel_l2) ? fmt::format("{:.3e}", g.rel_l2) : "new";
    std::cout << fmt::format("{:<18} {:>12} {:>9.1f}% {:>12}\n", g.group, rel, 100 * g.changed_share,
                             FormatBytes(g.stored_bytes));
  }
  return 0;
}

}  // namespace

Runner SetupDiff(CommandLine& cli) {
  auto o = std::make_shared<DiffOptions>();
  cli.Option("from", &o->a, "older version", "REV", /*required=*/true);
  cli.Option("to", &o->b, "newer version (default HEAD)", "REV");
  cli.Flag("--no-eval", &o->no_eval, "compare only what is already measured");
  cli.Flag("--current-suite", &o->current_suite, "summarise over today's suite, not the newer version's as it was made");
  return [o](Context& ctx) { return RunDiff(ctx, *o); };
}

}  // namespace fomo::cmd
