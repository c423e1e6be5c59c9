// fomo log --graph draws every parent edge: the drawing, read back lane by lane,
// gives the graph's parent relations exactly; git's own drawing of the same graph,
// read the same way, gives the same relations (which checks the reader).
#include <map>
#include <regex>
#include <set>
#include <tuple>
#include <sstream>

#include <nlohmann/json.hpp>

#include "catch.hpp"
#include "test_support.hpp"

using namespace fomo::test;

namespace {

using Edges = std::set<std::pair<std::string, std::string>>;  // (child, parent) short ids

// Follows the lanes of an ASCII graph: a `*` ends the edges arriving in its column
// (they come from children of that commit) and starts its own; `|`, `/` and `\`
// carry edges down, straight, left and right. Where two lanes share a column for a
// row (one crossing another), each keeps its direction, as the eye reads it.
Edges ReadDrawing(const std::string& text, size_t id_length) {
  struct Lane {
    std::string child;
    int direction;  // -1 left, 0 down, +1 right; 2: fresh from its `*`, free to split
    bool operator<(const Lane& o) const { return std::tie(child, direction) < std::tie(o.child, o.direction); }
  };
  Edges edges;
  std::map<size_t, std::set<Lane>> open;  // column -> edges in it
  std::istringstream lines(text);
  std::string line;
  while (std::getline(lines, line)) {
    const size_t star = line.find('*');
    size_t graph_end = line.find_first_not_of("|/\\* ");
    if (graph_end == std::string::npos) graph_end = line.size();
    auto at = [&](size_t p, char c) { return p < graph_end && line[p] == c; };
    if (star != std::string::npos && star < graph_end) {
      const std::string id = line.substr(graph_end, id_length);
      const size_t column = star / 2;
      std::map<size_t, std::set<Lane>> next;
      for (const auto& [k, lanes] : open) {
        for (const auto& lane : lanes) {
          if (k == column) {
            edges.insert({lane.child, id});
          } else if (at(2 * k, '|')) {
            next[k].insert({lane.child, 0});
          }
        }
      }
      next[column].insert({id, 2});
      open = next;
      continue;
    }
    std::map<size_t, std::set<Lane>> next;
    for (const auto& [k, lanes] : open) {
      for (const auto& lane : lanes) {
        const bool down = at(2 * k, '|'), left = k > 0 && at(2 * k - 1, '/'), right = at(2 * k + 1, '\\');
        if (lane.direction == 2) {  // a merge's lines open here: one edge per way out
          if (down) next[k].insert({lane.child, 0});
          if (left) next[k - 1].insert({lane.child, -1});
          if (right) next[k + 1].insert({lane.child, 1});
          continue;
        }
        int d = lane.direction;
        if (!(d == 0 && down) && !(d < 0 && left) && !(d > 0 && right)) d = down ? 0 : left ? -1 : right ? 1 : 2;
        if (d == 2) continue;  // the lane ends here
        next[k + d].insert({lane.child, d});
      }
    }
    open = next;
  }
  return edges;
}

std::string Describe(const Edges& edges) {
  std::string out;
  for (const auto& [child, parent] : edges) out += child + " -> " + parent + "\n";
  return out;
}

}  // namespace

TEST_CASE("log --graph draws every parent edge, as git's log --graph does", "[cli][log]") {
  TempDir dir;
  InitReference(dir.path());
  const fs::path base = dir / "base.safetensors";
  REQUIRE(RunFomo({"export", "-o", base.string(), "-q"}, dir.path()).exit_code == 0);
  auto commit = [&](int seed) {
    const fs::path update = dir / ("u" + std::to_string(seed) + ".safetensors");
    REQUIRE(RunGen({"update", base.string(), "-o", update.string(), "--kind", "dense", "--seed", std::to_string(seed)})
                .exit_code == 0);
    REQUIRE(RunFomo({"commit", update.string(), "--no-eval", "-q"}, dir.path()).exit_code == 0);
  };
  auto fomo = [&](const std::vector<std::string>& args) {
    RunResult r = RunFomo(args, dir.path());
    INFO(r.err);
    REQUIRE(r.exit_code == 0);
    return r.out;
  };
  // Two merges; the second merges a line whose parent is drawn further down.
  commit(1);                                // v1.0.1 on main
  fomo({"switch", "-c", "side", "v1.0.0", "-q"});
  commit(2);                                // v1.0.2 on side
  fomo({"switch", "main", "-q"});
  commit(3);                                // v1.0.3 on main
  fomo({"switch", "-c", "side2", "v1.0.1", "-q"});
  commit(4);                                // v1.0.4 on side2
  fomo({"switch", "main", "-q"});
  fomo({"merge", "main", "side", "--no-eval", "-q"});
  fomo({"merge", "main", "side2", "--no-eval", "-q"});

  const std::string drawing = fomo({"log", "--graph", "--all", "--oneline"});
  INFO(drawing);
  Edges truth;
  RunResult parents = RunProgram({"/usr/bin/git", "--git-dir", (dir / ".fomo" / "graph").string(), "log", "--all",
                                  "--format=%h %p", "--abbrev=10"},
                                 dir.path());
  REQUIRE(parents.exit_code == 0);
  std::istringstream rows(parents.out);
  std::string row;
  while (std::getline(rows, row)) {
    std::istringstream words(row);
    std::string child, parent;
    words >> child;
    while (words >> parent) truth.insert({child, parent});
  }
  REQUIRE(truth.size() == 8);  // four single-parent versions and two merges of two
  INFO("the graph:\n" << Describe(truth));
  INFO("read from fomo's drawing:\n" << Describe(ReadDrawing(drawing, 10)));
  CHECK(ReadDrawing(drawing, 10) == truth);

  RunResult git = RunProgram({"/usr/bin/git", "--git-dir", (dir / ".fomo" / "graph").string(), "log", "--graph",
                              "--all", "--format=%h", "--abbrev=10"},
                             dir.path());
  REQUIRE(git.exit_code == 0);
  // The one-line rows read only version numbers; with --metrics they read whole
  // versions. Both give the same rows, numbers aside.
  std::string with_numbers = fomo({"log", "--graph", "--all", "--oneline", "--metrics"});
  with_numbers = std::regex_replace(with_numbers, std::regex(" A_KA +\\S+  A_ZS +\\S+  gm +\\S+"), "");
  CHECK(with_numbers == drawing);
  INFO(git.out);
  INFO("read from git's drawing:\n" << Describe(ReadDrawing(git.out, 10)));
  CHECK(ReadDrawing(git.out, 10) == truth);
}

TEST_CASE("log -n N shows the first N versions of the whole log, with merges, forks and side lines", "[cli][log]") {
  TempDir dir;
  InitReference(dir.path());
  const fs::path base = dir / "base.safetensors";
  REQUIRE(RunFomo({"export", "-o", base.string(), "-q"}, dir.path()).exit_code == 0);
  auto fomo = [&](const std::vector<std::string>& args) {
    RunResult r = RunFomo(args, dir.path());
    INFO(r.err);
    REQUIRE(r.exit_code == 0);
    return r.out;
  };
  auto commit = [&](int seed) {
    const fs::path update = dir / ("u" + std::to_string(seed) + ".safetensors");
    REQUIRE(RunGen({"update", base.string(), "-o", update.string(), "--kind", "dense", "--seed", std::to_string(seed)})
                .exit_code == 0);
    fomo({"commit", update.string(), "--no-eval", "-q"});
  };
  // A line with a merge-based pattern (merge of the tip and a side version), a
  // side line merged later, and a merge of two side versions (a fork/ branch).
  for (int i = 1; i <= 3; ++i) commit(i);
  fomo({"switch", "-c", "side", "v1.0.1", "-q"});
  commit(10);
  commit(11);
  fomo({"switch", "main", "-q"});
  fomo({"merge", "main", "side", "--no-eval", "-q"});
  commit(4);
  fomo({"switch", "-c", "other", "v1.0.2", "-q"});
  commit(20);
  fomo({"switch", "main", "-q"});
  fomo({"merge", "side", "other", "--no-eval", "-q"});
  commit(5);
  REQUIRE(fomo({"branch"}).find("fork/") != std::string::npos);
  // A candidate the gate turned down (the reference model measures nothing, so the
  // gate fails closed): a rejected/ line.
  REQUIRE(RunFomo({"merge", "v1.0.3", "v1.0.2", "--require", "retention >= parent.retention", "-q"}, dir.path())
              .exit_code == 3);
  REQUIRE(fomo({"branch"}).find("rejected/") != std::string::npos);

  auto lines = [](const std::string& text) {
    std::vector<std::string> out;
    std::istringstream in(text);
    for (std::string line; std::getline(in, line);) out.push_back(line);
    return out;
  };
  for (const std::vector<std::string>& scope : {std::vector<std::string>{}, std::vector<std::string>{"--all"}}) {
    std::vector<std::string> args = {"log", "--oneline"};
    args.insert(args.end(), scope.begin(), scope.end());
    const std::vector<std::string> all = lines(fomo(args));
    REQUIRE(all.size() >= 9);
    for (size_t n = 0; n <= all.size() + 1; ++n) {
      std::vector<std::string> limited = args;
      limited.insert(limited.end(), {"-n", std::to_string(n)});
      const std::vector<std::string> expected(all.begin(), all.begin() + static_cast<long>(std::min(n, all.size())));
      INFO("log -n " << n << (scope.empty() ? "" : " --all"));
      CHECK(lines(fomo(limited)) == expected);
    }
  }

  // Decorations are git's: every commit's tags and branches as `git log --all %D`
  // names them on the same graph, whether the refs are loose or packed (gc).
  const std::string git = "/usr/bin/git";
  if (!fs::exists(git)) FOMO_SKIP("git is not installed (scripts/setup.sh installs it)");
  for (int packed = 0; packed < 2; ++packed) {
    if (packed) fomo({"gc", "-q"});
    using Refs = std::map<std::string, std::set<std::string>>;
    Refs by_git, by_fomo;
    RunResult g = RunProgram({git, "--git-dir=" + (dir / ".fomo" / "graph").string(), "log", "--all", "--format=%H %D"},
                             dir.path());
    REQUIRE(g.exit_code == 0);
    for (const std::string& line : lines(g.out)) {
      const std::string id = line.substr(0, 40);
      std::set<std::string>& names = by_git[id];
      std::string rest = line.size() > 41 ? line.substr(41) : "";
      for (size_t at = 0; at < rest.size();) {
        size_t end = rest.find(", ", at);
        if (end == std::string::npos) end = rest.size();
        std::string name = rest.substr(at, end - at);
        if (name.rfind("HEAD -> ", 0) == 0) name = name.substr(8);
        if (name.rfind("tag: ", 0) == 0) name = "tag " + name.substr(5);
        if (name != "HEAD") names.insert(name);
        at = end + 2;
      }
    }
    for (const auto& v : nlohmann::json::parse(fomo({"log", "--all", "--json"}))) {
      std::set<std::string>& names = by_fomo[v["commit"].get<std::string>()];
      for (const auto& b : v["branches"]) names.insert(b.get<std::string>());
      for (const auto& t : v["tags"]) names.insert("tag " + t.get<std::string>());
    }
    INFO((packed ? "after gc" : "loose refs"));
    CHECK(by_fomo == by_git);
  }
}

