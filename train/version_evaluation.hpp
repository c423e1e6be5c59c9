// The evaluations fomo runs on its own: a new version on the repository's suites
// (init, commit, every update), and whatever diff and log --metrics compare that
// is not measured yet. An evaluation that cannot run (no dataset, a vocabulary
// that is not CLIP's) leaves the repository as it is and says why in a note.
#pragma once

#include <string>
#include <vector>

#include "storage/repository.hpp"
#include "train/reporter.hpp"

namespace fomo::train {

// fomo.yaml's suite selectors: suite is adaptation, retention or all.
std::vector<std::string> SuiteSelectors(const Repository& repo, const std::string& suite = "all");

// Evaluates the version just made on the suites and reports its top-1 and recall@5.
void EvaluateNewVersion(Repository& repo, const CommitId& commit, Reporter& reporter);

// Measures on the suites whatever is not stored yet for these versions, so the
// numbers compared were measured the same way. Takes no lock: evaluations are
// rows in fomo.sqlite, written in one transaction each.
void EvaluateMissing(Repository& repo, const std::vector<CommitId>& commits, Reporter& reporter);

}  // namespace fomo::train
