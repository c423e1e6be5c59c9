#include "core/preprocess.hpp"

#include <cstring>

namespace fomo::core {

namespace {

// CLIP's eval transform for 8-bit images [n, h, w, c]: shorter side resized to
// the model's size (bicubic), center crop, grey replicated to three channels,
// scaled to [0, 1] and normalised with CLIP's mean and std.
torch::Tensor Transform(torch::Tensor pixels, int64_t size) {
  auto x = pixels.permute({0, 3, 1, 2}).to(torch::kFloat32).div(255.0);
  const int64_t height = x.size(2), width = x.size(3);
  if (height != size || width != size) {
    const double scale = static_cast<double>(size) / std::min(height, width);
    const int64_t h = std::max<int64_t>(size, std::llround(height * scale));
    const int64_t w = std::max<int64_t>(size, std::llround(width * scale));
    x = torch::nn::functional::interpolate(
            x, torch::nn::functional::InterpolateFuncOptions().size(std::vector<int64_t>{h, w}).mode(torch::kBicubic).align_corners(false))
            .clamp(0, 1);
    const int64_t top = (h - size) / 2, left = (w - size) / 2;
    x = x.slice(2, top, top + size).slice(3, left, left + size);
  }
  if (x.size(1) == 1) x = x.expand({x.size(0), 3, size, size});
  auto mean = torch::tensor({0.48145466f, 0.4578275f, 0.40821073f}).view({1, 3, 1, 1});
  auto std = torch::tensor({0.26862954f, 0.26130258f, 0.27577711f}).view({1, 3, 1, 1});
  return (x - mean) / std;
}

torch::Tensor ImageTensor(const Image& image) {
  return torch::from_blob(const_cast<uint8_t*>(image.pixels.data()), {1, image.height, image.width, image.channels},
                          torch::kUInt8);
}

// One transform for the whole batch when the images share a size (IDX
// datasets), one per image otherwise.
}  // namespace

torch::Tensor PreprocessImages(const std::vector<Image>& images, int64_t begin, int64_t end, int64_t size) {
  const Image& first = images[begin];
  bool uniform = true;
  for (int64_t i = begin; i < end && uniform; ++i) {
    const Image& im = images[i];
    uniform = im.height == first.height && im.width == first.width && im.channels == first.channels;
  }
  if (uniform) {
    const int64_t bytes = first.height * first.width * first.channels;
    auto pixels = torch::empty({end - begin, first.height, first.width, first.channels}, torch::kUInt8);
    for (int64_t i = begin; i < end; ++i) {
      std::memcpy(pixels.data_ptr<uint8_t>() + (i - begin) * bytes, images[i].pixels.data(), bytes);
    }
    return Transform(pixels, size).contiguous();
  }
  std::vector<torch::Tensor> parts;
  for (int64_t i = begin; i < end; ++i) parts.push_back(Transform(ImageTensor(images[i]), size));
  return torch::cat(parts, 0).contiguous();
}


}  // namespace fomo::core
