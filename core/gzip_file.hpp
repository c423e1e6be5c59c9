// Reading a file that may be gzip-compressed (zlib reads plain files as they are).
#pragma once

#include <filesystem>
#include <string>

namespace fomo::core {

// Throws fomo::Error naming the file when it cannot be read or its gzip data is corrupt.
std::string ReadMaybeGzipped(const std::filesystem::path& path);

}  // namespace fomo::core
