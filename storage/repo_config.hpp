// fomo.yaml, the repository settings the user edits. This layer reads the storage
// section; later layers read their own sections from the same document.
#pragma once

#include <filesystem>
#include <string>

#include <yaml-cpp/yaml.h>

#include "storage/object_store.hpp"

namespace fomo {

namespace fs = std::filesystem;

struct RepoConfig {
  StoreOptions storage;
  YAML::Node document;  // the whole file, for the sections other layers own

  // Throws fomo::Error naming the file, line and problem.
  static RepoConfig Load(const fs::path& path);
  static RepoConfig Parse(const std::string& text, const std::string& origin);
  // The commented file a new repository starts with.
  // retention: the selectors of the retention suite, as YAML flow items ("fmnist").
  static std::string Template(const std::string& retention = "fmnist");
};

}  // namespace fomo
