// What every subcommand sees: the global options, the repository (opened and
// locked by main according to the command table), and output helpers.
#pragma once

#include <functional>
#include <memory>
#include <optional>
#include <string>

#include <CLI/CLI.hpp>

#include "storage/repository.hpp"

namespace fomo::cmd {

struct GlobalOptions {
  std::string directory;
  bool json = false;
  bool quiet = false;
  bool verbose = false;
};

class Context {
 public:
  explicit Context(GlobalOptions global) : global(std::move(global)) {}
  GlobalOptions global;
  Repository& repo() { return *repo_; }
  void set_repo(std::unique_ptr<Repository> repo) { repo_ = std::move(repo); }

 private:
  std::unique_ptr<Repository> repo_;
};

// A command's run function; it returns the process exit code.
using Runner = std::function<int(Context&)>;

enum class RepoAccess {
  kNone,   // finds or creates its own repository (init)
  kRead,   // opens the repository, takes no lock
  kWrite,  // opens the repository and holds the write lock while it runs
};

struct CommandInfo {
  const char* name;
  const char* summary;
  RepoAccess access;
  // Adds the command's options to its CLI11 subcommand; returns how to run it.
  Runner (*setup)(CLI::App& sub);
};

// The table of every subcommand (commands.cpp).
const std::vector<CommandInfo>& Commands();

// Each subcommand's setup function, one per file in cmd/.
Runner SetupBranch(CLI::App& sub);
Runner SetupCommit(CLI::App& sub);
Runner SetupDiff(CLI::App& sub);
Runner SetupExport(CLI::App& sub);
Runner SetupFsck(CLI::App& sub);
Runner SetupGc(CLI::App& sub);
Runner SetupInit(CLI::App& sub);
Runner SetupLog(CLI::App& sub);
Runner SetupShow(CLI::App& sub);
Runner SetupStatus(CLI::App& sub);
Runner SetupSwitch(CLI::App& sub);
Runner SetupTag(CLI::App& sub);

}  // namespace fomo::cmd
