#include "catch.hpp"
#include "storage/error.hpp"
#include "storage/graph.hpp"
#include "test_support.hpp"

using namespace fomo;

TEST_CASE("commits, branches, tags and revisions behave as in git", "[graph]") {
  fomo::test::TempDir dir;
  Graph graph = Graph::Init(dir / "graph", "main");
  REQUIRE(graph.Head().branch == std::string("main"));
  REQUIRE_FALSE(graph.Head().commit);

  CommitId first = graph.WriteCommit({{"a.json", "1"}}, {}, "first");
  graph.SetBranch("main", first, "test");
  graph.CreateTag("v1.0.0", first);
  CommitId second = graph.WriteCommit({{"a.json", "2"}}, {first}, "second");
  graph.SetBranch("main", second, "test");
  graph.CreateTag("v1.0.1", second);

  REQUIRE(graph.Head().commit == second);
  REQUIRE(graph.Resolve("HEAD") == second);
  REQUIRE(graph.Resolve("HEAD~1") == first);
  REQUIRE(graph.Resolve("v1.0.0") == first);
  REQUIRE(graph.Resolve("1.0.0") == first);
  REQUIRE(graph.Resolve("main") == second);
  REQUIRE(graph.Resolve(second.substr(0, 8)) == second);
  REQUIRE_FALSE(graph.Resolve("v9.9.9"));
  REQUIRE_FALSE(graph.Resolve("HEAD~5"));
  REQUIRE(graph.ReadFile(first, "a.json") == std::string("1"));
  REQUIRE_FALSE(graph.ReadFile(first, "b.json"));
  REQUIRE(graph.ReadCommit(second).parents == std::vector<CommitId>{first});
  REQUIRE(graph.Walk({second}) == std::vector<CommitId>{second, first});
  REQUIRE_THROWS_WITH(graph.CreateTag("v1.0.0", second), HasSubstr("already exists"));

  CommitId merge = graph.WriteCommit({{"a.json", "3"}}, {second, first}, "merge");
  REQUIRE(graph.ReadCommit(merge).parents.size() == 2);

  graph.SetBranch("exp", first, "test");
  graph.SetHeadToBranch("exp");
  REQUIRE(graph.Head().commit == first);
  REQUIRE(graph.Branches() == std::vector<std::string>{"exp", "main"});
  graph.SetHeadDetached(second);
  REQUIRE_FALSE(graph.Head().branch);
  REQUIRE(graph.Head().commit == second);
}
