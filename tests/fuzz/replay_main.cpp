// fomo_fuzz_replay TARGET PATH...: runs every file under the paths through the
// target, as the normal test suite does with tests/fuzz/corpus/TARGET (seeds and
// every input a fuzzing run found to crash). `fomo_fuzz_replay --list` names the
// targets.
#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <vector>

#include "fuzz_registry.hpp"

namespace fs = std::filesystem;

int main(int argc, char** argv) {
  auto& targets = fomo::fuzz::Targets();
  if (argc == 2 && std::string(argv[1]) == "--list") {
    for (const auto& [name, target] : targets) std::printf("%s\n", name.c_str());
    return 0;
  }
  if (argc < 3 || !targets.count(argv[1])) {
    std::fprintf(stderr, "usage: fomo_fuzz_replay TARGET PATH... (fomo_fuzz_replay --list names the targets)\n");
    return 2;
  }
  const std::string name = argv[1];
  std::vector<fs::path> files;
  for (int i = 2; i < argc; ++i) {
    if (fs::is_directory(argv[i])) {
      for (const auto& entry : fs::recursive_directory_iterator(argv[i])) {
        if (entry.is_regular_file()) files.push_back(entry.path());
      }
    } else {
      files.push_back(argv[i]);
    }
  }
  if (files.empty()) {
    std::fprintf(stderr, "fomo_fuzz_replay: no inputs for %s\n", name.c_str());
    return 1;
  }
  std::sort(files.begin(), files.end());
  int failed = 0;
  for (const auto& file : files) {
    std::ifstream in(file, std::ios::binary);
    std::stringstream bytes;
    bytes << in.rdbuf();
    if (!fomo::fuzz::RunOne(name.c_str(), targets.at(name), bytes.str())) {
      std::fprintf(stderr, "  input: %s\n", file.c_str());
      ++failed;
    }
  }
  std::printf("%s: %zu inputs, %d failed\n", name.c_str(), files.size(), failed);
  return failed ? 1 : 0;
}
