#include "core/zero_shot.hpp"

#include <cstring>

#include <fmt/format.h>

#include "core/clip_model.hpp"
#include "core/preprocess.hpp"
#include "storage/error.hpp"

namespace fomo::core {

namespace {

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
  for (int64_t begin = 0; begin < set.count(); begin += task.batch_size) {
    const int64_t end = std::min(set.count(), begin + task.batch_size);
    auto features = model->EncodeImage(PreprocessImages(set.images, begin, end, config.image_size));
    features = features / features.norm(2, -1, true);
    logits.push_back(torch::matmul(features, classes.t()));
    if (task.progress) task.progress(end, set.count());
  }
  auto labels = torch::tensor(std::vector<int64_t>(set.labels.begin(), set.labels.end()));
  if (logits.empty()) return ZeroShotResult{};
  return Score(torch::cat(logits, 0), labels);
}

namespace {

RetrievalResult ScoreRetrievalTensors(const torch::Tensor& images, const torch::Tensor& texts) {
  RetrievalResult r;
  const int64_t n = images.size(0);
  if (n == 0) return r;
  auto similarity = torch::matmul(images, texts.t());  // [images, texts]
  auto truth = torch::arange(n);
  const int64_t ks[3] = {1, 5, 10};
  for (int d = 0; d < 2; ++d) {
    auto scores = d == 0 ? similarity : similarity.t();
    // Rank of the paired item: how many score strictly higher.
    auto paired = scores.gather(1, truth.view({-1, 1}));
    auto rank = scores.gt(paired).sum(1);
    for (int k = 0; k < 3; ++k) {
      double value = rank.lt(ks[k]).to(torch::kFloat64).mean().item<double>() * 100;
      (d == 0 ? r.image_to_text : r.text_to_image)[k] = value;
    }
  }
  return r;
}

}  // namespace

RetrievalResult ScoreRetrieval(const std::vector<float>& image_features, const std::vector<float>& text_features,
                               int64_t dim) {
  const int64_t n = static_cast<int64_t>(image_features.size()) / dim;
  auto images = torch::from_blob(const_cast<float*>(image_features.data()), {n, dim});
  auto texts = torch::from_blob(const_cast<float*>(text_features.data()), {n, dim});
  return ScoreRetrievalTensors(images, texts);
}

RetrievalResult Retrieval(const ClipConfig& config, const std::vector<NamedTensor>& weights,
                          const RetrievalTask& task) {
  const ImageSet& set = *task.images;
  if (static_cast<int64_t>(task.caption_tokens.size()) != set.count() * config.context_length) {
    throw Error("retrieval needs one caption per image");
  }
  ClipModel model(config);
  LoadWeights(model, weights);
  model->eval();
  c10::InferenceMode inference;
  std::vector<torch::Tensor> images, texts;
  auto tokens = torch::from_blob(const_cast<int64_t*>(task.caption_tokens.data()), {set.count(), config.context_length},
                                 torch::kInt64);
  for (int64_t begin = 0; begin < set.count(); begin += task.batch_size) {
    const int64_t end = std::min(set.count(), begin + task.batch_size);
    auto f = model->EncodeImage(PreprocessImages(set.images, begin, end, config.image_size));
    images.push_back(f / f.norm(2, -1, true));
    auto t = model->EncodeText(tokens.slice(0, begin, end));
    texts.push_back(t / t.norm(2, -1, true));
    if (task.progress) task.progress(end, set.count());
  }
  if (images.empty()) return RetrievalResult{};
  return ScoreRetrievalTensors(torch::cat(images), torch::cat(texts));
}

}  // namespace fomo::core
