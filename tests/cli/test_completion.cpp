// Shell completion: the generated bash script, sourced in bash, completes commands,
// options, tags and branches, dataset names and files; the build installs it; the
// zsh script parses.
#include <cstdlib>

#include "catch.hpp"
#include "test_support.hpp"

using namespace fomo::test;

namespace {

// What bash offers for the words (the last one being completed), in dir.
std::string Complete(const fs::path& script, const fs::path& dir, const std::string& words) {
  const std::string program = "source '" + script.string() +
                              "'\n"
                              "COMP_WORDS=(" + words + ")\n"
                              "COMP_CWORD=$((${#COMP_WORDS[@]} - 1))\n"
                              "_fomo\n"
                              "printf '%s\\n' \"${COMPREPLY[@]}\"\n";
  WriteFile(dir / ".complete.sh", program);
  RunResult r = RunProgram({"/bin/bash", (dir / ".complete.sh").string()}, dir);
  INFO(r.err);
  REQUIRE(r.exit_code == 0);
  return r.out;
}

}  // namespace

TEST_CASE("bash completion completes commands, options, revisions, datasets and files", "[cli][completion]") {
  TempDir dir;
  InitReference(dir.path());
  REQUIRE(RunFomo({"tag", "reviewed"}, dir.path()).exit_code == 0);
  REQUIRE(RunFomo({"branch", "experiment"}, dir.path()).exit_code == 0);
  WriteFile(dir / "fomo.yaml", ReadFile(dir / "fomo.yaml") +
                                   "datasets:\n  shoes:\n    kind: folder\n    path: shoes\n");
  // The script calls fomo by name, as an installed one would be.
  const fs::path bin = dir / "bin";
  fs::create_directories(bin);
  fs::create_symlink(FomoBinary(), bin / "fomo");
  RunResult made = RunFomo({"completion", "bash"}, dir.path());
  REQUIRE(made.exit_code == 0);
  const fs::path script = dir / "fomo.bash";
  WriteFile(script, "PATH='" + bin.string() + "':$PATH\n" + made.out);

  CHECK(Complete(script, dir.path(), "fomo mer") == "merge\n");
  CHECK(Complete(script, dir.path(), "fomo sh") == "show\n");
  CHECK(Complete(script, dir.path(), "fomo --js") == "--json\n");
  CHECK(Complete(script, dir.path(), "fomo minor --dat") == "--data\n");
  CHECK(Complete(script, dir.path(), "fomo merge --rec") == "--recipe\n");
  // Revisions: tags and branches of this repository.
  CHECK(Complete(script, dir.path(), "fomo show v1") == "v1.0.0\n");
  CHECK(Complete(script, dir.path(), "fomo diff v1.0.0 rev") == "reviewed\n");
  CHECK(Complete(script, dir.path(), "fomo minor --from exp") == "experiment\n");
  CHECK(Complete(script, dir.path(), "fomo -q switch exp") == "experiment\n");
  // Dataset names from fomo.yaml and the built-in ones.
  const std::string datasets = Complete(script, dir.path(), "fomo eval --dataset ''");
  CHECK_THAT(datasets, HasSubstr("shoes\n"));
  CHECK_THAT(datasets, HasSubstr("fmnist\n"));
  // Files where a file goes.
  CHECK(Complete(script, dir.path(), "fomo export -o fomo.y") == "fomo.yaml\n");
  CHECK(Complete(script, dir.path(), "fomo commit fomo.y") == "fomo.yaml\n");
  // Every command the CLI defines is offered: the script is made from the definitions.
  const std::string all = Complete(script, dir.path(), "fomo ''");
  RunResult help = RunFomo({"--help"}, dir.path());
  for (const char* command : {"init", "commit", "minor", "merge", "log", "reset", "du", "completion"}) {
    CHECK_THAT(all, HasSubstr(std::string(command) + "\n"));
    CHECK_THAT(help.out, HasSubstr(command));
  }
}

TEST_CASE("cmake --install puts both completion scripts where bash and zsh look", "[cli][completion]") {
  TempDir prefix;
  RunResult installed =
      RunProgram({FOMO_CMAKE_COMMAND, "--install", FOMO_BUILD_DIR, "--prefix", prefix.path().string()}, prefix.path());
  INFO(installed.out << installed.err);
  REQUIRE(installed.exit_code == 0);
  const fs::path bash = prefix / "share/bash-completion/completions/fomo";
  const fs::path zsh = prefix / "share/zsh/vendor-completions/_fomo";
  REQUIRE(fs::exists(bash));
  REQUIRE(fs::exists(zsh));
  CHECK_THAT(ReadFile(bash), HasSubstr("complete -F _fomo fomo"));
  CHECK_THAT(ReadFile(zsh), HasSubstr("#compdef fomo"));
  // What is installed is what this fomo prints now.
  CHECK(ReadFile(bash) == RunFomo({"completion", "bash"}, prefix.path()).out);
}

TEST_CASE("the zsh completion script parses", "[cli][completion]") {
  const std::string zsh = fs::exists("/usr/bin/zsh") ? "/usr/bin/zsh" : fs::exists("/bin/zsh") ? "/bin/zsh" : "";
  if (zsh.empty()) {
    const char* why = "zsh is not installed: the zsh completion script's syntax is not checked";
    if (UnderCtest()) SkipUnderCtest(why);
    WARN("skipped: " << why);
    return;
  }
  TempDir dir;
  WriteFile(dir / "_fomo", RunFomo({"completion", "zsh"}, dir.path()).out);
  RunResult parsed = RunProgram({zsh, "-n", (dir / "_fomo").string()}, dir.path());
  INFO(parsed.err);
  CHECK(parsed.exit_code == 0);
}
