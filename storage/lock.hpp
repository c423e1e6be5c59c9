// The repository write lock: an flock on .fomo/lock, released by the kernel when
// the holder exits, however it exits. A second writer waits, saying so once, and
// gives up after a timeout (FOMO_LOCK_TIMEOUT seconds, default 60).
#pragma once

#include <filesystem>

namespace fomo {

namespace fs = std::filesystem;

class RepoLock {
 public:
  RepoLock(const fs::path& path, double timeout_seconds, bool quiet);
  ~RepoLock();
  RepoLock(const RepoLock&) = delete;
  RepoLock& operator=(const RepoLock&) = delete;

  static double DefaultTimeout();

 private:
  int fd_ = -1;
};

}  // namespace fomo
