#include "catch.hpp"
#include "storage/error.hpp"
#include "storage/repo_config.hpp"

using namespace fomo;

TEST_CASE("the fomo.yaml template parses to the defaults", "[config]") {
  RepoConfig config = RepoConfig::Parse(RepoConfig::Template(), "fomo.yaml");
  REQUIRE(config.storage.zstd_level == 1);
  REQUIRE(config.storage.max_chain == 8);
  REQUIRE(config.storage.threads == 0);
}

TEST_CASE("fomo.yaml settings are read and checked", "[config]") {
  RepoConfig config = RepoConfig::Parse("storage:\n  zstd_level: 5\n  max_chain: 2\n", "fomo.yaml");
  REQUIRE(config.storage.zstd_level == 5);
  REQUIRE(config.storage.max_chain == 2);
  REQUIRE_THROWS_WITH(RepoConfig::Parse("storage:\n  zstd_level: [1\n", "fomo.yaml"),
                      HasSubstr("fomo.yaml: line"));
  REQUIRE_THROWS_WITH(RepoConfig::Parse("storage:\n  zstd_level: fast\n", "fomo.yaml"),
                      HasSubstr("storage.zstd_level must be an integer"));
  REQUIRE_THROWS_WITH(RepoConfig::Parse("storage:\n  zstd_level: 40\n", "fomo.yaml"),
                      HasSubstr("between 1 and 19"));
  REQUIRE_THROWS_WITH(RepoConfig::Parse("storage:\n  levle: 4\n", "fomo.yaml"),
                      HasSubstr("unknown key 'storage.levle'"));
  REQUIRE_THROWS_WITH(RepoConfig::Parse("stroage: {}\n", "fomo.yaml"), HasSubstr("unknown section"));
  REQUIRE_THROWS_WITH(RepoConfig::Parse("- a\n- b\n", "fomo.yaml"), HasSubstr("mapping"));
}

TEST_CASE("deeply nested YAML is refused with its depth, not a crash", "[config][hostile]") {
  REQUIRE_THROWS_WITH(fomo::RepoConfig::Parse("storage: " + std::string(100000, '['), "fomo.yaml"),
                      HasSubstr("fomo.yaml: line 1") && HasSubstr("nesting deeper than"));
  REQUIRE_THROWS_WITH(fomo::RepoConfig::Parse("a: [1\n", "fomo.yaml"), HasSubstr("fomo.yaml: line 2, column 1"));
}
