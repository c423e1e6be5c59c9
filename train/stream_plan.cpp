#include "train/stream_plan.hpp"

#include <algorithm>
#include <map>
#include <numeric>
#include <random>
#include <set>

#include <fmt/format.h>

#include "core/evaluation.hpp"
#include "storage/atomic_file.hpp"
#include "storage/error.hpp"
#include "storage/yaml_text.hpp"
#include "train/history.hpp"

namespace fomo::train {

namespace {

[[noreturn]] void Fail(const std::string& origin, const YAML::Node& node, const std::string& what) {
  throw Error(fmt::format("{}: line {}: {}", origin, node.Mark().line + 1, what));
}

struct OrderingEntry {
  Ordering ordering;
  const char* name;
};
constexpr OrderingEntry kOrderings[] = {
    {Ordering::kRandom, "random"},
    {Ordering::kEasyToHard, "easy-to-hard"},
    {Ordering::kConceptFrequency, "concept-frequency"},
    {Ordering::kTimeIncremental, "time-incremental"},
    {Ordering::kDatasetIncremental, "dataset-incremental"},
};

Ordering ParseOrdering(const std::string& origin, const YAML::Node& node) {
  const std::string text = node.as<std::string>();
  for (const auto& o : kOrderings) {
    if (text == o.name) return o.ordering;
  }
  if (text == "concept-similarity") {
    Fail(origin, node,
         fmt::format("ordering '{}' needs the base version's text embeddings of the concepts, which this fomo does "
                     "not make yet (random, easy-to-hard, concept-frequency, time-incremental, dataset-incremental)",
                     text));
  }
  Fail(origin, node,
       fmt::format("unknown ordering '{}' (random, easy-to-hard, concept-frequency, time-incremental, "
                   "dataset-incremental)",
                   text));
}

bool BranchSafe(const std::string& name) {
  if (name.empty() || name.size() > 100 || name[0] == '.' || name[0] == '-') return false;
  return std::all_of(name.begin(), name.end(), [](unsigned char c) {
    return std::isalnum(c) || c == '-' || c == '_' || c == '.';
  });
}

// A seeded Fisher-Yates shuffle that gives the same order on every platform
// (std::shuffle's use of the engine is left to the library).
template <typename T>
void SeededShuffle(std::vector<T>& items, uint64_t seed) {
  std::mt19937_64 rng(seed);
  for (size_t i = items.size(); i > 1; --i) std::swap(items[i - 1], items[rng() % i]);
}

void ParseOrderingNode(const std::string& origin, const YAML::Node& node, StreamSpec& spec) {
  if (node.IsScalar()) {
    spec.ordering = ParseOrdering(origin, node);
    return;
  }
  if (!node.IsMap()) Fail(origin, node, "'ordering' must be a name or {kind, seed, reverse}");
  bool kind = false;
  for (const auto& item : node) {
    const std::string key = item.first.as<std::string>();
    if (key == "kind") {
      spec.ordering = ParseOrdering(origin, item.second);
      kind = true;
    } else if (key == "seed") {
      spec.seed = item.second.as<uint64_t>();
    } else if (key == "reverse") {
      spec.reverse = item.second.as<bool>();
    } else {
      Fail(origin, item.first, fmt::format("unknown key 'ordering.{}' (kind, seed, reverse)", key));
    }
  }
  if (!kind) Fail(origin, node, "'ordering' needs a kind");
}

void ParseUpdateNode(const std::string& origin, const YAML::Node& node, const Repository& repo, StreamSpec& spec) {
  if (!node.IsMap()) Fail(origin, node, "'update' must be a mapping (level, method, steps, schedule, merge, replay, ...)");
  if (const YAML::Node level = node["level"]) {
    const std::string text = level.as<std::string>();
    const std::optional<BumpLevel> parsed = ParseBumpLevel(text);
    if (!parsed) Fail(origin, level, fmt::format("update.level must be patch, minor or major, not '{}'", text));
    spec.level = *parsed;
  }
  spec.update = UpdateOptions::Defaults(std::string(BumpLevelName(spec.level)), repo.config().document, "fomo.yaml");
  for (const auto& item : node) {
    const std::string key = item.first.as<std::string>();
    if (key == "level") continue;
    try {
      if (key == "total_budget") {
        spec.total_flops = ParseFlops(item.second.as<std::string>());
      } else if (key == "data") {
        throw Error("a stream's data are its concepts: give them in 'concepts'");
      } else {
        spec.update.Apply(key, item.second);
      }
    } catch (const YAML::Exception&) {
      Fail(origin, item.second, fmt::format("'update.{}' has a value of the wrong kind", key));
    } catch (const Error& e) {
      const std::string why = e.what();
      Fail(origin, item.first,
           why == "unknown key" ? fmt::format("unknown key 'update.{}' (level, method and its options, steps, samples, "
                                              "budget, total_budget, schedule, lr, merge, replay, batch_size, seed, ...)",
                                              key)
                                : fmt::format("update.{}: {}", key, why));
    }
  }
  if (spec.total_flops && node["steps"]) Fail(origin, node["steps"], "give update.steps or update.total_budget, not both");
}

void ParseBufferNode(const std::string& origin, const YAML::Node& node, StreamSpec& spec) {
  if (node.IsScalar()) {
    if (node.as<std::string>() != "all") Fail(origin, node, "'buffer' must be 'all' or {reservoir: N}");
    return;
  }
  if (!node.IsMap() || node.size() != 1 || !node["reservoir"]) Fail(origin, node, "'buffer' must be 'all' or {reservoir: N}");
  const int64_t n = node["reservoir"].as<int64_t>();
  if (n <= 0) Fail(origin, node["reservoir"], "buffer.reservoir must be a positive number of samples");
  spec.update.buffer_reservoir = n;
}

// The concepts a selector names: each class it selects, with the class's name.
std::vector<Concept> ConceptsOf(const std::string& origin, const YAML::Node& node, const core::DatasetRegistry& registry) {
  const std::string text = node.as<std::string>();
  core::Selector selector;
  try {
    selector = core::Selector::Parse(text, registry);
  } catch (const Error& e) {
    Fail(origin, node, fmt::format("concepts: {}", e.what()));
  }
  const core::DatasetSpec& dataset = registry.Get(selector.dataset);
  if (dataset.has_captions()) {
    Fail(origin, node, fmt::format("concepts are classes; '{}' is a caption dataset", selector.dataset));
  }
  if (selector.cap > 0 || text.find('@') != std::string::npos) {
    Fail(origin, node, fmt::format("concept selector '{}': give classes only (no split, no #cap)", text));
  }
  std::vector<int> classes = selector.classes;
  if (classes.empty()) {
    classes.resize(dataset.classes.size());
    std::iota(classes.begin(), classes.end(), 0);
  }
  std::vector<Concept> out;
  for (int c : classes) out.push_back({selector.dataset, c, dataset.classes.at(static_cast<size_t>(c))});
  return out;
}

}  // namespace

std::string_view OrderingName(Ordering ordering) {
  for (const auto& o : kOrderings) {
    if (o.ordering == ordering) return o.name;
  }
  return "?";
}

StreamSpec StreamSpec::Load(const fs::path& file, const Repository& repo) {
  std::error_code ec;
  if (!fs::is_regular_file(file, ec)) throw Error(fmt::format("cannot read stream file '{}': no such file", file.string()));
  return Parse(ReadFileToString(file), file.string(), repo);
}

StreamSpec StreamSpec::Parse(const std::string& text, const std::string& origin, const Repository& repo) {
  const YAML::Node document = LoadYamlText(text, origin);
  return WithYamlOrigin(origin, [&] {
    if (!document.IsMap()) throw Error(fmt::format("{}: a stream file is a mapping (name, concepts, tasks, ...)", origin));
    StreamSpec spec;
    const core::DatasetRegistry registry = core::DatasetRegistry::FromYaml(repo.config().document, "fomo.yaml");
    bool have_update = false;
    std::optional<YAML::Node> buffer;  // a null YAML::Node still tests true
    for (const auto& item : document) {
      const std::string key = item.first.as<std::string>();
      const YAML::Node& value = item.second;
      if (key == "name") {
        spec.name = value.as<std::string>();
        if (!BranchSafe(spec.name)) {
          Fail(origin, value, fmt::format("stream name '{}' must be letters, digits, '-', '_' or '.'", spec.name));
        }
      } else if (key == "base") {
        spec.base = value.as<std::string>();
      } else if (key == "concepts") {
        const std::vector<YAML::Node> entries =
            value.IsSequence() ? std::vector<YAML::Node>(value.begin(), value.end()) : std::vector<YAML::Node>{value};
        std::set<std::pair<std::string, int>> seen;
        for (const auto& entry : entries) {
          spec.concept_selectors.push_back(entry.as<std::string>());
          for (const auto& c : ConceptsOf(origin, entry, registry)) {
            if (!seen.insert({c.dataset, c.class_index}).second) {
              Fail(origin, entry, fmt::format("concept {}:{} ('{}') is named twice", c.dataset, c.class_index, c.name));
            }
            spec.concepts.push_back(c);
          }
        }
      } else if (key == "tasks") {
        spec.tasks = value.as<int64_t>();
        if (spec.tasks <= 0) Fail(origin, value, "tasks must be a positive number");
      } else if (key == "ordering") {
        ParseOrderingNode(origin, value, spec);
      } else if (key == "update") {
        ParseUpdateNode(origin, value, repo, spec);
        have_update = true;
      } else if (key == "buffer") {
        buffer = value;  // read once the update options are
      } else {
        Fail(origin, item.first,
             fmt::format("unknown key '{}' (name, base, concepts, tasks, ordering, update, buffer)", key));
      }
    }
    if (spec.name.empty()) throw Error(fmt::format("{}: the stream needs a name (its branch is stream/NAME)", origin));
    if (spec.concepts.empty()) throw Error(fmt::format("{}: the stream needs concepts (dataset selectors)", origin));
    if (!have_update) {
      spec.update = UpdateOptions::Defaults(std::string(BumpLevelName(spec.level)), repo.config().document, "fomo.yaml");
    }
    if (buffer) ParseBufferNode(origin, *buffer, spec);
    std::set<std::string> datasets;
    for (const auto& c : spec.concepts) datasets.insert(c.dataset);
    if (spec.ordering == Ordering::kDatasetIncremental) {
      if (spec.tasks != 0 && static_cast<size_t>(spec.tasks) != datasets.size()) {
        throw Error(fmt::format("{}: dataset-incremental makes one task per dataset: {} datasets, not {} tasks", origin,
                                datasets.size(), spec.tasks));
      }
      spec.tasks = static_cast<int64_t>(datasets.size());
    } else if (spec.tasks == 0) {
      throw Error(fmt::format("{}: the stream needs a number of tasks", origin));
    }
    if (static_cast<size_t>(spec.tasks) > spec.concepts.size()) {
      throw Error(fmt::format("{}: {} tasks for {} concepts: every task needs at least one", origin, spec.tasks,
                              spec.concepts.size()));
    }
    if (spec.ordering == Ordering::kTimeIncremental) {
      for (const auto& name : datasets) {
        if (!registry.Get(name).year) {
          throw Error(fmt::format("{}: ordering time-incremental needs a year for dataset '{}' (datasets.{}.year in "
                                  "fomo.yaml)",
                                  origin, name, name));
        }
      }
    }
    return spec;
  });
}

std::vector<std::vector<size_t>> CutIntoTasks(size_t concepts, size_t tasks) {
  if (tasks == 0 || tasks > concepts) throw Error(fmt::format("cannot cut {} concepts into {} tasks", concepts, tasks));
  std::vector<std::vector<size_t>> out(tasks);
  const size_t each = concepts / tasks, extra = concepts % tasks;
  size_t next = 0;
  for (size_t t = 0; t < tasks; ++t) {
    const size_t n = each + (t < extra ? 1 : 0);
    for (size_t k = 0; k < n; ++k) out[t].push_back(next++);
  }
  return out;
}

namespace {

// The base's zero-shot top-1 on each concept's test images (among all its
// dataset's classes), measured through the evaluation cache.
std::vector<double> BaseAccuracies(Repository& repo, const CommitId& base, const std::vector<Concept>& concepts,
                                   Reporter& reporter) {
  std::vector<double> top1;
  auto evaluation = reporter.StartEvaluation();
  for (const auto& c : concepts) {
    const std::string selector = fmt::format("{}:{}", c.dataset, c.class_index);
    std::optional<double> value;
    for (const auto& r : core::EvaluateVersions(repo, {base}, {selector}, false, evaluation->callbacks(),
                                                core::OverlapPolicy::kAllow)) {
      if (r.metric == "top1") value = r.value;
    }
    if (!value) throw Error(fmt::format("easy-to-hard: the base {} could not be measured on {}", ShortId(base), selector));
    top1.push_back(*value);
  }
  evaluation->Finish();
  return top1;
}

}  // namespace

StreamPlan PlanStream(Repository& repo, const StreamSpec& spec, Reporter& reporter) {
  StreamPlan plan;
  plan.spec = spec;
  const core::DatasetRegistry registry = core::DatasetRegistry::FromYaml(repo.config().document, "fomo.yaml");
  const CommitId base = ResolveRevision(repo.graph(), spec.base);

  // Training samples of every concept, a dataset's train split read once.
  std::map<std::pair<std::string, int>, int64_t> samples;
  std::vector<std::string> order_of_datasets;
  for (const auto& c : spec.concepts) {
    if (std::find(order_of_datasets.begin(), order_of_datasets.end(), c.dataset) == order_of_datasets.end()) {
      order_of_datasets.push_back(c.dataset);
    }
  }
  for (const auto& name : order_of_datasets) {
    core::Selector selector;
    selector.dataset = name;
    selector.split = "train";
    for (const auto& c : spec.concepts) {
      if (c.dataset == name) selector.classes.push_back(c.class_index);
    }
    selector.text = name;
    const core::ImageSet set = core::LoadImages(registry.Get(name), selector, spec.update.seed);
    for (int label : set.labels) ++samples[{name, label}];
  }
  auto count_of = [&](const Concept& c) {
    auto it = samples.find({c.dataset, c.class_index});
    return it == samples.end() ? int64_t{0} : it->second;
  };
  for (const auto& c : spec.concepts) {
    if (count_of(c) == 0) throw Error(fmt::format("concept {} ('{}') has no training images", c.dataset, c.name));
  }

  // The order, and the score each concept was placed by.
  std::vector<size_t> order(spec.concepts.size());
  std::iota(order.begin(), order.end(), 0);
  std::vector<double> score(spec.concepts.size(), 0);
  switch (spec.ordering) {
    case Ordering::kRandom:
      SeededShuffle(order, spec.seed);
      plan.score = "random";
      for (size_t k = 0; k < order.size(); ++k) score[order[k]] = static_cast<double>(k);
      break;
    case Ordering::kEasyToHard: {
      plan.score = "zero-shot top-1 of the base";
      const std::vector<double> top1 =
          BaseAccuracies(repo, base, spec.concepts, reporter);
      for (size_t i = 0; i < order.size(); ++i) score[i] = top1[i];
      SeededShuffle(order, spec.seed);  // ties broken by the seed
      std::stable_sort(order.begin(), order.end(), [&](size_t a, size_t b) { return score[a] > score[b]; });
      break;
    }
    case Ordering::kConceptFrequency:
      plan.score = "training samples";
      for (size_t i = 0; i < order.size(); ++i) score[i] = static_cast<double>(count_of(spec.concepts[i]));
      SeededShuffle(order, spec.seed);  // ties broken by the seed
      std::stable_sort(order.begin(), order.end(), [&](size_t a, size_t b) { return score[a] < score[b]; });
      plan.notes.push_back(
          "concept-frequency ranked the concepts by their training samples (counting the class names in the "
          "replay data's captions is not built yet)");
      break;
    case Ordering::kTimeIncremental:
      plan.score = "year";
      for (size_t i = 0; i < order.size(); ++i) score[i] = *registry.Get(spec.concepts[i].dataset).year;
      SeededShuffle(order, spec.seed);  // shuffled within a year
      std::stable_sort(order.begin(), order.end(), [&](size_t a, size_t b) { return score[a] < score[b]; });
      break;
    case Ordering::kDatasetIncremental:
      plan.score = "dataset";
      for (size_t i = 0; i < order.size(); ++i) {
        score[i] = static_cast<double>(
            std::find(order_of_datasets.begin(), order_of_datasets.end(), spec.concepts[i].dataset) -
            order_of_datasets.begin());
      }
      std::stable_sort(order.begin(), order.end(), [&](size_t a, size_t b) { return score[a] < score[b]; });
      break;
  }
  if (spec.reverse) std::reverse(order.begin(), order.end());
  for (size_t i : order) {
    plan.ordered.push_back(spec.concepts[i]);
    plan.scores.push_back(score[i]);
  }

  // The tasks.
  std::vector<std::vector<size_t>> cut;
  if (spec.ordering == Ordering::kDatasetIncremental) {
    // One task per dataset, in the order given (reversed when asked).
    for (size_t k = 0; k < plan.ordered.size(); ++k) {
      if (k == 0 || plan.ordered[k].dataset != plan.ordered[k - 1].dataset) cut.emplace_back();
      cut.back().push_back(k);
    }
  } else {
    cut = CutIntoTasks(plan.ordered.size(), static_cast<size_t>(spec.tasks));
  }
  const MixtureShares shares = spec.update.replay;
  // Replay needs pretraining data the base's line names (init --pretrain).
  const bool has_replay = !ReadLineHistory(repo.graph(), base).pretrain.empty();
  for (size_t t = 0; t < cut.size(); ++t) {
    StreamTask task;
    task.index = static_cast<int>(t);
    std::map<std::string, std::vector<int>> by_dataset;
    std::vector<std::string> datasets;
    for (size_t k : cut[t]) {
      const Concept& c = plan.ordered[k];
      task.concepts.push_back(c);
      task.samples += count_of(c);
      if (!by_dataset.count(c.dataset)) datasets.push_back(c.dataset);
      by_dataset[c.dataset].push_back(c.class_index);
    }
    for (const auto& name : datasets) {
      std::vector<int>& classes = by_dataset[name];
      std::sort(classes.begin(), classes.end());
      task.data.push_back(fmt::format("{}:{}@train", name, fmt::join(classes, ",")));
    }
    task.budget = spec.update.budget;
    if (spec.total_flops) {
      task.budget = BudgetRequest{std::nullopt, std::nullopt, *spec.total_flops / static_cast<double>(cut.size())};
    }
    // One class and nothing else in a batch: every caption names the same class,
    // and contrastive training has no negatives to learn from.
    const bool replay = shares.pretrain > 0 && has_replay;
    const bool buffer = shares.buffer > 0 && t > 0;
    if (task.concepts.size() == 1 && !replay && !buffer) {
      task.warnings.push_back(fmt::format(
          "task {} trains on one concept ('{}') with no replay or buffer in its batches: every caption names the "
          "same class and contrastive training collapses; give update.replay a pretraining share",
          t + 1, task.concepts.front().name));
    }
    plan.tasks.push_back(std::move(task));
  }
  return plan;
}

nlohmann::json StreamPlan::ToJson() const {
  nlohmann::json tasks_json = nlohmann::json::array();
  for (const auto& t : tasks) {
    nlohmann::json concepts_json = nlohmann::json::array();
    for (const auto& c : t.concepts) concepts_json.push_back({{"dataset", c.dataset}, {"class", c.class_index}, {"name", c.name}});
    tasks_json.push_back({{"task", t.index + 1},
                          {"concepts", concepts_json},
                          {"data", t.data},
                          {"samples", t.samples},
                          {"budget", t.budget.Describe()},
                          {"warnings", t.warnings}});
  }
  nlohmann::json order_json = nlohmann::json::array();
  for (size_t k = 0; k < ordered.size(); ++k) {
    order_json.push_back({{"dataset", ordered[k].dataset},
                          {"class", ordered[k].class_index},
                          {"name", ordered[k].name},
                          {"score", scores[k]}});
  }
  return {{"name", spec.name},
          {"branch", "stream/" + spec.name},
          {"base", spec.base},
          {"level", std::string(BumpLevelName(spec.level))},
          {"ordering",
           {{"kind", std::string(OrderingName(spec.ordering))}, {"seed", spec.seed}, {"reverse", spec.reverse}}},
          {"score", score},
          {"order", order_json},
          {"update", spec.update.ToJson()},
          {"buffer", spec.update.buffer_reservoir ? nlohmann::json{{"reservoir", *spec.update.buffer_reservoir}}
                                                 : nlohmann::json("all")},
          {"tasks", tasks_json},
          {"notes", notes}};
}

}  // namespace fomo::train
