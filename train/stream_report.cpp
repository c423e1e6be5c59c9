#include "train/stream_report.hpp"

#include <algorithm>
#include <cmath>

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

// The mean top-1 of guessing over class selectors; unset when one is a caption dataset.
std::optional<double> ChanceTop1(const std::vector<std::string>& selectors, const core::DatasetRegistry& registry) {
  if (selectors.empty()) return std::nullopt;
  double sum = 0;
  for (const auto& text : selectors) {
    const core::Selector selector = core::Selector::Parse(text, registry);
    const core::DatasetSpec& spec = registry.Get(selector.dataset);
    if (spec.has_captions()) return std::nullopt;
    const size_t classes = selector.classes.empty() ? spec.classes.size() : selector.classes.size();
    if (classes == 0) return std::nullopt;
    sum += 100.0 / static_cast<double>(classes);
  }
  return sum / static_cast<double>(selectors.size());
}

}  // namespace

// Positive above the line through the base (bx, by) and the joint (jx, jy): more
// A_ZS (y) than the line has at the point's A_KA (x). In A_KA/A_ZS points.
double SignedDistance(double bx, double by, double jx, double jy, double px, double py) {
  const double dx = jx - bx, dy = jy - by;
  const double length = std::hypot(dx, dy);
  if (length == 0) return 0;
  const double cross = dx * (py - by) - dy * (px - bx);
  return (dx < 0 ? -cross : cross) / length + 0.0;  // + 0.0: no -0
}

StreamReport ReportStream(Repository& repo, const std::string& name, Reporter& reporter) {
  std::vector<CommitId> tasks;
  for (const auto& step : ReadStreamSteps(repo.graph(), name)) tasks.push_back(step.commit);
  if (tasks.empty()) throw Error(fmt::format("no stream '{}': branch stream/{} holds none of its tasks", name, name));
  const auto first_parents = repo.graph().ReadCommit(tasks.front()).parents;
  if (first_parents.empty()) throw Error(fmt::format("stream '{}' has no base version", name));
  std::vector<CommitId> commits = {first_parents.front()};
  commits.insert(commits.end(), tasks.begin(), tasks.end());
  const std::optional<StreamStep> joint = ReadStreamJoint(repo.graph(), name);
  StreamReport report = ReportVersions(repo, commits, joint ? std::optional<CommitId>(joint->commit) : std::nullopt,
                                       reporter);
  report.name = name;
  if (!report.joint) {
    report.notes.push_back(
        "no joint-training reference: 'fomo stream run FILE --resume --joint' trains one, for the distance of each "
        "point from the base-to-joint line");
  }
  return report;
}

StreamReport ReportVersions(Repository& repo, const std::vector<CommitId>& line, const std::optional<CommitId>& joint,
                            Reporter& reporter) {
  if (line.empty()) throw Error("no versions to report on");
  const Graph& graph = repo.graph();
  StreamReport report;
  const core::DatasetRegistry registry = core::DatasetRegistry::FromYaml(repo.config().document, "fomo.yaml");

  // The same suites for every point: the data of each (test split) and retention.
  std::vector<StoredVersion> versions;
  for (const auto& commit : line) versions.push_back(LoadVersion(graph, commit));
  for (size_t k = 1; k < versions.size(); ++k) {
    for (const auto& selector : versions[k].recipe.value("data", std::vector<std::string>{})) {
      const std::string test = core::TestSplitOf(selector, registry);
      if (std::find(report.accumulation_suite.begin(), report.accumulation_suite.end(), test) ==
          report.accumulation_suite.end()) {
        report.accumulation_suite.push_back(test);
      }
    }
  }
  core::Suites suites = core::Suites::ForRepository(repo);
  report.retention_suite = suites.retention;
  suites.adaptation = report.accumulation_suite;
  suites.adaptation_auto = false;
  std::vector<CommitId> commits = line;
  if (joint) commits.push_back(*joint);

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
  report.retention_chance = ChanceTop1(report.retention_suite, registry);

  auto point = [&](int task, const CommitId& commit, const StoredVersion& v) {
    StreamPoint p;
    p.task = task;
    p.commit = commit;
    p.version = v.version.Tag();
    const nlohmann::json stream = v.recipe.value("stream", nlohmann::json::object());
    if (task != 0 && stream.is_object()) p.concepts = stream.value("concepts", std::vector<std::string>{});
    p.budget = v.budget;
    const nlohmann::json summary = core::MetricsOf(repo, commit, suites, registry)["summary"];
    p.accumulation = Number(summary, "adaptation");
    p.retention = Number(summary, "retention");
    p.gm = Number(summary, "gm");
    return p;
  };
  for (size_t k = 0; k < line.size(); ++k) report.points.push_back(point(static_cast<int>(k), line[k], versions[k]));
  if (joint) report.joint = point(-1, *joint, LoadVersion(graph, *joint));
  std::vector<StreamPoint*> all;
  for (auto& p : report.points) all.push_back(&p);
  if (report.joint) all.push_back(&*report.joint);

  // A collapse: retention fallen to chance from a base above it (a base at chance
  // is merely untrained).
  const std::optional<double> base_retention = report.points.front().retention;
  std::vector<std::string> collapsed;
  if (report.retention_chance && base_retention) {
    const double at_chance = StreamReport::kCollapseFactor * *report.retention_chance;
    for (StreamPoint* p : all) {
      p->collapsed = p->task != 0 && *base_retention > at_chance && p->retention && *p->retention <= at_chance;
      if (p->collapsed) collapsed.push_back(fmt::format("{} (A_ZS {:.2f})", p->version, *p->retention));
    }
  }
  if (!collapsed.empty()) {
    report.notes.push_back(fmt::format(
        "collapsed: {}: retention at chance ({:.2f}; the base has {:.2f}); batches of one caption have no negatives: "
        "replay other data with them",
        fmt::join(collapsed, ", "), *report.retention_chance, *base_retention));
  }

  report.mean_accumulation = Mean(report.points, &StreamPoint::accumulation);
  report.mean_retention = Mean(report.points, &StreamPoint::retention);
  if (report.joint) {
    const StreamPoint& b = report.points.front();
    const StreamPoint& j = *report.joint;
    if (b.accumulation && b.retention && j.accumulation && j.retention) {
      for (StreamPoint* p : all) {
        if (p->accumulation && p->retention) {
          p->distance = SignedDistance(*b.accumulation, *b.retention, *j.accumulation, *j.retention, *p->accumulation,
                                       *p->retention);
        }
      }
      report.mean_distance = Mean(report.points, &StreamPoint::distance);
    }
  }
  return report;
}

nlohmann::json StreamReport::ToJson() const {
  auto opt = [](const std::optional<double>& v) { return v ? nlohmann::json(*v) : nlohmann::json(nullptr); };
  auto point_json = [&](const StreamPoint& p) {
    return nlohmann::json{{"task", p.task},
                          {"version", p.version},
                          {"commit", p.commit},
                          {"concepts", p.concepts},
                          {"accumulation", opt(p.accumulation)},
                          {"retention", opt(p.retention)},
                          {"gm", opt(p.gm)},
                          {"distance", opt(p.distance)},
                          {"collapsed", p.collapsed},
                          {"steps", p.budget.steps ? nlohmann::json(*p.budget.steps) : nlohmann::json(nullptr)},
                          {"samples", p.budget.samples ? nlohmann::json(*p.budget.samples) : nlohmann::json(nullptr)}};
  };
  nlohmann::json points_json = nlohmann::json::array();
  for (const auto& p : points) points_json.push_back(point_json(p));
  const StreamPoint& last = points.back();
  return {{"stream", name},
          {"branch", "stream/" + name},
          {"suites", {{"accumulation", accumulation_suite}, {"retention", retention_suite}}},
          {"points", points_json},
          {"joint", joint ? point_json(*joint) : nlohmann::json(nullptr)},
          {"retention_chance", opt(retention_chance)},
          {"summary",
           {{"final_accumulation", opt(last.accumulation)},
            {"final_retention", opt(last.retention)},
            {"mean_accumulation", opt(mean_accumulation)},
            {"mean_retention", opt(mean_retention)},
            {"final_distance", opt(last.distance)},
            {"mean_distance", opt(mean_distance)}}},
          {"notes", notes}};
}

}  // namespace fomo::train
