// How versions are presented: the `fomo show --json` object of the scripting
// contract (PRODUCT.md), which `fomo log --json` lists, and git-style decorations.
#pragma once

#include <map>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "storage/versions.hpp"

namespace fomo::cmd {

struct RefNames {
  std::map<CommitId, std::vector<std::string>> tags;
  std::map<CommitId, std::vector<std::string>> branches;
  std::optional<std::string> head_branch;
  std::optional<CommitId> head;

  static RefNames Collect(const Graph& graph);
};

// measured: {"datasets": ..., "summary": ...} from the database (core::MetricsOf).
nlohmann::json VersionJson(const StoredVersion& version, const RefNames& refs,
                           const nlohmann::json& measured = nlohmann::json::object());
// "(HEAD -> main, tag: v1.0.1)"; empty when no ref points here.
std::string Decorations(const CommitId& commit, const RefNames& refs);
// One line per tensor: name, dtype, shape, encoding, stored size, object id.
void PrintTensorTable(const Manifest& manifest);
// The line every command that makes a version prints (init, commit, patch, minor,
// major, merge): "v1.1.0 1a2b3c4d5e MESSAGE (on main): DETAILS, 1.4 MiB stored for
// 14.0 MiB raw"; details may be empty, branch empty for none.
std::string VersionLine(const StoredVersion& version, const std::string& branch, const std::string& details);
// Human summary of a budget, or "" when nothing was trained.
std::string BudgetLine(const Budget& budget);

}  // namespace fomo::cmd
