// One update of a line (fomo patch, minor, major): planned from the line's
// history and fomo.yaml, trained resumably (train/training_job.hpp), merged in
// weight space when its options say so, committed and published under the write
// lock (train/publication.hpp), evaluated and gated. The commands are thin over
// it (cmd/update.cpp); a stream runs it once per task.
#pragma once

#include <memory>
#include <string>

#include <nlohmann/json.hpp>

#include "storage/lock.hpp"
#include "storage/semver.hpp"
#include "storage/training_runs.hpp"
#include "storage/versions.hpp"
#include "train/reporter.hpp"
#include "train/update_options.hpp"

namespace fomo::train {

struct UpdateRequest {
  BumpLevel level = BumpLevel::kMinor;
  // A new update: its options resolved from fomo.yaml and the caller's.
  UpdateOptions options;
  std::string from;    // the version to train from; empty: HEAD
  std::string anchor;  // theta_0 of the merge strategies; empty: the line's
  std::string dtype;   // the committed dtype; empty: the parent's
  std::string message;
  std::string require;  // the gate; empty: none
  bool no_eval = false;
  // The branch the update advances (its tip must be `from`); empty: HEAD's
  // branch when `from` is its tip, else a fork. With resume: the interrupted
  // update of that branch.
  std::string line;
  // Recorded in the version's recipe as "stream" (a stream's name and task).
  nlohmann::json stream;
  // Instead: finish the interrupted update of this level, with its saved plan.
  bool resume = false;
};

struct UpdateResult {
  int exit_code = 0;       // 0, 3 (rejected by the gate) or 4 (pending)
  std::string status;      // "committed", "rejected" or "pending"
  nlohmann::json verdict;  // the gate's, null without one
  CommitId made;           // the version, as it ended up (a promoted candidate's release)
};

class Update {
 public:
  // Plans the update: checks what can be checked before any training (the
  // revisions, the gate's names, an interrupted update waiting on the line) and
  // claims its run directory in .fomo/train. Throws fomo::Error otherwise.
  Update(Repository& repo, UpdateRequest request);
  ~Update();
  Update(const Update&) = delete;
  Update& operator=(const Update&) = delete;

  // Trains, commits, publishes and evaluates. Ctrl-C leaves a resumable state
  // and throws an Error with the signal's exit code; a failed run is dropped.
  UpdateResult Run(Reporter& reporter);

 private:
  Repository& repo_;
  UpdateRequest request_;
  std::string level_name_;
  nlohmann::json run_;  // the plan, as saved in the run directory
  TrainingRunDir dir_;
  std::unique_ptr<RepoLock> claimed_;  // held while this process runs the update
};

// Drops the interrupted update of this level (fomo minor --abort).
void AbortUpdate(Repository& repo, BumpLevel level, Reporter& reporter);
// Drops one waiting run: its directory, and its row in fomo.sqlite marked status.
void DropInterruptedRun(Repository& repo, const TrainingRunDir& run, const std::string& status);

}  // namespace fomo::train
