#include "train/history.hpp"

#include <algorithm>

#include <nlohmann/json.hpp>

namespace fomo::train {

namespace {

nlohmann::json ReadJson(const Graph& graph, const CommitId& commit, const std::string& name) {
  auto text = graph.ReadFile(commit, name);
  if (!text) return nlohmann::json::object();
  auto parsed = nlohmann::json::parse(*text, nullptr, /*allow_exceptions=*/false);
  return parsed.is_object() ? parsed : nlohmann::json::object();
}

std::vector<std::string> Strings(const nlohmann::json& value) {
  std::vector<std::string> out;
  if (!value.is_array()) return out;
  for (const auto& item : value) {
    if (item.is_string()) out.push_back(item.get<std::string>());
  }
  return out;
}

}  // namespace

LineHistory ReadLineHistory(const Graph& graph, const CommitId& from) {
  LineHistory history;
  std::vector<std::vector<std::string>> updates_newest_first;
  CommitId commit = from;
  while (true) {
    const nlohmann::json recipe = ReadJson(graph, commit, "recipe.json");
    const nlohmann::json info = ReadJson(graph, commit, "version.json");
    if (info.value("kind", "") == "train") {
      updates_newest_first.push_back(Strings(recipe.value("data", nlohmann::json())));
      ++history.task_index;
    }
    if (!history.merge_anchor && recipe.contains("merge") && recipe["merge"].is_object()) {
      const auto& anchor = recipe["merge"].value("anchor_commit", nlohmann::json());
      if (anchor.is_string()) history.merge_anchor = anchor.get<std::string>();
    }
    if (history.pretrain.empty()) history.pretrain = Strings(recipe.value("pretrain", nlohmann::json()));
    const CommitInfo c = graph.ReadCommit(commit);
    if (c.parents.empty()) break;
    commit = c.parents.front();
  }
  history.anchor = commit;
  for (auto it = updates_newest_first.rbegin(); it != updates_newest_first.rend(); ++it) {
    for (const auto& selector : *it) {
      if (std::find(history.updates.begin(), history.updates.end(), selector) == history.updates.end()) {
        history.updates.push_back(selector);
      }
    }
  }
  return history;
}

std::vector<StreamStep> ReadStreamSteps(const Graph& graph, const std::string& name) {
  std::vector<StreamStep> steps;
  std::optional<CommitId> at = graph.BranchTarget("stream/" + name);
  while (at) {
    const nlohmann::json recipe = ReadJson(graph, *at, "recipe.json");
    const nlohmann::json stream = recipe.value("stream", nlohmann::json::object());
    if (!stream.is_object() || stream.value("name", "") != name || stream.contains("reference")) break;
    steps.push_back({*at, stream});
    const auto parents = graph.ReadCommit(*at).parents;
    at = parents.empty() ? std::nullopt : std::optional<CommitId>(parents.front());
  }
  std::reverse(steps.begin(), steps.end());
  return steps;
}

std::string JointBranch(const std::string& name) { return "stream-joint/" + name; }

std::optional<StreamStep> ReadStreamJoint(const Graph& graph, const std::string& name) {
  const std::optional<CommitId> tip = graph.BranchTarget(JointBranch(name));
  if (!tip) return std::nullopt;
  const nlohmann::json stream = ReadJson(graph, *tip, "recipe.json").value("stream", nlohmann::json::object());
  if (!stream.is_object() || stream.value("name", "") != name || stream.value("reference", "") != "joint") {
    return std::nullopt;  // the branch is made before its version: none trained yet
  }
  return StreamStep{*tip, stream};
}

}  // namespace fomo::train
