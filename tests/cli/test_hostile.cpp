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
#include "reference_repo.hpp"
#include "test_support.hpp"

using namespace fomo::test;
using nlohmann::json;

namespace {

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
  ReferenceRepo f;
  const fs::path out_dir = f.dir / "out";
  fs::create_directories(out_dir);

  SECTION("a FIFO is refused and stays a FIFO") {
    fs::path fifo = out_dir / "model.safetensors";
    REQUIRE(::mkfifo(fifo.c_str(), 0644) == 0);
    RunResult r = RunFomoWithTimeout({"export", "-o", fifo.string()}, f.repo, 60);
    INFO(r.err);
    REQUIRE(r.exit_code == 1);
    REQUIRE_THAT(r.err, HasSubstr("is a FIFO") && HasSubstr("never replaces"));
    REQUIRE(Lines(r.err) == 1);
    REQUIRE(fs::is_fifo(fs::symlink_status(fifo)));
  }
  SECTION("a device node is refused and stays a device") {
    fs::path device = out_dir / "full";
    if (::mknod(device.c_str(), S_IFCHR | 0666, makedev(1, 7)) != 0) FOMO_SKIP("cannot make a device node (not root)");
    RunResult r = RunFomoWithTimeout({"export", "-o", device.string()}, f.repo, 60);
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
    RunResult r = f.Fomo({"export", "-o", link.string(), "-q"});
    INFO(r.err);
    REQUIRE(r.exit_code == 0);
    REQUIRE(fs::is_symlink(fs::symlink_status(link)));
    REQUIRE(TensorBytes(target) == TensorBytes(DataFile("openai_clip_tiny.safetensors")));
  }
  SECTION("a dangling symlink creates its target") {
    fs::path target = out_dir / "new.safetensors";
    fs::path link = out_dir / "dangling.safetensors";
    fs::create_symlink(target, link);
    REQUIRE(f.Fomo({"export", "-o", link.string(), "-q"}).exit_code == 0);
    REQUIRE(fs::is_symlink(fs::symlink_status(link)));
    REQUIRE(TensorBytes(target) == TensorBytes(DataFile("openai_clip_tiny.safetensors")));
  }
}

TEST_CASE("no command writes into .fomo/ by a path the user gives", "[cli][hostile]") {
  ReferenceRepo f;
  const fs::path database = f.repo / ".fomo" / "fomo.sqlite";
  const std::string before = ReadFile(database);
  ExpectRefused(f, {"export", "-o", database.string()}, 1, "inside the repository's .fomo directory");
  ExpectRefused(f, {"export", "-o", ".fomo/objects/x.safetensors"}, 1, "inside the repository's .fomo directory");
  // Through a symlink from outside, and into another repository's .fomo as well.
  fs::create_symlink(database, f.dir / "innocent.safetensors");
  ExpectRefused(f, {"export", "-o", (f.dir / "innocent.safetensors").string()}, 1, "inside the repository's");
  ExpectRefused(f, {"embed", "--text", "a photo", "-o", (f.repo / ".fomo" / "e.safetensors").string()}, 1,
                "inside the repository's .fomo directory");
  REQUIRE(ReadFile(database) == before);
  REQUIRE(f.Fomo({"fsck", "-q"}).exit_code == 0);
}

TEST_CASE("a repository on a read-only mount can be read; writes refuse in one line", "[cli][hostile][read-only]") {
  if (::geteuid() != 0 || std::system("unshare -m true 2>/dev/null") != 0) {
    FOMO_SKIP("needs root and mount namespaces (unshare -m) to mount the repository read-only");
  }
  ReferenceRepo f;
  fs::path update = f.dir / "u.safetensors";
  REQUIRE(RunGen({"update", DataFile("openai_clip_tiny.safetensors").string(), "-o", update.string()}).exit_code == 0);
  REQUIRE(f.Fomo({"commit", update.string(), "-q", "--no-eval"}).exit_code == 0);
  auto before = RepositorySnapshot(f.repo);
  const fs::path results = f.dir / "results";
  fs::create_directories(results);
  const std::vector<std::vector<std::string>> commands = {
      {"log"},
      {"log", "--json"},
      {"status"},
      {"show", "HEAD"},
      {"diff", "HEAD~1", "HEAD"},
      {"fsck"},
      {"export", "-o", (f.dir / "exported.safetensors").string()},
      {"gc"},
      {"tag", "released"},
      {"commit", update.string()},
  };
  // One mount namespace for all the commands: the repository is bound read-only
  // onto itself there, as a read-only share or backup would be mounted.
  std::string script = "mount --bind -o ro '" + f.repo.string() + "' '" + f.repo.string() + "' || exit 99\ncd '" +
                       f.repo.string() + "'\n";
  for (size_t i = 0; i < commands.size(); ++i) {
    std::string line = "'" + FomoBinary() + "'";
    for (const auto& arg : commands[i]) line += " '" + arg + "'";
    const std::string base = (results / std::to_string(i)).string();
    script += line + " >'" + base + ".out' 2>'" + base + ".err' </dev/null; echo $? >'" + base + ".rc'\n";
  }
  WriteFile(f.dir / "script.sh", script);
  REQUIRE(std::system(("unshare -m sh '" + (f.dir / "script.sh").string() + "'").c_str()) == 0);
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
  REQUIRE(TensorBytes(f.dir / "exported.safetensors") == TensorBytes(update));
  REQUIRE(RepositorySnapshot(f.repo) == before);
}

TEST_CASE("fsck and every reader check a manifest against the model config and object headers",
          "[cli][hostile][fsck]") {
  RequireGit();
  ReferenceRepo f;
  const fs::path out = f.dir / "out.safetensors";
  auto expect_caught = [&](const std::string& problem) {
    RunResult fsck = f.Fomo({"fsck"});
    INFO("fsck: " << fsck.out << fsck.err);
    REQUIRE(fsck.exit_code == 1);
    REQUIRE_THAT(fsck.out + fsck.err, HasSubstr(problem));
    RunResult exported = f.Fomo({"export", "-o", out.string()});
    INFO("export: " << exported.err);
    REQUIRE(exported.exit_code == 1);
    REQUIRE_THAT(exported.err, HasSubstr("is damaged") && HasSubstr(problem));
    REQUIRE(Lines(exported.err) == 1);
    REQUIRE_FALSE(fs::exists(out));
  };
  SECTION("no tensors at all") {
    ForgeManifest(f.repo, [](json& m) { m["tensors"] = json::array(); });
    expect_caught("the manifest lacks tensor");
  }
  SECTION("a renamed tensor") {
    ForgeManifest(f.repo, [](json& m) { FirstTensor(m)["name"] = "visual.not_a_tensor"; });
    expect_caught("visual.not_a_tensor");
  }
  SECTION("a tensor given twice, once with an enormous shape") {
    ForgeManifest(f.repo, [](json& m) {
      json copy = FirstTensor(m);
      copy["shape"] = {uint64_t{1} << 62, uint64_t{1} << 62};
      m["tensors"].push_back(copy);
    });
    RunResult fsck = f.Fomo({"fsck"});
    INFO(fsck.out << fsck.err);
    REQUIRE(fsck.exit_code == 1);
    RunResult exported = f.Fomo({"export", "-o", out.string()});
    INFO(exported.err);
    REQUIRE(exported.exit_code == 1);
    REQUIRE(Lines(exported.err) == 1);
    REQUIRE_FALSE(fs::exists(out));
  }
  SECTION("a shape that is not the model's") {
    ForgeManifest(f.repo, [](json& m) { FirstTensor(m)["shape"] = {32, 2}; });
    expect_caught("shape");
  }
  SECTION("a dtype that is not the object's") {
    ForgeManifest(f.repo, [](json& m) { FirstTensor(m)["dtype"] = "F16"; });
    expect_caught("F16");
  }
}

TEST_CASE("fsck checks the database schema and --repair rebuilds it from the graph", "[cli][hostile][fsck]") {
  ReferenceRepo f;
  sqlite3* db = nullptr;
  REQUIRE(sqlite3_open((f.repo / ".fomo" / "fomo.sqlite").c_str(), &db) == SQLITE_OK);
  REQUIRE(sqlite3_exec(db, "DROP TABLE evaluations", nullptr, nullptr, nullptr) == SQLITE_OK);
  sqlite3_close(db);

  RunResult fsck = f.Fomo({"fsck"});
  INFO(fsck.out << fsck.err);
  REQUIRE(fsck.exit_code == 1);
  REQUIRE_THAT(fsck.out + fsck.err, HasSubstr("evaluations"));

  RunResult repair = f.Fomo({"fsck", "--repair"});
  INFO(repair.out << repair.err);
  REQUIRE(repair.exit_code == 0);
  REQUIRE(f.Fomo({"fsck"}).exit_code == 0);
  RunResult log = f.Fomo({"log", "--json"});
  INFO(log.err);
  REQUIRE(log.exit_code == 0);
  REQUIRE(json::parse(log.out).size() == 1);
}

TEST_CASE("committing a FIFO is refused at once, without holding the lock", "[cli][hostile]") {
  ReferenceRepo f;
  fs::path fifo = f.dir / "model.safetensors";
  REQUIRE(::mkfifo(fifo.c_str(), 0644) == 0);
  auto before = RepositorySnapshot(f.repo);
  RunResult r = RunFomoWithTimeout({"commit", fifo.string()}, f.repo, 60);
  INFO(r.err);
  REQUIRE(r.exit_code == 1);
  REQUIRE_THAT(r.err, HasSubstr("not a regular file"));
  REQUIRE(Lines(r.err) == 1);
  REQUIRE(RepositorySnapshot(f.repo) == before);
  REQUIRE(RunFomo({"tag", "after"}, f.repo, {{"FOMO_LOCK_TIMEOUT", "1"}}).exit_code == 0);
}

TEST_CASE("control characters in messages and names are escaped on a terminal, kept in JSON", "[cli][hostile]") {
  ReferenceRepo f;
  fs::path update = f.dir / "u.safetensors";
  REQUIRE(RunGen({"update", DataFile("openai_clip_tiny.safetensors").string(), "-o", update.string()}).exit_code == 0);
  const std::string message = "first line\n\x1b[31mred\x1b[0m\rsecond";
  REQUIRE(f.Fomo({"commit", update.string(), "-m", message, "-q", "--no-eval"}).exit_code == 0);

  RunResult oneline = f.Fomo({"log", "--oneline"});
  REQUIRE(oneline.exit_code == 0);
  REQUIRE(Lines(oneline.out) == 2);
  for (const RunResult& r : {oneline, f.Fomo({"log"}), f.Fomo({"show", "HEAD"})}) {
    INFO(r.out);
    REQUIRE(r.out.find('\x1b') == std::string::npos);
    REQUIRE(r.out.find('\r') == std::string::npos);
    REQUIRE_THAT(r.out, HasSubstr("\\x1b[31mred"));
  }
  json log = json::parse(f.Fomo({"log", "--json"}).out);
  REQUIRE(log.at(0).at("message") == message);

  SECTION("a tensor name with a newline or a NUL stays on one line of the error") {
    auto source = fomo::core::SafetensorsFile::Open(DataFile("openai_clip_tiny.safetensors"));
    std::vector<fomo::NamedTensor> tensors = source.tensors();
    tensors.push_back({std::string("evil\nname\0cut", 13), tensors.front().view});
    fomo::core::WriteSafetensors(f.dir / "evil.safetensors", tensors, {});
    auto before = RepositorySnapshot(f.repo);
    RunResult r = f.Fomo({"commit", (f.dir / "evil.safetensors").string()});
    INFO(r.err);
    REQUIRE(r.exit_code == 1);
    REQUIRE(Lines(r.err) == 1);
    REQUIRE_THAT(r.err, HasSubstr("evil\\nname\\0cut"));
    REQUIRE(RepositorySnapshot(f.repo) == before);
  }
}

TEST_CASE("a merge recipe is bounded in models and loads each version once", "[cli][hostile][merge]") {
  ReferenceRepo f;
  fs::path update = f.dir / "u.safetensors";
  REQUIRE(RunGen({"update", DataFile("openai_clip_tiny.safetensors").string(), "-o", update.string(), "--kind",
                  "dense"}).exit_code == 0);
  REQUIRE(f.Fomo({"commit", update.string(), "-q", "--no-eval"}).exit_code == 0);

  std::string huge = "method: linear\nmodels:\n";
  for (int i = 0; i < 20000; ++i) huge += "  - v1.0.0\n";
  WriteFile(f.dir / "huge.yaml", huge);
  ExpectRefused(f, {"merge", "--recipe", (f.dir / "huge.yaml").string()}, 1, "a merge takes at most 64");
  std::vector<std::string> many_revs = {"merge"};
  for (int i = 0; i < 65; ++i) many_revs.push_back("v1.0.0");
  ExpectRefused(f, many_revs, 2, "a merge takes at most 64");

  // 32 copies of each of two versions are the plain average of the two.
  REQUIRE(f.Fomo({"merge", "v1.0.0", "v1.0.1", "-q", "--no-eval"}).exit_code == 0);
  std::string copies = "method: linear\nmodels:\n";
  for (int i = 0; i < 32; ++i) copies += "  - v1.0.0\n  - v1.0.1\n";
  WriteFile(f.dir / "copies.yaml", copies);
  RunResult merged = f.Fomo({"merge", "--recipe", (f.dir / "copies.yaml").string(), "-q", "--no-eval"});
  INFO(merged.err);
  REQUIRE(merged.exit_code == 0);
  REQUIRE(f.Fomo({"export", "v1.1.0", "-o", (f.dir / "pair.safetensors").string(), "-q"}).exit_code == 0);
  REQUIRE(f.Fomo({"export", "HEAD", "-o", (f.dir / "copies.safetensors").string(), "-q"}).exit_code == 0);
  auto pair = TensorBytes(f.dir / "pair.safetensors");
  auto many = TensorBytes(f.dir / "copies.safetensors");
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
