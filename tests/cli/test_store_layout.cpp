// Stores on disk: a repository written before pack files still reads and keeps its
// layout until gc upgrades it; gc packs small objects and the graph; a gc killed at
// any point of its repack loses nothing.
#include <signal.h>

#include <algorithm>
#include <cstdlib>

#include <nlohmann/json.hpp>

#include "catch.hpp"
#include "test_support.hpp"

using namespace fomo::test;
using nlohmann::json;

namespace {

size_t LooseObjectFiles(const fs::path& repo) {
  size_t n = 0;
  for (const auto& e : fs::recursive_directory_iterator(repo / ".fomo" / "objects")) {
    n += e.is_regular_file() && e.path().parent_path().filename().string().size() == 2;
  }
  return n;
}

size_t Packs(const fs::path& repo) {
  size_t n = 0;
  std::error_code ec;
  for (const auto& e : fs::directory_iterator(repo / ".fomo" / "objects" / "pack", ec)) n += e.path().extension() == ".fpk";
  return n;
}

size_t LooseGraphObjects(const fs::path& repo) {
  size_t n = 0;
  for (const auto& e : fs::recursive_directory_iterator(repo / ".fomo" / "graph" / "objects")) {
    n += e.is_regular_file() && e.path().parent_path().filename().string().size() == 2;
  }
  return n;
}

struct OldRepository {
  TempDir dir;
  fs::path repo = dir / "repo";
  std::vector<fs::path> checkpoints;  // v1.0.0, v1.0.1, v1.0.2

  OldRepository() {
    fs::create_directories(repo);
    const std::string untar =
        "tar -xzf '" + DataFile("old_layout_repo.tar.gz").string() + "' -C '" + repo.string() + "'";
    REQUIRE(std::system(untar.c_str()) == 0);
    checkpoints = {DataFile("openai_clip_tiny.safetensors"), dir / "b1.safetensors", dir / "b2.safetensors"};
    REQUIRE(RunGen({"update", checkpoints[0].string(), "-o", checkpoints[1].string(), "--kind", "bitfit", "--seed", "1"})
                .exit_code == 0);
    REQUIRE(RunGen({"update", checkpoints[1].string(), "-o", checkpoints[2].string(), "--kind", "bitfit", "--seed", "2"})
                .exit_code == 0);
  }

  void ExpectEveryVersion() {
    for (size_t v = 0; v < checkpoints.size(); ++v) {
      const fs::path out = dir / ("export" + std::to_string(v) + ".safetensors");
      RunResult exported = RunFomo({"export", "v1.0." + std::to_string(v), "-o", out.string()}, repo);
      INFO(exported.err);
      REQUIRE(exported.exit_code == 0);
      CHECK(TensorBytes(out) == TensorBytes(checkpoints[v]));
    }
    RunResult fsck = RunFomo({"fsck", "--json"}, repo);
    INFO(fsck.out << fsck.err);
    REQUIRE(fsck.exit_code == 0);
  }
};

}  // namespace

TEST_CASE("a repository of the old layout reads, is written in its layout, and gc upgrades it", "[cli][pack]") {
  OldRepository old;
  const fs::path& repo = old.repo;
  REQUIRE_FALSE(fs::exists(repo / ".fomo" / "objects" / "FORMAT"));
  const size_t loose_before = LooseObjectFiles(repo);
  REQUIRE(loose_before > 100);
  old.ExpectEveryVersion();
  const json log = json::parse(RunFomo({"log", "--json"}, repo).out);
  REQUIRE(log.size() == 3);
  // --quick can hash none of these objects' bytes, and says so.
  RunResult quick = RunFomo({"fsck", "--quick"}, repo);
  REQUIRE(quick.exit_code == 0);
  CHECK_THAT(quick.out, HasSubstr("old layout"));

  // A commit keeps the old layout: an older fomo still reads this repository.
  const fs::path b3 = old.dir / "b3.safetensors";
  REQUIRE(RunGen({"update", old.checkpoints[2].string(), "-o", b3.string(), "--kind", "bitfit", "--seed", "3"}).exit_code ==
          0);
  RunResult commit = RunFomo({"commit", b3.string(), "-q", "--no-eval"}, repo);
  INFO(commit.err);
  REQUIRE(commit.exit_code == 0);
  old.checkpoints.push_back(b3);
  CHECK_FALSE(fs::exists(repo / ".fomo" / "objects" / "FORMAT"));
  CHECK(Packs(repo) == 0);
  CHECK(LooseObjectFiles(repo) > loose_before);
  const uint64_t content = json::parse(RunFomo({"du", "--json"}, repo).out)["store"]["bytes"];

  // gc upgrades it: small objects into one pack, the graph into one git pack.
  RunResult gc = RunFomo({"gc", "--json"}, repo);
  INFO(gc.err);
  REQUIRE(gc.exit_code == 0);
  const json report = json::parse(gc.out);
  CHECK(report["loose_objects_packed"].get<size_t>() > 100);
  CHECK(report["graph"]["objects_packed"].get<size_t>() > 0);
  CHECK(fomo::test::ReadFile(repo / ".fomo" / "objects" / "FORMAT") == "3\n");  // the current format
  CHECK(Packs(repo) == 1);
  CHECK(LooseObjectFiles(repo) < 20);  // the large tensors stay files of their own
  CHECK(LooseGraphObjects(repo) == 0);
  const json du = json::parse(RunFomo({"du", "--json"}, repo).out);
  CHECK(du["store"]["bytes"] == content);  // the same objects, moved
  CHECK(du["store"]["disk_bytes"].get<double>() < 1.05 * du["store"]["bytes"].get<double>() + 8192);
  old.ExpectEveryVersion();
  if (fs::exists("/usr/bin/git")) {  // git itself reads the packed graph
    RunResult git_log = RunProgram({"/usr/bin/git", "--git-dir", (repo / ".fomo" / "graph").string(), "log", "--oneline"}, repo);
    CHECK(std::count(git_log.out.begin(), git_log.out.end(), '\n') == 4);
  }

  // A new commit now writes the new layout: its small objects in a pack of their own.
  const fs::path b4 = old.dir / "b4.safetensors";
  REQUIRE(RunGen({"update", b3.string(), "-o", b4.string(), "--kind", "bitfit", "--seed", "4"}).exit_code == 0);
  const size_t loose_after_gc = LooseObjectFiles(repo);
  REQUIRE(RunFomo({"commit", b4.string(), "-q", "--no-eval"}, repo).exit_code == 0);
  old.checkpoints.push_back(b4);
  CHECK(Packs(repo) == 2);
  CHECK(LooseObjectFiles(repo) == loose_after_gc);  // a BitFit update's tensors are all small
  old.ExpectEveryVersion();
}

TEST_CASE("a gc killed at any point of its repack leaves every version readable", "[cli][pack][crash]") {
  // The upgrade from the old layout (loose files to remove), then a repack of a
  // new-layout store (earlier packs to remove).
  const std::vector<std::pair<std::string, bool>> cases = {{"repack-written", false},
                                                           {"repack-loose-removed", false},
                                                           {"repack-written", true},
                                                           {"repack-pack-removed", true}};
  for (const auto& [point, upgraded] : cases) {
    DYNAMIC_SECTION(point << (upgraded ? " (packs)" : " (upgrade)")) {
      OldRepository old;
      if (upgraded) {
        REQUIRE(RunFomo({"gc", "-q"}, old.repo).exit_code == 0);
        const fs::path b3 = old.dir / "b3.safetensors";
        REQUIRE(RunGen({"update", old.checkpoints[2].string(), "-o", b3.string(), "--kind", "dense", "--seed", "3"})
                    .exit_code == 0);
        REQUIRE(RunFomo({"commit", b3.string(), "-q", "--no-eval"}, old.repo).exit_code == 0);
        old.checkpoints.push_back(b3);
        REQUIRE(Packs(old.repo) == 2);
      }
      RunResult killed = RunFomo({"gc", "-q"}, old.repo, {{"FOMO_CRASH_AT", point}});
      REQUIRE(killed.exit_code == -SIGKILL);
      old.ExpectEveryVersion();
      // The next gc finishes the work.
      REQUIRE(RunFomo({"gc", "-q"}, old.repo).exit_code == 0);
      CHECK(Packs(old.repo) == 1);
      CHECK(LooseObjectFiles(old.repo) < 40);
      old.ExpectEveryVersion();
    }
  }
}
