// A stream of updates (continual-pretraining.md, sections 1 and 6): a YAML file
// naming concepts (the classes of dataset selectors), how many tasks they are cut
// into, the order they come in, and what each task runs. This file reads such a
// file and plans it (`fomo stream plan`): the ordered concepts, the tasks, each
// task's data and budget, and what the plan warns about. No LibTorch here.
#pragma once

#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "core/dataset.hpp"
#include "storage/repository.hpp"
#include "storage/semver.hpp"
#include "train/reporter.hpp"
#include "train/update_options.hpp"

namespace fomo::train {

namespace fs = std::filesystem;

enum class Ordering {
  kRandom,              // a seeded shuffle
  kEasyToHard,          // the base version's per-class zero-shot top-1, highest first
  kConceptFrequency,    // rarest first: mentions in the pretraining captions, else training samples
  kConceptSimilarity,   // a greedy nearest-neighbour walk through the base's class text embeddings
  kTimeIncremental,     // by year (the dataset's in fomo.yaml, or its samples'), seeded shuffle within a year
  kDatasetIncremental,  // whole datasets in the order given, one task each
};
std::string_view OrderingName(Ordering ordering);

struct Concept {
  std::string dataset;
  int class_index = 0;
  std::string name;
};

struct StreamSpec {
  std::string name;           // the branch is stream/NAME
  std::string base = "HEAD";  // the version the stream starts from
  std::vector<std::string> concept_selectors;
  std::vector<Concept> concepts;  // every class the selectors name, in their order
  int64_t tasks = 0;              // 0 for dataset-incremental: one task per dataset
  Ordering ordering = Ordering::kRandom;
  uint64_t seed = 0;
  bool reverse = false;
  BumpLevel level = BumpLevel::kMinor;
  UpdateOptions update;  // the level's defaults (built in, fomo.yaml), then the file's; buffer: {reservoir: N}
                         // sets update.buffer_reservoir
  std::optional<double> total_flops;  // update.total_budget: split evenly over the tasks

  // Reads a stream file; throws fomo::Error naming the file, the line and the
  // problem (an unknown key, a dataset fomo.yaml lacks, more tasks than concepts).
  static StreamSpec Load(const fs::path& file, const Repository& repo);
  static StreamSpec Parse(const std::string& text, const std::string& origin, const Repository& repo);
};

// Concept indices 0..concepts-1 cut into `tasks` contiguous runs of equal size,
// the first tasks taking one more each while a remainder lasts.
std::vector<std::vector<size_t>> CutIntoTasks(size_t concepts, size_t tasks);

struct StreamTask {
  int index = 0;  // 0-based; the versions' recipes record it
  std::vector<Concept> concepts;
  std::vector<std::string> data;  // training selectors, a dataset each
  int64_t samples = 0;            // training images of its concepts
  BudgetRequest budget;
  std::vector<std::string> warnings;
};

struct StreamPlan {
  StreamSpec spec;
  std::vector<Concept> ordered;
  std::vector<double> scores;  // what decided each ordered concept's place
  std::string score;           // what the scores are: "training samples", "year", "random", ...
  std::vector<StreamTask> tasks;
  std::vector<std::string> notes;

  nlohmann::json ToJson() const;
};

// Orders the concepts and cuts the tasks; the seed, the base version and the
// repository's data fix the result. easy-to-hard evaluates the base on each
// concept (kept in fomo.sqlite, so a second plan reads them).
StreamPlan PlanStream(Repository& repo, const StreamSpec& spec, Reporter& reporter);

// How often `name` occurs in `text` as whole words, ignoring case: "shirt" in
// "a T-shirt/top" once, in "shirts" not.
int64_t CountMentions(const std::string& text, const std::string& name);

// The greedy nearest-neighbour path through unit vectors from `start`: each next
// the unvisited vector of highest cosine with the current (the lower index on a
// tie). similarity[k] is the cosine of path[k] with path[k-1] (1 for the start).
std::vector<size_t> SimilarityPath(const std::vector<std::vector<float>>& unit, size_t start,
                                   std::vector<double>* similarity);

}  // namespace fomo::train
