#include "core/evaluation.hpp"

#include <algorithm>
#include <cmath>
#include <ctime>
#include <map>
#include <set>

#include <fmt/format.h>

#include "core/checkpoint.hpp"
#include "core/tokenizer.hpp"
#include "core/torch_api.hpp"
#include "storage/error.hpp"
#include "storage/trace.hpp"
#include "storage/sha256.hpp"
#include "storage/versions.hpp"
#include "storage/yaml_text.hpp"

namespace fomo::core {

namespace {

// Bumped when preprocessing or scoring changes, so old rows are re-measured.
constexpr const char* kEvalVersion = "clip-zero-shot-v1";

std::vector<std::string> SelectorList(const YAML::Node& node, const std::string& what, const std::string& origin) {
  if (!node) return {};
  if (!node.IsSequence()) throw Error(fmt::format("{}: line {}: {} must be a list of selectors", origin, node.Mark().line + 1, what));
  std::vector<std::string> out;
  for (const auto& item : node) out.push_back(item.as<std::string>());
  return out;
}

std::string ConfigHash(const DatasetSpec& spec, const Selector& selector, const ClipConfig& config,
                       const EvalSettings& settings) {
  nlohmann::json j = {{"eval", kEvalVersion},
                      {"selector", selector.Canonical()},
                      {"path", spec.path.string()},
                      {"classes", spec.classes},
                      {"templates", spec.templates},
                      {"seed", settings.seed},
                      {"image_size", config.image_size}};
  std::string text = j.dump();
  Sha256 sha;
  sha.Update(text.data(), text.size());
  return sha.Finish().Hex().substr(0, 16);
}

}  // namespace

Suites Suites::FromYaml(const YAML::Node& document, const std::string& origin) {
  return WithYamlOrigin(origin, [&] {
    Suites suites;
    const YAML::Node node = document.IsMap() ? document["suites"] : YAML::Node();
    if (!node || node.IsNull()) {
      suites.retention = {"fmnist"};
      return suites;
    }
    suites.adaptation_auto = false;
    if (!node.IsMap()) throw Error(fmt::format("{}: 'suites' must be a mapping", origin));
    for (const auto& item : node) {
      std::string key = item.first.as<std::string>();
      if (key == "adaptation") {
        if (item.second.IsScalar() && item.second.as<std::string>() == "auto") {
          suites.adaptation_auto = true;
          continue;
        }
        suites.adaptation = SelectorList(item.second, "suites.adaptation", origin);
      } else if (key == "retention") {
        suites.retention = SelectorList(item.second, "suites.retention", origin);
      } else {
        throw Error(fmt::format("{}: line {}: unknown suite '{}' (adaptation, retention)", origin,
                                item.first.Mark().line + 1, key));
      }
    }
    return suites;
  });
}

std::string TestSplitOf(const std::string& training_selector, const DatasetRegistry& registry) {
  Selector selector = Selector::Parse(training_selector, registry);
  selector.split = "test";
  selector.cap = 0;
  return selector.WithoutSplit();
}

namespace {

// The selectors a version's recipe trained on, as the test split of each (empty
// for versions that did not train, and for data no longer in fomo.yaml).
std::vector<std::string> TrainedOn(const Graph& graph, const CommitId& commit, const DatasetRegistry& registry) {
  std::vector<std::string> selectors;
  auto text = graph.ReadFile(commit, "recipe.json");
  if (!text) return selectors;
  auto recipe = nlohmann::json::parse(*text, nullptr, false);
  if (!recipe.is_object() || !recipe.contains("data") || !recipe["data"].is_array()) return selectors;
  for (const auto& item : recipe["data"]) {
    if (!item.is_string()) continue;
    try {
      selectors.push_back(TestSplitOf(item.get<std::string>(), registry));
    } catch (const Error&) {
      // a dataset no longer registered in fomo.yaml
    }
  }
  return selectors;
}

void AddNew(std::vector<std::string>& to, const std::vector<std::string>& from, const std::vector<std::string>& except) {
  for (const auto& s : from) {
    if (std::find(to.begin(), to.end(), s) == to.end() && std::find(except.begin(), except.end(), s) == except.end()) {
      to.push_back(s);
    }
  }
}

}  // namespace

SuiteHistory::SuiteHistory(const Repository& repo)
    : repo_(repo),
      configured_(Suites::FromYaml(repo.config().document, "fomo.yaml")),
      registry_(DatasetRegistry::FromYaml(repo.config().document, "fomo.yaml")) {}

const std::vector<std::string>& SuiteHistory::Taught(const CommitId& start) {
  // Depth first without recursion: a commit's list is its first parent's, then
  // what its other parents add, then its own data.
  std::vector<CommitId> stack = {start};
  std::map<CommitId, std::vector<CommitId>> parents;
  while (!stack.empty()) {
    const CommitId commit = stack.back();
    if (taught_.count(commit)) {
      stack.pop_back();
      continue;
    }
    if (!parents.count(commit)) parents[commit] = repo_.graph().ReadCommit(commit).parents;
    bool ready = true;
    for (const auto& p : parents[commit]) {
      if (!taught_.count(p)) {
        stack.push_back(p);
        ready = false;
      }
    }
    if (!ready) continue;
    std::vector<std::string> list;
    for (const auto& p : parents[commit]) AddNew(list, taught_[p], configured_.retention);
    AddNew(list, TrainedOn(repo_.graph(), commit, registry_), configured_.retention);
    taught_[commit] = std::move(list);
    stack.pop_back();
  }
  return taught_[start];
}

Suites SuiteHistory::AsMade(const CommitId& commit) {
  Suites suites = configured_;
  if (suites.adaptation_auto) AddNew(suites.adaptation, Taught(commit), suites.retention);
  return suites;
}

Suites Suites::ForRepository(const Repository& repo) {
  const auto& doc = repo.config().document;
  Suites suites = FromYaml(doc, "fomo.yaml");
  if (!suites.adaptation_auto) return suites;
  DatasetRegistry registry = DatasetRegistry::FromYaml(doc, "fomo.yaml");
  // Oldest first, so the suite lists datasets in the order they were taught.
  auto commits = repo.graph().ReachableCommits();
  std::reverse(commits.begin(), commits.end());
  for (const auto& commit : commits) AddNew(suites.adaptation, TrainedOn(repo.graph(), commit, registry), suites.retention);
  return suites;
}

EvalSettings EvalSettings::FromYaml(const YAML::Node& document, const std::string& origin) {
  return WithYamlOrigin(origin, [&] {
    EvalSettings settings;
    const YAML::Node node = document.IsMap() ? document["eval"] : YAML::Node();
    if (!node || node.IsNull()) return settings;
    if (!node.IsMap()) throw Error(fmt::format("{}: 'eval' must be a mapping", origin));
    for (const auto& item : node) {
      std::string key = item.first.as<std::string>();
      try {
        if (key == "batch_size") {
          settings.batch_size = item.second.as<int64_t>();
          if (settings.batch_size <= 0) throw Error("");
        } else if (key == "seed") {
          settings.seed = item.second.as<uint64_t>();
        } else {
          throw Error(fmt::format("{}: line {}: unknown key 'eval.{}'", origin, item.first.Mark().line + 1, key));
        }
      } catch (const YAML::Exception&) {
        throw Error(fmt::format("{}: line {}: eval.{} must be a positive integer", origin, item.second.Mark().line + 1, key));
      }
    }
    return settings;
  });
}

std::string MetricsKey(const std::string& dataset, const std::string& split) {
  if (split == "test") return dataset;
  size_t cap_at = dataset.find('#');
  std::string key = dataset;
  key.insert(cap_at == std::string::npos ? key.size() : cap_at, "@" + split);
  return key;
}

std::vector<std::string> MeasuredKeys(const Repository& repo, const std::vector<std::string>& training) {
  const auto& doc = repo.config().document;
  const DatasetRegistry registry = DatasetRegistry::FromYaml(doc, "fomo.yaml");
  Suites suites = Suites::ForRepository(repo);
  std::vector<std::string> selectors = suites.adaptation;
  selectors.insert(selectors.end(), suites.retention.begin(), suites.retention.end());
  if (suites.adaptation_auto) {
    for (const auto& s : training) selectors.push_back(TestSplitOf(s, registry));
  }
  std::vector<std::string> keys;
  for (const auto& text : selectors) {
    const Selector selector = Selector::Parse(text, registry);
    keys.push_back(MetricsKey(selector.WithoutSplit(), selector.split));
  }
  return keys;
}

std::vector<Selector> TrainedSelectors(const Repository& repo, const DatasetRegistry& registry, const CommitId& commit) {
  std::vector<Selector> trained;
  for (const auto& ancestor : repo.graph().Walk({commit})) {
    auto text = repo.graph().ReadFile(ancestor, "recipe.json");
    if (!text) continue;
    auto recipe = nlohmann::json::parse(*text, nullptr, false);
    if (!recipe.is_object()) continue;
    for (const char* key : {"data", "replay_data", "pretrain"}) {
      if (!recipe.contains(key) || !recipe[key].is_array()) continue;
      for (const auto& item : recipe[key]) {
        if (!item.is_string()) continue;
        try {
          trained.push_back(Selector::Parse(item.get<std::string>(), registry));
        } catch (const Error&) {
          // a dataset no longer in fomo.yaml reads nothing now
        }
      }
    }
  }
  return trained;
}

std::optional<std::string> TrainingOverlap(const std::vector<Selector>& trained, const DatasetRegistry& registry,
                                           const Selector& selector) {
  const fs::path source = SourceOf(registry.Get(selector.dataset), selector.split);
  const std::set<int> classes(selector.classes.begin(), selector.classes.end());
  for (const auto& t : trained) {
    if (SourceOf(registry.Get(t.dataset), t.split) != source) continue;
    // Class indices compare within one dataset; another name for the same files overlaps.
    bool meet = t.dataset != selector.dataset || classes.empty() || t.classes.empty();
    for (int c : t.classes) meet = meet || classes.count(c);
    if (meet) return t.Canonical();
  }
  return std::nullopt;
}

std::vector<EvalRecord> EvaluateVersions(Repository& repo, const std::vector<CommitId>& commits,
                                         const std::vector<std::string>& selectors, bool force,
                                         const EvalCallbacks& callbacks, OverlapPolicy overlap) {
  const auto& doc = repo.config().document;
  DatasetRegistry registry = DatasetRegistry::FromYaml(doc, "fomo.yaml");
  EvalSettings settings = EvalSettings::FromYaml(doc, "fomo.yaml");
  std::vector<Selector> parsed;
  for (const auto& text : selectors) parsed.push_back(Selector::Parse(text, registry));

  std::vector<EvalRecord> records;
  std::map<std::string, ImageSet> image_cache;
  for (const auto& commit : commits) {
    StoredVersion v = LoadVersion(repo.graph(), commit);
    ClipConfig config = ClipConfig::FromJsonText(v.config_json, "version config");
    std::vector<EvaluationRow> stored = repo.db().Evaluations(commit);
    std::optional<StoredWeights> weights;
    std::optional<std::vector<Selector>> trained;  // read once per version, when first needed
    for (const Selector& selector : parsed) {
      const DatasetSpec& spec = registry.Get(selector.dataset);
      const std::string hash = ConfigHash(spec, selector, config, settings);
      const std::string dataset = selector.WithoutSplit();
      const std::string key = MetricsKey(dataset, selector.split);
      std::vector<EvalRecord> found;
      for (const auto& row : stored) {
        if (row.dataset == dataset && row.split == selector.split && row.config_hash == hash) {
          found.push_back({commit, key, row.split, row.metric, row.value, true});
        }
      }
      if (!found.empty() && !force) {
        Trace(fmt::format("{} on {}: {} numbers stored, not measured again", v.version.Tag(), selector.Canonical(),
                          found.size()));
        records.insert(records.end(), found.begin(), found.end());
        continue;
      }
      if (overlap != OverlapPolicy::kAllow) {
        if (!trained) trained = TrainedSelectors(repo, registry, commit);
        if (auto same_images = TrainingOverlap(*trained, registry, selector)) {
          const std::string why = fmt::format(
              "{} (or an ancestor) was trained on '{}', which reads the same images as '{}' ('{}'): its numbers would "
              "measure memorisation; give the dataset its splits (a 'splits:' mapping or {{split}} in its path)",
              v.version.Tag(), *same_images, selector.Canonical(), SourceOf(spec, selector.split).string());
          if (overlap == OverlapPolicy::kRefuse) throw Error(why + ", or evaluate anyway with --allow-overlap");
          if (callbacks.on_notice) callbacks.on_notice("not evaluated: " + why);
          continue;
        }
      }
      if (callbacks.on_start) callbacks.on_start(fmt::format("{} on {}", v.version.Tag(), selector.Canonical()));
      // CLIP prompts end with token 49407: a smaller vocabulary cannot read them.
      if (config.vocab_size < static_cast<int64_t>(ClipTokenizer::Default().vocab_size())) {
        throw Error(fmt::format("{} has a vocabulary of {} tokens; CLIP text needs {}", v.version.Tag(),
                                config.vocab_size, ClipTokenizer::Default().vocab_size()));
      }
      if (!weights) {
        CheckManifest(v.manifest, config, v.version.Tag());
        weights = ReadWeights(repo.objects(), v.manifest, repo.config().storage.threads);
      }
      auto cached = image_cache.find(selector.Canonical());
      if (cached == image_cache.end()) {
        cached = image_cache.emplace(selector.Canonical(), LoadImages(spec, selector, settings.seed)).first;
      }
      const auto& tokenizer = ClipTokenizer::Default();
      // Every id fits: the vocabulary was checked against the tokenizer's above.
      auto tokenize = [&](const std::string& text, std::vector<int64_t>* out) {
        auto ids = tokenizer.EncodeContext(text, config.context_length);
        out->insert(out->end(), ids.begin(), ids.end());
      };
      const int64_t now = static_cast<int64_t>(std::time(nullptr));
      std::vector<EvaluationRow> rows;
      auto add = [&](const char* metric, double value) {
        rows.push_back({commit, dataset, selector.split, metric, value, hash, now});
      };
      if (spec.has_captions()) {
        RetrievalTask task;
        task.images = &cached->second;
        task.batch_size = settings.batch_size;
        task.progress = callbacks.on_progress;
        for (const auto& caption : cached->second.captions) tokenize(caption, &task.caption_tokens);
        RetrievalResult result = Torch().retrieval(config, weights->named, task);
        const char* i2t[3] = {"i2t@1", "i2t@5", "i2t@10"};
        const char* t2i[3] = {"t2i@1", "t2i@5", "t2i@10"};
        for (int k = 0; k < 3; ++k) add(i2t[k], result.image_to_text[k]);
        for (int k = 0; k < 3; ++k) add(t2i[k], result.text_to_image[k]);
        add("recall@5", (result.image_to_text[1] + result.text_to_image[1]) / 2);
      } else {
        ZeroShotTask task;
        task.images = &cached->second;
        task.num_classes = static_cast<int64_t>(spec.classes.size());
        task.num_templates = static_cast<int64_t>(spec.templates.size());
        task.batch_size = settings.batch_size;
        task.progress = callbacks.on_progress;
        for (const auto& name : spec.classes) {
          for (const auto& tmpl : spec.templates) tokenize(FillTemplate(tmpl, name), &task.prompt_tokens);
        }
        ZeroShotResult result = Torch().zero_shot(config, weights->named, task);
        add("top1", result.top1);
        add("top5", result.top5);
      }
      if (cached->second.skipped && callbacks.on_notice) {
        callbacks.on_notice(
            fmt::format("{}: {}", selector.Canonical(), cached->second.SkippedNote()));
      }
      repo.db().InsertEvaluations(rows);
      for (const auto& row : rows) records.push_back({commit, key, row.split, row.metric, row.value, false});
    }
  }
  return records;
}

nlohmann::json MetricsOf(const Repository& repo, const CommitId& commit) {
  return MetricsOf(repo, commit, SuiteHistory(repo).AsMade(commit));
}

nlohmann::json MetricsOf(const Repository& repo, const CommitId& commit, const Suites& suites) {
  return MetricsOf(repo, commit, suites, DatasetRegistry::FromYaml(repo.config().document, "fomo.yaml"));
}

nlohmann::json MetricsOf(const Repository& repo, const CommitId& commit, const Suites& suites,
                         const DatasetRegistry& registry) {
  nlohmann::json datasets = nlohmann::json::object();
  // Latest row per (dataset, split, metric); split other than test shows in the key.
  for (const auto& row : repo.db().Evaluations(commit)) {
    datasets[MetricsKey(row.dataset, row.split)][row.metric] = row.value;
  }
  auto mean_top1 = [&](const std::vector<std::string>& selectors) -> nlohmann::json {
    if (selectors.empty()) return nullptr;
    double sum = 0;
    for (const auto& text : selectors) {
      Selector selector = Selector::Parse(text, registry);
      std::string key = MetricsKey(selector.WithoutSplit(), selector.split);
      // A dataset's score: top-1 accuracy, or recall@5 for caption datasets.
      const char* metric = registry.Get(selector.dataset).has_captions() ? "recall@5" : "top1";
      if (!datasets.contains(key) || !datasets[key].contains(metric)) return nullptr;
      sum += datasets[key][metric].get<double>();
    }
    return sum / static_cast<double>(selectors.size());
  };
  nlohmann::json adaptation = mean_top1(suites.adaptation), retention = mean_top1(suites.retention);
  nlohmann::json gm = nullptr;
  if (adaptation.is_number() && retention.is_number()) {
    gm = std::sqrt(adaptation.get<double>() * retention.get<double>());
  }
  return {{"datasets", datasets}, {"summary", {{"adaptation", adaptation}, {"retention", retention}, {"gm", gm}}}};
}

}  // namespace fomo::core
