#include "core/preprocess.hpp"

#include <cmath>
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


torch::Tensor TrainTransform(const Image& image, int64_t size, std::mt19937_64& rng, double min_scale,
                             double max_scale) {
  const double height = static_cast<double>(image.height), width = static_cast<double>(image.width);
  const double area = height * width;
  std::uniform_real_distribution<double> scale(min_scale, max_scale);
  std::uniform_real_distribution<double> log_ratio(std::log(3.0 / 4.0), std::log(4.0 / 3.0));
  int64_t crop_h = 0, crop_w = 0, top = 0, left = 0;
  for (int attempt = 0; attempt < 10 && crop_h == 0; ++attempt) {
    const double target = area * scale(rng), ratio = std::exp(log_ratio(rng));
    const int64_t w = std::llround(std::sqrt(target * ratio)), h = std::llround(std::sqrt(target / ratio));
    if (w > 0 && h > 0 && w <= image.width && h <= image.height) {
      crop_h = h;
      crop_w = w;
      top = std::uniform_int_distribution<int64_t>(0, image.height - h)(rng);
      left = std::uniform_int_distribution<int64_t>(0, image.width - w)(rng);
    }
  }
  if (crop_h == 0) {  // torchvision's fallback: the largest centred crop of a clamped ratio
    const double ratio = width / height;
    if (ratio < 3.0 / 4.0) {
      crop_w = image.width;
      crop_h = std::llround(width / (3.0 / 4.0));
    } else if (ratio > 4.0 / 3.0) {
      crop_h = image.height;
      crop_w = std::llround(height * (4.0 / 3.0));
    } else {
      crop_h = image.height;
      crop_w = image.width;
    }
    top = (image.height - crop_h) / 2;
    left = (image.width - crop_w) / 2;
  }
  auto x = ImageTensor(image).permute({0, 3, 1, 2}).to(torch::kFloat32).div(255.0);
  x = x.slice(2, top, top + crop_h).slice(3, left, left + crop_w);
  x = torch::nn::functional::interpolate(
          x, torch::nn::functional::InterpolateFuncOptions().size(std::vector<int64_t>{size, size}).mode(torch::kBicubic).align_corners(false))
          .clamp(0, 1);
  // The crop is already size x size: the eval transform only normalises it.
  return Transform((x * 255.0).round().to(torch::kUInt8).permute({0, 2, 3, 1}).contiguous(), size).contiguous();
}

}  // namespace fomo::core
