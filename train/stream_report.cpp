#include "train/stream_report.hpp"

#include <fmt/format.h>

#include "core/evaluation.hpp"
#include "storage/error.hpp"
#include "storage/versions.hpp"
#include "train/history.hpp"

namespace fomo::train {

namespace {

std::optional<double> Number(const nlohmann::json& j, const char* key) {
  if (!j.contains(key) || !j[key].is_number()) return std::nullopt;
  return j[key].get<double>();
}

std::optional<double> Mean(const std::vector<StreamPoint>& points, std::optional<double> StreamPoint::*field) {
  double sum = 0;
  size_t n = 0;
  for (const auto& p : points) {
    if (p.task == 0) continue;
    if (!(p.*field)) return std::nullopt;
    sum += *(p.*field);
    ++n;
  }
  if (n == 0) return std::nullopt;
  return sum / static_cast<double>(n);
}

}  // namespace

StreamReport ReportStream(Repository& repo, const std::string& name, Reporter& reporter) {
  std::vector<CommitId> tasks;
  for (const auto& step : ReadStreamSteps(repo.graph(), name)) tasks.push_back(step.commit);
  if (tasks.empty()) throw Error(fmt::format("no stream '{}': branch stream/{} holds none of its tasks", name, name));
  const Graph& graph = repo.graph();
  StreamReport report;
  report.name = name;
  const core::DatasetRegistry registry = core::DatasetRegistry::FromYaml(repo.config().document, "fomo.yaml");

  // The same suites for every point: each task's data (test split) and retention.
  std::vector<StoredVersion> versions;
  for (const auto& commit : tasks) versions.push_back(LoadVersion(graph, commit));
  for (const auto& v : versions) {
    for (const auto& selector : v.recipe.value("data", std::vector<std::string>{})) {
      report.accumulation_suite.push_back(core::TestSplitOf(selector, registry));
    }
  }
  core::Suites suites = core::Suites::ForRepository(repo);
  report.retention_suite = suites.retention;
  suites.adaptation = report.accumulation_suite;
  suites.adaptation_auto = false;

  const auto first_parents = graph.ReadCommit(tasks.front()).parents;
  if (first_parents.empty()) throw Error(fmt::format("stream '{}' has no base version", name));
  std::vector<CommitId> commits = {first_parents.front()};
  commits.insert(commits.end(), tasks.begin(), tasks.end());

  std::vector<std::string> selectors = report.accumulation_suite;
  selectors.insert(selectors.end(), report.retention_suite.begin(), report.retention_suite.end());
  if (!repo.db().read_only()) {
    auto evaluation = reporter.StartEvaluation();
    try {
      core::EvaluateVersions(repo, commits, selectors, false, evaluation->callbacks());
    } catch (const Error& e) {
      report.notes.push_back(fmt::format("not every version could be measured: {}", e.what()));
    }
    evaluation->Finish();
  } else {
    report.notes.push_back("the repository is read-only: the report shows the measurements it stores");
  }

  for (size_t k = 0; k < commits.size(); ++k) {
    const StoredVersion v = k == 0 ? LoadVersion(graph, commits[0]) : versions[k - 1];
    StreamPoint p;
    p.task = static_cast<int>(k);
    p.commit = commits[k];
    p.version = v.version.Tag();
    if (k > 0) p.concepts = v.recipe["stream"].value("concepts", std::vector<std::string>{});
    p.budget = v.budget;
    const nlohmann::json summary = core::MetricsOf(repo, commits[k], suites, registry)["summary"];
    p.accumulation = Number(summary, "adaptation");
    p.retention = Number(summary, "retention");
    p.gm = Number(summary, "gm");
    report.points.push_back(std::move(p));
  }
  report.mean_accumulation = Mean(report.points, &StreamPoint::accumulation);
  report.mean_retention = Mean(report.points, &StreamPoint::retention);
  report.notes.push_back(
      "no joint-training reference on the branch: the distance of each point from the base-to-joint line needs one");
  return report;
}

nlohmann::json StreamReport::ToJson() const {
  auto opt = [](const std::optional<double>& v) { return v ? nlohmann::json(*v) : nlohmann::json(nullptr); };
  nlohmann::json points_json = nlohmann::json::array();
  for (const auto& p : points) {
    points_json.push_back({{"task", p.task},
                           {"version", p.version},
                           {"commit", p.commit},
                           {"concepts", p.concepts},
                           {"accumulation", opt(p.accumulation)},
                           {"retention", opt(p.retention)},
                           {"gm", opt(p.gm)},
                           {"steps", p.budget.steps ? nlohmann::json(*p.budget.steps) : nlohmann::json(nullptr)},
                           {"samples", p.budget.samples ? nlohmann::json(*p.budget.samples) : nlohmann::json(nullptr)}});
  }
  const StreamPoint& last = points.back();
  return {{"stream", name},
          {"branch", "stream/" + name},
          {"suites", {{"accumulation", accumulation_suite}, {"retention", retention_suite}}},
          {"points", points_json},
          {"summary",
           {{"final_accumulation", opt(last.accumulation)},
            {"final_retention", opt(last.retention)},
            {"mean_accumulation", opt(mean_accumulation)},
            {"mean_retention", opt(mean_retention)}}},
          {"notes", notes}};
}

}  // namespace fomo::train
