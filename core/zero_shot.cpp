#include "core/zero_shot.hpp"

#include <fmt/format.h>

#include "core/clip_model.hpp"
#include "storage/error.hpp"

namespace fomo::core {

namespace {

// CLIP's eval transform for 8-bit images [n, h, w, c]: shorter side resized to
// the model's size (bicubic), center crop, grey replicated to three channels,
// scaled to [0, 1] and normalised with CLIP's mean and std.
torch::Tensor Preprocess(const ImageSet& set, int64_t begin, int64_t end, int64_t size) {
  auto pixels = torch::from_blob(const_cast<uint8_t*>(set.pixels.data()) + begin * set.height * set.width * set.channels,
                                 {end - begin, set.height, set.width, set.channels}, torch::kUInt8);
  auto x = pixels.permute({0, 3, 1, 2}).to(torch::kFloat32).div(255.0);
  if (set.height != size || set.width != size) {
    const double scale = static_cast<double>(size) / std::min(set.height, set.width);
    const int64_t h = std::max<int64_t>(size, std::llround(set.height * scale));
    const int64_t w = std::max<int64_t>(size, std::llround(set.width * scale));
    x = torch::nn::functional::interpolate(
            x, torch::nn::functional::InterpolateFuncOptions().size(std::vector<int64_t>{h, w}).mode(torch::kBicubic).align_corners(false))
            .clamp(0, 1);
    const int64_t top = (h - size) / 2, left = (w - size) / 2;
    x = x.slice(2, top, top + size).slice(3, left, left + size);
  }
  if (x.size(1) == 1) x = x.expand({x.size(0), 3, size, size});
  auto mean = torch::tensor({0.48145466f, 0.4578275f, 0.40821073f}).view({1, 3, 1, 1});
  auto std = torch::tensor({0.26862954f, 0.26130258f, 0.27577711f}).view({1, 3, 1, 1});
  return ((x - mean) / std).contiguous();
}

ZeroShotResult Score(const torch::Tensor& logits, const torch::Tensor& labels) {
  ZeroShotResult r;
  r.samples = logits.size(0);
  if (r.samples == 0) return r;
  const int64_t k = std::min<int64_t>(5, logits.size(1));
  auto topk = std::get<1>(logits.topk(k, 1));
  auto hits = topk.eq(labels.view({-1, 1}));
  r.top1 = hits.select(1, 0).to(torch::kFloat64).mean().item<double>() * 100;
  r.top5 = hits.any(1).to(torch::kFloat64).mean().item<double>() * 100;
  return r;
}

}  // namespace

ZeroShotResult ScoreZeroShot(const std::vector<float>& image_features, const std::vector<float>& class_features,
                             int64_t dim, const std::vector<int>& labels) {
  auto images = torch::from_blob(const_cast<float*>(image_features.data()), {static_cast<int64_t>(labels.size()), dim});
  auto classes = torch::from_blob(const_cast<float*>(class_features.data()),
                                  {static_cast<int64_t>(class_features.size()) / dim, dim});
  auto label_tensor = torch::tensor(std::vector<int64_t>(labels.begin(), labels.end()));
  return Score(torch::matmul(images, classes.t()), label_tensor);
}

ZeroShotResult ZeroShot(const ClipConfig& config, const std::vector<NamedTensor>& weights, const ZeroShotTask& task) {
  if (!task.images) throw Error("zero-shot evaluation needs images");
  const int64_t rows = task.num_classes * task.num_templates;
  if (task.num_templates <= 0 || static_cast<int64_t>(task.prompt_tokens.size()) != rows * config.context_length) {
    throw Error("zero-shot prompts do not match the class and template counts");
  }
  ClipModel model(config);
  LoadWeights(model, weights);
  model->eval();
  // Inference mode skips autograd's version counters and views bookkeeping.
  c10::InferenceMode inference;

  auto tokens = torch::from_blob(const_cast<int64_t*>(task.prompt_tokens.data()), {rows, config.context_length},
                                 torch::kInt64);
  auto text = model->EncodeText(tokens);
  text = text / text.norm(2, -1, true);
  auto classes = text.view({task.num_classes, task.num_templates, -1}).mean(1);
  classes = classes / classes.norm(2, -1, true);

  const ImageSet& set = *task.images;
  std::vector<torch::Tensor> logits;
  for (int64_t begin = 0; begin < set.count; begin += task.batch_size) {
    const int64_t end = std::min(set.count, begin + task.batch_size);
    auto features = model->EncodeImage(Preprocess(set, begin, end, config.image_size));
    features = features / features.norm(2, -1, true);
    logits.push_back(torch::matmul(features, classes.t()));
  }
  auto labels = torch::tensor(std::vector<int64_t>(set.labels.begin(), set.labels.end()));
  if (logits.empty()) return ZeroShotResult{};
  return Score(torch::cat(logits, 0), labels);
}

}  // namespace fomo::core
