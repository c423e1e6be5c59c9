// The command-line surface a subcommand sees: named options and flags bound to
// variables. It hides CLI11, whose header-only code would otherwise be compiled
// again in every file of cmd/ (about 10 s each on the build machines).
#pragma once

#include <string>
#include <vector>

namespace CLI {
class App;
}

namespace fomo::cmd {

class CommandLine {
 public:
  explicit CommandLine(CLI::App* app) : app_(app) {}

  // names as CLI11 takes them: "-o,--output", "--bump", or "file" for a positional.
  void Option(const std::string& names, std::string* value, const std::string& help,
              const std::string& type_name = "", bool required = false);
  void Option(const std::string& names, int* value, const std::string& help,
              const std::string& type_name = "N");
  void Option(const std::string& names, double* value, const std::string& help,
              const std::string& type_name = "X");
  void Option(const std::string& names, std::vector<std::string>* values, const std::string& help,
              const std::string& type_name = "", bool required = false);
  void Flag(const std::string& names, bool* value, const std::string& help);

  // The command's CLI11 app, for the one command that reads the definitions
  // themselves (completion.cpp).
  CLI::App* app() const { return app_; }

 private:
  CLI::App* app_;
};

}  // namespace fomo::cmd
