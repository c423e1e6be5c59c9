#include "storage/semver.hpp"

#include <charconv>
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
  if (!text.empty()) return std::nullopt;
  return SemVer{parts[0], parts[1], parts[2]};
}

std::string SemVer::ToString() const {
  return std::to_string(major) + "." + std::to_string(minor) + "." + std::to_string(patch);
}

std::string SemVer::Tag() const { return "v" + ToString(); }

SemVer SemVer::Bumped(BumpLevel level) const {
  switch (level) {
    case BumpLevel::kPatch: return SemVer{major, minor, patch + 1};
    case BumpLevel::kMinor: return SemVer{major, minor + 1, 0};
    case BumpLevel::kMajor: return SemVer{major + 1, 0, 0};
  }
  return *this;
}

bool SemVer::operator<(const SemVer& o) const {
  return std::tie(major, minor, patch) < std::tie(o.major, o.minor, o.patch);
}

}  // namespace fomo
