// fomo's entry point: parses the command line, opens (and locks) the repository as
// the command table says, runs the command, and turns errors into exit codes.
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <iostream>

#include <fmt/format.h>

#include <CLI/CLI.hpp>

#include "cmd/command.hpp"
#include "storage/error.hpp"
#include "storage/printable.hpp"
#include "storage/trace.hpp"

namespace {

constexpr const char* kDescription =
    "fomo: version control for continually trained CLIP models.\n"
    "Run 'fomo COMMAND --help' for a command's options; 'man fomo' for the manual.";

int Fail(const std::string& message, fomo::ExitCode code) {
  // One line, whatever names and paths the message quotes.
  const std::string line = fomo::Printable(message);
  std::fprintf(stderr, "fomo: %s\n", line.c_str());
  return static_cast<int>(code);
}

}  // namespace

int main(int argc, char** argv) {
  using namespace fomo;
  using namespace fomo::cmd;

  CLI::App app(kDescription, "fomo");
  app.set_version_flag("--version", std::string("fomo ") + FOMO_VERSION);
  app.require_subcommand(1);
  app.fallthrough();
  GlobalOptions global;
  app.add_option("-C", global.directory, "run as if fomo was started in DIR")->type_name("DIR");
  app.add_flag("--json", global.json, "print machine-readable JSON");
  app.add_flag("-q,--quiet", global.quiet, "print only errors");
  app.add_flag("-v,--verbose", global.verbose, "say what is done, with timings, on stderr");

  struct Registered {
    const CommandInfo* info;
    CLI::App* sub;
    Runner run;
  };
  std::vector<Registered> registered;
  for (const auto& info : Commands()) {
    CLI::App* sub = app.add_subcommand(info.name, info.summary);
    // The global options work after the command too (fallthrough); say so where
    // people look.
    sub->footer(fmt::format("Global options, before or after the command:\n"
                            "  -C DIR        run as if fomo was started in DIR\n"
                            "  --json        print machine-readable JSON\n"
                            "  -q,--quiet    print only errors\n"
                            "  -v,--verbose  say what is done, with timings, on stderr\n"
                            "'man fomo-{}' is this command's manual.",
                            info.name));
    CommandLine cli(sub);
    registered.push_back({&info, sub, info.setup(cli)});
  }

  // Name an unknown command plainly (CLI11 would only say one is required).
  std::string command;  // for the hint of a usage error
  for (int i = 1; i < argc; ++i) {
    std::string arg = argv[i];
    if (arg == "-C") {
      ++i;
      continue;
    }
    if (arg.empty() || arg[0] == '-') continue;
    bool known = false;
    for (const auto& info : Commands()) known = known || arg == info.name;
    if (!known) return Fail(fmt::format("'{}' is not a fomo command (see 'fomo --help')", arg), ExitCode::kUsage);
    command = arg;
    break;
  }
  const std::string help = command.empty() ? "fomo --help" : "fomo " + command + " --help";

  try {
    app.parse(argc, argv);
  } catch (const CLI::CallForHelp& e) {
    return app.exit(e);
  } catch (const CLI::CallForAllHelp& e) {
    return app.exit(e);
  } catch (const CLI::CallForVersion& e) {
    return app.exit(e);
  } catch (const CLI::ParseError& e) {
    return Fail(fmt::format("{} (see '{}')", e.what(), help), ExitCode::kUsage);
  }

  try {
    if (!global.directory.empty() && ::chdir(global.directory.c_str()) != 0) {
      throw Error(fmt::format("cannot change to '{}': {}", global.directory, std::strerror(errno)));
    }
    for (auto& r : registered) {
      if (!r.sub->parsed()) continue;
      Context ctx(global);
      SetTrace(global.verbose);
      if (r.info->access != RepoAccess::kNone) {
        ctx.set_repo(std::make_unique<Repository>(Repository::Open(".")));
        Trace(fmt::format("repository {}", ctx.repo().root().string()));
        if (r.info->access == RepoAccess::kWrite) ctx.repo().LockForWriting(global.quiet);
      }
      const int code = r.run(ctx);
      Trace(fmt::format("'fomo {}' done, exit {}", r.info->name, code));
      return code;
    }
    return Fail("no command given (see 'fomo --help')", ExitCode::kUsage);
  } catch (const Error& e) {
    return Fail(e.what(), e.code());
  } catch (const std::bad_alloc&) {
    return Fail("out of memory", ExitCode::kError);
  } catch (const std::exception& e) {
    return Fail(e.what(), ExitCode::kError);
  }
}
