// Catch2 v2 (Debian 12) and v3 (Ubuntu 24.04 and later) behind one include, with
// the one matcher whose name differs between them.
#pragma once
#include <string>
// FOMO_CATCH_V3 comes from the Catch2 package CMake found, not from whichever
// headers happen to be on the include path.
#if FOMO_CATCH_V3
#include <catch2/catch_all.hpp>
using Catch::Approx;
inline Catch::Matchers::StringContainsMatcher HasSubstr(const std::string& text) {
  return Catch::Matchers::ContainsSubstring(text);
}
#else
#include <catch2/catch.hpp>
inline Catch::Matchers::StdString::ContainsMatcher HasSubstr(const std::string& text) {
  return Catch::Matchers::Contains(text);
}
#endif
