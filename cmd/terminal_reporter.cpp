#include "cmd/terminal_reporter.hpp"

#include <iostream>

#include "cmd/version_view.hpp"

namespace fomo::cmd {

namespace {

class MeterProgress : public train::Progress {
 public:
  MeterProgress(const std::string& label, bool enabled, const std::string& unit) : meter_(label, enabled, unit) {}
  void Update(uint64_t done, uint64_t total, const std::string& detail) override { meter_.Update(done, total, detail); }
  void Finish() override { meter_.Finish(); }

 private:
  ProgressMeter meter_;
};

}  // namespace

EvalReporter::EvalReporter(const GlobalOptions& global)
    : meter_("evaluating", !global.quiet && !global.json, "images") {
  const bool chatty = !global.quiet && !global.json;
  const bool quiet = global.quiet;
  callbacks_.on_start = [this, chatty](const std::string& what) {
    meter_.Relabel("evaluating " + what);
    if (chatty && !StderrIsTerminal()) std::cerr << "evaluating " << what << "\n";
  };
  callbacks_.on_progress = [this](int64_t done, int64_t total) {
    meter_.Update(static_cast<uint64_t>(done), static_cast<uint64_t>(total));
  };
  callbacks_.on_notice = [quiet](const std::string& message) {
    if (!quiet) std::cerr << "note: " << message << "\n";
  };
}

void TerminalReporter::Result(const std::string& line) {
  if (chatty()) std::cout << line << "\n";
}

void TerminalReporter::Verdict(const std::string& line) {
  if (!global_.json) std::cout << line << "\n";
}

void TerminalReporter::Info(const std::string& line) {
  if (chatty()) std::cerr << line << "\n";
}

void TerminalReporter::Note(const std::string& line) {
  if (!global_.quiet) std::cerr << "note: " << line << "\n";
}

void TerminalReporter::Warning(const std::string& line) { std::cerr << "fomo: " << line << "\n"; }

void TerminalReporter::Committed(const StoredVersion& version, const std::string& branch, const std::string& details) {
  Result(VersionLine(version, branch, details));
}

std::unique_ptr<train::Progress> TerminalReporter::StartProgress(const std::string& label, const std::string& unit) {
  return std::make_unique<MeterProgress>(label, chatty(), unit);
}

std::unique_ptr<train::Reporter::Evaluation> TerminalReporter::StartEvaluation() {
  return std::make_unique<EvalReporter>(global_);
}

}  // namespace fomo::cmd
