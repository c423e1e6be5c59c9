// Path checks shared by the dataset registry (dataset.cpp) and the loaders
// (image_sets.cpp). Paths from tables and fomo.yaml: a name too long or
// unreadable is one that is not there, said as such, not a filesystem_error.
#pragma once

#include <filesystem>
#include <system_error>

namespace fomo::core {

inline bool PathExists(const std::filesystem::path& path) {
  std::error_code ec;
  return std::filesystem::exists(path, ec);
}

inline bool IsDirectory(const std::filesystem::path& path) {
  std::error_code ec;
  return std::filesystem::is_directory(path, ec);
}

}  // namespace fomo::core
