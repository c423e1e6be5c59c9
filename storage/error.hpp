// Errors inside fomo are exceptions; main() turns them into exit codes (PRODUCT.md,
// "The scripting contract"). Expected outcomes (not found, nothing to commit) are
// return values, not exceptions.
#pragma once

#include <stdexcept>
#include <string>

#include "storage/printable.hpp"

namespace fomo {

enum class ExitCode : int {
  kOk = 0,
  kError = 1,       // something failed; stderr says what and where
  kUsage = 2,       // bad command line
  kGateFailed = 3,  // a --require gate failed; the version sits on a rejected/ branch
  kPending = 4,     // the line moved while the version was made; it sits on a pending/ branch
  kInterrupted = 130,  // 128 + SIGINT, as a shell reports Ctrl-C (SIGTERM: 143)
};

// The message is escaped on construction (storage/printable.hpp): names and paths
// from files cannot split it over lines, cut it with a NUL or drive the terminal.
class Error : public std::runtime_error {
 public:
  explicit Error(const std::string& message, ExitCode code = ExitCode::kError)
      : std::runtime_error(Printable(message)), code_(code) {}
  ExitCode code() const { return code_; }

 private:
  ExitCode code_;
};

// Wrong options or arguments: exit code 2.
class UsageError : public Error {
 public:
  explicit UsageError(const std::string& message) : Error(message, ExitCode::kUsage) {}
};

// Stored data that fails verification (hash mismatch, bad header).
class CorruptError : public Error {
 public:
  explicit CorruptError(const std::string& message) : Error(message) {}
};

}  // namespace fomo
