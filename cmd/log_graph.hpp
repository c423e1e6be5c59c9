// The commit graph beside `fomo log --graph`, in the manner of git's: one column
// per line of history, `*` for the version on a row, `|` for lines passing by,
// `\` where a merge opens a column and `/` where a line joins another.
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
  // Connector rows to print after that line (lines opening or joining).
  std::vector<std::string> ConnectorRows();

 private:
  std::vector<CommitId> lanes_;  // the commit each column waits for
  std::vector<std::string> pending_;
};

}  // namespace fomo::cmd
