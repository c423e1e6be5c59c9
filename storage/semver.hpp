// Semantic versions of model versions: v1.0.0 is the base; patch, minor and major
// updates bump them.
#pragma once

#include <optional>
#include <string>
#include <string_view>

namespace fomo {

enum class BumpLevel { kPatch, kMinor, kMajor };

std::optional<BumpLevel> ParseBumpLevel(std::string_view name);
std::string_view BumpLevelName(BumpLevel level);

struct SemVer {
  int major = 1;
  int minor = 0;
  int patch = 0;

  // Accepts "1.2.3" and "v1.2.3".
  static std::optional<SemVer> Parse(std::string_view text);
  std::string ToString() const;  // "1.2.3"
  std::string Tag() const;       // "v1.2.3"
  SemVer Bumped(BumpLevel level) const;
  bool operator==(const SemVer& o) const {
    return major == o.major && minor == o.minor && patch == o.patch;
  }
  bool operator<(const SemVer& o) const;
};

}  // namespace fomo
