// A repository made from the reference checkpoint, and the check every refused
// command passes: its exit code, one line on stderr naming the problem, and the
// repository exactly as it was.
#pragma once

#include <algorithm>
#include <string>
#include <vector>

#include "catch.hpp"
#include "test_support.hpp"

namespace fomo::test {

struct ReferenceRepo {
  TempDir dir;
  fs::path repo = dir / "repo";
  ReferenceRepo() {
    fs::create_directories(repo);
    InitReference(repo);
  }
  RunResult Fomo(const std::vector<std::string>& args) const { return RunFomo(args, repo); }
};

inline size_t Lines(const std::string& text) { return static_cast<size_t>(std::count(text.begin(), text.end(), '\n')); }

inline void ExpectRefused(const ReferenceRepo& f, const std::vector<std::string>& args, int code,
                          const std::string& message) {
  auto before = RepositorySnapshot(f.repo);
  RunResult r = f.Fomo(args);
  INFO("stderr: " << r.err);
  REQUIRE(r.exit_code == code);
  REQUIRE_THAT(r.err, HasSubstr(message));
  REQUIRE(Lines(r.err) == 1);
  REQUIRE(RepositorySnapshot(f.repo) == before);
}

}  // namespace fomo::test
