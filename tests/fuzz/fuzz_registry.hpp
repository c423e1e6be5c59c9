// The registered targets, for the two drivers.
#pragma once

#include <map>
#include <string>

#include "fuzz_target.hpp"

namespace fomo::fuzz {
std::map<std::string, Target>& Targets();
}  // namespace fomo::fuzz
