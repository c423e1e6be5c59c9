// Evaluating versions on datasets and keeping the results: one database row per
// (version, dataset, split, metric, evaluation-config hash); work already stored
// is skipped. Suites in fomo.yaml say which datasets measure accumulation (A_KA)
// and which retention (A_ZS).
#pragma once

#include <functional>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "core/dataset.hpp"
#include "storage/repository.hpp"

namespace fomo::core {

struct Suites {
  std::vector<std::string> adaptation;  // selectors
  std::vector<std::string> retention;
  // `adaptation: auto` (the default): the data every training update in the
  // repository used joins the adaptation suite, as its test split.
  bool adaptation_auto = true;
  static Suites FromYaml(const YAML::Node& document, const std::string& origin);
  // fomo.yaml's suites with `auto` filled in from the versions' recipes: the
  // current suite, over everything the repository was ever trained on.
  static Suites ForRepository(const Repository& repo);
};

// The suites a version is judged on when its numbers are shown: fomo.yaml's, with
// `auto` filled in from the training data of the version's own line up to it
// (its ancestors and itself), so its A_KA stays what it was when it was made
// however the repository grows later. Memoised: a command reading a whole history
// reads each commit's recipe once.
class SuiteHistory {
 public:
  explicit SuiteHistory(const Repository& repo);
  Suites AsMade(const CommitId& commit);
  const DatasetRegistry& registry() const { return registry_; }

 private:
  const std::vector<std::string>& Taught(const CommitId& commit);
  const Repository& repo_;
  Suites configured_;
  DatasetRegistry registry_;
  std::map<CommitId, std::vector<std::string>> taught_;  // auto adaptation selectors, oldest first
};

// "fmnist:5-9@train#1000" -> "fmnist:5-9": the full test split of what was trained on.
std::string TestSplitOf(const std::string& training_selector, const DatasetRegistry& registry);

// The dataset keys (as MetricsOf writes them) that evaluating a version on the
// suites will give, with the test split of `training` joining an automatic
// adaptation suite, as it will for the version an update trains on it.
std::vector<std::string> MeasuredKeys(const Repository& repo, const std::vector<std::string>& training);

struct EvalSettings {
  int64_t batch_size = 256;
  uint64_t seed = 0;
  static EvalSettings FromYaml(const YAML::Node& document, const std::string& origin);
};

struct EvalRecord {
  CommitId commit;
  std::string dataset;  // MetricsKey
  std::string split;
  std::string metric;
  double value = 0;
  bool cached = false;  // found in the database, not measured now
};

// The key a selector's results are reported under: "fmnist", "fmnist:5-9",
// "fmnist@train#500" (the split is named only when it is not test).
std::string MetricsKey(const std::string& dataset_without_split, const std::string& split);

struct EvalCallbacks {
  std::function<void(const std::string& what)> on_start;         // a version on a dataset begins
  std::function<void(int64_t done, int64_t total)> on_progress;  // images embedded so far
  std::function<void(const std::string& message)> on_notice;     // e.g. images skipped
};

// Evaluating a version on images its line trained on measures memorisation, not
// accuracy: what to do when a selector reads the same files as a training
// selector of the version or its ancestors (same source path, classes meeting).
enum class OverlapPolicy {
  kRefuse,  // throw, naming both (fomo eval)
  kSkip,    // leave that dataset out, with a notice (evaluations fomo starts itself)
  kAllow,   // measure anyway (fomo eval --allow-overlap)
};

// Every selector the commit and its ancestors trained on (their recipes' data,
// replay data and pretraining data) that still names a dataset of the registry.
std::vector<Selector> TrainedSelectors(const Repository& repo, const DatasetRegistry& registry, const CommitId& commit);

// The one of trained that reads the same images as selector, if any.
std::optional<std::string> TrainingOverlap(const std::vector<Selector>& trained, const DatasetRegistry& registry,
                                           const Selector& selector);

std::vector<EvalRecord> EvaluateVersions(Repository& repo, const std::vector<CommitId>& commits,
                                         const std::vector<std::string>& selectors, bool force,
                                         const EvalCallbacks& callbacks = {},
                                         OverlapPolicy overlap = OverlapPolicy::kSkip);

// {"datasets": {key: {metric: value}}, "summary": {adaptation, retention, gm}} for
// one version, from the database, summarised over the given suites (default: the
// version's own, SuiteHistory::AsMade).
nlohmann::json MetricsOf(const Repository& repo, const CommitId& commit, const Suites& suites);
nlohmann::json MetricsOf(const Repository& repo, const CommitId& commit);
// The same with fomo.yaml's dataset registry already read: a command showing many
// versions reads it once.
nlohmann::json MetricsOf(const Repository& repo, const CommitId& commit, const Suites& suites,
                         const DatasetRegistry& registry);

}  // namespace fomo::core
