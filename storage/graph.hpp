// The version graph: a bare git repository under .fomo/graph, driven through
// libgit2. Each version is a commit whose tree holds small JSON files (manifest,
// config, recipe, metrics); tags vX.Y.Z name versions; branches are lines of work.
// `git --git-dir=.fomo/graph log` shows the same history as `fomo log`.
#pragma once

#include <cstdint>
#include <filesystem>
#include <map>
#include <optional>
#include <string>
#include <vector>

struct git_repository;

namespace fomo {

namespace fs = std::filesystem;

using CommitId = std::string;  // 40 hex digits
// The first 10 hex digits, as fomo prints a commit for people.
inline std::string ShortId(const CommitId& id) { return id.substr(0, 10); }

struct CommitInfo {
  CommitId id;
  std::vector<CommitId> parents;
  std::string message;
  std::string author;  // "Name <email>"
  int64_t time = 0;    // seconds since the epoch
};

// A commit as it travels between repositories: its git object's bytes (author,
// time, parents, message: so the commit keeps its id everywhere) and the files
// of its tree.
struct CommitPayload {
  CommitId id;
  std::string raw;
  std::map<std::string, std::string> files;
};

// A remote as git keeps it, in the graph's config: remote.NAME.url, and
// remote.NAME.insecure (plain http) for registries.
struct RemoteEntry {
  std::string name;
  std::string url;
  bool insecure = false;
};

struct HeadState {
  std::optional<std::string> branch;  // short name, or none when detached
  std::optional<CommitId> commit;     // none on an unborn branch
};

struct GraphPackReport {
  size_t objects_packed = 0;   // commits, trees and blobs in the pack written
  size_t loose_removed = 0;    // loose object files it replaced
  size_t packs_removed = 0;    // earlier packs it replaced
  size_t loose_refs = 0;       // ref files moved into packed-refs
};

class Graph {
 public:
  static Graph Init(const fs::path& dir, const std::string& initial_branch);
  static Graph Open(const fs::path& dir);
  ~Graph();
  Graph(Graph&& other) noexcept;
  Graph& operator=(Graph&& other) noexcept;
  Graph(const Graph&) = delete;
  Graph& operator=(const Graph&) = delete;

  // Writes blobs, a tree and a commit; moves no reference.
  CommitId WriteCommit(const std::map<std::string, std::string>& files,
                       const std::vector<CommitId>& parents, const std::string& message);
  CommitInfo ReadCommit(const CommitId& id) const;
  std::optional<std::string> ReadFile(const CommitId& id, const std::string& name) const;
  bool HasCommit(const CommitId& id) const;

  CommitPayload ExportCommit(const CommitId& id) const;
  // Writes the payload's blobs, tree and commit. Refuses, naming the commit, bytes
  // that do not hash to its id, a tree other than the one the commit names, or a
  // parent that is not here.
  void ImportCommit(const CommitPayload& payload);

  // Remote-tracking branches (refs/remotes/REMOTE/BRANCH), as fetch leaves them;
  // they keep what they name from gc, as branches do.
  std::map<std::string, CommitId> RemoteBranches(const std::string& remote) const;
  void SetRemoteBranch(const std::string& remote, const std::string& branch, const CommitId& id);
  void DeleteRemoteBranch(const std::string& remote, const std::string& branch);

  std::vector<RemoteEntry> Remotes() const;  // sorted by name
  std::optional<RemoteEntry> FindRemote(const std::string& name) const;
  void SetRemote(const RemoteEntry& remote);
  void RemoveRemote(const std::string& name);

  // Revisions as in git: tags, branches, id prefixes, HEAD, HEAD~n. "1.2.0" also
  // finds the tag v1.2.0. Returns nullopt when nothing matches; throws on ambiguity.
  std::optional<CommitId> Resolve(const std::string& rev) const;

  HeadState Head() const;
  void SetHeadToBranch(const std::string& branch);
  void SetHeadDetached(const CommitId& id);

  std::optional<CommitId> BranchTarget(const std::string& branch) const;
  void SetBranch(const std::string& branch, const CommitId& id, const std::string& log_message);
  void DeleteBranch(const std::string& branch);
  std::vector<std::string> Branches() const;  // short names, sorted

  std::optional<CommitId> TagTarget(const std::string& tag) const;
  void CreateTag(const std::string& tag, const CommitId& id);
  void DeleteTag(const std::string& tag);
  std::map<std::string, CommitId> Tags() const;  // name -> commit

  // Commits reachable from the given starts, newest first (topological, then time).
  std::vector<CommitId> Walk(const std::vector<CommitId>& starts) const;
  // The first `limit` commits of Walk's order, reading about as many commits as it
  // returns on a line of versions (storage/graph_walk.cpp); commits_read, when
  // given, says how many commits it read.
  std::vector<CommitId> WalkFirst(const std::vector<CommitId>& starts, size_t limit,
                                  size_t* commits_read = nullptr) const;
  // The nearest common ancestor of the commits (git merge-base); nullopt when they
  // share none.
  std::optional<CommitId> MergeBase(const std::vector<CommitId>& commits) const;
  // Every commit reachable from any branch, tag or HEAD.
  std::vector<CommitId> ReachableCommits() const;

  // Writes every object reachable from the refs into one pack (libgit2's
  // packbuilder), then removes the loose files and earlier packs it holds, as
  // `git gc` does, and packs the refs into packed-refs. Unreachable loose objects
  // stay. The caller holds the write lock.
  GraphPackReport Pack();
  // Packs the refs (a version tag per version is a file per version) once more
  // than kLooseTagsBeforePacking tags are loose, as git's gc --auto would; commits
  // call it. True when it packed.
  bool PackRefsIfMany();
  static constexpr size_t kLooseTagsBeforePacking = 100;

 private:
  void PackRefs();
  size_t LooseRefCount() const;
  explicit Graph(git_repository* repo) : repo_(repo) {}
  git_repository* repo_ = nullptr;
};

bool IsValidRefName(const std::string& name);

// Graph::Resolve, or throws fomo::Error "unknown revision 'X'".
CommitId ResolveRevision(const Graph& graph, const std::string& rev);

}  // namespace fomo
