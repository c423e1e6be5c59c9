#include "catch.hpp"
#include "storage/semver.hpp"

using namespace fomo;

TEST_CASE("semantic versions parse, print and bump", "[semver]") {
  auto v = SemVer::Parse("v1.2.3");
  REQUIRE(v);
  REQUIRE(v->ToString() == "1.2.3");
  REQUIRE(v->Tag() == "v1.2.3");
  REQUIRE(SemVer::Parse("1.2.3") == v);
  REQUIRE(v->Bumped(BumpLevel::kPatch).ToString() == "1.2.4");
  REQUIRE(v->Bumped(BumpLevel::kMinor).ToString() == "1.3.0");
  REQUIRE(v->Bumped(BumpLevel::kMajor).ToString() == "2.0.0");
  for (const char* bad : {"", "v", "1.2", "1.2.3.4", "1..3", "a.b.c", "1.2.3x", "v-1.2.3"}) {
    INFO(bad);
    REQUIRE_FALSE(SemVer::Parse(bad));
  }
  REQUIRE(ParseBumpLevel("minor") == BumpLevel::kMinor);
  REQUIRE_FALSE(ParseBumpLevel("micro"));
}
