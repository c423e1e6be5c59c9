// Every command has a man page, and man renders each without warnings.
#include <cstdio>
#include <sstream>

#include "catch.hpp"
#include "test_support.hpp"

using namespace fomo::test;

namespace {
std::string Capture(const std::string& command) {
  std::string out;
  FILE* pipe = ::popen(command.c_str(), "r");
  char buf[4096];
  size_t n;
  while (pipe && (n = fread(buf, 1, sizeof(buf), pipe)) > 0) out.append(buf, n);
  if (pipe) ::pclose(pipe);
  return out;
}
}  // namespace

namespace {
// The subcommands fomo's own help lists, so a new command without a page fails here.
std::vector<std::string> Commands() {
  TempDir dir;
  RunResult help = RunFomo({"--help"}, dir.path());
  REQUIRE(help.exit_code == 0);
  std::string lower = help.out;
  for (char& c : lower) c = static_cast<char>(tolower(c));
  size_t at = lower.find("subcommands:");
  REQUIRE(at != std::string::npos);
  std::vector<std::string> names;
  std::istringstream lines(help.out.substr(at));
  std::string line;
  std::getline(lines, line);
  while (std::getline(lines, line)) {
    std::istringstream words(line);
    std::string name;
    if (words >> name) names.push_back(name);
  }
  return names;
}
}  // namespace

TEST_CASE("man pages exist for fomo and every command and render cleanly", "[man]") {
  const fs::path man_dir = FOMO_MAN_DIR;
  std::vector<std::string> pages = {"fomo"};
  std::vector<std::string> commands = Commands();
  REQUIRE(commands.size() >= 13);
  for (const auto& command : commands) pages.push_back("fomo-" + command);
  for (const auto& page : pages) {
    INFO(page);
    fs::path file = man_dir / (page + ".1");
    REQUIRE(fs::exists(file));
    std::string warnings = Capture("MANWIDTH=80 man --warnings -l '" + file.string() + "' 2>&1 >/dev/null");
    REQUIRE(warnings.empty());
    std::string text = Capture("MANWIDTH=80 man -l '" + file.string() + "' 2>/dev/null");
    REQUIRE_THAT(text, HasSubstr("NAME"));
    REQUIRE_THAT(text, HasSubstr("SYNOPSIS"));
  }
}

TEST_CASE("every option a command accepts is documented in its man page", "[man]") {
  TempDir dir;
  for (const auto& command : Commands()) {
    INFO(command);
    RunResult help = RunFomo({command, "--help"}, dir.path());
    REQUIRE(help.exit_code == 0);
    std::string page = ReadFile(fs::path(FOMO_MAN_DIR) / ("fomo-" + command + ".1"));
    // Long options in the help text must appear in the page (roff escapes the dashes).
    size_t pos = 0;
    while ((pos = help.out.find("--", pos)) != std::string::npos) {
      size_t end = pos + 2;
      while (end < help.out.size() && (isalnum(help.out[end]) || help.out[end] == '-')) ++end;
      std::string option = help.out.substr(pos + 2, end - pos - 2);
      pos = end;
      if (option.empty() || option == "help" || option == "json" || option == "quiet" || option == "verbose" ||
          option == "version") {
        continue;
      }
      std::string escaped;
      for (char c : option) escaped += c == '-' ? std::string("\\-") : std::string(1, c);
      INFO("option --" << option);
      REQUIRE_THAT(page, HasSubstr("\\-\\-" + escaped));
    }
  }
}
