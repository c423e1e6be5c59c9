// Trainings on disk: each `fomo patch|minor|major` keeps its saved options
// (run.json) and its resumable state (state.safetensors) in .fomo/train/run-<id>/
// and holds run-<id>/lock while its process lives, so several trainings can run
// at once (other branches, other versions) and one whose lock is free was
// interrupted and waits for --resume or --abort.
#pragma once

#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "storage/lock.hpp"

namespace fomo {

namespace fs = std::filesystem;

struct TrainingRunDir {
  fs::path dir;
  nlohmann::json run = nlohmann::json::object();  // run.json; null when unreadable
  bool running = false;                           // its process holds the lock
  std::string pid;                                // of that process, when running

  fs::path run_file() const { return dir / "run.json"; }
  fs::path state_file() const { return dir / "state.safetensors"; }
  fs::path lock_file() const { return dir / "lock"; }
  std::string level() const;
  // The branch the run's version is to join; empty when it forks.
  std::string line() const;
  // "fomo minor on main from 1a2b3c4d5e (run 12)"
  std::string Describe() const;
};

// Every run directory in .fomo/train, oldest first. A run saved by a fomo before
// run directories (.fomo/train/run.json) is moved into one first, when it can be.
std::vector<TrainingRunDir> ListTrainingRuns(const fs::path& fomo_dir);

// Creates .fomo/train/run-<id> and claims it for this process (the lock is held
// until the returned object goes).
std::unique_ptr<RepoLock> ClaimNewTrainingRun(const fs::path& fomo_dir, int64_t run_id, TrainingRunDir* created);

// Claims an interrupted run to continue or drop it; throws when another process
// took it meanwhile.
std::unique_ptr<RepoLock> ClaimTrainingRun(const TrainingRunDir& run);

}  // namespace fomo
