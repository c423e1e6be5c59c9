// One fuzz target per parser of outside input. A target feeds its input to the
// parser; fomo::Error is the expected answer to bad input (the driver catches it),
// anything else escaping (another exception, a crash, a sanitizer report, a hang)
// is a finding.
//
// The same target files build two ways: with clang's libFuzzer and the sanitizers
// (-DFOMO_FUZZ=ON, bench/fuzz.sh), one executable per target; and into
// fomo_fuzz_replay, which runs every file of a target's corpus (tests/fuzz/corpus/)
// in the normal test suite.
#pragma once

#include <filesystem>
#include <string>

namespace fomo::fuzz {

using Target = void (*)(const std::string& input);

int Register(const char* name, Target target);

// Runs target on input; returns false (after saying what escaped) on anything but
// success or fomo::Error.
bool RunOne(const char* name, Target target, const std::string& input);

// A file named name holding content, in a directory of this process's own (for
// parsers that read files).
std::filesystem::path ScratchFile(const std::string& name, const std::string& content);
std::filesystem::path ScratchDir();

}  // namespace fomo::fuzz

#define FOMO_FUZZ_TARGET(name)                                                                \
  static void FomoFuzz_##name(const std::string& input);                                      \
  [[maybe_unused]] static const int fomo_fuzz_registered_##name =                             \
      ::fomo::fuzz::Register(#name, FomoFuzz_##name);                                         \
  static void FomoFuzz_##name(const std::string& input)
