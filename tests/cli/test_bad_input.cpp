// Bad input gets a one-line error, a non-zero exit, and leaves the repository as it was.
#include <fcntl.h>
#include <signal.h>
#include <sys/file.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cstdlib>

#include <nlohmann/json.hpp>

#include "catch.hpp"
#include "reference_repo.hpp"
#include "test_support.hpp"

using namespace fomo::test;

namespace {

using Fixture = ReferenceRepo;

std::string Truncated(const fs::path& path, size_t keep) { return ReadFile(path).substr(0, keep); }

}  // namespace

TEST_CASE("bad checkpoints are refused and change nothing", "[cli][bad-input]") {
  Fixture f;
  fs::path good = DataFile("openai_clip_tiny.safetensors");
  SECTION("missing file") {
    ExpectRefused(f, {"commit", (f.dir / "nope.safetensors").string()}, 1, "no such file");
  }
  SECTION("file truncated in its header") {
    WriteFile(f.dir / "t.safetensors", Truncated(good, 5000));
    ExpectRefused(f, {"commit", (f.dir / "t.safetensors").string()}, 1, "exceeds the file size");
  }
  SECTION("file truncated in its data") {
    WriteFile(f.dir / "t.safetensors", Truncated(good, 100000));
    ExpectRefused(f, {"commit", (f.dir / "t.safetensors").string()}, 1, "outside the data area");
  }
  SECTION("header that lies about its length") {
    std::string bytes = ReadFile(good);
    bytes[6] = 0x7f;
    WriteFile(f.dir / "l.safetensors", bytes);
    ExpectRefused(f, {"commit", (f.dir / "l.safetensors").string()}, 1, "exceeds the file size");
  }
  SECTION("tensor shapes of another model") {
    ExpectRefused(f, {"commit", DataFile("openai_clip_tiny_io.safetensors").string()}, 1, "cannot import");
  }
  SECTION("a model config that differs from the repository's") {
    // The HF reference is another model (its towers have 4 heads).
    ExpectRefused(f,
                  {"commit", DataFile("hf_clip_tiny.safetensors").string(), "--config",
                   DataFile("hf_clip_tiny_config.json").string()},
                  1, "differs from the repository");
  }
  SECTION("a bad --bump") { ExpectRefused(f, {"commit", good.string(), "--bump", "huge"}, 2, "--bump"); }
}

TEST_CASE("unknown revisions and bad options are refused", "[cli][bad-input]") {
  Fixture f;
  ExpectRefused(f, {"show", "v9.9.9"}, 1, "unknown revision 'v9.9.9'");
  ExpectRefused(f, {"export", "nope", "-o", (f.dir / "x.safetensors").string()}, 1, "unknown revision 'nope'");
  ExpectRefused(f, {"diff", "v1.0.0", "HEAD~4"}, 1, "unknown revision 'HEAD~4'");
  ExpectRefused(f, {"export", "-o", (f.dir / "x.safetensors").string(), "--layout", "onnx"}, 2, "--layout");
  ExpectRefused(f, {"log", "--bogus"}, 2, "bogus");
  ExpectRefused(f, {"frobnicate"}, 2, "frobnicate");
  ExpectRefused(f, {"switch", "nowhere"}, 1, "no branch 'nowhere'");
  ExpectRefused(f, {"switch", "v1.0.0"}, 1, "'v1.0.0' is a version, not a branch: 'fomo switch --detach v1.0.0'");
  REQUIRE_FALSE(fs::exists(f.dir / "x.safetensors"));
}

TEST_CASE("a malformed fomo.yaml is reported with its line", "[cli][bad-input]") {
  Fixture f;
  WriteFile(f.repo / "fomo.yaml", "storage:\n  zstd_level: [3\n");
  ExpectRefused(f, {"commit", DataFile("openai_clip_tiny.safetensors").string()}, 1, "fomo.yaml: line");
  WriteFile(f.repo / "fomo.yaml", "storage:\n  zstd_levle: 3\n");
  ExpectRefused(f, {"log"}, 1, "unknown key 'storage.zstd_levle'");
}

TEST_CASE("init refuses bad input and leaves no repository behind", "[cli][bad-input]") {
  TempDir dir;
  RunResult r = RunFomo({"init", "--from", (dir / "missing.safetensors").string()}, dir.path());
  REQUIRE(r.exit_code == 1);
  REQUIRE_THAT(r.err, HasSubstr("no such file"));
  r = RunFomo({"init"}, dir.path());
  REQUIRE(r.exit_code == 2);
  REQUIRE(fs::is_empty(dir.path()));
  InitReference(dir.path());
  r = RunFomo({"init", "--from", DataFile("openai_clip_tiny.safetensors").string()}, dir.path());
  REQUIRE(r.exit_code == 1);
  REQUIRE_THAT(r.err, HasSubstr("already a fomo repository"));
  TempDir outside;
  r = RunFomo({"log"}, outside.path());
  REQUIRE(r.exit_code == 1);
  REQUIRE_THAT(r.err, HasSubstr("not a fomo repository"));
  // The directory is named as a path the user can act on, not '.'.
  r = RunFomo({"-C", outside.path().string(), "log"}, dir.path());
  REQUIRE(r.exit_code == 1);
  REQUIRE_THAT(r.err, HasSubstr("'" + fs::canonical(outside.path()).string() + "'"));
}

TEST_CASE("a read-only repository fails cleanly and keeps the repository", "[cli][bad-input]") {
  Fixture f;
  fs::path dense = f.dir / "d.safetensors";
  REQUIRE(RunGen({"update", DataFile("openai_clip_tiny.safetensors").string(), "-o", dense.string()}).exit_code == 0);
  auto before = RepositorySnapshot(f.repo);
  std::string err_file = (f.dir / "err").string();
  std::string command;
  bool immutable = false;
  if (::geteuid() == 0 && std::system("unshare -m true 2>/dev/null") == 0) {
    // root writes through permissions: mount the repository read-only in a private
    // mount namespace instead, as a read-only file system would be.
    command = "unshare -m sh -c 'mount --bind -o ro \"$0\" \"$0\" && cd \"$0\" && exec \"$1\" commit \"$2\"' '" +
              f.repo.string() + "' '" + FomoBinary() + "' '" + dense.string() + "' 2>'" + err_file + "'";
  } else {
    if (::geteuid() == 0) {
      // No mount namespaces here: make the object store immutable instead.
      immutable = std::system(("chattr +i '" + (f.repo / ".fomo" / "objects").string() + "' 2>/dev/null").c_str()) == 0;
      if (!immutable) {
        FOMO_SKIP("neither mount namespaces nor chattr are available: cannot make the repository read-only as root");
      }
    }
    fs::permissions(f.repo / ".fomo" / "objects", fs::perms::owner_write, fs::perm_options::remove);
    command = "cd '" + f.repo.string() + "' && '" + FomoBinary() + "' commit '" + dense.string() + "' 2>'" + err_file + "'";
  }
  int status = std::system(command.c_str());
  if (immutable) std::system(("chattr -i '" + (f.repo / ".fomo" / "objects").string() + "'").c_str());
  fs::permissions(f.repo / ".fomo" / "objects", fs::perms::owner_write, fs::perm_options::add);
  std::string err = ReadFile(err_file);
  INFO(err);
  REQUIRE(WIFEXITED(status));
  REQUIRE(WEXITSTATUS(status) == 1);
  REQUIRE_THAT(err, HasSubstr("fomo: ") && (HasSubstr("Read-only file system") || HasSubstr("Permission denied") ||
                                           HasSubstr("Operation not permitted") || HasSubstr("it is read-only")));
  REQUIRE(RepositorySnapshot(f.repo) == before);
}

TEST_CASE("a full disk fails cleanly and keeps the repository", "[cli][bad-input]") {
  // RLIMIT_FSIZE makes every write past the limit fail with EFBIG, as a full disk
  // fails with ENOSPC: the commit must stop and leave the repository as it was.
  Fixture f;
  fs::path dense = f.dir / "d.safetensors";
  REQUIRE(RunGen({"update", DataFile("openai_clip_tiny.safetensors").string(), "-o", dense.string()}).exit_code == 0);
  auto before = RepositorySnapshot(f.repo);
  pid_t pid = ::fork();
  if (pid == 0) {
    struct rlimit limit {100 * 1024, 100 * 1024};
    ::setrlimit(RLIMIT_FSIZE, &limit);
    ::signal(SIGXFSZ, SIG_IGN);
    RunResult r = RunFomo({"commit", dense.string()}, f.repo);
    ::_exit(r.exit_code == 1 && r.err.find("cannot write") != std::string::npos ? 0 : 1);
  }
  int status = 0;
  ::waitpid(pid, &status, 0);
  REQUIRE(WIFEXITED(status));
  REQUIRE(WEXITSTATUS(status) == 0);
  REQUIRE(RepositorySnapshot(f.repo) == before);
  REQUIRE(RunFomo({"fsck"}, f.repo).exit_code == 0);
}

TEST_CASE("a second writer waits for the lock and gives up clearly", "[cli][lock]") {
  Fixture f;
  int fd = ::open((f.repo / ".fomo" / "lock").c_str(), O_RDWR);
  REQUIRE(fd >= 0);
  REQUIRE(::flock(fd, LOCK_EX) == 0);
  RunResult r = RunFomo({"tag", "held"}, f.repo, {{"FOMO_LOCK_TIMEOUT", "1"}});
  REQUIRE(r.exit_code == 1);
  REQUIRE_THAT(r.err, HasSubstr("locked by another fomo process"));
  // Readers do not need the lock.
  REQUIRE(RunFomo({"log", "--oneline"}, f.repo).exit_code == 0);
  ::flock(fd, LOCK_UN);
  ::close(fd);
  REQUIRE(RunFomo({"tag", "held"}, f.repo).exit_code == 0);
}
