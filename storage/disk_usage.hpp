// Where the bytes of .fomo/objects go, as `git count-objects` and `dvc du` tell:
// per version what it added, what it shares with earlier versions and its total;
// for the store what versions own, what only delta chains need, and what
// `fomo gc` would free. The numbers are stored object sizes (a loose object's file,
// a packed one's record); the files themselves, with the packs' headers and indexes,
// and the disk blocks they take are counted apart.
#pragma once

#include <cstdint>
#include <vector>

#include "storage/repository.hpp"

namespace fomo {

struct VersionUsage {
  CommitId commit;
  uint64_t total = 0;   // its distinct objects (weights and method state)
  uint64_t added = 0;   // those no earlier version (by commit time) uses
  uint64_t shared() const { return total - added; }
};

struct StoreUsage {
  uint64_t bytes = 0;  // every stored object
  uint64_t files = 0;       // object files and packs
  uint64_t file_bytes = 0;  // their sizes
  uint64_t disk_bytes = 0;  // the blocks they take
  uint64_t packs = 0;
  uint64_t objects = 0;
  uint64_t versions_added = 0;     // the sum of every reachable version's `added`
  uint64_t delta_bases = 0;        // objects only delta chains need
  uint64_t unreachable = 0;        // what gc would free
  uint64_t unreachable_objects = 0;
};

struct DiskUsage {
  std::vector<VersionUsage> versions;  // every version reachable from a ref, oldest first
  StoreUsage store;
  // bytes == versions_added + delta_bases + unreachable, always.
};

DiskUsage MeasureDiskUsage(const Repository& repo);

}  // namespace fomo
