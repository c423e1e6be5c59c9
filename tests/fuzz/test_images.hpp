#pragma once

#include <string>

namespace fomo::fuzz {
// A 2 x 2 grey PNG, for tables that name an image that exists.
std::string TinyPng();
}  // namespace fomo::fuzz
