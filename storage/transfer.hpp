// Moving versions between a repository and a remote (storage/remote.hpp): what
// push, fetch and clone send, in which order, and what they refuse.
//
// Order is what keeps both sides valid when a transfer is killed: objects first
// (each verified by the receiver, bases before the deltas on them), then commits
// (parents first), then evaluation rows, then refs last. Anything that arrived
// before a kill is kept and not sent again; nothing is reachable before its refs
// move.
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "storage/remote.hpp"
#include "storage/repository.hpp"

namespace fomo {

// Bytes moved so far and in all (as far as known), and objects.
struct TransferStatus {
  uint64_t bytes_done = 0, bytes_total = 0;
  size_t objects_done = 0, objects_total = 0;
};
using TransferProgress = std::function<void(const TransferStatus&)>;

struct TransferReport {
  size_t versions = 0;          // commits sent or received
  size_t versions_present = 0;  // already on the other side
  size_t objects = 0;           // objects sent or received
  size_t objects_present = 0;   // skipped: the other side had them
  uint64_t bytes = 0;           // bytes of the objects moved
  size_t evaluations = 0;       // rows sent or received
  std::vector<std::string> refs;  // what moved: "main 1a2b..3c4d", "new tag v1.2.0", ...
};

// Every object the version's tensors and method state are built from, with each
// link of their delta chains, bases first.
std::vector<ObjectId> VersionObjects(const Repository& repo, const CommitId& commit);

struct PushRequest {
  std::vector<std::string> branches;  // local branch names
  std::vector<std::string> tags;      // local tag names
  bool force = false;                 // allow a branch to move backwards or sideways
};

// Sends what the remote lacks for the requested refs, then moves them. Refuses,
// before sending anything: a branch update that is not a fast-forward (unless
// force), and any tag the remote has on another commit (a version tag names one
// set of weights forever; --force does not change that). Pushed version tags are
// recorded released.
TransferReport Push(Repository& local, Remote& remote, const PushRequest& request,
                    const TransferProgress& progress = {});

struct FetchRequest {
  std::string remote_name;  // refs/remotes/NAME/* record the remote's branches
  // Only these remote refs (branch or tag names, or commit ids) and their
  // ancestry; empty: every branch and tag.
  std::vector<std::string> only;
  // Only the last `depth` versions down from each wanted ref get their tensors;
  // the older ones arrive as commits and rows only, listed as shallow
  // (Repository::ShallowVersions). 0: every version.
  int depth = 0;
  // Brings the tensors of every shallow version here.
  bool unshallow = false;
};

// Brings the remote's versions, their objects and rows here, records its branches
// as remote-tracking branches and creates its tags. Refuses, before anything
// arrives, a remote tag that names another commit than the local tag of that
// name, and a remote holding another model (other tensor names or shapes) than
// this repository's. A corrupt object fails the fetch naming it, and no version
// of that fetch is published.
TransferReport Fetch(Repository& local, Remote& remote, const FetchRequest& request,
                     const TransferProgress& progress = {});

struct CloneResult {
  TransferReport report;
  fs::path root;
  std::optional<std::string> branch;  // checked out; none: HEAD detached at `head`
  std::optional<CommitId> head;
  std::optional<std::string> head_tag;  // the version HEAD was detached at, when no branch came
};

// A new repository in dir (absent or empty) holding the remote's versions (as
// Fetch brings them, with request.only and request.depth), its branches as local
// branches, its fomo.yaml, and the remote recorded as `origin`. Built under a
// temporary name and renamed into place: a failed clone leaves nothing.
CloneResult Clone(const std::string& url, const fs::path& dir, FetchRequest request, bool insecure = false,
                  const TransferProgress& progress = {});

// Whether ancestor is descendant or one of its ancestors (both here).
bool IsAncestor(const Graph& graph, const CommitId& ancestor, const CommitId& descendant);

}  // namespace fomo
