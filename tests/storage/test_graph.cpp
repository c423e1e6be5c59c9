#include <git2.h>

#include <algorithm>
#include <random>

#include "catch.hpp"
#include "storage/error.hpp"
#include "storage/graph.hpp"
#include "test_support.hpp"

using namespace fomo;

namespace {

// A commit of a.json = content that main moves to, tagged.
CommitId CommitOnMain(Graph& graph, const std::string& content, const std::vector<CommitId>& parents,
                      const std::string& message, const std::string& tag) {
  CommitId id = graph.WriteCommit({{"a.json", content}}, parents, message);
  graph.SetBranch("main", id, "test");
  graph.CreateTag(tag, id);
  return id;
}

}  // namespace

TEST_CASE("commits, branches, tags and revisions behave as in git", "[graph]") {
  fomo::test::TempDir dir;
  Graph graph = Graph::Init(dir / "graph", "main");
  REQUIRE(graph.Head().branch == std::string("main"));
  REQUIRE_FALSE(graph.Head().commit);

  CommitId first = CommitOnMain(graph, "1", {}, "first", "v1.0.0");
  CommitId second = CommitOnMain(graph, "2", {first}, "second", "v1.0.1");

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

namespace {

// Commits with chosen committer times (ties and clock skew included), written
// straight through libgit2 beside a Graph, which reads them.
class TimedCommits {
 public:
  explicit TimedCommits(const fs::path& dir) {
    REQUIRE(git_repository_open(&repo_, dir.c_str()) == 0);
    git_treebuilder* builder = nullptr;
    REQUIRE(git_treebuilder_new(&builder, repo_, nullptr) == 0);
    REQUIRE(git_treebuilder_write(&tree_id_, builder) == 0);
    git_treebuilder_free(builder);
    REQUIRE(git_tree_lookup(&tree_, repo_, &tree_id_) == 0);
  }
  ~TimedCommits() {
    git_tree_free(tree_);
    git_repository_free(repo_);
  }
  CommitId Make(const std::vector<CommitId>& parents, int64_t time) {
    git_signature* sig = nullptr;
    REQUIRE(git_signature_new(&sig, "t", "t@localhost", time, 0) == 0);
    std::vector<git_commit*> objects;
    for (const auto& p : parents) {
      git_oid oid;
      REQUIRE(git_oid_fromstr(&oid, p.c_str()) == 0);
      git_commit* c = nullptr;
      REQUIRE(git_commit_lookup(&c, repo_, &oid) == 0);
      objects.push_back(c);
    }
    std::vector<const git_commit*> const_objects(objects.begin(), objects.end());
    git_oid id;
    const std::string message = "c" + std::to_string(counter_++);
    REQUIRE(git_commit_create(&id, repo_, nullptr, sig, sig, "UTF-8", message.c_str(), tree_, const_objects.size(),
                              const_objects.data()) == 0);
    for (auto* c : objects) git_commit_free(c);
    git_signature_free(sig);
    char hex[GIT_OID_HEXSZ + 1];
    git_oid_tostr(hex, sizeof(hex), &id);
    return hex;
  }

 private:
  git_repository* repo_ = nullptr;
  git_oid tree_id_{};
  git_tree* tree_ = nullptr;
  int counter_ = 0;
};

void RequireSamePrefixes(const Graph& graph, const std::vector<CommitId>& starts) {
  const std::vector<CommitId> all = graph.Walk(starts);
  for (size_t limit : {size_t{0}, size_t{1}, size_t{2}, size_t{3}, size_t{5}, size_t{10}, all.size(), all.size() + 3}) {
    std::vector<CommitId> prefix(all.begin(), all.begin() + static_cast<long>(std::min(limit, all.size())));
    REQUIRE(graph.WalkFirst(starts, limit) == prefix);
  }
}

}  // namespace

TEST_CASE("the first commits of a walk come in the full walk's order, for any graph", "[graph]") {
  // Random graphs of 60 commits: a main line with side branches, merges of two
  // and three parents, times from a handful of seconds (ties) and some skew
  // (children older than their parents).
  for (uint32_t seed = 1; seed <= 40; ++seed) {
    fomo::test::TempDir dir;
    Graph graph = Graph::Init(dir / "graph", "main");
    TimedCommits timed(dir / "graph");
    std::mt19937 rng(seed);
    std::vector<CommitId> commits = {timed.Make({}, 1000)};
    std::vector<int64_t> times = {1000};
    const bool ties = seed % 2 == 0;
    for (int i = 1; i < 60; ++i) {
      std::vector<CommitId> parents = {commits[rng() % commits.size()]};
      if (rng() % 4 == 0) parents.push_back(commits[rng() % commits.size()]);
      if (rng() % 10 == 0) parents.push_back(commits[rng() % commits.size()]);
      std::sort(parents.begin(), parents.end());
      parents.erase(std::unique(parents.begin(), parents.end()), parents.end());
      const int64_t time = ties ? 1000 + static_cast<int64_t>(rng() % 4) : 1000 + i * 10 - static_cast<int64_t>(rng() % 25);
      commits.push_back(timed.Make(parents, time));
    }
    INFO("seed " << seed);
    RequireSamePrefixes(graph, {commits.back()});
    RequireSamePrefixes(graph, {commits[commits.size() - 1], commits[commits.size() - 2], commits[30]});
  }
}

TEST_CASE("the first commits of a long line cost about as many reads, merge-based updates included", "[graph]") {
  fomo::test::TempDir dir;
  Graph graph = Graph::Init(dir / "graph", "main");
  TimedCommits timed(dir / "graph");
  // 300 versions, each a merge of the line and a finetuned child of it (as a
  // merge-based update records them), all in one second as a fast script makes them.
  CommitId tip = timed.Make({}, 5000);
  for (int i = 0; i < 300; ++i) {
    const CommitId finetuned = timed.Make({tip}, 5000);
    tip = timed.Make({tip, finetuned}, 5000);
  }
  size_t reads = 0;
  const auto first = graph.WalkFirst({tip}, 10, &reads);
  REQUIRE(first.size() == 10);
  CHECK(reads < 40);
  RequireSamePrefixes(graph, {tip});
  // A plain line, with clock skew.
  CommitId line = timed.Make({}, 9000);
  for (int i = 0; i < 300; ++i) line = timed.Make({line}, 9000 - (i % 7) * 100);
  graph.WalkFirst({line}, 10, &reads);
  CHECK(reads <= 11);
  RequireSamePrefixes(graph, {line});
}

TEST_CASE("tags read the same loose and packed, lightweight and annotated", "[graph][refs]") {
  fomo::test::TempDir dir;
  Graph graph = Graph::Init(dir / "graph", "main");
  CommitId first = CommitOnMain(graph, "1", {}, "first", "v1.0.0");
  CommitId second = CommitOnMain(graph, "2", {first}, "second", "v1.0.1");
  {
    // An annotated tag, as `git tag -a` on the graph would make.
    git_repository* repo = nullptr;
    REQUIRE(git_repository_open(&repo, (dir / "graph").c_str()) == 0);
    git_oid oid, tag_oid;
    REQUIRE(git_oid_fromstr(&oid, first.c_str()) == 0);
    git_object* target = nullptr;
    REQUIRE(git_object_lookup(&target, repo, &oid, GIT_OBJECT_COMMIT) == 0);
    git_signature* who = nullptr;
    REQUIRE(git_signature_new(&who, "t", "t@example.com", 1700000000, 0) == 0);
    REQUIRE(git_tag_create(&tag_oid, repo, "release-notes", target, who, "annotated", 0) == 0);
    git_signature_free(who);
    git_object_free(target);
    git_repository_free(repo);
  }
  const std::map<std::string, CommitId> expected = {
      {"v1.0.0", first}, {"v1.0.1", second}, {"release-notes", first}};
  CHECK(graph.Tags() == expected);
  graph.Pack();  // packed-refs with peel lines: tags are read without their objects
  CHECK(graph.Tags() == expected);
  // A loose ref made after packing overrides the packed one of the same name.
  graph.DeleteTag("v1.0.1");
  graph.CreateTag("v1.0.1", first);
  CHECK(graph.Tags().at("v1.0.1") == first);
  CHECK(Graph::Open(dir / "graph").Tags().at("release-notes") == first);
}
