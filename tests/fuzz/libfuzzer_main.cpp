// libFuzzer's entry point for an executable built from one target file.
#include <cstdint>
#include <cstdlib>

#include "fuzz_registry.hpp"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static const auto target = *fomo::fuzz::Targets().begin();
  if (!fomo::fuzz::RunOne(target.first.c_str(), target.second,
                          std::string(reinterpret_cast<const char*>(data), size))) {
    std::abort();  // libFuzzer saves the input as crash-*
  }
  return 0;
}
