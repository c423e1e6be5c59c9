// What every subcommand sees: the global options, the repository (opened and
// locked by main according to the command table), and output helpers.
#pragma once

#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "cmd/cli.hpp"

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
  // Adds the command's options to its command line; returns how to run it.
  Runner (*setup)(CommandLine& cli);
};

// The table of every subcommand (commands.cpp).
const std::vector<CommandInfo>& Commands();

// Each subcommand's setup function, one per file in cmd/.
Runner SetupBranch(CommandLine& cli);
Runner SetupClone(CommandLine& cli);
Runner SetupCommit(CommandLine& cli);
Runner SetupDiff(CommandLine& cli);
Runner SetupDu(CommandLine& cli);
Runner SetupEmbed(CommandLine& cli);
Runner SetupEval(CommandLine& cli);
Runner SetupExport(CommandLine& cli);
Runner SetupFetch(CommandLine& cli);
Runner SetupFsck(CommandLine& cli);
Runner SetupGc(CommandLine& cli);
Runner SetupReset(CommandLine& cli);
Runner SetupCompletion(CommandLine& cli);
Runner SetupInit(CommandLine& cli);
Runner SetupLog(CommandLine& cli);
Runner SetupMajor(CommandLine& cli);
Runner SetupMerge(CommandLine& cli);
Runner SetupMinor(CommandLine& cli);
Runner SetupPatch(CommandLine& cli);
Runner SetupPull(CommandLine& cli);
Runner SetupPush(CommandLine& cli);
Runner SetupRemote(CommandLine& cli);
Runner SetupShow(CommandLine& cli);
Runner SetupStatus(CommandLine& cli);
Runner SetupStream(CommandLine& cli);
Runner SetupPlot(CommandLine& cli);
Runner SetupSwitch(CommandLine& cli);
Runner SetupTag(CommandLine& cli);
Runner SetupTokenize(CommandLine& cli);

}  // namespace fomo::cmd
