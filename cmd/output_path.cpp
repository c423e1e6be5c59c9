#include "cmd/output_path.hpp"

#include <sys/stat.h>

#include <cerrno>
#include <cstring>

#include <fmt/format.h>

#include "storage/error.hpp"
#include "storage/repository.hpp"

namespace fomo::cmd {

namespace {

const char* KindOf(mode_t mode) {
  if (S_ISFIFO(mode)) return "a FIFO";
  if (S_ISCHR(mode)) return "a character device";
  if (S_ISBLK(mode)) return "a block device";
  if (S_ISSOCK(mode)) return "a socket";
  if (S_ISDIR(mode)) return "a directory";
  return "not a regular file";
}

bool Inside(const fs::path& path, const fs::path& dir) {
  auto p = path.begin(), d = dir.begin();
  for (; d != dir.end(); ++p, ++d) {
    if (p == path.end() || *p != *d) return false;
  }
  return true;
}

}  // namespace

fs::path CheckedOutputPath(const std::string& given, const Repository* repo, bool directory) {
  std::error_code ec;
  // Symlinks (the file itself, dangling or not, and any directory on the way)
  // resolve to what they name.
  fs::path link = fs::absolute(given);
  for (int hops = 0; hops < 40 && fs::is_symlink(fs::symlink_status(link, ec)); ++hops) {
    fs::path target = fs::read_symlink(link, ec);
    if (ec) break;
    link = target.is_absolute() ? target : link.parent_path() / target;
  }
  fs::path resolved = fs::weakly_canonical(link, ec);
  if (ec) throw Error(fmt::format("cannot write '{}': {}", given, ec.message()));
  if (repo) {
    fs::path fomo_dir = fs::weakly_canonical(repo->fomo_dir(), ec);
    if (!ec && Inside(resolved, fomo_dir)) {
      throw Error(fmt::format("cannot write '{}': it is inside the repository's {} directory, which only fomo "
                              "itself changes",
                              given, fomo_dir.filename().string()));
    }
  }
  struct stat st {};
  if (::stat(resolved.c_str(), &st) == 0) {
    const bool ok = directory ? S_ISDIR(st.st_mode) : S_ISREG(st.st_mode);
    if (!ok) {
      throw Error(fmt::format("cannot write '{}': it is {}; fomo writes {} and never replaces anything else", given,
                              KindOf(st.st_mode), directory ? "model directories" : "regular files"));
    }
  } else if (errno != ENOENT) {
    throw Error(fmt::format("cannot write '{}': {}", given, std::strerror(errno)));
  }
  return resolved;
}

}  // namespace fomo::cmd
