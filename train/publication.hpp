// Publishing a new version (patch, minor, major, merge): where it goes is settled
// under the write lock, which is held only for that (the training before it runs
// unlocked, so others read, evaluate, tag and train meanwhile).
//
// - Ungated, on a line still where the work started: the release (vX.Y.Z) joins
//   the line and is tagged.
// - The line moved meanwhile (another version landed on it): a candidate
//   vX.Y.Z-rc.N on pending/vX.Y.Z-rc.N; the line stays; exit 4 with how to merge
//   or rebase it.
// - Behind a --require gate: the candidate waits on pending/ while it is evaluated
//   (unlocked), then becomes the release on the line, or moves to
//   rejected/vX.Y.Z-rc.N with exit 3.
#pragma once

#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "storage/versions.hpp"
#include "train/reporter.hpp"

namespace fomo::train {

// "rejected/v1.2.0-rc.1", or "rejected/v1.2.0-rc.1-2" when that is taken.
std::string FreeBranchName(const Graph& graph, const std::string& base);

// Parses require and refuses (a usage error, before any work) a name that no
// evaluation of the new version will measure: the suites' datasets, with the test
// split of `training` when the adaptation suite is automatic.
void CheckGateMeasurable(const Repository& repo, const std::string& require, const std::vector<std::string>& training);

// The branch a version built on first_parent joins: HEAD's branch when
// first_parent is its tip now, else none (the version forks: fork/vX.Y.Z).
std::string LineAt(const Graph& graph, const CommitId& first_parent);

class Publication {
 public:
  struct Plan {
    std::string require;   // the gate; empty: none
    std::string line;      // LineAt when the work started; empty: fork
    CommitId first_parent;
    SemVer bumped_from;    // the version the new number bumps
    BumpLevel level = BumpLevel::kMinor;
  };
  explicit Publication(Plan plan) : plan_(std::move(plan)) {}
  bool gated() const { return !plan_.require.empty(); }

  // With the write lock held: numbers the draft and points it at its branch (see
  // above). The caller then commits it and lets the lock go.
  void Prepare(Repository& repo, VersionDraft& draft);
  // Evaluates the new version (unless no_eval and ungated) and its parent, applies
  // the gate, and settles a candidate under the lock. made becomes the release when
  // a candidate is promoted. Returns 0, 3 (rejected) or 4 (pending). status:
  // "committed", "rejected" or "pending"; verdict (for --json): the gate's
  // expression, passed, its values, the branch; null without a gate.
  int Finish(Repository& repo, StoredVersion& made, const CommitId& anchor, bool no_eval, Reporter& reporter,
             std::string* status, nlohmann::json* verdict);
  // The branch the version was committed to.
  const std::string& branch() const { return branch_; }

 private:
  bool LineMoved(const Graph& graph) const;
  int Pending(Repository& repo, const StoredVersion& made, Reporter& reporter, std::string* status) const;

  Plan plan_;
  std::string branch_;
  bool moved_ = false;  // the line had moved at Prepare
};

}  // namespace fomo::train
