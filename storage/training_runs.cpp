#include "storage/training_runs.hpp"

#include <algorithm>
#include <system_error>

#include <fmt/format.h>

#include "storage/atomic_file.hpp"
#include "storage/error.hpp"
#include "storage/graph.hpp"

namespace fomo {

namespace {

fs::path TrainDir(const fs::path& fomo_dir) { return fomo_dir / "train"; }

// Runs from before run directories kept run.json in .fomo/train itself.
void MoveLegacyRun(const fs::path& fomo_dir) {
  const fs::path train = TrainDir(fomo_dir);
  if (!fs::exists(train / "run.json")) return;
  std::error_code ec;
  const fs::path moved = train / "run-0";
  fs::create_directories(moved, ec);
  if (ec) return;  // a read-only repository shows what it can
  for (const char* name : {"state.safetensors", "run.json"}) {
    if (fs::exists(train / name)) fs::rename(train / name, moved / name, ec);
  }
}

std::string ReadPid(const fs::path& lock_file) {
  std::error_code ec;
  if (!fs::exists(lock_file, ec)) return "";
  try {
    std::string pid = ReadFileToString(lock_file);
    while (!pid.empty() && (pid.back() == '\n' || pid.back() == ' ')) pid.pop_back();
    return pid;
  } catch (const Error&) {
    return "";
  }
}

}  // namespace

std::string TrainingRunDir::level() const { return run.is_object() ? run.value("level", "") : ""; }

std::string TrainingRunDir::line() const { return run.is_object() ? run.value("line", "") : ""; }

std::string TrainingRunDir::Describe() const {
  const std::string from = run.is_object() ? run.value("from", "") : "";
  return fmt::format("fomo {} {} from {} ({})", level().empty() ? "update" : level(),
                     line().empty() ? "off any branch" : "on " + line(), ShortId(from), dir.filename().string());
}

std::vector<TrainingRunDir> ListTrainingRuns(const fs::path& fomo_dir) {
  MoveLegacyRun(fomo_dir);
  std::vector<TrainingRunDir> runs;
  std::error_code ec;
  for (fs::directory_iterator it(TrainDir(fomo_dir), ec), end; !ec && it != end; it.increment(ec)) {
    if (!it->is_directory() || it->path().filename().string().rfind("run-", 0) != 0) continue;
    TrainingRunDir run;
    run.dir = it->path();
    if (!fs::exists(run.run_file())) {
      // Claimed a moment ago, run.json not yet written; or an empty leftover.
      run.running = RepoLock::Held(run.lock_file());
      if (!run.running) continue;
      run.run = nullptr;
    } else {
      try {
        run.run = nlohmann::json::parse(ReadFileToString(run.run_file()), nullptr, false);
      } catch (const Error&) {
        run.run = nullptr;
      }
      if (run.run.is_discarded()) run.run = nullptr;
      run.running = RepoLock::Held(run.lock_file());
    }
    if (run.running) run.pid = ReadPid(run.lock_file());
    runs.push_back(std::move(run));
  }
  auto number = [](const TrainingRunDir& r) {
    try {
      return std::stoll(r.dir.filename().string().substr(4));
    } catch (...) {
      return 0LL;
    }
  };
  std::sort(runs.begin(), runs.end(), [&](const auto& a, const auto& b) { return number(a) < number(b); });
  return runs;
}

std::unique_ptr<RepoLock> ClaimNewTrainingRun(const fs::path& fomo_dir, int64_t run_id, TrainingRunDir* created) {
  TrainingRunDir run;
  run.dir = TrainDir(fomo_dir) / fmt::format("run-{}", run_id);
  fs::create_directories(run.dir);
  auto lock = RepoLock::TryAcquire(run.lock_file());
  if (!lock) throw Error(fmt::format("training run directory '{}' is in use by another process", run.dir.string()));
  run.running = true;
  *created = run;
  return lock;
}

std::unique_ptr<RepoLock> ClaimTrainingRun(const TrainingRunDir& run) {
  auto lock = RepoLock::TryAcquire(run.lock_file());
  if (!lock) {
    throw Error(fmt::format("{} is running (pid {}); wait for it or stop it first", run.Describe(),
                            ReadPid(run.lock_file())));
  }
  return lock;
}

}  // namespace fomo
