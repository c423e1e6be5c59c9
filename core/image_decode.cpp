#include "core/image_decode.hpp"

#include <jpeglib.h>
#include <png.h>

#include <csetjmp>
#include <cstdio>
#include <cstring>
#include <memory>

#include <fmt/format.h>

#include "storage/error.hpp"

namespace fomo::core {

namespace {

struct JpegError {
  jpeg_error_mgr manager;
  std::jmp_buf jump;
  char message[JMSG_LENGTH_MAX];
};

void OnJpegError(j_common_ptr info) {
  auto* error = reinterpret_cast<JpegError*>(info->err);
  (*info->err->format_message)(info, error->message);
  std::longjmp(error->jump, 1);
}

// A header may claim any size (JPEG up to 65535 x 65535, PNG far more): decoding
// allocates what it claims, so larger images are refused before that.
constexpr uint64_t kMaxImagePixels = uint64_t{1} << 26;  // 64 Mpx, 8192 x 8192

void CheckPixels(uint64_t width, uint64_t height, const char* kind, const std::string& origin) {
  if (width == 0 || height == 0 || width * height > kMaxImagePixels) {
    throw Error(fmt::format("cannot decode {} '{}': {} x {} pixels (at most {} are decoded)", kind, origin, width,
                            height, kMaxImagePixels));
  }
}

Image DecodeJpeg(const std::string& bytes, const std::string& origin) {
  jpeg_decompress_struct info{};
  JpegError error{};
  info.err = jpeg_std_error(&error.manager);
  error.manager.error_exit = OnJpegError;
  // Warnings (corrupt data libjpeg can recover from) are not printed: the
  // dataset loader counts images, not messages.
  error.manager.output_message = [](j_common_ptr) {};
  // Locals changed after setjmp are indeterminate after the longjmp: the image
  // lives on the heap and only the pointer, set before, is read there.
  const auto image = std::make_unique<Image>();
  if (setjmp(error.jump)) {
    jpeg_destroy_decompress(&info);
    throw Error(fmt::format("cannot decode JPEG '{}': {}", origin, error.message));
  }
  jpeg_create_decompress(&info);
  jpeg_mem_src(&info, reinterpret_cast<const unsigned char*>(bytes.data()), static_cast<unsigned long>(bytes.size()));
  jpeg_read_header(&info, TRUE);
  if (uint64_t{info.image_width} * info.image_height > kMaxImagePixels) {
    const uint64_t width = info.image_width, height = info.image_height;
    jpeg_destroy_decompress(&info);
    CheckPixels(width, height, "JPEG", origin);
  }
  info.out_color_space = info.num_components == 1 ? JCS_GRAYSCALE : JCS_RGB;
  jpeg_start_decompress(&info);
  image->height = info.output_height;
  image->width = info.output_width;
  image->channels = info.output_components;
  image->pixels.resize(static_cast<size_t>(image->height * image->width * image->channels));
  while (info.output_scanline < info.output_height) {
    JSAMPROW row = image->pixels.data() + static_cast<size_t>(info.output_scanline) * image->width * image->channels;
    jpeg_read_scanlines(&info, &row, 1);
  }
  jpeg_finish_decompress(&info);
  jpeg_destroy_decompress(&info);
  return std::move(*image);
}

Image DecodePng(const std::string& bytes, const std::string& origin) {
  png_image png{};
  png.version = PNG_IMAGE_VERSION;
  if (!png_image_begin_read_from_memory(&png, bytes.data(), bytes.size())) {
    throw Error(fmt::format("cannot decode PNG '{}': {}", origin, png.message));
  }
  if (uint64_t{png.width} * png.height > kMaxImagePixels) {
    png_image_free(&png);
    CheckPixels(png.width, png.height, "PNG", origin);
  }
  const bool grey = (png.format & PNG_FORMAT_FLAG_COLOR) == 0;
  png.format = grey ? PNG_FORMAT_GRAY : PNG_FORMAT_RGB;
  Image image;
  image.height = png.height;
  image.width = png.width;
  image.channels = grey ? 1 : 3;
  image.pixels.resize(PNG_IMAGE_SIZE(png));
  if (!png_image_finish_read(&png, nullptr, image.pixels.data(), 0, nullptr)) {
    std::string message = png.message;
    png_image_free(&png);
    throw Error(fmt::format("cannot decode PNG '{}': {}", origin, message));
  }
  return image;
}

}  // namespace

Image DecodeImage(const std::string& bytes, const std::string& origin) {
  if (bytes.size() >= 3 && static_cast<uint8_t>(bytes[0]) == 0xFF && static_cast<uint8_t>(bytes[1]) == 0xD8) {
    return DecodeJpeg(bytes, origin);
  }
  static const char kPngMagic[8] = {'\x89', 'P', 'N', 'G', '\r', '\n', '\x1a', '\n'};
  if (bytes.size() >= 8 && std::memcmp(bytes.data(), kPngMagic, 8) == 0) return DecodePng(bytes, origin);
  throw Error(fmt::format("cannot decode '{}': neither JPEG nor PNG", origin));
}

}  // namespace fomo::core
