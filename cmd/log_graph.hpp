// The commit graph beside `fomo log --graph`, in the manner of git's: one column
// per line of history, `*` for the version on a row, `|` for lines passing by,
// `\` where a line moves right (a merge opening a column) and `/` where it moves
// left (a line joining another). Every parent edge is drawn, whatever column the
// parent already waits in; an edge that must move several columns moves one per
// connector row.
#pragma once

#include <string>
#include <vector>

#include "storage/graph.hpp"

namespace fomo::cmd {

class LogGraph {
 public:
  // Rows are asked for newest first, in the order Graph::Walk gives.
  // The prefix of the version's own line.
  std::string CommitRow(const CommitInfo& commit);
  // Connector rows to print after that line, down to the next version's columns.
  std::vector<std::string> ConnectorRows() { return pending_; }

 private:
  std::vector<CommitId> lanes_;  // the commit each column waits for
  std::vector<std::string> pending_;
};

}  // namespace fomo::cmd
