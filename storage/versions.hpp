// Versions: committing a set of named tensors as the next version (objects, then
// the graph commit, then the refs, then the database row) and reading one back.
//
// A version's commit tree holds:
//   manifest.json  tensor name -> object id, dtype, shape, encoding, stored bytes
//   config.json    the model config (opaque to storage/)
//   recipe.json    what made the version (opaque to storage/)
//   metrics.json   metrics summary (opaque to storage/)
//   version.json   the semantic version, kind, sizes and budget: everything the
//                  database row holds, so fsck can rebuild a lost row
//   method_state.json  (optional) a manifest of what an online method carries to
//                  the next update (EWC's Fisher, SI's importance): stored like
//                  weights, never exported
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "storage/low_rank.hpp"
#include "storage/manifest.hpp"
#include "storage/repository.hpp"
#include "storage/semver.hpp"

namespace fomo {

struct VersionDraft {
  std::vector<NamedTensor> tensors;
  // Instead of tensors: entries whose objects the caller already put in the store
  // (a merge writes each tensor as it is computed); written_objects are removed
  // again if the commit fails.
  std::vector<ManifestEntry> stored;
  std::vector<ObjectId> written_objects;
  // Tensors stored as low-rank factors against the first parent's (adapter
  // updates), by name.
  std::map<std::string, LowRankFactors> low_rank;
  // Called whenever the commit is done reading a tensor's bytes (hashed, stored):
  // a checkpoint mapped from disk drops those pages, so that committing a model
  // holds a few tensors in memory, not all of them.
  std::function<void(const TensorView&)> release;
  // Tensors made on demand (an import's layout or dtype conversion): their view has
  // dtype, shape and size but no data, and produce(i, out) writes tensor i's bytes.
  // Each lives in a buffer only while it is stored, so a converted import holds a
  // tensor per thread, not a converted copy of the model.
  std::function<void(size_t index, uint8_t* out)> produce;
  std::vector<NamedTensor> method_state;
  std::string config_json;
  nlohmann::json recipe = nlohmann::json::object();
  nlohmann::json metrics = nlohmann::json::object();
  std::string message;
  std::string kind = "commit";  // import, commit, train, merge
  std::vector<CommitId> parents;  // empty for the base version
  BumpLevel bump = BumpLevel::kPatch;
  std::optional<SemVer> version;  // set for the base; otherwise the bumped parent
  // The line to advance; unset: HEAD's branch; empty: none (a commit a later
  // commit will name as its parent, as a merge-based update's finetuned weights).
  std::optional<std::string> branch;
  bool allow_empty = false;
  bool tag = true;  // false: no vX.Y.Z tag yet (a version waiting on a --require gate)
  Budget budget;
};

struct StoredVersion {
  CommitInfo commit;
  SemVer version;
  std::string kind;
  Manifest manifest;
  Manifest method_state;  // empty unless an online method left state
  std::string config_json;
  nlohmann::json recipe;
  nlohmann::json metrics;
  uint64_t raw_bytes = 0;
  uint64_t stored_bytes = 0;  // bytes of objects this version added
  Budget budget;
};

// Progress of storing tensors: done and total bytes.
using StoreProgress = std::function<void(uint64_t done, uint64_t total)>;

// Stores the draft as a new version. Returns nullopt (and writes nothing) when the
// tensors equal the first parent's and allow_empty is false.
std::optional<StoredVersion> CommitVersion(Repository& repo, const VersionDraft& draft,
                                           const StoreProgress& progress = {});

StoredVersion LoadVersion(const Graph& graph, const CommitId& commit);
// Just the version number (version.json), for listings that need nothing else:
// reading a whole version parses its manifest, one entry per tensor.
SemVer LoadVersionNumber(const Graph& graph, const CommitId& commit);
// The files of a version's commit by name (version.json, manifest.json, ...), or
// nullopt when the commit lacks one.
using VersionFiles = std::function<std::optional<std::string>(const std::string& name)>;
// A version from its files (no commit details); throws fomo::CorruptError naming
// the file and what is wrong with it. `what` names the commit in messages.
StoredVersion ParseVersion(const VersionFiles& files, const std::string& what);
Manifest LoadManifest(const Graph& graph, const CommitId& commit);
// The commit's method_state.json, or an empty manifest.
Manifest LoadMethodState(const Graph& graph, const CommitId& commit);

// The database row a stored version should have.
VersionRow VersionRowOf(const StoredVersion& version);

// The semantic version the next commit on top of parent gets: parent's bumped at
// level, moved past any version tag already taken.
SemVer NextFreeVersion(const Graph& graph, const SemVer& parent, BumpLevel level);

// The next pre-release number of release (v1.2.0-rc.N): past every candidate of it
// the repository has ever recorded or names in a ref.
SemVer NextCandidate(const Repository& repo, const SemVer& release);

// A candidate promoted to a release: the same tree, parents and message with
// version.json renumbered (and naming the candidate), its database row, and the
// candidate's evaluations copied. Moves no ref.
StoredVersion RenumberVersion(Repository& repo, const CommitId& commit, const SemVer& version);

}  // namespace fomo
