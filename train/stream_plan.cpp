#include "train/stream_plan.hpp"

#include <algorithm>
#include <map>
#include <numeric>
#include <random>
#include <set>

#include <fmt/format.h>

#include "core/class_text.hpp"
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
    {Ordering::kConceptSimilarity, "concept-similarity"},
    {Ordering::kTimeIncremental, "time-incremental"},
    {Ordering::kDatasetIncremental, "dataset-incremental"},
};

Ordering ParseOrdering(const std::string& origin, const YAML::Node& node) {
  const std::string text = node.as<std::string>();
  for (const auto& o : kOrderings) {
    if (text == o.name) return o.ordering;
  }
  Fail(origin, node,
       fmt::format("unknown ordering '{}' (random, easy-to-hard, concept-frequency, concept-similarity, "
                   "time-incremental, dataset-incremental)",
                   text));
}

std::string NeedsYear(const std::string& dataset) {
  return fmt::format("ordering time-incremental needs a year for dataset '{}' (datasets.{}.year in fomo.yaml, or a "
                     "year or time column in its csv/tsv table)",
                     dataset, dataset);
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
        const core::DatasetSpec& dataset = registry.Get(name);
        if (!dataset.year && dataset.kind != "csv" && dataset.kind != "tsv") Fail(origin, document["ordering"], NeedsYear(name));
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

struct PretrainMentions {
  std::vector<int64_t> counts;  // per concept, in the spec's order
  std::vector<std::string> selectors;
  int64_t captions = 0;
  bool any = false;
};

// How often each concept's class name appears in the captions of the base's
// pretraining data (the replay data): a caption dataset's captions as written, a
// class dataset's as its prompts name each sample's class.
PretrainMentions CountPretrainMentions(Repository& repo, const core::DatasetRegistry& registry, const CommitId& base,
                                       const StreamSpec& spec) {
  PretrainMentions out;
  out.counts.assign(spec.concepts.size(), 0);
  out.selectors = ReadLineHistory(repo.graph(), base).pretrain;
  for (const auto& text : out.selectors) {
    const core::Selector selector = core::Selector::Parse(text, registry);
    const core::DatasetSpec& dataset = registry.Get(selector.dataset);
    const core::SampleTexts texts = core::ReadSampleTexts(dataset, selector, spec.update.seed);
    std::map<int, int64_t> per_class;
    for (int label : texts.labels) ++per_class[label];
    out.captions += static_cast<int64_t>(texts.captions.size() + texts.labels.size());
    for (size_t i = 0; i < spec.concepts.size(); ++i) {
      const std::string& name = spec.concepts[i].name;
      for (const auto& caption : texts.captions) out.counts[i] += CountMentions(caption, name);
      for (const auto& [label, n] : per_class) {
        out.counts[i] += n * CountMentions(dataset.classes.at(static_cast<size_t>(label)), name);
      }
    }
  }
  out.any = std::any_of(out.counts.begin(), out.counts.end(), [](int64_t n) { return n > 0; });
  return out;
}

}  // namespace

int64_t CountMentions(const std::string& text, const std::string& name) {
  auto lower = [](std::string s) {
    for (char& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    return s;
  };
  auto word_char = [](char c) { return std::isalnum(static_cast<unsigned char>(c)) != 0; };
  const std::string haystack = lower(text), needle = lower(name);
  if (needle.empty()) return 0;
  int64_t count = 0;
  for (size_t at = haystack.find(needle); at != std::string::npos; at = haystack.find(needle, at + 1)) {
    const bool starts = at == 0 || !word_char(haystack[at - 1]);
    const size_t end = at + needle.size();
    const bool ends = end == haystack.size() || !word_char(haystack[end]);
    if (starts && ends) ++count;
  }
  return count;
}

std::vector<size_t> SimilarityPath(const std::vector<std::vector<float>>& unit, size_t start,
                                   std::vector<double>* similarity) {
  const size_t n = unit.size();
  if (start >= n) throw Error("the similarity path starts outside the concepts");
  auto cosine = [&](size_t a, size_t b) {
    double dot = 0;
    for (size_t d = 0; d < unit[a].size(); ++d) dot += static_cast<double>(unit[a][d]) * unit[b][d];
    return dot;
  };
  std::vector<bool> visited(n, false);
  std::vector<size_t> path{start};
  std::vector<double> sims{1.0};
  visited[start] = true;
  while (path.size() < n) {
    size_t best = n;
    double best_cos = 0;
    for (size_t j = 0; j < n; ++j) {
      if (visited[j]) continue;
      const double c = cosine(path.back(), j);
      if (best == n || c > best_cos) best = j, best_cos = c;
    }
    visited[best] = true;
    path.push_back(best);
    sims.push_back(best_cos);
  }
  if (similarity) *similarity = std::move(sims);
  return path;
}

StreamPlan PlanStream(Repository& repo, const StreamSpec& spec, Reporter& reporter) {
  StreamPlan plan;
  plan.spec = spec;
  const core::DatasetRegistry registry = core::DatasetRegistry::FromYaml(repo.config().document, "fomo.yaml");
  const CommitId base = ResolveRevision(repo.graph(), spec.base);

  // What the training split says of every concept (its samples, their years), each
  // dataset's index read once and no image decoded.
  std::map<std::pair<std::string, int>, int64_t> samples;
  std::map<std::pair<std::string, int>, std::vector<int>> sample_years;
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
    const core::SampleTexts texts = core::ReadSampleTexts(registry.Get(name), selector, spec.update.seed);
    for (size_t i = 0; i < texts.labels.size(); ++i) {
      ++samples[{name, texts.labels[i]}];
      if (!texts.years.empty()) sample_years[{name, texts.labels[i]}].push_back(texts.years[i]);
    }
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
  // Highest (or lowest) score first, ties in the seed's order.
  auto rank = [&](bool highest_first) {
    SeededShuffle(order, spec.seed);
    std::stable_sort(order.begin(), order.end(),
                     [&](size_t a, size_t b) { return highest_first ? score[a] > score[b] : score[a] < score[b]; });
  };
  switch (spec.ordering) {
    case Ordering::kRandom:
      SeededShuffle(order, spec.seed);
      plan.score = "random";
      for (size_t k = 0; k < order.size(); ++k) score[order[k]] = static_cast<double>(k);
      break;
    case Ordering::kEasyToHard: {
      plan.score = "zero-shot top-1 of the base";
      const std::vector<double> top1 = BaseAccuracies(repo, base, spec.concepts, reporter);
      for (size_t i = 0; i < order.size(); ++i) score[i] = top1[i];
      rank(true);
      break;
    }
    case Ordering::kConceptFrequency: {
      const PretrainMentions mentions = CountPretrainMentions(repo, registry, base, spec);
      if (mentions.any) {
        plan.score = "mentions in the pretraining captions";
        // A concept named as often as another is the rarer with fewer samples.
        for (size_t i = 0; i < order.size(); ++i) score[i] = static_cast<double>(count_of(spec.concepts[i]));
        rank(false);
        for (size_t i = 0; i < order.size(); ++i) score[i] = static_cast<double>(mentions.counts[i]);
        std::stable_sort(order.begin(), order.end(), [&](size_t a, size_t b) { return score[a] < score[b]; });
        plan.notes.push_back(fmt::format(
            "concept-frequency counted the class names in the {} captions of the base's pretraining data ({}); ties "
            "go to the concept with fewer training samples",
            mentions.captions, fmt::join(mentions.selectors, ", ")));
      } else {
        plan.score = "training samples";
        for (size_t i = 0; i < order.size(); ++i) score[i] = static_cast<double>(count_of(spec.concepts[i]));
        rank(false);
        plan.notes.push_back(
            mentions.selectors.empty()
                ? std::string("concept-frequency ranked the concepts by their training samples: the base's line has "
                              "no pretraining data whose captions could be counted")
                : fmt::format("concept-frequency ranked the concepts by their training samples: no caption of the "
                              "base's pretraining data ({}) names one",
                              fmt::join(mentions.selectors, ", ")));
      }
      break;
    }
    case Ordering::kConceptSimilarity: {
      plan.score = "cosine similarity to the previous concept";
      std::vector<core::ClassRef> refs;
      for (const auto& c : spec.concepts) refs.push_back({&registry.Get(c.dataset), c.class_index});
      const std::vector<std::vector<float>> embeddings = core::ClassTextEmbeddings(repo, base, refs);
      SeededShuffle(order, spec.seed);  // the seed picks the start
      std::vector<double> similarity;
      const std::vector<size_t> path = SimilarityPath(embeddings, order.front(), &similarity);
      order = path;
      for (size_t k = 0; k < path.size(); ++k) score[path[k]] = similarity[k];
      plan.notes.push_back(fmt::format(
          "concept-similarity walked from '{}' (drawn by the seed) to the nearest unvisited concept each step, by the "
          "base {}'s prompt-averaged text embeddings",
          spec.concepts[path.front()].name, ShortId(base)));
      break;
    }
    case Ordering::kTimeIncremental: {
      plan.score = "year";
      std::set<std::string> per_sample;
      for (size_t i = 0; i < order.size(); ++i) {
        const Concept& c = spec.concepts[i];
        auto years = sample_years.find({c.dataset, c.class_index});
        if (years != sample_years.end()) {
          // A concept's year is the (lower) median of its samples' years.
          std::vector<int> sorted = years->second;
          std::nth_element(sorted.begin(), sorted.begin() + (sorted.size() - 1) / 2, sorted.end());
          score[i] = sorted[(sorted.size() - 1) / 2];
          per_sample.insert(c.dataset);
        } else if (const auto year = registry.Get(c.dataset).year) {
          score[i] = *year;
        } else {
          throw Error(NeedsYear(c.dataset));
        }
      }
      if (!per_sample.empty()) {
        plan.notes.push_back(fmt::format("time-incremental read a year per sample of {} (a concept's year is the "
                                         "median of its samples')",
                                         fmt::join(per_sample, ", ")));
      }
      rank(false);  // shuffled within a year
      break;
    }
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
