#include "storage/atomic_file.hpp"

#include <fcntl.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <random>

#include <fmt/format.h>

#include "storage/error.hpp"

namespace fomo {

namespace {

std::string Errno() { return std::strerror(errno); }

fs::path TempPathFor(const fs::path& target) {
  static std::atomic<uint64_t> counter{0};
  thread_local std::mt19937_64 rng(std::random_device{}());
  return target.parent_path() /
         fmt::format(".tmp-{}-{}-{:x}", ::getpid(), counter++, rng() & 0xffffff);
}

// Writes go out a few MiB at a time: a buffered write holds the file's lock while
// it copies, and threads writing one file (an export) then take turns instead of
// waiting out a whole tensor's copy.
constexpr size_t kWriteChunk = 4u << 20;

void WriteAll(int fd, const fs::path& path, uint64_t offset, const void* data, size_t size) {
  const auto* p = static_cast<const uint8_t*>(data);
  while (size > 0) {
    ssize_t n = ::pwrite(fd, p, std::min(size, kWriteChunk), static_cast<off_t>(offset));
    if (n < 0) {
      if (errno == EINTR) continue;
      throw Error(fmt::format("cannot write '{}': {}", path.string(), Errno()));
    }
    p += n;
    offset += static_cast<uint64_t>(n);
    size -= static_cast<size_t>(n);
  }
}

}  // namespace

void FsyncDirectory(const fs::path& dir) {
  int fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) throw Error(fmt::format("cannot open directory '{}': {}", dir.string(), Errno()));
  int rc = ::fsync(fd);
  int err = errno;
  ::close(fd);
  if (rc != 0 && err != EINVAL) {
    throw Error(fmt::format("cannot sync directory '{}': {}", dir.string(), std::strerror(err)));
  }
}

void WriteFileAtomic(const fs::path& path, const void* data, size_t size) {
  AtomicFileWriter writer(path);
  writer.PWrite(0, data, size);
  writer.Commit();
}

std::string ReadFileToString(const fs::path& path) {
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) throw Error(fmt::format("cannot read '{}': {}", path.string(), Errno()));
  std::string out;
  char buffer[65536];
  for (;;) {
    ssize_t n = ::read(fd, buffer, sizeof(buffer));
    if (n < 0) {
      if (errno == EINTR) continue;
      int err = errno;
      ::close(fd);
      throw Error(fmt::format("cannot read '{}': {}", path.string(), std::strerror(err)));
    }
    if (n == 0) break;
    out.append(buffer, static_cast<size_t>(n));
  }
  ::close(fd);
  return out;
}

AtomicFileWriter::AtomicFileWriter(fs::path target, bool durable)
    : target_(std::move(target)), durable_(durable) {
  temp_ = TempPathFor(target_);
  fd_ = ::open(temp_.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
  if (fd_ < 0) throw Error(fmt::format("cannot write '{}': {}", target_.string(), Errno()));
}

AtomicFileWriter::~AtomicFileWriter() {
  if (fd_ >= 0) ::close(fd_);
  if (!committed_) ::unlink(temp_.c_str());
}

void AtomicFileWriter::PWrite(uint64_t offset, const void* data, size_t size) {
  WriteAll(fd_, target_, offset, data, size);
}

void AtomicFileWriter::Commit() {
  if (durable_ && ::fsync(fd_) != 0) {
    throw Error(fmt::format("cannot sync '{}': {}", target_.string(), Errno()));
  }
  if (::close(fd_) != 0) {
    fd_ = -1;
    throw Error(fmt::format("cannot write '{}': {}", target_.string(), Errno()));
  }
  fd_ = -1;
  if (::rename(temp_.c_str(), target_.c_str()) != 0) {
    throw Error(fmt::format("cannot publish '{}': {}", target_.string(), Errno()));
  }
  committed_ = true;
  if (durable_) FsyncDirectory(target_.has_parent_path() ? target_.parent_path() : fs::path("."));
}

MappedFile::MappedFile(const fs::path& path, MapAccess access) : path_(path) {
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) throw Error(fmt::format("cannot open '{}': {}", path.string(), Errno()));
  struct stat st {};
  if (::fstat(fd, &st) != 0) {
    int err = errno;
    ::close(fd);
    throw Error(fmt::format("cannot stat '{}': {}", path.string(), std::strerror(err)));
  }
  if (S_ISDIR(st.st_mode)) {
    ::close(fd);
    throw Error(fmt::format("cannot open '{}': is a directory", path.string()));
  }
  size_ = static_cast<uint64_t>(st.st_size);
  if (size_ > 0) {
    // MAP_POPULATE faults the whole file in at once: every byte is read anyway, and
    // one populate costs far less than a page fault per 4 KiB.
    const int populate = access == MapAccess::kWhole ? MAP_POPULATE : 0;
    void* map = ::mmap(nullptr, size_, PROT_READ, MAP_PRIVATE | populate, fd, 0);
    if (map == MAP_FAILED) {
      int err = errno;
      ::close(fd);
      throw Error(fmt::format("cannot map '{}': {}", path.string(), std::strerror(err)));
    }
    data_ = static_cast<const uint8_t*>(map);
  }
  ::close(fd);
}

void MappedFile::Release(const uint8_t* data, uint64_t size) const {
  if (!data_ || size == 0) return;
  static const uintptr_t page = static_cast<uintptr_t>(::sysconf(_SC_PAGESIZE));
  // Whole pages, rounded outward: a page shared with a neighbouring tensor is
  // simply read again if that tensor needs it.
  const uintptr_t map_begin = reinterpret_cast<uintptr_t>(data_), map_end = map_begin + size_;
  uintptr_t begin = std::max(reinterpret_cast<uintptr_t>(data), map_begin) & ~(page - 1);
  uintptr_t end = std::min(reinterpret_cast<uintptr_t>(data) + size, map_end);
  end = std::min((end + page - 1) & ~(page - 1), (map_end + page - 1) & ~(page - 1));
  if (end > begin) ::madvise(reinterpret_cast<void*>(begin), end - begin, MADV_DONTNEED);
}

MappedFile::~MappedFile() {
  if (data_) ::munmap(const_cast<uint8_t*>(data_), size_);
}

void CrashPoint(const char* name) {
  static const char* target = std::getenv("FOMO_CRASH_AT");
  if (target && std::strcmp(target, name) == 0) ::kill(::getpid(), SIGKILL);
}

}  // namespace fomo
