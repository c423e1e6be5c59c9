// What a line of versions was trained on, read back from the recipes in the graph:
// the base's pretraining data (replay), every earlier update's data (the buffer)
// the task index the meta schedules need, and the tasks a stream has done. No
// LibTorch here.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "storage/graph.hpp"

namespace fomo::train {

struct LineHistory {
  CommitId anchor;                   // the root version of the line
  // The anchor (theta_0) the newest merge-based update on the line merged with or
  // trained from, when it named one with --anchor; later updates keep it.
  std::optional<CommitId> merge_anchor;
  std::vector<std::string> pretrain;  // selectors the base was pretrained on
  std::vector<std::string> updates;   // earlier updates' selectors, oldest first, unique
  int64_t task_index = 0;             // training updates on the line since the anchor
};

// Follows first parents from `from` (inclusive) to the root.
LineHistory ReadLineHistory(const Graph& graph, const CommitId& from);

// A task of a stream as its version records it.
struct StreamStep {
  CommitId commit;
  nlohmann::json stream;  // the recipe's "stream": name, task, tasks, concepts, ...
};
// The tasks stream NAME has done: the first parents of stream/NAME whose recipe
// names the stream, oldest first.
std::vector<StreamStep> ReadStreamSteps(const Graph& graph, const std::string& name);

// The joint-training reference of stream NAME (fomo stream run --joint): one
// update from the stream's base on every task's data, on its own branch so the
// stream's line stays a line of tasks.
std::string JointBranch(const std::string& name);  // "stream-joint/NAME"
std::optional<StreamStep> ReadStreamJoint(const Graph& graph, const std::string& name);

}  // namespace fomo::train
