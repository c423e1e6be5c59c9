// Decoding JPEG (libjpeg-turbo) and PNG (libpng) files into 8-bit pixels.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace fomo::core {

struct Image {
  int64_t height = 0, width = 0, channels = 0;  // channels: 1 (grey) or 3 (RGB)
  std::vector<uint8_t> pixels;                  // height x width x channels
};

// Decodes by content (JPEG or PNG magic); throws fomo::Error when the bytes are
// neither or do not decode. Alpha is dropped, palettes and 16-bit depths expanded.
Image DecodeImage(const std::string& bytes, const std::string& origin);

}  // namespace fomo::core
