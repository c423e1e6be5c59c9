// The repository write lock: an flock on .fomo/lock, released by the kernel when
// the holder exits, however it exits. A second writer waits, saying so once, and
// gives up after a timeout (FOMO_LOCK_TIMEOUT seconds, default 60). Writers hold
// it only while they change refs, objects or rows that others read: a training
// holds it for its publish step, not for its hours of training.
//
// The same flock marks a training run as alive (.fomo/train/<run>/lock, TryAcquire).
#pragma once

#include <chrono>
#include <filesystem>
#include <optional>
#include <memory>

namespace fomo {

namespace fs = std::filesystem;

class RepoLock {
 public:
  RepoLock(const fs::path& path, double timeout_seconds, bool quiet);
  ~RepoLock();
  RepoLock(const RepoLock&) = delete;
  RepoLock& operator=(const RepoLock&) = delete;

  // The lock if no one holds it, else null (without waiting).
  static std::unique_ptr<RepoLock> TryAcquire(const fs::path& path);
  // Whether some process holds the lock on path now.
  static bool Held(const fs::path& path);
  static double DefaultTimeout();

 private:
  RepoLock() = default;
  int fd_ = -1;
  std::optional<std::chrono::steady_clock::time_point> acquired_;  // the repository lock, for -v
};

}  // namespace fomo
