// The JSON files inside a version's commit: version.json, manifest.json,
// config.json, recipe.json, metrics.json and method_state.json, given in that
// order separated by NUL bytes; then the manifest checked against the config, as
// fsck, export and merge do.
#include "core/checkpoint.hpp"
#include "core/clip_config.hpp"
#include "fuzz_target.hpp"
#include "storage/versions.hpp"

FOMO_FUZZ_TARGET(version_files) {
  static const char* kNames[] = {"version.json", "manifest.json", "config.json",
                                 "recipe.json",  "metrics.json",  "method_state.json"};
  std::map<std::string, std::string> files;
  size_t start = 0;
  for (const char* name : kNames) {
    if (start > input.size()) break;
    size_t end = input.find('\0', start);
    if (end == std::string::npos) end = input.size();
    files[name] = input.substr(start, end - start);
    start = end + 1;
  }
  auto version = fomo::ParseVersion(
      [&](const std::string& name) -> std::optional<std::string> {
        auto it = files.find(name);
        return it == files.end() ? std::nullopt : std::optional<std::string>(it->second);
      },
      "fuzz");
  for (const auto& entry : version.manifest.tensors) {
    if (version.manifest.Find(entry.name) == nullptr) __builtin_trap();
  }
  auto config = fomo::core::ClipConfig::FromJsonText(version.config_json, "config.json");
  fomo::core::ManifestProblems(version.manifest, config);
}
