// End-to-end runs of the fomo binary on real files.
#include <csignal>

#include <nlohmann/json.hpp>

#include "catch.hpp"
#include "test_support.hpp"

using namespace fomo::test;
using nlohmann::json;

namespace {

// A derived checkpoint: dense small changes to every tensor, or only biases and norms.
fs::path Derive(const TempDir& dir, const fs::path& from, const std::string& kind, int seed) {
  fs::path out = dir / (kind + std::to_string(seed) + ".safetensors");
  RunResult r = RunGen({"update", from.string(), "-o", out.string(), "--kind", kind, "--seed", std::to_string(seed)});
  REQUIRE(r.exit_code == 0);
  return out;
}

json Json(const RunResult& r) {
  INFO(r.err);
  REQUIRE(r.exit_code == 0);
  return json::parse(r.out);
}

uint64_t LittleEndian(const std::string& bytes, size_t at, int width) {
  uint64_t v = 0;
  for (int i = 0; i < width; ++i) v |= static_cast<uint64_t>(static_cast<uint8_t>(bytes[at + i])) << (8 * i);
  return v;
}

// Bytes of the objects in a repository's store, read from the disk: loose object
// files whole, and of each pack its records (the file less its 8-byte header, its
// index of 44 bytes an entry and its 52-byte trailer, as storage/pack.hpp lays out).
uint64_t StoreBytes(const fs::path& root) {
  uint64_t total = 0;
  for (const auto& e : fs::recursive_directory_iterator(root / ".fomo" / "objects")) {
    const std::string name = e.path().filename().string();
    if (!e.is_regular_file() || name == "FORMAT") continue;
    if (e.path().extension() != ".fpk") {
      total += e.file_size();
      continue;
    }
    const std::string pack = ReadFile(e.path());
    const uint64_t count = LittleEndian(pack, pack.size() - 52, 8);
    total += pack.size() - 8 - 44 * count - 52;
  }
  return total;
}

}  // namespace

TEST_CASE("init, commit, log, show, diff and export work end to end", "[cli]") {
  TempDir dir;
  fs::path repo = dir / "repo";
  fs::path base = DataFile("openai_clip_tiny.safetensors");
  json init = Json(RunFomo({"init", repo.string(), "--from", base.string(), "--json"}, dir.path()));
  REQUIRE(init["version"] == "1.0.0");
  REQUIRE(fs::exists(repo / "fomo.yaml"));
  REQUIRE(fs::is_directory(repo / ".fomo" / "graph"));
  REQUIRE(fs::exists(repo / ".fomo" / "fomo.sqlite"));

  fs::path dense = Derive(dir, base, "dense", 1);
  fs::path bitfit = Derive(dir, dense, "bitfit", 2);
  json v2 = Json(RunFomo({"commit", dense.string(), "-m", "dense", "--json"}, repo));
  REQUIRE(v2["version"] == "1.0.1");
  REQUIRE(v2["parents"][0] == init["commit"]);
  json v3 = Json(RunFomo({"commit", bitfit.string(), "--bump", "minor", "-m", "bitfit", "--json"}, repo));
  REQUIRE(v3["version"] == "1.1.0");
  // The BitFit-style update stores only the tensors it changed.
  REQUIRE(v3["storage"]["stored_bytes"].get<uint64_t>() * 20 < v3["storage"]["raw_bytes"].get<uint64_t>());

  SECTION("log lists newest first, as git does") {
    json log = Json(RunFomo({"log", "--json"}, repo));
    REQUIRE(log.size() == 3);
    REQUIRE(log[0]["version"] == "1.1.0");
    REQUIRE(log[2]["version"] == "1.0.0");
    for (const char* key : {"version", "commit", "parents", "message", "recipe", "budget", "metrics", "summary", "storage"}) {
      REQUIRE(log[0].contains(key));
    }
    RunResult oneline = RunFomo({"log", "--oneline"}, repo);
    REQUIRE(oneline.exit_code == 0);
    REQUIRE_THAT(oneline.out, HasSubstr("v1.1.0") && HasSubstr("HEAD -> main"));
    // The graph is a plain git repository with the same history.
    std::string git_log;
    FILE* pipe = ::popen(("git --git-dir=" + (repo / ".fomo" / "graph").string() + " log --format=%H").c_str(), "r");
    char buf[256];
    while (pipe && fgets(buf, sizeof(buf), pipe)) git_log += buf;
    if (pipe) ::pclose(pipe);
    std::string fomo_log;
    for (const auto& v : log) fomo_log += v["commit"].get<std::string>() + "\n";
    REQUIRE(git_log == fomo_log);
  }

  SECTION("show resolves versions, tags, prefixes and HEAD~n") {
    std::string commit = v2["commit"];
    for (const std::string& rev : {std::string("v1.0.1"), std::string("1.0.1"), commit.substr(0, 8),
                                   std::string("HEAD~1"), std::string("main~1")}) {
      INFO(rev);
      REQUIRE(Json(RunFomo({"show", rev, "--json"}, repo))["commit"] == commit);
    }
    json show = Json(RunFomo({"show", "--json"}, repo));
    REQUIRE(show["recipe"]["command"] == "fomo commit");
    REQUIRE(show["budget"].contains("maf"));
    REQUIRE(show["summary"]["adaptation"].is_null());
  }

  SECTION("diff reports the weight change per group") {
    json diff = Json(RunFomo({"diff", "v1.0.1", "v1.1.0", "--json"}, repo));
    REQUIRE(diff["metrics"].is_array());
    REQUIRE(diff["summary"].contains("adaptation"));
    bool saw_block = false;
    for (const auto& g : diff["weights"]) {
      // Only biases and norms moved: a block changed, but only a small share of it.
      if (g["group"] == "visual.block.0") {
        saw_block = true;
        REQUIRE(g["changed_share"].get<double>() > 0);
        REQUIRE(g["changed_share"].get<double>() < 0.1);
      }
    }
    REQUIRE(saw_block);
    json same = Json(RunFomo({"diff", "HEAD", "HEAD", "--json"}, repo));
    for (const auto& g : same["weights"]) REQUIRE(g["rel_l2"] == 0.0);
  }

  SECTION("every version exports bit-exactly in both layouts") {
    std::map<std::string, fs::path> sources = {{"v1.0.0", base}, {"v1.0.1", dense}, {"v1.1.0", bitfit}};
    for (const auto& [rev, source] : sources) {
      fs::path out = dir / (rev + ".safetensors");
      REQUIRE(RunFomo({"export", rev, "-o", out.string()}, repo).exit_code == 0);
      REQUIRE(TensorBytes(out) == TensorBytes(source));
      fs::path hf = dir / (rev + "-hf.safetensors");
      REQUIRE(RunFomo({"export", rev, "-o", hf.string(), "--layout", "hf"}, repo).exit_code == 0);
      // Re-importing the HF export into a new repository gives the same version.
      TempDir other;
      REQUIRE(RunFomo({"init", "--from", hf.string(), "-q"}, other.path()).exit_code == 0);
      fs::path again = dir / (rev + "-again.safetensors");
      REQUIRE(RunFomo({"export", "-o", again.string(), "--layout", "openai"}, other.path()).exit_code == 0);
      REQUIRE(TensorBytes(again) == TensorBytes(source));
    }
  }

  SECTION("committing the same weights again adds nothing") {
    auto before = RepositorySnapshot(repo);
    RunResult again = RunFomo({"commit", bitfit.string()}, repo);
    REQUIRE(again.exit_code == 0);
    REQUIRE_THAT(again.out, HasSubstr("nothing to commit"));
    REQUIRE(RepositorySnapshot(repo) == before);
    // --allow-empty records a version that adds no object.
    json empty = Json(RunFomo({"commit", bitfit.string(), "--allow-empty", "--json"}, repo));
    REQUIRE(empty["version"] == "1.1.1");
    REQUIRE(empty["storage"]["stored_bytes"] == 0);
  }

  SECTION("branches, switch and tags") {
    REQUIRE(RunFomo({"switch", "-c", "exp", "v1.0.0"}, repo).exit_code == 0);
    json v = Json(RunFomo({"commit", bitfit.string(), "--json"}, repo));
    // 1.0.1 is taken on main: the next free patch version is used.
    REQUIRE(v["version"] == "1.0.2");
    REQUIRE(v["parents"][0] == init["commit"]);
    json branches = Json(RunFomo({"branch", "--json"}, repo));
    REQUIRE(branches.size() == 2);
    REQUIRE(RunFomo({"tag", "prod", "v1.1.0"}, repo).exit_code == 0);
    REQUIRE(Json(RunFomo({"show", "prod", "--json"}, repo))["version"] == "1.1.0");
    REQUIRE(RunFomo({"tag", "v7.0.0"}, repo).exit_code == 2);
    REQUIRE(RunFomo({"tag", "-d", "v1.0.0"}, repo).exit_code == 1);
    REQUIRE(RunFomo({"branch", "-d", "exp"}, repo).exit_code == 1);  // HEAD is on it
    REQUIRE(RunFomo({"switch", "main"}, repo).exit_code == 0);
    REQUIRE(RunFomo({"branch", "-d", "exp"}, repo).exit_code == 0);
    // The exp version is unreachable now: gc removes what only it needed.
    json gc = Json(RunFomo({"gc", "--json"}, repo));
    REQUIRE(gc["objects_removed"].get<int>() >= 0);
    REQUIRE(RunFomo({"fsck"}, repo).exit_code == 0);
    REQUIRE(RunFomo({"switch", "--detach", "v1.0.0"}, repo).exit_code == 0);
    REQUIRE(RunFomo({"commit", dense.string()}, repo).exit_code == 1);
  }

  SECTION("status and fsck report a healthy repository") {
    json status = Json(RunFomo({"status", "--json"}, repo));
    REQUIRE(status["branch"] == "main");
    REQUIRE(status["version"] == "1.1.0");
    json fsck = Json(RunFomo({"fsck", "--json"}, repo));
    REQUIRE(fsck["ok"] == true);
    REQUIRE(fsck["versions_checked"] == 3);
    // -C runs anywhere.
    REQUIRE(Json(RunFomo({"-C", repo.string(), "show", "--json"}, dir.path()))["version"] == "1.1.0");
  }
}

TEST_CASE("the Hugging Face reference imports with its config.json", "[cli]") {
  TempDir dir;
  json init = Json(RunFomo({"init", "--from", DataFile("hf_clip_tiny.safetensors").string(), "--config",
                            DataFile("hf_clip_tiny_config.json").string(), "--json"},
                           dir.path()));
  REQUIRE(init["recipe"]["layout"] == "hf");
  // Export defaults to the layout the base came in.
  REQUIRE(RunFomo({"export", "-o", (dir / "out.safetensors").string()}, dir.path()).exit_code == 0);
  REQUIRE(TensorBytes(dir / "out.safetensors") == TensorBytes(DataFile("hf_clip_tiny.safetensors")));
}

TEST_CASE("a 20-version chain exports every version bit-exactly", "[cli]") {
  TempDir dir;
  fs::path repo = dir / "repo";
  fs::create_directories(repo);
  InitReference(repo);
  std::vector<fs::path> checkpoints = {DataFile("openai_clip_tiny.safetensors")};
  for (int v = 1; v < 20; ++v) {
    checkpoints.push_back(Derive(dir, checkpoints.back(), "dense", v));
    REQUIRE(RunFomo({"commit", checkpoints.back().string(), "-q"}, repo).exit_code == 0);
  }
  // Full frames come back every 9 versions (8 delta links at most).
  json show = Json(RunFomo({"show", "v1.0.9", "--json"}, repo));
  REQUIRE(show["storage"]["encodings"].contains("full"));
  for (int v = 0; v < 20; ++v) {
    fs::path out = dir / ("out" + std::to_string(v) + ".safetensors");
    REQUIRE(RunFomo({"export", "v1.0." + std::to_string(v), "-o", out.string()}, repo).exit_code == 0);
    REQUIRE(TensorBytes(out) == TensorBytes(checkpoints[v]));
  }
}

TEST_CASE("one flipped byte in an object is found by fsck and refused by export", "[cli][corrupt]") {
  TempDir dir;
  InitReference(dir.path());
  // The largest loose object: the token embedding's planes.
  fs::path victim;
  uintmax_t largest = 0;
  for (const auto& entry : fs::recursive_directory_iterator(dir / ".fomo" / "objects")) {
    if (entry.is_regular_file() && entry.path().extension() != ".fpk" && entry.file_size() > largest) {
      largest = entry.file_size();
      victim = entry.path();
    }
  }
  REQUIRE_FALSE(victim.empty());
  std::string bytes = ReadFile(victim);
  bytes[bytes.size() / 2] ^= 0x01;
  fs::permissions(victim, fs::perms::owner_write, fs::perm_options::add);
  WriteFile(victim, bytes);

  RunResult fsck = RunFomo({"fsck"}, dir.path());
  REQUIRE(fsck.exit_code == 1);
  std::string id = victim.parent_path().filename().string() + victim.filename().string();
  REQUIRE_THAT(fsck.err, HasSubstr(id) && HasSubstr("corrupt"));
  fs::path out = dir / "out.safetensors";
  RunResult exported = RunFomo({"export", "-o", out.string()}, dir.path());
  REQUIRE(exported.exit_code == 1);
  REQUIRE_THAT(exported.err, HasSubstr(id));
  REQUIRE_FALSE(fs::exists(out));  // no half-written checkpoint either
}

TEST_CASE("a commit reports what it added to the store, and du adds up to the store", "[cli][du]") {
  TempDir dir;
  InitReference(dir.path());
  fs::path update = dir / "u.safetensors";
  REQUIRE(RunGen({"update", DataFile("openai_clip_tiny.safetensors").string(), "-o", update.string(), "--kind",
                  "dense"}).exit_code == 0);
  REQUIRE(RunFomo({"commit", update.string(), "-q", "--no-eval"}, dir.path()).exit_code == 0);
  // v1.0.0's weights again: every object is in the store already (not in the
  // parent's manifest, but in the grandparent's), so nothing is added.
  RunResult again = RunFomo({"commit", DataFile("openai_clip_tiny.safetensors").string(), "--no-eval"}, dir.path());
  INFO(again.err);
  REQUIRE(again.exit_code == 0);
  REQUIRE_THAT(again.out, HasSubstr(", 0 B stored for"));
  auto shown = nlohmann::json::parse(RunFomo({"show", "--json"}, dir.path()).out);
  REQUIRE(shown["storage"]["stored_bytes"] == 0);

  auto store_bytes = [&] { return StoreBytes(dir.path()); };
  auto du = [&] {
    RunResult r = RunFomo({"du", "--json"}, dir.path());
    INFO(r.err);
    REQUIRE(r.exit_code == 0);
    return nlohmann::json::parse(r.out);
  };
  auto usage = du();
  REQUIRE(usage["versions"].size() == 3);
  uint64_t added = 0;
  for (const auto& v : usage["versions"]) {
    REQUIRE(v["added"].get<uint64_t>() + v["shared"].get<uint64_t>() == v["total"].get<uint64_t>());
    added += v["added"].get<uint64_t>();
  }
  REQUIRE(usage["versions"][0]["version"] == "1.0.2");
  REQUIRE(usage["versions"][0]["added"] == 0);
  REQUIRE(usage["versions"][0]["shared"] == usage["versions"][2]["total"]);
  const auto& store = usage["store"];
  REQUIRE(store["bytes"] == store_bytes());
  REQUIRE(store["packs"].get<uint64_t>() >= 1);
  REQUIRE(store["file_bytes"].get<uint64_t>() > store["bytes"].get<uint64_t>());  // packs' indexes
  REQUIRE(store["versions_added"] == added);
  REQUIRE(store["bytes"].get<uint64_t>() == added + store["delta_bases"].get<uint64_t>() +
                                               store["unreachable"].get<uint64_t>());
  REQUIRE(store["unreachable"] == 0);

  // A commit killed after writing its objects leaves them unreachable: du says
  // what gc frees, gc frees exactly that.
  fs::path other = dir / "o.safetensors";
  REQUIRE(RunGen({"update", update.string(), "-o", other.string(), "--kind", "dense", "--seed", "9"}).exit_code == 0);
  REQUIRE(RunFomo({"commit", other.string(), "-q", "--no-eval"}, dir.path(), {{"FOMO_CRASH_AT", "objects-written"}})
              .exit_code == -SIGKILL);
  const uint64_t with_scratch = store_bytes();
  usage = du();
  const uint64_t unreachable = usage["store"]["unreachable"];
  REQUIRE(unreachable > 0);
  REQUIRE(usage["store"]["bytes"] == with_scratch);
  REQUIRE(usage["versions"].size() == 3);
  auto gc = nlohmann::json::parse(RunFomo({"gc", "--json"}, dir.path()).out);
  REQUIRE(gc["bytes_removed"] == unreachable);
  REQUIRE(store_bytes() == with_scratch - unreachable);
  REQUIRE(du()["store"]["unreachable"] == 0);
  REQUIRE(RunFomo({"fsck", "-q"}, dir.path()).exit_code == 0);
}

TEST_CASE("an unreleased version is retracted with reset and tag -d, and gc frees what only it needed", "[cli][retract]") {
  TempDir dir;
  InitReference(dir.path());
  auto store_bytes = [&] { return StoreBytes(dir.path()); };
  auto fomo = [&](const std::vector<std::string>& args) {
    RunResult r = RunFomo(args, dir.path());
    INFO(args.front() << ": " << r.err);
    REQUIRE(r.exit_code == 0);
    return r;
  };
  fs::path u1 = dir / "u1.safetensors", u2 = dir / "u2.safetensors";
  REQUIRE(RunGen({"update", DataFile("openai_clip_tiny.safetensors").string(), "-o", u1.string(), "--kind", "dense"})
              .exit_code == 0);
  REQUIRE(RunGen({"update", u1.string(), "-o", u2.string(), "--kind", "dense", "--seed", "4"}).exit_code == 0);
  fomo({"commit", u1.string(), "-q", "--no-eval"});  // v1.0.1
  const uint64_t before_v2 = store_bytes();
  fomo({"commit", u2.string(), "-q", "--no-eval"});  // v1.0.2
  const uint64_t v2_added = nlohmann::json::parse(fomo({"show", "v1.0.2", "--json"}).out)["storage"]["stored_bytes"];
  REQUIRE(v2_added > 0);
  REQUIRE(store_bytes() == before_v2 + v2_added);

  // On a branch, the tag stays: deleting it would free the number for other weights.
  RunResult held = RunFomo({"tag", "-d", "v1.0.2"}, dir.path());
  CHECK(held.exit_code == 1);
  CHECK_THAT(held.err, HasSubstr("v1.0.2 is on branch 'main'"));
  // A released version's tag stays forever.
  fomo({"tag", "--release", "v1.0.1"});
  const std::string listed = fomo({"tag"}).out;
  const size_t at = listed.find("v1.0.1 ");
  REQUIRE(at != std::string::npos);
  CHECK(listed.substr(at, listed.find('\n', at) - at).find("(released)") != std::string::npos);
  CHECK(nlohmann::json::parse(fomo({"tag", "--json"}).out)[1]["released"] == true);

  auto reset = nlohmann::json::parse(fomo({"reset", "v1.0.1", "--json"}).out);
  CHECK(reset["version"] == "1.0.1");
  REQUIRE(reset["left"].size() == 1);
  CHECK(reset["left"][0]["version"] == "1.0.2");
  CHECK(reset["left"][0]["held_by"] == nlohmann::json::array({"v1.0.2"}));
  CHECK(nlohmann::json::parse(fomo({"show", "--json"}).out)["version"] == "1.0.1");
  fomo({"gc", "-q"});
  CHECK(store_bytes() == before_v2 + v2_added);  // the tag still holds it

  fomo({"tag", "-d", "v1.0.2"});
  auto du = nlohmann::json::parse(fomo({"du", "--json"}).out);
  CHECK(du["store"]["unreachable"] == v2_added);
  auto gc = nlohmann::json::parse(fomo({"gc", "--json"}).out);
  CHECK(gc["bytes_removed"] == v2_added);
  CHECK(store_bytes() == before_v2);
  CHECK(RunFomo({"show", "v1.0.2"}, dir.path()).exit_code == 1);
  // The number is free again: the next patch is v1.0.2 once more.
  fomo({"commit", u2.string(), "-q", "--no-eval"});
  CHECK(nlohmann::json::parse(fomo({"show", "--json"}).out)["version"] == "1.0.2");

  // Released: refused, whatever holds it.
  fomo({"reset", "v1.0.0", "-q"});
  RunResult released = RunFomo({"tag", "-d", "v1.0.1"}, dir.path());
  CHECK(released.exit_code == 1);
  CHECK_THAT(released.err, HasSubstr("v1.0.1 is released"));
  CHECK(fomo({"fsck", "-q"}).exit_code == 0);
}

TEST_CASE("branch -d drops a fork/ or rejected/ line and gc frees its objects", "[cli][retract]") {
  TempDir dir;
  InitReference(dir.path());
  auto store_bytes = [&] { return StoreBytes(dir.path()); };
  fs::path u1 = dir / "u1.safetensors";
  REQUIRE(RunGen({"update", DataFile("openai_clip_tiny.safetensors").string(), "-o", u1.string(), "--kind", "dense"})
              .exit_code == 0);
  const uint64_t before = store_bytes();
  REQUIRE(RunFomo({"switch", "-c", "rejected/v1.0.1-rc.1", "-q"}, dir.path()).exit_code == 0);
  REQUIRE(RunFomo({"commit", u1.string(), "-q", "--no-eval"}, dir.path()).exit_code == 0);
  REQUIRE(RunFomo({"switch", "main", "-q"}, dir.path()).exit_code == 0);
  // The version on the branch has its tag: retract it, then drop the branch.
  REQUIRE(RunFomo({"tag", "-d", "v1.0.1"}, dir.path()).exit_code == 1);
  RunResult dropped = RunFomo({"branch", "-d", "rejected/v1.0.1-rc.1"}, dir.path());
  INFO(dropped.err);
  REQUIRE(dropped.exit_code == 0);
  REQUIRE(RunFomo({"tag", "-d", "v1.0.1", "-q"}, dir.path()).exit_code == 0);
  REQUIRE(store_bytes() > before);
  REQUIRE(RunFomo({"gc", "-q"}, dir.path()).exit_code == 0);
  CHECK(store_bytes() == before);
}
