// PNG and JPEG decoding through fomo's wrapper (its size limits included).
#include "core/image_decode.hpp"
#include "fuzz_target.hpp"

FOMO_FUZZ_TARGET(image) {
  auto image = fomo::core::DecodeImage(input, "fuzz");
  if (image.pixels.size() != static_cast<size_t>(image.height * image.width * image.channels)) __builtin_trap();
}
