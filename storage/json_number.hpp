// Integers out of JSON that files from outside wrote. nlohmann's get<int>() of
// 1e300 is a float-to-integer cast with an undefined result, and of 2^40 a silent
// truncation; these refuse anything but an integer in range.
#pragma once

#include <cstdint>
#include <string>

#include <nlohmann/json.hpp>

namespace fomo {

// Throws fomo::CorruptError "WHAT must be an integer from MIN to MAX".
int64_t JsonInteger(const nlohmann::json& value, const std::string& what, int64_t min, int64_t max);
uint64_t JsonUnsigned(const nlohmann::json& value, const std::string& what);

}  // namespace fomo
