// The failures a hostile probe found (issue 13), one test each: output paths that
// are not regular files or lie inside .fomo/, read-only repositories, forged
// manifests, a damaged schema, FIFOs as inputs, control characters in messages and
// names, and oversized merge recipes. Each was seen failing against the build before
// the fix (FOMO_TEST_BINARY points the suite at another build).
#include <sqlite3.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <cstdlib>
#include <functional>

#include <nlohmann/json.hpp>

#include "catch.hpp"
#include "core/safetensors.hpp"
#include "test_support.hpp"

using namespace fomo::test;
using nlohmann::json;

namespace {

struct Repo {
  TempDir dir;
  fs::path root = dir / "repo";
  Repo() {
    fs::create_directories(root);
    InitReference(root);
  }
  RunResult Fomo(const std::vector<std::string>& args) const { return RunFomo(args, root); }
};

size_t Lines(const std::string& text) { return static_cast<size_t>(std::count(text.begin(), text.end(), '\n')); }

// A refused command: its exit code, one line on stderr naming the problem, and the
// repository as it was.
void ExpectRefused(const Repo& repo, const std::vector<std::string>& args, int code, const std::string& message) {
  auto before = RepositorySnapshot(repo.root);
  RunResult r = repo.Fomo(args);
  INFO("stderr: " << r.err);
  REQUIRE(r.exit_code == code);
  REQUIRE_THAT(r.err, HasSubstr(message));
  REQUIRE(Lines(r.err) == 1);
  REQUIRE(RepositorySnapshot(repo.root) == before);
}

// Runs fomo under timeout(1), so that a command that blocks fails the test instead
// of hanging it.
RunResult RunFomoWithTimeout(const std::vector<std::string>& args, const fs::path& dir, int seconds) {
  std::vector<std::string> argv = {"/usr/bin/timeout", std::to_string(seconds), FomoBinary()};
  argv.insert(argv.end(), args.begin(), args.end());
  return RunProgram(argv, dir);
}

std::string Git(const fs::path& repo, const std::string& args, const std::string& input = "") {
  TempDir scratch;
  std::string command = "git --git-dir='" + (repo / ".fomo" / "graph").string() + "' " + args;
  if (!input.empty()) {
    WriteFile(scratch / "in", input);
    command += " < '" + (scratch / "in").string() + "'";
  }
  command += " > '" + (scratch / "out").string() + "'";
  REQUIRE(std::system(command.c_str()) == 0);
  std::string out = ReadFile(scratch / "out");
  while (!out.empty() && out.back() == '\n') out.pop_back();
  return out;
}

// Rewrites HEAD's manifest.json with edit and moves the branch to the forged commit,
// as someone with write access to .fomo/graph could.
void ForgeManifest(const fs::path& repo, const std::function<void(json&)>& edit) {
  json manifest = json::parse(Git(repo, "show HEAD:manifest.json"));
  edit(manifest);
  TempDir scratch;
  WriteFile(scratch / "manifest.json", manifest.dump(1));
  std::string blob = Git(repo, "hash-object -w '" + (scratch / "manifest.json").string() + "'");
  std::string tree_listing = Git(repo, "ls-tree HEAD");
  std::string forged_listing;
  size_t start = 0;
  while (start < tree_listing.size()) {
    size_t end = tree_listing.find('\n', start);
    if (end == std::string::npos) end = tree_listing.size();
    std::string line = tree_listing.substr(start, end - start);
    if (line.size() > 14 && line.substr(line.size() - 14) == "\tmanifest.json") {
      line = "100644 blob " + blob + "\tmanifest.json";
    }
    forged_listing += line + "\n";
    start = end + 1;
  }
  std::string tree = Git(repo, "mktree", forged_listing);
  std::string parents;
  std::string parent_list = Git(repo, "log -1 --format=%P HEAD");
  for (size_t at = 0; at < parent_list.size(); at += 41) parents += " -p " + parent_list.substr(at, 40);
  std::string commit = Git(repo, "commit-tree " + tree + parents + " -m forged");
  Git(repo, "update-ref HEAD " + commit);
}

json& FirstTensor(json& manifest) { return manifest.at("tensors").at(0); }

void RequireGit() {
  if (std::system("git --version >/dev/null 2>&1") != 0) FOMO_SKIP("git is not installed: cannot forge a manifest");
}

}  // namespace

TEST_CASE("export -o writes what the user named as cp would, never replacing other files", "[cli][hostile]") {
  Repo repo;
  const fs::path out_dir = repo.dir / "out";
  fs::create_directories(out_dir);

  SECTION("a FIFO is refused and stays a FIFO") {
    fs::path fifo = out_dir / "model.safetensors";
    REQUIRE(::mkfifo(fifo.c_str(), 0644) == 0);
    RunResult r = RunFomoWithTimeout({"export", "-o", fifo.string()}, repo.root, 60);
    INFO(r.err);
    REQUIRE(r.exit_code == 1);
    REQUIRE_THAT(r.err, HasSubstr("is a FIFO") && HasSubstr("never replaces"));
    REQUIRE(Lines(r.err) == 1);
    REQUIRE(fs::is_fifo(fs::symlink_status(fifo)));
  }
  SECTION("a device node is refused and stays a device") {
    fs::path device = out_dir / "full";
    if (::mknod(device.c_str(), S_IFCHR | 0666, makedev(1, 7)) != 0) FOMO_SKIP("cannot make a device node (not root)");
    RunResult r = RunFomoWithTimeout({"export", "-o", device.string()}, repo.root, 60);
    INFO(r.err);
    REQUIRE(r.exit_code == 1);
    REQUIRE_THAT(r.err, HasSubstr("is a character device"));
    REQUIRE(fs::is_character_file(fs::symlink_status(device)));
  }
  SECTION("a symlink is followed to its target and stays a link") {
    fs::path target = out_dir / "real.safetensors";
    WriteFile(target, "old contents");
    fs::path link = out_dir / "link.safetensors";
    fs::create_symlink(target, link);
    RunResult r = repo.Fomo({"export", "-o", link.string(), "-q"});
    INFO(r.err);
    REQUIRE(r.exit_code == 0);
    REQUIRE(fs::is_symlink(fs::symlink_status(link)));
    REQUIRE(TensorBytes(target) == TensorBytes(DataFile("openai_clip_tiny.safetensors")));
  }
  SECTION("a dangling symlink creates its target") {
    fs::path target = out_dir / "new.safetensors";
    fs::path link = out_dir / "dangling.safetensors";
    fs::create_symlink(target, link);
    REQUIRE(repo.Fomo({"export", "-o", link.string(), "-q"}).exit_code == 0);
    REQUIRE(fs::is_symlink(fs::symlink_status(link)));
    REQUIRE(TensorBytes(target) == TensorBytes(DataFile("openai_clip_tiny.safetensors")));
  }
}

TEST_CASE("no command writes into .fomo/ by a path the user gives", "[cli][hostile]") {
  Repo repo;
  const fs::path database = repo.root / ".fomo" / "fomo.sqlite";
  const std::string before = ReadFile(database);
  ExpectRefused(repo, {"export", "-o", database.string()}, 1, "inside the repository's .fomo directory");
  ExpectRefused(repo, {"export", "-o", ".fomo/objects/x.safetensors"}, 1, "inside the repository's .fomo directory");
  // Through a symlink from outside, and into another repository's .fomo as well.
  fs::create_symlink(database, repo.dir / "innocent.safetensors");
  ExpectRefused(repo, {"export", "-o", (repo.dir / "innocent.safetensors").string()}, 1, "inside the repository's");
  ExpectRefused(repo, {"embed", "--text", "a photo", "-o", (repo.root / ".fomo" / "e.safetensors").string()}, 1,
                "inside the repository's .fomo directory");
  REQUIRE(ReadFile(database) == before);
  REQUIRE(repo.Fomo({"fsck", "-q"}).exit_code == 0);
}

TEST_CASE("a repository on a read-only mount can be read; writes refuse in one line", "[cli][hostile][read-only]") {
  if (::geteuid() != 0 || std::system("unshare -m true 2>/dev/null") != 0) {
    FOMO_SKIP("needs root and mount namespaces (unshare -m) to mount the repository read-only");
  }
  Repo repo;
  fs::path update = repo.dir / "u.safetensors";
  REQUIRE(RunGen({"update", DataFile("openai_clip_tiny.safetensors").string(), "-o", update.string()}).exit_code == 0);
  REQUIRE(repo.Fomo({"commit", update.string(), "-q", "--no-eval"}).exit_code == 0);
  auto before = RepositorySnapshot(repo.root);
  const fs::path results = repo.dir / "results";
  fs::create_directories(results);
  const std::vector<std::vector<std::string>> commands = {
      {"log"},
      {"log", "--json"},
      {"status"},
      {"show", "HEAD"},
      {"diff", "HEAD~1", "HEAD"},
      {"fsck"},
      {"export", "-o", (repo.dir / "exported.safetensors").string()},
      {"gc"},
      {"tag", "released"},
      {"commit", update.string()},
  };
  // One mount namespace for all the commands: the repository is bound read-only
  // onto itself there, as a read-only share or backup would be mounted.
  std::string script = "mount --bind -o ro '" + repo.root.string() + "' '" + repo.root.string() + "' || exit 99\ncd '" +
                       repo.root.string() + "'\n";
  for (size_t i = 0; i < commands.size(); ++i) {
    std::string line = "'" + FomoBinary() + "'";
    for (const auto& arg : commands[i]) line += " '" + arg + "'";
    const std::string base = (results / std::to_string(i)).string();
    script += line + " >'" + base + ".out' 2>'" + base + ".err' </dev/null; echo $? >'" + base + ".rc'\n";
  }
  WriteFile(repo.dir / "script.sh", script);
  REQUIRE(std::system(("unshare -m sh '" + (repo.dir / "script.sh").string() + "'").c_str()) == 0);
  auto result = [&](size_t i) {
    RunResult r;
    const fs::path base = results / std::to_string(i);
    r.exit_code = std::stoi(ReadFile(base.string() + ".rc"));
    r.out = ReadFile(base.string() + ".out");
    r.err = ReadFile(base.string() + ".err");
    return r;
  };
  for (size_t i = 0; i < commands.size(); ++i) {
    RunResult r = result(i);
    INFO(commands[i][0] << ": " << r.err);
    if (i < 7) {
      REQUIRE(r.exit_code == 0);
      REQUIRE_THAT(r.err, !HasSubstr("Read-only file system"));
    } else {
      REQUIRE(r.exit_code == 1);
      REQUIRE_THAT(r.err, HasSubstr("it is read-only"));
      REQUIRE(Lines(r.err) == 1);
    }
  }
  REQUIRE_THAT(result(0).out, HasSubstr("v1.0.1"));
  REQUIRE(json::parse(result(1).out).size() == 2);
  REQUIRE_THAT(result(5).out, HasSubstr("ok"));
  REQUIRE(TensorBytes(repo.dir / "exported.safetensors") == TensorBytes(update));
  REQUIRE(RepositorySnapshot(repo.root) == before);
}

TEST_CASE("fsck and every reader check a manifest against the model config and object headers",
          "[cli][hostile][fsck]") {
  RequireGit();
  Repo repo;
  const fs::path out = repo.dir / "out.safetensors";
  auto expect_caught = [&](const std::string& problem) {
    RunResult fsck = repo.Fomo({"fsck"});
    INFO("fsck: " << fsck.out << fsck.err);
    REQUIRE(fsck.exit_code == 1);
    REQUIRE_THAT(fsck.out + fsck.err, HasSubstr(problem));
    RunResult exported = repo.Fomo({"export", "-o", out.string()});
    INFO("export: " << exported.err);
    REQUIRE(exported.exit_code == 1);
    REQUIRE_THAT(exported.err, HasSubstr("is damaged") && HasSubstr(problem));
    REQUIRE(Lines(exported.err) == 1);
    REQUIRE_FALSE(fs::exists(out));
  };
  SECTION("no tensors at all") {
    ForgeManifest(repo.root, [](json& m) { m["tensors"] = json::array(); });
    expect_caught("the manifest lacks tensor");
  }
  SECTION("a renamed tensor") {
    ForgeManifest(repo.root, [](json& m) { FirstTensor(m)["name"] = "visual.not_a_tensor"; });
    expect_caught("visual.not_a_tensor");
  }
  SECTION("a tensor given twice, once with an enormous shape") {
    ForgeManifest(repo.root, [](json& m) {
      json copy = FirstTensor(m);
      copy["shape"] = {uint64_t{1} << 62, uint64_t{1} << 62};
      m["tensors"].push_back(copy);
    });
    RunResult fsck = repo.Fomo({"fsck"});
    INFO(fsck.out << fsck.err);
    REQUIRE(fsck.exit_code == 1);
    RunResult exported = repo.Fomo({"export", "-o", out.string()});
    INFO(exported.err);
    REQUIRE(exported.exit_code == 1);
    REQUIRE(Lines(exported.err) == 1);
    REQUIRE_FALSE(fs::exists(out));
  }
  SECTION("a shape that is not the model's") {
    ForgeManifest(repo.root, [](json& m) { FirstTensor(m)["shape"] = {32, 2}; });
    expect_caught("shape");
  }
  SECTION("a dtype that is not the object's") {
    ForgeManifest(repo.root, [](json& m) { FirstTensor(m)["dtype"] = "F16"; });
    expect_caught("F16");
  }
}

TEST_CASE("fsck checks the database schema and --repair rebuilds it from the graph", "[cli][hostile][fsck]") {
  Repo repo;
  sqlite3* db = nullptr;
  REQUIRE(sqlite3_open((repo.root / ".fomo" / "fomo.sqlite").c_str(), &db) == SQLITE_OK);
  REQUIRE(sqlite3_exec(db, "DROP TABLE evaluations", nullptr, nullptr, nullptr) == SQLITE_OK);
  sqlite3_close(db);

  RunResult fsck = repo.Fomo({"fsck"});
  INFO(fsck.out << fsck.err);
  REQUIRE(fsck.exit_code == 1);
  REQUIRE_THAT(fsck.out + fsck.err, HasSubstr("evaluations"));

  RunResult repair = repo.Fomo({"fsck", "--repair"});
  INFO(repair.out << repair.err);
  REQUIRE(repair.exit_code == 0);
  REQUIRE(repo.Fomo({"fsck"}).exit_code == 0);
  RunResult log = repo.Fomo({"log", "--json"});
  INFO(log.err);
  REQUIRE(log.exit_code == 0);
  REQUIRE(json::parse(log.out).size() == 1);
}

TEST_CASE("committing a FIFO is refused at once, without holding the lock", "[cli][hostile]") {
  Repo repo;
  fs::path fifo = repo.dir / "model.safetensors";
  REQUIRE(::mkfifo(fifo.c_str(), 0644) == 0);
  auto before = RepositorySnapshot(repo.root);
  RunResult r = RunFomoWithTimeout({"commit", fifo.string()}, repo.root, 60);
  INFO(r.err);
  REQUIRE(r.exit_code == 1);
  REQUIRE_THAT(r.err, HasSubstr("not a regular file"));
  REQUIRE(Lines(r.err) == 1);
  REQUIRE(RepositorySnapshot(repo.root) == before);
  REQUIRE(RunFomo({"tag", "after"}, repo.root, {{"FOMO_LOCK_TIMEOUT", "1"}}).exit_code == 0);
}

TEST_CASE("control characters in messages and names are escaped on a terminal, kept in JSON", "[cli][hostile]") {
  Repo repo;
  fs::path update = repo.dir / "u.safetensors";
  REQUIRE(RunGen({"update", DataFile("openai_clip_tiny.safetensors").string(), "-o", update.string()}).exit_code == 0);
  const std::string message = "first line\n\x1b[31mred\x1b[0m\rsecond";
  REQUIRE(repo.Fomo({"commit", update.string(), "-m", message, "-q", "--no-eval"}).exit_code == 0);

  RunResult oneline = repo.Fomo({"log", "--oneline"});
  REQUIRE(oneline.exit_code == 0);
  REQUIRE(Lines(oneline.out) == 2);
  for (const RunResult& r : {oneline, repo.Fomo({"log"}), repo.Fomo({"show", "HEAD"})}) {
    INFO(r.out);
    REQUIRE(r.out.find('\x1b') == std::string::npos);
    REQUIRE(r.out.find('\r') == std::string::npos);
    REQUIRE_THAT(r.out, HasSubstr("\\x1b[31mred"));
  }
  json log = json::parse(repo.Fomo({"log", "--json"}).out);
  REQUIRE(log.at(0).at("message") == message);

  SECTION("a tensor name with a newline or a NUL stays on one line of the error") {
    auto source = fomo::core::SafetensorsFile::Open(DataFile("openai_clip_tiny.safetensors"));
    std::vector<fomo::NamedTensor> tensors = source.tensors();
    tensors.push_back({std::string("evil\nname\0cut", 13), tensors.front().view});
    fomo::core::WriteSafetensors(repo.dir / "evil.safetensors", tensors, {});
    auto before = RepositorySnapshot(repo.root);
    RunResult r = repo.Fomo({"commit", (repo.dir / "evil.safetensors").string()});
    INFO(r.err);
    REQUIRE(r.exit_code == 1);
    REQUIRE(Lines(r.err) == 1);
    REQUIRE_THAT(r.err, HasSubstr("evil\\nname\\0cut"));
    REQUIRE(RepositorySnapshot(repo.root) == before);
  }
}

TEST_CASE("a merge recipe is bounded in models and loads each version once", "[cli][hostile][merge]") {
  Repo repo;
  fs::path update = repo.dir / "u.safetensors";
  REQUIRE(RunGen({"update", DataFile("openai_clip_tiny.safetensors").string(), "-o", update.string(), "--kind",
                  "dense"}).exit_code == 0);
  REQUIRE(repo.Fomo({"commit", update.string(), "-q", "--no-eval"}).exit_code == 0);

  std::string huge = "method: linear\nmodels:\n";
  for (int i = 0; i < 20000; ++i) huge += "  - v1.0.0\n";
  WriteFile(repo.dir / "huge.yaml", huge);
  ExpectRefused(repo, {"merge", "--recipe", (repo.dir / "huge.yaml").string()}, 1, "a merge takes at most 64");
  std::vector<std::string> many_revs = {"merge"};
  for (int i = 0; i < 65; ++i) many_revs.push_back("v1.0.0");
  ExpectRefused(repo, many_revs, 2, "a merge takes at most 64");

  // 32 copies of each of two versions are the plain average of the two.
  REQUIRE(repo.Fomo({"merge", "v1.0.0", "v1.0.1", "-q", "--no-eval"}).exit_code == 0);
  std::string copies = "method: linear\nmodels:\n";
  for (int i = 0; i < 32; ++i) copies += "  - v1.0.0\n  - v1.0.1\n";
  WriteFile(repo.dir / "copies.yaml", copies);
  RunResult merged = repo.Fomo({"merge", "--recipe", (repo.dir / "copies.yaml").string(), "-q", "--no-eval"});
  INFO(merged.err);
  REQUIRE(merged.exit_code == 0);
  REQUIRE(repo.Fomo({"export", "v1.1.0", "-o", (repo.dir / "pair.safetensors").string(), "-q"}).exit_code == 0);
  REQUIRE(repo.Fomo({"export", "HEAD", "-o", (repo.dir / "copies.safetensors").string(), "-q"}).exit_code == 0);
  auto pair = TensorBytes(repo.dir / "pair.safetensors");
  auto many = TensorBytes(repo.dir / "copies.safetensors");
  REQUIRE(pair.size() == many.size());
  for (const auto& [name, bytes] : pair) {
    INFO(name);
    const std::string& other = many.at(name);
    REQUIRE(other.size() == bytes.size());
    for (size_t at = 0; at + 4 <= bytes.size(); at += 4) {
      float a, b;
      std::memcpy(&a, bytes.data() + at, 4);
      std::memcpy(&b, other.data() + at, 4);
      REQUIRE(std::abs(a - b) <= 1e-6f * (1 + std::abs(a)));
    }
  }
}
