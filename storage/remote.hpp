// Remotes: where versions travel to and from (fomo clone, push, fetch, pull).
// One interface, one implementation per kind of remote, and one conformance suite
// (tests/storage/test_remote_conformance.cpp) that every kind passes:
//   DirectoryRemote - another fomo repository on a path (a shared filesystem, a
//                     backup disk), written under its lock with atomic renames;
//   OciRemote       - an OCI distribution registry (oci://HOST[:PORT]/NAME), each
//                     version a manifest whose layers are its objects
//                     (storage/remote_oci.cpp).
// What moves is exactly what the repository holds: a version's git commit (its
// bytes, so its id is the same everywhere), the stored records of the objects its
// tensors are decoded from (bases before the deltas on them), and its evaluation
// rows. storage/transfer.hpp decides what to move; a Remote only moves it.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "storage/database.hpp"
#include "storage/error.hpp"
#include "storage/graph.hpp"
#include "storage/sha256.hpp"

namespace fomo {

struct RemoteRefs {
  std::map<std::string, CommitId> branches;
  std::map<std::string, CommitId> tags;
  std::optional<std::string> head_branch;  // what a clone checks out
};

// A version as it travels: its commit and the rows measured on it.
struct RemoteVersion {
  CommitPayload commit;
  // The objects its tensors and method state are built from, every link of each
  // delta chain, bases first.
  std::vector<ObjectId> objects;
  std::vector<EvaluationRow> evaluations;
};

// A ref change a push asks for, applied only if the remote's ref still names
// `expected` (nullopt: the ref must not exist), so two pushers cannot silently
// overwrite each other.
struct RefUpdate {
  enum class Kind { kBranch, kTag } kind = Kind::kBranch;
  std::string name;
  std::optional<CommitId> expected;
  CommitId target;
};

// The blob an object travels as in a registry: its record's digest and size.
struct ObjectBlob {
  ObjectId digest;
  uint64_t size = 0;
};
using BlobOf = std::function<ObjectBlob(const ObjectId& id)>;

class Remote {
 public:
  virtual ~Remote() = default;
  virtual std::string url() const = 0;

  virtual RemoteRefs ListRefs() = 0;
  // The fomo.yaml of the repository it holds, for a clone (empty if none).
  virtual std::string ConfigText() = 0;
  // Gives a remote without a fomo.yaml this one (a push to a new location).
  virtual void PutConfigText(const std::string& text) = 0;

  // A version is here only once its objects, commit and rows all are.
  virtual bool HasVersion(const CommitId& id) = 0;
  virtual RemoteVersion GetVersion(const CommitId& id) = 0;
  // Stores a version whose objects are all here already (the caller sent them).
  virtual void PutVersion(const RemoteVersion& version) = 0;
  virtual std::vector<EvaluationRow> GetEvaluations(const CommitId& id) = 0;
  // Merges rows into what the remote holds for a version it has.
  virtual void PutEvaluations(const CommitId& id, const std::vector<EvaluationRow>& rows) = 0;

  // Which of ids the remote lacks, in their order. blob_of gives an object's record
  // digest and size, for remotes that address blobs by them (a registry).
  virtual std::vector<ObjectId> MissingObjects(const std::vector<ObjectId>& ids, const BlobOf& blob_of) = 0;
  // The object's record as it travels (ObjectStore::ReadRecord).
  virtual std::vector<uint8_t> GetObject(const ObjectId& id) = 0;
  virtual void PutObject(const ObjectId& id, const std::vector<uint8_t>& record) = 0;

  // Applies every update or none: throws RefConflict naming the first ref that
  // no longer names what the update expected.
  virtual void UpdateRefs(const std::vector<RefUpdate>& updates) = 0;
};

// A push raced another writer, or the remote moved on since it was read.
class RefConflict : public Error {
 public:
  using Error::Error;
};

struct RemoteOptions {
  // A path that does not exist yet (or an empty directory) becomes an empty
  // repository (a push to a new backup location).
  bool create = false;
  bool insecure = false;  // a registry over plain http
};

// The remote a URL names: oci://HOST[:PORT]/NAME is a registry, a path or file://
// URL a directory. Throws a one-line Error when nothing usable is there.
std::unique_ptr<Remote> OpenRemote(const std::string& url, const RemoteOptions& options = {});
std::unique_ptr<Remote> OpenRegistryRemote(const std::string& url, bool insecure);

// The path a directory URL names (file:// stripped), or nullopt for other kinds.
std::optional<std::string> DirectoryPathOf(const std::string& url);

}  // namespace fomo
