// The JSON contract: fomo(1)'s JSON OUTPUT section lists, per command, the key
// paths scripts may rely on. This runs every command listed there and checks each
// path is in its output, so the manual and the program cannot drift apart.
#include <sstream>

#include <nlohmann/json.hpp>

#include "catch.hpp"
#include "test_support.hpp"

using namespace fomo::test;
using nlohmann::json;

namespace {

// command -> key paths, from the man page source.
std::map<std::string, std::vector<std::string>> DocumentedKeys() {
  std::istringstream page(ReadFile(fs::path(FOMO_MAN_DIR) / "fomo.1"));
  std::string line;
  while (std::getline(page, line) && line != ".SH JSON OUTPUT") {
  }
  std::map<std::string, std::vector<std::string>> keys;
  while (std::getline(page, line) && line.rfind(".SH", 0) != 0) {
    if (line != ".TP") continue;
    std::string command, paths;
    std::getline(page, command);
    std::getline(page, paths);
    REQUIRE(command.rfind(".B ", 0) == 0);
    std::vector<std::string>& list = keys[command.substr(3)];
    std::istringstream items(paths);
    std::string item;
    while (std::getline(items, item, ',')) {
      item.erase(0, item.find_first_not_of(' '));
      item.erase(item.find_last_not_of(' ') + 1);
      if (!item.empty()) list.push_back(item);
    }
  }
  return keys;
}

// Whether path ("a.b", "a[].b", "[][]") is in value; why not, in *missing.
bool HasPath(const json& value, const std::string& path, std::string* missing) {
  if (path.empty()) return true;
  if (path.rfind("[]", 0) == 0) {
    if (!value.is_array() || value.empty()) {
      *missing = "a non-empty list before '" + path + "'";
      return false;
    }
    std::string rest = path.substr(2);
    if (!rest.empty() && rest[0] == '.') rest.erase(0, 1);
    for (const auto& element : value) {
      if (!HasPath(element, rest, missing)) return false;
    }
    return true;
  }
  const size_t end = path.find_first_of(".[");
  const std::string key = path.substr(0, end);
  if (!value.is_object() || !value.contains(key)) {
    *missing = "key '" + key + "'";
    return false;
  }
  std::string rest = end == std::string::npos ? "" : path.substr(end);
  if (!rest.empty() && rest[0] == '.') rest.erase(0, 1);
  return HasPath(value.at(key), rest, missing);
}

}  // namespace

TEST_CASE("every --json output has the keys fomo(1) documents", "[cli][json]") {
  if (!fs::exists("/usr/share/datasets/fashion-mnist")) {
    const char* why = "dataset-fashion-mnist is not installed (scripts/setup.sh installs it)";
    if (UnderCtest()) SkipUnderCtest(why);
    WARN("skipped: " << why);
    return;
  }
  const auto documented = DocumentedKeys();
  REQUIRE(documented.size() >= 19);

  TempDir dir;
  WriteFile(dir / "fomo.yaml", "suites:\n  adaptation: auto\n  retention: ['fmnist:0-4#40']\n");
  std::map<std::string, json> outputs;
  auto run = [&](const std::string& command, std::vector<std::string> args) {
    args.push_back("--json");
    RunResult r = RunFomo(args, dir.path());
    INFO(command << ": " << r.err);
    REQUIRE(r.exit_code == 0);
    outputs[command] = json::parse(r.out);
  };
  run("init", {"init", "--arch", "tiny", "--no-eval"});
  const fs::path base = dir / "base.safetensors", update = dir / "update.safetensors";
  REQUIRE(RunFomo({"export", "-o", base.string(), "-q"}, dir.path()).exit_code == 0);
  REQUIRE(RunGen({"update", base.string(), "-o", update.string(), "--kind", "dense"}).exit_code == 0);
  run("commit", {"commit", update.string(), "--no-eval"});
  run("minor", {"minor", "--data", "fmnist:5-9#40", "--steps", "1", "--batch-size", "8"});
  run("merge", {"merge", "v1.0.1", "v1.1.0", "--no-eval"});
  run("show", {"show"});
  run("log", {"log"});
  run("diff", {"diff", "v1.0.1", "v1.1.0"});
  run("export", {"export", "v1.0.0", "-o", (dir / "out.safetensors").string()});
  run("eval", {"eval", "v1.1.0"});
  run("embed", {"embed", "--text", "a photo of a shoe"});
  run("tag", {"tag"});
  run("branch", {"branch"});
  run("switch", {"switch", "main"});
  run("reset", {"reset", "v1.1.0"});
  run("status", {"status"});
  run("du", {"du"});
  run("gc", {"gc", "--dry-run"});
  run("fsck", {"fsck"});
  run("tokenize", {"tokenize", "a photo"});

  for (const auto& [command, paths] : documented) {
    INFO("fomo " << command << " --json");
    REQUIRE(outputs.count(command));
    for (const auto& path : paths) {
      std::string missing;
      INFO(path << ": " << outputs[command].dump().substr(0, 400));
      CHECK(HasPath(outputs[command], path, &missing));
      if (!missing.empty()) WARN("missing " << missing);
    }
  }
  // And every command this test ran is documented.
  for (const auto& [command, output] : outputs) {
    INFO(command);
    CHECK(documented.count(command));
  }
}
