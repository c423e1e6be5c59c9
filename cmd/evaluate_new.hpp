// init and commit evaluate the version they made on the repository's suites,
// unless --no-eval. An evaluation that cannot run (no dataset, a model whose
// vocabulary is not CLIP's) leaves the version committed and says why.
#pragma once

#include "cmd/command.hpp"

namespace fomo::cmd {

void EvaluateNewVersion(Context& ctx, Repository& repo, const CommitId& commit);

}  // namespace fomo::cmd
