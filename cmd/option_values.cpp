#include "cmd/option_values.hpp"

#include <cmath>
#include <cstdlib>

#include <fmt/format.h>

#include "storage/error.hpp"

namespace fomo::cmd {

double ParseOptionNumber(const std::string& option, const std::string& text) {
  char* end = nullptr;
  double v = std::strtod(text.c_str(), &end);
  if (text.empty() || end != text.c_str() + text.size() || !std::isfinite(v)) {
    throw UsageError(fmt::format("{} must be a number, not '{}'", option, text));
  }
  return v;
}

int64_t ParseOptionCount(const std::string& option, const std::string& text) {
  double v = ParseOptionNumber(option, text);
  if (v <= 0 || v != std::floor(v) || v > 9e15) {
    throw UsageError(fmt::format("{} must be a positive whole number, not '{}'", option, text));
  }
  return static_cast<int64_t>(v);
}

}  // namespace fomo::cmd
