// Semantic versions of model versions: v1.0.0 is the base; patch, minor and major
// updates bump them. A candidate that is not (yet) released, a version rejected by
// its gate or waiting on a moved line, carries a semver pre-release number:
// v1.2.0-rc.1 comes before v1.2.0 and never looks like it.
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
  int rc = 0;  // 0: a release; N: the pre-release "-rc.N"

  // Accepts "1.2.3", "v1.2.3" and "v1.2.3-rc.4".
  static std::optional<SemVer> Parse(std::string_view text);
  std::string ToString() const;  // "1.2.3", "1.2.3-rc.4"
  std::string Tag() const;       // "v1.2.3", "v1.2.3-rc.4"
  // The next release at level; a candidate's is its release where that is at the
  // level (1.2.0-rc.1 bumped minor is 1.2.0, bumped major 2.0.0).
  SemVer Bumped(BumpLevel level) const;
  bool candidate() const { return rc != 0; }
  SemVer Release() const { return SemVer{major, minor, patch, 0}; }
  SemVer Candidate(int n) const { return SemVer{major, minor, patch, n}; }
  bool operator==(const SemVer& o) const {
    return major == o.major && minor == o.minor && patch == o.patch && rc == o.rc;
  }
  bool operator<(const SemVer& o) const;
};

}  // namespace fomo
