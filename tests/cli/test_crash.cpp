// A commit killed with SIGKILL at any point leaves a repository that fsck accepts
// and that still exports every earlier version bit-exactly.
#include <fcntl.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <thread>

#include <nlohmann/json.hpp>

#include "catch.hpp"
#include "test_support.hpp"

using namespace fomo::test;
using nlohmann::json;

namespace {

struct Chain {
  TempDir dir;
  fs::path repo = dir / "repo";
  std::vector<fs::path> versions;  // checkpoints of v1.0.0, v1.0.1
  fs::path next;                   // the checkpoint the killed commit records

  Chain() {
    fs::create_directories(repo);
    InitReference(repo);
    versions.push_back(DataFile("openai_clip_tiny.safetensors"));
    versions.push_back(dir / "v1.safetensors");
    next = dir / "v2.safetensors";
    REQUIRE(RunGen({"update", versions[0].string(), "-o", versions[1].string(), "--seed", "1"}).exit_code == 0);
    REQUIRE(RunGen({"update", versions[1].string(), "-o", next.string(), "--seed", "2"}).exit_code == 0);
    REQUIRE(RunFomo({"commit", versions[1].string(), "-q"}, repo).exit_code == 0);
  }

  void ExpectIntact() {
    RunResult fsck = RunFomo({"fsck"}, repo);
    INFO(fsck.out << fsck.err);
    REQUIRE(fsck.exit_code == 0);
    for (size_t v = 0; v < versions.size(); ++v) {
      fs::path out = dir / ("check" + std::to_string(v) + ".safetensors");
      REQUIRE(RunFomo({"export", "v1.0." + std::to_string(v), "-o", out.string()}, repo).exit_code == 0);
      REQUIRE(TensorBytes(out) == TensorBytes(versions[v]));
    }
  }

  // After repair the repository is consistent and the commit can be completed.
  void ExpectRecoverable() {
    RunResult repair = RunFomo({"fsck", "--repair"}, repo);
    REQUIRE(repair.exit_code == 0);
    RunResult commit = RunFomo({"commit", next.string()}, repo);
    REQUIRE(commit.exit_code == 0);
    json head = json::parse(RunFomo({"show", "--json"}, repo).out);
    REQUIRE(head["version"] == "1.0.2");
    json fsck = json::parse(RunFomo({"fsck", "--json"}, repo).out);
    REQUIRE(fsck["ok"] == true);
    for (const auto& notice : fsck["notices"]) REQUIRE_THAT(notice.get<std::string>(), !HasSubstr("database row"));
    fs::path out = dir / "final.safetensors";
    REQUIRE(RunFomo({"export", "v1.0.2", "-o", out.string()}, repo).exit_code == 0);
    REQUIRE(TensorBytes(out) == TensorBytes(next));
  }
};

}  // namespace

TEST_CASE("a commit killed between any two of its steps loses nothing", "[cli][crash]") {
  for (const char* point : {"objects-written", "commit-written", "branch-moved", "tagged", "database-written"}) {
    INFO("killed at " << point);
    Chain chain;
    RunResult r = RunFomo({"commit", chain.next.string()}, chain.repo, {{"FOMO_CRASH_AT", point}});
    REQUIRE(r.exit_code == -SIGKILL);
    chain.ExpectIntact();
    chain.ExpectRecoverable();
  }
}

TEST_CASE("a commit killed from outside at arbitrary moments loses nothing", "[cli][crash]") {
  for (int delay_ms : {1, 3, 6, 10, 20, 40}) {
    INFO("killed after " << delay_ms << " ms");
    Chain chain;
    const std::string binary = FomoBinary();
    pid_t pid = ::fork();
    if (pid == 0) {
      int devnull = ::open("/dev/null", O_WRONLY);
      ::dup2(devnull, 1);
      ::dup2(devnull, 2);
      if (::chdir(chain.repo.c_str()) != 0) ::_exit(127);
      ::execl(binary.c_str(), binary.c_str(), "commit", chain.next.c_str(), static_cast<char*>(nullptr));
      ::_exit(127);
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(delay_ms));
    ::kill(pid, SIGKILL);
    int status = 0;
    ::waitpid(pid, &status, 0);
    chain.ExpectIntact();
    chain.ExpectRecoverable();
  }
}
