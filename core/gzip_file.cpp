#include "core/gzip_file.hpp"

#include <zlib.h>

#include <fmt/format.h>

#include "storage/error.hpp"

namespace fomo::core {

std::string ReadMaybeGzipped(const std::filesystem::path& path) {
  gzFile file = gzopen(path.c_str(), "rb");
  if (!file) throw Error(fmt::format("cannot read '{}'", path.string()));
  std::string out;
  char buf[1 << 16];
  int n;
  while ((n = gzread(file, buf, sizeof(buf))) > 0) out.append(buf, static_cast<size_t>(n));
  bool failed = n < 0;
  gzclose(file);
  if (failed) throw Error(fmt::format("cannot read '{}': corrupt gzip data", path.string()));
  return out;
}

}  // namespace fomo::core
