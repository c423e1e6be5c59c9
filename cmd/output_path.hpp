// Where a command may write a file the user named (-o): the way cp treats its
// target. A symlink is followed and its target written; a FIFO, a device or a
// socket is refused (a checkpoint is written under a temporary name and renamed,
// which would replace the special file); nothing is written inside a
// repository's .fomo directory, whose files only fomo's own code may change.
#pragma once

#include <filesystem>
#include <string>

namespace fomo {
class Repository;
}

namespace fomo::cmd {

namespace fs = std::filesystem;

// The path to write, symlinks resolved; throws fomo::Error naming the problem.
// directory: the output is a directory to create (a model directory export).
fs::path CheckedOutputPath(const std::string& given, const Repository* repo, bool directory = false);

}  // namespace fomo::cmd
