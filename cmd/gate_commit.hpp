// Committing behind a --require gate (patch, minor, major, merge): the version is
// written to pending/<version> without its tag, evaluated (and its parent where the
// parent lacks a suite), then tagged and put on the line, or moved to
// rejected/<version> with exit code 3.
#pragma once

#include <string>
#include <vector>

#include "cmd/command.hpp"
#include "storage/versions.hpp"

namespace fomo::cmd {

// The branch a new version on top of first_parent joins: HEAD's branch when
// first_parent is its tip, otherwise a new fork/<version> (the line keeps its
// history).
std::string LineFor(const Graph& graph, const CommitId& first_parent, const SemVer& version);

// "rejected/v1.2.0", or "rejected/v1.2.0-2" when that is taken.
std::string FreeBranchName(const Graph& graph, const std::string& base);

// Parses require and refuses (a usage error, before any work) a name that no
// evaluation of the new version will measure: the suites' datasets, with the test
// split of `training` when the adaptation suite is automatic.
void CheckGateMeasurable(const Repository& repo, const std::string& require, const std::vector<std::string>& training);

class GatedCommit {
 public:
  // require: the expression (empty: no gate); line: the branch the version joins.
  GatedCommit(std::string require, std::string line) : require_(std::move(require)), line_(std::move(line)) {}
  bool gated() const { return !require_.empty(); }

  // Points the draft at the line, or at pending/ without a tag.
  void Prepare(const Graph& graph, VersionDraft& draft) const;
  // Evaluates the new version (unless no_eval and ungated) and its parent, applies
  // the gate; returns 0, or 3 with the version on rejected/. status: "committed"
  // or "rejected"; verdict (for --json): the expression, passed, its values, the
  // branch the version is on; null without a gate.
  int Finish(Context& ctx, Repository& repo, const StoredVersion& made, const CommitId& parent,
             const CommitId& anchor, bool no_eval, std::string* status, nlohmann::json* verdict) const;

 private:
  std::string require_;
  std::string line_;
};

}  // namespace fomo::cmd
