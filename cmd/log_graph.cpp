#include "cmd/log_graph.hpp"

#include <algorithm>

namespace fomo::cmd {

namespace {

std::string Columns(size_t count, size_t mark) {
  std::string row;
  for (size_t i = 0; i < count; ++i) row += i == mark ? "* " : "| ";
  return row;
}

size_t IndexOf(const std::vector<CommitId>& lanes, const CommitId& id) {
  return static_cast<size_t>(std::find(lanes.begin(), lanes.end(), id) - lanes.begin());
}

struct Edge {
  size_t at;  // its column in the row drawn last
  size_t to;  // its column among the next row's lanes
};

// One connector row: each edge steps one column toward its target.
std::string StepRow(std::vector<Edge>& edges) {
  size_t width = 0;
  for (const auto& e : edges) width = std::max({width, e.at, e.to});
  std::string row(2 * width + 2, ' ');
  for (auto& e : edges) {
    if (e.to == e.at) {
      row[2 * e.at] = '|';
    } else if (e.to > e.at) {
      row[2 * e.at + 1] = '\\';
      ++e.at;
    } else {
      row[2 * e.at - 1] = '/';
      --e.at;
    }
  }
  while (!row.empty() && row.back() == ' ') row.pop_back();
  return row;
}

}  // namespace

std::string LogGraph::CommitRow(const CommitInfo& commit) {
  pending_.clear();
  size_t col = IndexOf(lanes_, commit.id);
  if (col == lanes_.size()) lanes_.push_back(commit.id);  // a tip no line waits for
  const std::string row = Columns(lanes_.size(), col);

  // The next row's lanes, in column order: this version's parents take its column
  // (those no line waits for yet); a line waiting for a commit another line
  // already waits for joins that one.
  std::vector<CommitId> next;
  auto add = [&](const CommitId& id) {
    if (IndexOf(next, id) == next.size()) next.push_back(id);
  };
  for (size_t i = 0; i < lanes_.size(); ++i) {
    if (i != col) {
      add(lanes_[i]);
      continue;
    }
    for (size_t p = 0; p < commit.parents.size(); ++p) {
      const CommitId& parent = commit.parents[p];
      // A parent some later column already waits for stays there (its edge goes to it).
      const size_t waiting = IndexOf(lanes_, parent);
      if (p > 0 && waiting != lanes_.size() && waiting > col) continue;
      add(parent);
    }
  }
  std::vector<Edge> edges;
  bool moves = false;
  for (size_t i = 0; i < lanes_.size(); ++i) {
    if (i == col) {
      for (const auto& parent : commit.parents) edges.push_back({i, IndexOf(next, parent)});
    } else {
      edges.push_back({i, IndexOf(next, lanes_[i])});
    }
  }
  for (const auto& e : edges) moves = moves || e.at != e.to;
  while (moves) {
    pending_.push_back(StepRow(edges));
    moves = false;
    for (const auto& e : edges) moves = moves || e.at != e.to;
  }
  lanes_ = std::move(next);
  return row;
}

}  // namespace fomo::cmd
