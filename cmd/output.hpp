// Printing: JSON for scripts, aligned text and colour for terminals, progress
// meters that redraw on a terminal and print plain lines when piped.
#pragma once

#include <chrono>
#include <cstdint>
#include <string>

#include <nlohmann/json.hpp>

#include "storage/graph.hpp"
#include "storage/repository.hpp"

namespace fomo::cmd {

bool StdoutIsTerminal();
bool StderrIsTerminal();

std::string FormatBytes(uint64_t bytes);  // "3.4 MiB"
// A JSON value for text output: floats to 6 significant digits (0.000044, not
// 4.3999999999999995e-05), strings bare, anything else as compact JSON with its
// floats rounded the same way.
std::string PlainValue(const nlohmann::json& value);
std::string FormatTime(int64_t epoch_seconds);  // "2026-11-23 07:05:12 +0000"
// ANSI colour on a terminal (unless NO_COLOR is set); the plain text otherwise.
std::string Colour(const std::string& text, const char* ansi_code);

void PrintJson(const nlohmann::json& value);

// A commit message for a terminal (storage/printable.hpp): each line escaped and
// indented, or the whole message escaped onto one line (--oneline, status).
std::string MessageBody(const std::string& message, const std::string& indent);
std::string MessageLine(const std::string& message);

// Resolves a revision or throws "unknown revision 'X'".
CommitId ResolveRevision(const Repository& repo, const std::string& rev);

class ProgressMeter {
 public:
  // unit: "" counts bytes (shown as KiB, MiB, ...); otherwise items of that name.
  ProgressMeter(std::string label, bool enabled, std::string unit = "");
  void Relabel(std::string label);
  ~ProgressMeter();
  // detail is appended to the line (e.g. loss and learning rate).
  void Update(uint64_t done, uint64_t total, const std::string& detail = "");
  void Finish();

 private:
  std::string label_;
  std::string unit_;
  bool enabled_;
  bool terminal_;
  bool drawn_ = false;
  std::chrono::steady_clock::time_point start_;
  std::chrono::steady_clock::time_point last_;
};

}  // namespace fomo::cmd
