// init and commit evaluate the version they made on the repository's suites,
// unless --no-eval. An evaluation that cannot run (no dataset, a model whose
// vocabulary is not CLIP's) leaves the version committed and says why.
#pragma once

#include "cmd/command.hpp"

namespace fomo::cmd {

void EvaluateNewVersion(Context& ctx, Repository& repo, const CommitId& commit);

// For diff and log --metrics: measures on the suites whatever is not stored yet for
// these versions, so the numbers compared were measured the same way. Takes the
// write lock; failures become notes, as above.
void EvaluateMissing(Context& ctx, Repository& repo, const std::vector<CommitId>& commits);

}  // namespace fomo::cmd
