// Graph::WalkFirst: the first commits of Graph::Walk's order without walking the
// whole history, so `fomo log -n 10` costs ten commits, not the repository.
//
// Walk is libgit2's topological + time sort: Kahn's algorithm over every commit
// reachable from the starts, where a commit is ready once all its children are
// shown and the newest ready commit goes first. It must see the whole graph to
// count children. WalkFirst builds the same order lazily. Of the frontier (the
// commits found as parents of shown ones, not yet shown), a commit is ready
// exactly when it is no ancestor of another frontier commit: a child of it that
// is still unshown lies on a path down from some frontier commit. Ancestry is
// decided by a short search; whenever it cannot be decided, or the newest ready
// commit ties with another (libgit2's heap then picks), or the frontier grows
// wide, WalkFirst falls back to the full walk, whose order begins with what was
// decided so far. Linear lines and merge-based updates (a merge of the line and
// its finetuned child) are always decided.
#include "storage/graph.hpp"

#include <git2.h>

#include <algorithm>
#include <map>
#include <optional>
#include <set>

#include <fmt/format.h>

#include "storage/error.hpp"

namespace fomo {

namespace {

// How far the ancestry search looks, and how wide a frontier is worth deciding.
constexpr size_t kSearchCommits = 64;
constexpr size_t kMaxFrontier = 8;

struct WalkNode {
  CommitId id;
  int64_t time = 0;
  std::vector<CommitId> parents;
};

}  // namespace

std::vector<CommitId> Graph::WalkFirst(const std::vector<CommitId>& starts, size_t limit,
                                       size_t* commits_read) const {
  size_t reads = 0;
  std::map<CommitId, WalkNode> nodes;  // every commit read, by id
  auto node = [&](const CommitId& id) -> const WalkNode& {
    auto it = nodes.find(id);
    if (it != nodes.end()) return it->second;
    const CommitInfo info = ReadCommit(id);
    ++reads;
    return nodes.emplace(id, WalkNode{id, info.time, info.parents}).first->second;
  };
  // The full walk's order begins with what was decided so far (a test holds this).
  auto fall_back = [&] {
    std::vector<CommitId> all = Walk(starts);
    if (all.size() > limit) all.resize(limit);
    if (commits_read) *commits_read = reads + all.size();
    return all;
  };
  // Whether `ancestor` is reachable from `from` through parents: true or false
  // when the search settles it, nullopt when it gives up.
  auto reaches = [&](const CommitId& from, const CommitId& ancestor) -> std::optional<bool> {
    std::vector<CommitId> stack = {from};
    std::set<CommitId> visited = {from};
    while (!stack.empty()) {
      if (visited.size() > kSearchCommits) return std::nullopt;
      const CommitId id = stack.back();
      stack.pop_back();
      for (const auto& parent : node(id).parents) {
        if (parent == ancestor) return true;
        if (visited.insert(parent).second) stack.push_back(parent);
      }
    }
    return false;  // every path ended at a root
  };

  std::vector<CommitId> out;
  std::vector<CommitId> frontier;
  std::set<CommitId> seen;
  for (const auto& start : starts) {
    if (seen.insert(start).second) frontier.push_back(start);
  }
  while (out.size() < limit && !frontier.empty()) {
    if (frontier.size() > kMaxFrontier) return fall_back();
    // known[i][j]: frontier[i] is an ancestor of frontier[j].
    const size_t n = frontier.size();
    std::vector<std::vector<std::optional<bool>>> known(n, std::vector<std::optional<bool>>(n));
    for (size_t i = 0; i < n; ++i) {
      for (size_t j = 0; j < n; ++j) {
        if (i == j || known[i][j]) continue;
        std::optional<bool> r = reaches(frontier[j], frontier[i]);
        known[i][j] = r;
        if (r && *r) known[j][i] = false;  // a DAG: the other way round is impossible
      }
    }
    std::vector<size_t> ready;
    for (size_t i = 0; i < n; ++i) {
      bool is_ready = true, decided = true;
      for (size_t j = 0; j < n; ++j) {
        if (i == j) continue;
        if (!known[i][j]) {
          decided = false;
        } else if (*known[i][j]) {
          is_ready = false;
          decided = true;
          break;
        }
      }
      if (!is_ready) continue;
      if (!decided) return fall_back();
      ready.push_back(i);
    }
    if (ready.empty()) return fall_back();  // only a cycle could do this
    size_t best = ready.front();
    size_t ties = 0;
    for (size_t i : ready) {
      const int64_t t = node(frontier[i]).time, bt = node(frontier[best]).time;
      if (t > bt) {
        best = i;
        ties = 0;
      } else if (t == bt && i != best) {
        ++ties;
      }
    }
    if (ties > 0) return fall_back();
    const CommitId shown = frontier[best];
    out.push_back(shown);
    frontier.erase(frontier.begin() + static_cast<long>(best));
    for (const auto& parent : node(shown).parents) {
      if (seen.insert(parent).second) frontier.push_back(parent);
    }
  }
  if (commits_read) *commits_read = reads;
  return out;
}

}  // namespace fomo
