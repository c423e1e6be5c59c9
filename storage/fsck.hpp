// Repository checks (fomo fsck), their repairs, and garbage collection (fomo gc).
//
// The only window a crash can leave is between the refs moving and the database
// row being written (versions.hpp): fsck reports it, repair completes the version
// from what the graph holds. Objects written by an interrupted commit are merely
// unreachable: gc drops them.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <set>
#include <vector>

#include "storage/repository.hpp"
#include "storage/semver.hpp"
#include "storage/versions.hpp"

namespace fomo {

struct FsckReport {
  std::vector<std::string> errors;   // damage: corrupt or missing data
  std::vector<std::string> notices;  // consistent but untidy, or a crash window

  size_t versions_checked = 0;
  size_t objects_checked = 0;
  uint64_t bytes_hashed = 0;  // stored bytes checked against their checksums
  std::vector<CommitId> missing_rows;  // reachable versions without a database row
  std::vector<std::string> stale_rows; // rows whose commit the graph does not have
  std::vector<std::pair<CommitId, SemVer>> missing_tags;
  std::vector<ObjectId> unreachable_objects;
  std::vector<std::string> schema_problems;  // the database's schema differs from this fomo's
  size_t temporary_files = 0;

  bool ok() const { return errors.empty(); }
};

// Checks a layer above storage/ adds for each version (its manifest against its
// model config): appends what is wrong.
using VersionCheck = std::function<void(const StoredVersion& version, std::vector<std::string>* errors)>;

FsckReport CheckRepository(const Repository& repo, bool verify_objects, const VersionCheck& check_version = {});
// Fixes what the report found that can be fixed without guessing; returns a line per fix.
std::vector<std::string> RepairRepository(Repository& repo, const FsckReport& report);

struct GcReport {
  size_t objects_removed = 0;
  uint64_t bytes_removed = 0;
  size_t temporary_files_removed = 0;
  size_t packs_before = 0;    // tensor packs replaced by the one written
  size_t objects_packed = 0;  // small objects in it
  size_t loose_packed = 0;    // of those, moved from loose files
  GraphPackReport graph;
};

// Objects reachable from any ref, including the delta bases they need.
std::vector<ObjectId> ReachableObjects(const Repository& repo);
// Adds the delta bases each object in ids needs, transitively.
void AddDeltaBases(const ObjectStore& store, std::set<ObjectId>* ids);
GcReport CollectGarbage(Repository& repo, bool dry_run);

}  // namespace fomo
