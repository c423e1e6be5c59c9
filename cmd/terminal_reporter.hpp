// How the library's reports (train/reporter.hpp) reach a terminal or a pipe:
// results on stdout, plans, notes and progress on stderr, as the global options
// (--quiet, --json) allow. EvalReporter draws an evaluation's progress.
#pragma once

#include <memory>
#include <string>

#include "cmd/command.hpp"
#include "cmd/output.hpp"
#include "train/reporter.hpp"

namespace fomo::cmd {

// Progress of an evaluation (a meter on a terminal, a line per dataset when piped)
// and its notes, as core::EvalCallbacks.
class EvalReporter : public train::Reporter::Evaluation {
 public:
  explicit EvalReporter(const GlobalOptions& global);
  EvalReporter(const EvalReporter&) = delete;  // the callbacks point at this object
  EvalReporter& operator=(const EvalReporter&) = delete;
  const core::EvalCallbacks& callbacks() const override { return callbacks_; }
  void Finish() override { meter_.Finish(); }

 private:
  ProgressMeter meter_;
  core::EvalCallbacks callbacks_;
};

class TerminalReporter : public train::Reporter {
 public:
  explicit TerminalReporter(const Context& ctx) : global_(ctx.global) {}
  void Result(const std::string& line) override;
  void Verdict(const std::string& line) override;
  void Info(const std::string& line) override;
  void Note(const std::string& line) override;
  void Warning(const std::string& line) override;
  void Committed(const StoredVersion& version, const std::string& branch, const std::string& details) override;
  std::unique_ptr<train::Progress> StartProgress(const std::string& label, const std::string& unit) override;
  std::unique_ptr<Evaluation> StartEvaluation() override;
  bool quiet() const override { return global_.quiet; }

 private:
  bool chatty() const { return !global_.quiet && !global_.json; }
  GlobalOptions global_;
};

}  // namespace fomo::cmd
