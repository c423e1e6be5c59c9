#include "cmd/command.hpp"

namespace fomo::cmd {

const std::vector<CommandInfo>& Commands() {
  static const std::vector<CommandInfo> kCommands = {
      {"init", "create a repository from a checkpoint or a built-in config", RepoAccess::kNone, SetupInit},
      // commit takes the write lock itself, once its inputs are known to be checkpoints.
      {"commit", "record checkpoints as the next versions", RepoAccess::kRead, SetupCommit},
      // Training, merging and evaluating take no lock while they work: the write lock
      // is held only to publish (train/publication.hpp); evaluations are rows in WAL mode.
      {"patch", "train a patch version (x.y.z+1) on new data", RepoAccess::kRead, SetupPatch},
      {"minor", "train a minor version (x.y+1.0) on new data", RepoAccess::kRead, SetupMinor},
      {"major", "train a major version (x+1.0.0) on new data", RepoAccess::kRead, SetupMajor},
      {"merge", "merge versions in weight space", RepoAccess::kRead, SetupMerge},
      {"stream", "plan and run a stream of updates from a stream file", RepoAccess::kRead, SetupStream},
      {"plot", "draw accumulation against retention, or a metric over versions", RepoAccess::kRead, SetupPlot},
      {"log", "show the version history", RepoAccess::kRead, SetupLog},
      {"show", "show one version", RepoAccess::kRead, SetupShow},
      {"diff", "compare two versions", RepoAccess::kRead, SetupDiff},
      {"export", "write a version as a checkpoint or model directory", RepoAccess::kRead, SetupExport},
      {"eval", "evaluate versions and store the results", RepoAccess::kRead, SetupEval},
      {"embed", "image and text features of a version", RepoAccess::kRead, SetupEmbed},
      {"tag", "list, create or delete tags", RepoAccess::kWrite, SetupTag},
      {"branch", "list, create or delete branches", RepoAccess::kWrite, SetupBranch},
      {"reset", "move the current branch to another version", RepoAccess::kWrite, SetupReset},
      {"switch", "move HEAD to a branch or version", RepoAccess::kWrite, SetupSwitch},
      {"status", "where HEAD is and how big the repository is", RepoAccess::kRead, SetupStatus},
      {"du", "bytes each version added and shares, and what gc would free", RepoAccess::kRead, SetupDu},
      {"remote", "list, add or remove the remotes versions travel to", RepoAccess::kRead, SetupRemote},
      {"clone", "make a repository from a remote's versions", RepoAccess::kNone, SetupClone},
      // push writes the remote, under the remote's lock; here only release marks.
      {"push", "send versions to a remote", RepoAccess::kRead, SetupPush},
      {"fetch", "bring a remote's versions here", RepoAccess::kWrite, SetupFetch},
      {"pull", "fetch, then fast-forward the current branch", RepoAccess::kWrite, SetupPull},
      {"gc", "remove objects no version needs", RepoAccess::kWrite, SetupGc},
      {"fsck", "verify objects, graph and database", RepoAccess::kRead, SetupFsck},
      {"completion", "print a bash or zsh completion script", RepoAccess::kNone, SetupCompletion},
      {"tokenize", "print CLIP token ids of texts", RepoAccess::kNone, SetupTokenize},
  };
  return kCommands;
}

}  // namespace fomo::cmd
