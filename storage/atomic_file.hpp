// Files that appear whole or not at all (temporary name, fsync, rename, directory
// fsync), read-only memory maps, and the crash points the kill tests use.
#pragma once

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <string>

namespace fomo {

namespace fs = std::filesystem;

void FsyncDirectory(const fs::path& dir);
void WriteFileAtomic(const fs::path& path, const void* data, size_t size);
std::string ReadFileToString(const fs::path& path);

// A file built under a temporary name beside its target and published by Commit().
// Destroying an uncommitted writer removes the temporary file. PWrite may be called
// from several threads at once for disjoint ranges.
class AtomicFileWriter {
 public:
  // durable: fsync the file and its directory on Commit. Repository files always
  // are; exported checkpoints are not (like files git checks out), which halves
  // export time on slow disks.
  explicit AtomicFileWriter(fs::path target, bool durable = true);
  ~AtomicFileWriter();
  AtomicFileWriter(const AtomicFileWriter&) = delete;
  AtomicFileWriter& operator=(const AtomicFileWriter&) = delete;

  void PWrite(uint64_t offset, const void* data, size_t size);
  void Commit();

 private:
  fs::path target_;
  fs::path temp_;
  int fd_ = -1;
  bool durable_ = true;
  bool committed_ = false;
};

// kWhole faults the file in at once (it is about to be read whole); kStreamed maps
// it lazily, for a large input read piece by piece and released (Release) behind.
enum class MapAccess { kWhole, kStreamed };

class MappedFile {
 public:
  explicit MappedFile(const fs::path& path, MapAccess access = MapAccess::kWhole);
  ~MappedFile();
  MappedFile(const MappedFile&) = delete;
  MappedFile& operator=(const MappedFile&) = delete;

  const uint8_t* data() const { return data_; }
  uint64_t size() const { return size_; }
  const fs::path& path() const { return path_; }
  bool Contains(const uint8_t* data) const { return data >= data_ && data < data_ + size_; }
  // Drops the resident pages of [data, data + size) (clamped to the map); a later
  // read faults them in again from the file, so the map still reads the same.
  void Release(const uint8_t* data, uint64_t size) const;

 private:
  fs::path path_;
  const uint8_t* data_ = nullptr;
  uint64_t size_ = 0;
};

// Kills the process with SIGKILL when FOMO_CRASH_AT names this point. The kill tests
// use it to stop a commit between any two of its steps.
void CrashPoint(const char* name);

}  // namespace fomo
