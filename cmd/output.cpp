#include "cmd/output.hpp"

#include <unistd.h>

#include <cstdio>
#include <ctime>
#include <iostream>

#include <fmt/format.h>

#include "storage/error.hpp"
#include "storage/printable.hpp"

namespace fomo::cmd {

bool StdoutIsTerminal() { return ::isatty(STDOUT_FILENO) == 1; }
bool StderrIsTerminal() { return ::isatty(STDERR_FILENO) == 1; }

std::string FormatBytes(uint64_t bytes) {
  static const char* kUnits[] = {"B", "KiB", "MiB", "GiB", "TiB"};
  double value = static_cast<double>(bytes);
  int unit = 0;
  while (value >= 1024 && unit < 4) {
    value /= 1024;
    ++unit;
  }
  return unit == 0 ? fmt::format("{} B", bytes) : fmt::format("{:.1f} {}", value, kUnits[unit]);
}

std::string FormatTime(int64_t epoch_seconds) {
  std::time_t t = static_cast<std::time_t>(epoch_seconds);
  std::tm tm{};
  localtime_r(&t, &tm);
  char buf[64];
  std::strftime(buf, sizeof(buf), "%Y-%m-%d %H:%M:%S %z", &tm);
  return buf;
}

std::string Colour(const std::string& text, const char* ansi_code) {
  static const bool enabled = StdoutIsTerminal() && !std::getenv("NO_COLOR");
  if (!enabled) return text;
  return fmt::format("\033[{}m{}\033[0m", ansi_code, text);
}

void PrintJson(const nlohmann::json& value) { std::cout << value.dump(2) << "\n"; }

CommitId ResolveRevision(const Repository& repo, const std::string& rev) {
  return fomo::ResolveRevision(repo.graph(), rev);
}

ProgressMeter::ProgressMeter(std::string label, bool enabled, std::string unit)
    : label_(std::move(label)),
      unit_(std::move(unit)),
      enabled_(enabled),
      terminal_(StderrIsTerminal()),
      start_(std::chrono::steady_clock::now()),
      last_(start_) {}

ProgressMeter::~ProgressMeter() { Finish(); }

void ProgressMeter::Relabel(std::string label) {
  Finish();
  label_ = std::move(label);
  start_ = last_ = std::chrono::steady_clock::now();
}

void ProgressMeter::Update(uint64_t done, uint64_t total, const std::string& detail) {
  if (!enabled_) return;
  auto now = std::chrono::steady_clock::now();
  // Redraw a terminal line at most 10 times a second; print a piped line every 5 s.
  auto interval = terminal_ ? std::chrono::milliseconds(100) : std::chrono::milliseconds(5000);
  // Piped output stays silent for work that finishes within one interval.
  if (now - last_ < interval && (done < total || !terminal_)) return;
  last_ = now;
  double seconds = std::chrono::duration<double>(now - start_).count();
  double rate = seconds > 0 ? done / seconds : 0;
  double eta = rate > 0 && total > done ? (total - done) / rate : 0;
  const bool bytes = unit_.empty();
  std::string line = fmt::format(
      "{}: {:3.0f}% ({} of {}), {}/s, ETA {:.0f} s", label_, total ? 100.0 * done / total : 100.0,
      bytes ? FormatBytes(done) : std::to_string(done), bytes ? FormatBytes(total) : fmt::format("{} {}", total, unit_),
      bytes ? FormatBytes(static_cast<uint64_t>(rate)) : fmt::format("{:.3g} {}", rate, unit_), eta);
  if (!detail.empty()) line += ", " + detail;
  if (terminal_) {
    std::fprintf(stderr, "\r\033[K%s", line.c_str());
    drawn_ = true;
  } else {
    std::fprintf(stderr, "%s\n", line.c_str());
  }
  std::fflush(stderr);
}

void ProgressMeter::Finish() {
  if (drawn_) {
    std::fprintf(stderr, "\r\033[K");
    std::fflush(stderr);
    drawn_ = false;
  }
}

std::string MessageBody(const std::string& message, const std::string& indent) {
  std::string out;
  size_t start = 0;
  while (true) {
    const size_t end = message.find('\n', start);
    out += indent + Printable(message.substr(start, end == std::string::npos ? std::string::npos : end - start));
    if (end == std::string::npos) break;
    out += "\n";
    start = end + 1;
  }
  return out;
}

namespace {
nlohmann::json Rounded(const nlohmann::json& value) {
  if (value.is_number_float()) return std::stod(fmt::format("{:.6g}", value.get<double>()));
  if (value.is_array() || value.is_object()) {
    nlohmann::json out = value;
    for (auto& item : out) item = Rounded(item);
    return out;
  }
  return value;
}
}  // namespace

std::string PlainValue(const nlohmann::json& value) {
  if (value.is_string()) return value.get<std::string>();
  if (value.is_number_float()) return fmt::format("{:.6g}", value.get<double>());
  return Rounded(value).dump();
}

std::string MessageLine(const std::string& message) { return Printable(message); }

}  // namespace fomo::cmd
