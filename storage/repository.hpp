// A fomo repository on disk:
//   fomo.yaml          settings the user edits
//   .fomo/graph/       the version graph (bare git repository)
//   .fomo/objects/     tensor objects, content-addressed
//   .fomo/fomo.sqlite  versions, evaluations, training runs
//   .fomo/lock         the write lock
//   .fomo/shallow      versions a shallow clone holds without their tensors
#pragma once

#include <filesystem>
#include <memory>
#include <optional>
#include <set>

#include "storage/database.hpp"
#include "storage/graph.hpp"
#include "storage/lock.hpp"
#include "storage/object_store.hpp"
#include "storage/repo_config.hpp"

namespace fomo {

namespace fs = std::filesystem;

inline constexpr const char* kFomoDirName = ".fomo";
inline constexpr const char* kConfigFileName = "fomo.yaml";
inline constexpr const char* kDefaultBranch = "main";

class Repository {
 public:
  // Creates the .fomo layout in fomo_dir (init builds it under a temporary name and
  // renames it into place once the first version is committed).
  static Repository Create(const fs::path& root, const fs::path& fomo_dir);
  // Opens the repository that contains start (searching upwards, as git does).
  static Repository Open(const fs::path& start);
  static std::optional<fs::path> Discover(const fs::path& start);

  const fs::path& root() const { return root_; }
  const fs::path& fomo_dir() const { return fomo_dir_; }
  fs::path config_path() const { return root_ / kConfigFileName; }
  fs::path lock_path() const { return fomo_dir_ / "lock"; }

  const RepoConfig& config() const { return config_; }
  const ObjectStore& objects() const { return *objects_; }
  Graph& graph() { return graph_; }
  const Graph& graph() const { return graph_; }
  Database& db() { return db_; }
  const Database& db() const { return db_; }

  // Versions whose commits and rows are here but whose tensors a shallow clone
  // (fomo clone --depth) left out; `fomo fetch --unshallow` brings them.
  std::set<CommitId> ShallowVersions() const;
  void SetShallowVersions(const std::set<CommitId>& versions) const;
  bool IsShallow(const CommitId& commit) const { return ShallowVersions().count(commit) > 0; }
  // Throws, naming the version, when a shallow clone left its tensors out.
  void RequireTensors(const CommitId& commit, const std::string& version) const;

  // Takes the write lock until Unlock or the end of the repository object (a
  // second call while it is held does nothing).
  void LockForWriting(bool quiet);
  void Unlock() { lock_.reset(); }
  // Throws, naming the directory, when the repository cannot be written (a
  // read-only mount): commands that will write say so before any work.
  void RequireWritable() const;
  bool locked() const { return lock_ != nullptr; }

 private:
  Repository(fs::path root, fs::path fomo_dir, RepoConfig config, Graph graph, Database db);

  fs::path root_;
  fs::path fomo_dir_;
  RepoConfig config_;
  std::unique_ptr<ObjectStore> objects_;
  Graph graph_;
  Database db_;
  std::unique_ptr<RepoLock> lock_;
};

}  // namespace fomo
