#include "cmd/log_graph.hpp"

#include <algorithm>

namespace fomo::cmd {

namespace {

std::string Columns(size_t count, size_t mark, const std::string& symbol) {
  std::string row;
  for (size_t i = 0; i < count; ++i) row += (i == mark ? symbol : std::string("|")) + " ";
  return row;
}

// "|/" or "|\" ending at column (>= 1), with the columns before it passing by.
std::string Connector(size_t column, char symbol) {
  std::string row;
  for (size_t i = 0; i + 1 < column; ++i) row += "| ";
  return row + "|" + symbol;
}

}  // namespace

std::string LogGraph::CommitRow(const CommitInfo& commit) {
  pending_.clear();
  auto it = std::find(lanes_.begin(), lanes_.end(), commit.id);
  if (it == lanes_.end()) {
    lanes_.push_back(commit.id);
    it = lanes_.end() - 1;
  }
  const size_t col = static_cast<size_t>(it - lanes_.begin());
  // Another column waiting for the same commit joins this one.
  for (size_t i = lanes_.size(); i-- > col + 1;) {
    if (lanes_[i] == commit.id) {
      pending_.push_back(Connector(i, '/'));
      lanes_.erase(lanes_.begin() + static_cast<std::ptrdiff_t>(i));
    }
  }
  std::string row = Columns(lanes_.size(), col, "*");
  std::vector<std::string> joins = std::move(pending_);
  pending_.clear();

  if (commit.parents.empty()) {
    lanes_.erase(lanes_.begin() + static_cast<std::ptrdiff_t>(col));
  } else {
    lanes_[col] = commit.parents.front();
    size_t at = col + 1;
    for (size_t p = 1; p < commit.parents.size(); ++p) {
      if (std::find(lanes_.begin(), lanes_.end(), commit.parents[p]) != lanes_.end()) continue;
      lanes_.insert(lanes_.begin() + static_cast<std::ptrdiff_t>(at), commit.parents[p]);
      pending_.push_back(Connector(at, '\\'));
      ++at;
    }
    // The first parent already has a column to the left: this line joins it.
    auto first = std::find(lanes_.begin(), lanes_.end(), commit.parents.front());
    if (first != lanes_.begin() + static_cast<std::ptrdiff_t>(col)) {
      pending_.push_back(Connector(col, '/'));
      lanes_.erase(lanes_.begin() + static_cast<std::ptrdiff_t>(col));
    }
  }
  // Joins seen before this row are drawn above the next one.
  pending_.insert(pending_.begin(), joins.begin(), joins.end());
  return row;
}

std::vector<std::string> LogGraph::ConnectorRows() { return pending_; }

}  // namespace fomo::cmd
