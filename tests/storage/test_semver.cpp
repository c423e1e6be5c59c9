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

TEST_CASE("candidates carry a pre-release number that sorts before their release", "[semver]") {
  auto rc = SemVer::Parse("v1.2.0-rc.3");
  REQUIRE(rc);
  CHECK(rc->candidate());
  CHECK(rc->rc == 3);
  CHECK(rc->Tag() == "v1.2.0-rc.3");
  CHECK(rc->Release().Tag() == "v1.2.0");
  CHECK(*rc < rc->Release());
  CHECK(SemVer::Parse("1.2.0-rc.2") < rc);
  CHECK(SemVer{1, 1, 9, 0} < *rc);
  CHECK_FALSE(*rc == rc->Release());
  // A candidate bumped at its own level is its release (as npm's semver does).
  CHECK(rc->Bumped(BumpLevel::kMinor).Tag() == "v1.2.0");
  CHECK(rc->Bumped(BumpLevel::kPatch).Tag() == "v1.2.0");
  CHECK(rc->Bumped(BumpLevel::kMajor).Tag() == "v2.0.0");
  CHECK(SemVer::Parse("1.2.3-rc.1")->Bumped(BumpLevel::kMinor).Tag() == "v1.3.0");
  for (const char* bad : {"1.2.0-rc.", "1.2.0-rc.0", "1.2.0-rc.01", "1.2.0-beta.1", "1.2.0-rc.1x", "1.2.0-"}) {
    INFO(bad);
    CHECK_FALSE(SemVer::Parse(bad));
  }
}
