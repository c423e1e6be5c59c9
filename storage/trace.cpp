#include "storage/trace.hpp"

#include <chrono>
#include <cstdio>

#include "storage/printable.hpp"

namespace fomo {

namespace {
bool g_trace = false;
const auto g_start = std::chrono::steady_clock::now();
}  // namespace

void SetTrace(bool on) { g_trace = on; }

bool TraceOn() { return g_trace; }

void Trace(const std::string& line) {
  if (!g_trace) return;
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - g_start).count();
  std::fprintf(stderr, "fomo: [%.2f s] %s\n", seconds, Printable(line).c_str());
}

}  // namespace fomo
