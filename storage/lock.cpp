#include "storage/lock.hpp"

#include <fcntl.h>
#include <sys/file.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <thread>

#include <fmt/format.h>

#include "storage/error.hpp"
#include "storage/trace.hpp"

namespace fomo {

namespace {
std::string HolderPid(int fd) {
  char buf[32] = {};
  ssize_t n = ::pread(fd, buf, sizeof(buf) - 1, 0);
  if (n <= 0) return "unknown";
  std::string pid(buf, static_cast<size_t>(n));
  while (!pid.empty() && (pid.back() == '\n' || pid.back() == ' ')) pid.pop_back();
  return pid.empty() ? "unknown" : pid;
}
}  // namespace

double RepoLock::DefaultTimeout() {
  const char* env = std::getenv("FOMO_LOCK_TIMEOUT");
  if (env && *env) {
    char* end = nullptr;
    double value = std::strtod(env, &end);
    if (end && *end == '\0' && value >= 0) return value;
  }
  return 60.0;
}

RepoLock::RepoLock(const fs::path& path, double timeout_seconds, bool quiet) {
  fd_ = ::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
  if (fd_ < 0) {
    throw Error(fmt::format("cannot open lock '{}': {}", path.string(), std::strerror(errno)));
  }
  auto start = std::chrono::steady_clock::now();
  bool told = false;
  while (::flock(fd_, LOCK_EX | LOCK_NB) != 0) {
    if (errno != EWOULDBLOCK && errno != EINTR) {
      int err = errno;
      ::close(fd_);
      throw Error(fmt::format("cannot lock '{}': {}", path.string(), std::strerror(err)));
    }
    double waited =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    if (waited >= timeout_seconds) {
      std::string pid = HolderPid(fd_);
      ::close(fd_);
      throw Error(fmt::format(
          "repository is locked by another fomo process (pid {}); gave up after {:.0f} s", pid,
          timeout_seconds));
    }
    if (!told && !quiet) {
      std::fprintf(stderr, "waiting for another fomo process (pid %s) to release the repository...\n",
                   HolderPid(fd_).c_str());
      told = true;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  std::string pid = std::to_string(::getpid()) + "\n";
  if (::ftruncate(fd_, 0) == 0) {
    [[maybe_unused]] ssize_t n = ::pwrite(fd_, pid.data(), pid.size(), 0);
  }
  acquired_ = std::chrono::steady_clock::now();
  Trace(fmt::format("write lock taken after {:.2f} s", std::chrono::duration<double>(*acquired_ - start).count()));
}

std::unique_ptr<RepoLock> RepoLock::TryAcquire(const fs::path& path) {
  std::unique_ptr<RepoLock> lock(new RepoLock());
  lock->fd_ = ::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
  if (lock->fd_ < 0) {
    throw Error(fmt::format("cannot open lock '{}': {}", path.string(), std::strerror(errno)));
  }
  if (::flock(lock->fd_, LOCK_EX | LOCK_NB) != 0) {
    ::close(lock->fd_);  // not through the destructor, which would blank the holder's pid
    lock->fd_ = -1;
    return nullptr;
  }
  std::string pid = std::to_string(::getpid()) + "\n";
  if (::ftruncate(lock->fd_, 0) == 0) {
    [[maybe_unused]] ssize_t n = ::pwrite(lock->fd_, pid.data(), pid.size(), 0);
  }
  return lock;
}

bool RepoLock::Held(const fs::path& path) {
  // Opened read-only so that asking works on a read-only repository too.
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return false;
  const bool held = ::flock(fd, LOCK_SH | LOCK_NB) != 0 && errno == EWOULDBLOCK;
  ::close(fd);
  return held;
}

RepoLock::~RepoLock() {
  if (fd_ >= 0 && acquired_) {
    Trace(fmt::format("write lock released after {:.2f} s",
                      std::chrono::duration<double>(std::chrono::steady_clock::now() - *acquired_).count()));
  }
  if (fd_ >= 0) {
    [[maybe_unused]] int rc = ::ftruncate(fd_, 0);
    ::flock(fd_, LOCK_UN);
    ::close(fd_);
  }
}

}  // namespace fomo
