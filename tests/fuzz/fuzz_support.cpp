#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <exception>
#include <fstream>
#include <map>

#include "fuzz_registry.hpp"
#include "storage/error.hpp"

namespace fomo::fuzz {

std::map<std::string, Target>& Targets() {
  static std::map<std::string, Target> targets;
  return targets;
}

int Register(const char* name, Target target) {
  Targets()[name] = target;
  return 0;
}

bool RunOne(const char* name, Target target, const std::string& input) {
  try {
    target(input);
  } catch (const Error&) {
  } catch (const std::exception& e) {
    std::fprintf(stderr, "fuzz target %s: unexpected exception escaped: %s\n", name, e.what());
    return false;
  } catch (...) {
    std::fprintf(stderr, "fuzz target %s: unexpected non-standard exception escaped\n", name);
    return false;
  }
  return true;
}

std::filesystem::path ScratchDir() {
  static const std::filesystem::path dir = [] {
    std::string base = (std::filesystem::temp_directory_path() / "fomo-fuzz-XXXXXX").string();
    if (!::mkdtemp(base.data())) std::abort();
    // Removed at exit: libFuzzer ends with exit(), replay returns from main.
    static std::string removed = base;
    std::atexit([] {
      std::error_code ec;
      std::filesystem::remove_all(removed, ec);
    });
    return std::filesystem::path(base);
  }();
  return dir;
}

std::filesystem::path ScratchFile(const std::string& name, const std::string& content) {
  std::filesystem::path path = ScratchDir() / name;
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out.write(content.data(), static_cast<std::streamsize>(content.size()));
  out.close();
  if (!out) std::abort();
  return path;
}

}  // namespace fomo::fuzz

#include <png.h>

#include "test_images.hpp"

namespace fomo::fuzz {

std::string TinyPng() {
  static const std::string png = [] {
    png_image image{};
    image.version = PNG_IMAGE_VERSION;
    image.width = 2;
    image.height = 2;
    image.format = PNG_FORMAT_GRAY;
    const unsigned char pixels[4] = {0, 64, 128, 255};
    png_alloc_size_t size = 0;
    png_image_write_to_memory(&image, nullptr, &size, 0, pixels, 0, nullptr);
    std::string bytes(size, '\0');
    if (!png_image_write_to_memory(&image, bytes.data(), &size, 0, pixels, 0, nullptr)) std::abort();
    bytes.resize(size);
    return bytes;
  }();
  return png;
}

}  // namespace fomo::fuzz
