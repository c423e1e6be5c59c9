#include <nlohmann/json.hpp>

#include "catch.hpp"
#include "core/tokenizer.hpp"
#include "test_support.hpp"

using namespace fomo;

TEST_CASE("every reference tokenizer case gives exactly the listed ids", "[tokenizer]") {
  const auto& tokenizer = core::ClipTokenizer::Default();
  auto cases = nlohmann::json::parse(fomo::test::ReadFile(fomo::test::DataFile("clip_tokenizer_cases.json")));
  REQUIRE(tokenizer.sot() == cases["sot"].get<int64_t>());
  REQUIRE(tokenizer.eot() == cases["eot"].get<int64_t>());
  REQUIRE(tokenizer.vocab_size() == cases["vocab_size"].get<size_t>());
  for (const auto& c : cases["cases"]) {
    std::string text = c["text"];
    INFO("text: " << text);
    REQUIRE(tokenizer.Encode(text) == c["bpe_ids"].get<std::vector<int64_t>>());
    REQUIRE(tokenizer.EncodeContext(text, 77) == c["context77"].get<std::vector<int64_t>>());
  }
}

TEST_CASE("captions are cleaned as CLIP cleans them", "[tokenizer]") {
  REQUIRE(core::CleanCaption("  A &amp;amp; B\t\nC  ") == "a & b c");
  REQUIRE(core::CleanCaption("&#39;Caf&#xE9;&#39;") == "'café'");
  REQUIRE(core::CleanCaption("ÄÖÜ") == "äöü");
}

TEST_CASE("truncation keeps the end token last", "[tokenizer]") {
  const auto& tokenizer = core::ClipTokenizer::Default();
  auto ids = tokenizer.EncodeContext("one two three four five six", 4);
  REQUIRE(ids.size() == 4);
  REQUIRE(ids.front() == tokenizer.sot());
  REQUIRE(ids.back() == tokenizer.eot());
  auto padded = tokenizer.EncodeContext("cat", 8);
  REQUIRE(padded == std::vector<int64_t>{tokenizer.sot(), 2368, tokenizer.eot(), 0, 0, 0, 0, 0});
}

TEST_CASE("invalid UTF-8 does not break the tokenizer", "[tokenizer]") {
  const auto& tokenizer = core::ClipTokenizer::Default();
  REQUIRE_FALSE(tokenizer.Encode(std::string("bad \xff\xfe bytes")).empty());
}
