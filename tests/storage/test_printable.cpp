#include "catch.hpp"
#include "storage/error.hpp"
#include "storage/printable.hpp"

using fomo::Printable;

TEST_CASE("control characters are escaped, printable text and UTF-8 kept, twice is once", "[printable]") {
  REQUIRE(Printable("plain text, C:\\path") == "plain text, C:\\path");
  REQUIRE(Printable(std::string("a\nb\tc\rd\0e", 9)) == "a\\nb\\tc\\rd\\0e");
  REQUIRE(Printable("\x1b[31mred\x7f") == "\\x1b[31mred\\x7f");
  REQUIRE(Printable("caf\xc3\xa9 \xe2\x9c\x93") == "caf\xc3\xa9 \xe2\x9c\x93");
  REQUIRE(Printable("\xc2\x9b" "2J") == "\\u009b2J");  // C1 CSI
  REQUIRE(Printable("\xff\xc3") == "\\xff\\xc3");      // invalid and truncated UTF-8
  const std::string nasty("x\n\0\x1b\xff", 5);
  REQUIRE(Printable(Printable(nasty)) == Printable(nasty));
}

TEST_CASE("an error's message is escaped when it is made, so a NUL cannot cut it", "[printable]") {
  fomo::Error e(std::string("unexpected tensor 'a\0b\nc'", 25));
  REQUIRE(std::string(e.what()) == "unexpected tensor 'a\\0b\\nc'");
}
