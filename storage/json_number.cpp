#include "storage/json_number.hpp"

#include <fmt/format.h>

#include "storage/error.hpp"

namespace fomo {

int64_t JsonInteger(const nlohmann::json& value, const std::string& what, int64_t min, int64_t max) {
  bool ok = false;
  int64_t n = 0;
  if (value.is_number_unsigned()) {
    const uint64_t u = value.get<uint64_t>();
    ok = u <= static_cast<uint64_t>(INT64_MAX);
    n = static_cast<int64_t>(u);
  } else if (value.is_number_integer()) {
    n = value.get<int64_t>();
    ok = true;
  }
  if (!ok || n < min || n > max) throw CorruptError(fmt::format("{} must be an integer from {} to {}", what, min, max));
  return n;
}

uint64_t JsonUnsigned(const nlohmann::json& value, const std::string& what) {
  if (value.is_number_unsigned()) return value.get<uint64_t>();
  if (value.is_number_integer() && value.get<int64_t>() >= 0) return static_cast<uint64_t>(value.get<int64_t>());
  throw CorruptError(fmt::format("{} must be a non-negative integer", what));
}

}  // namespace fomo
