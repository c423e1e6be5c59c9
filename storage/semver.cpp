#include "storage/semver.hpp"

#include <charconv>
#include <climits>
#include <tuple>

namespace fomo {

std::optional<BumpLevel> ParseBumpLevel(std::string_view name) {
  if (name == "patch") return BumpLevel::kPatch;
  if (name == "minor") return BumpLevel::kMinor;
  if (name == "major") return BumpLevel::kMajor;
  return std::nullopt;
}

std::string_view BumpLevelName(BumpLevel level) {
  switch (level) {
    case BumpLevel::kPatch: return "patch";
    case BumpLevel::kMinor: return "minor";
    case BumpLevel::kMajor: return "major";
  }
  return "patch";
}

std::optional<SemVer> SemVer::Parse(std::string_view text) {
  if (!text.empty() && text[0] == 'v') text.remove_prefix(1);
  int parts[3];
  for (int i = 0; i < 3; ++i) {
    if (text.empty() || !(text[0] >= '0' && text[0] <= '9')) return std::nullopt;
    auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), parts[i]);
    if (ec != std::errc()) return std::nullopt;
    text.remove_prefix(static_cast<size_t>(end - text.data()));
    if (i < 2) {
      if (text.empty() || text[0] != '.') return std::nullopt;
      text.remove_prefix(1);
    }
  }
  int rc = 0;
  if (!text.empty()) {
    constexpr std::string_view kRc = "-rc.";
    if (text.substr(0, kRc.size()) != kRc) return std::nullopt;
    text.remove_prefix(kRc.size());
    if (text.empty() || text[0] < '1' || text[0] > '9') return std::nullopt;
    auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), rc);
    if (ec != std::errc() || end != text.data() + text.size()) return std::nullopt;
  }
  return SemVer{parts[0], parts[1], parts[2], rc};
}

std::string SemVer::ToString() const {
  std::string text = std::to_string(major) + "." + std::to_string(minor) + "." + std::to_string(patch);
  if (rc) text += "-rc." + std::to_string(rc);
  return text;
}

std::string SemVer::Tag() const { return "v" + ToString(); }

SemVer SemVer::Bumped(BumpLevel level) const {
  // A candidate's release is the next version at its own level (as npm's semver
  // increments 1.2.0-rc.1: minor gives 1.2.0, patch 1.2.0, major 2.0.0).
  if (candidate()) {
    const bool at_level = level == BumpLevel::kPatch || (level == BumpLevel::kMinor && patch == 0) ||
                          (level == BumpLevel::kMajor && minor == 0 && patch == 0);
    if (at_level) return Release();
  }
  switch (level) {
    case BumpLevel::kPatch: return SemVer{major, minor, patch + 1, 0};
    case BumpLevel::kMinor: return SemVer{major, minor + 1, 0, 0};
    case BumpLevel::kMajor: return SemVer{major + 1, 0, 0, 0};
  }
  return Release();
}

bool SemVer::operator<(const SemVer& o) const {
  // A pre-release precedes its release (semver 11.3): 1.2.0-rc.1 < 1.2.0.
  const int rank = rc ? rc : INT_MAX, other = o.rc ? o.rc : INT_MAX;
  return std::tie(major, minor, patch, rank) < std::tie(o.major, o.minor, o.patch, other);
}

}  // namespace fomo
