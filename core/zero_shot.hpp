// Zero-shot classification as CLIP evaluates it: each class's text embedding is
// the mean of its normalised prompt embeddings (one per template), renormalised;
// images are CLIP-preprocessed, embedded and normalised; top-1 and top-5 accuracy
// in percent over the dataset's full label set.
#pragma once

#include <cstdint>
#include <functional>
#include <vector>

#include "core/clip_config.hpp"
#include "core/dataset.hpp"
#include "storage/tensor.hpp"

namespace fomo::core {

struct ZeroShotTask {
  const ImageSet* images = nullptr;
  int64_t num_classes = 0;
  int64_t num_templates = 0;
  // num_classes x num_templates rows of context_length token ids, class-major.
  std::vector<int64_t> prompt_tokens;
  int64_t batch_size = 256;
  std::function<void(int64_t done, int64_t total)> progress;  // images embedded
};

struct ZeroShotResult {
  double top1 = 0;
  double top5 = 0;
  int64_t samples = 0;
};

ZeroShotResult ZeroShot(const ClipConfig& config, const std::vector<NamedTensor>& weights, const ZeroShotTask& task);

// Image-text retrieval on a caption dataset, image i paired with caption i.
struct RetrievalTask {
  const ImageSet* images = nullptr;
  std::vector<int64_t> caption_tokens;  // count x context_length
  int64_t batch_size = 256;
  std::function<void(int64_t done, int64_t total)> progress;  // pairs embedded
};

struct RetrievalResult {
  double image_to_text[3] = {0, 0, 0};  // recall@1, @5, @10 in percent
  double text_to_image[3] = {0, 0, 0};
};

RetrievalResult Retrieval(const ClipConfig& config, const std::vector<NamedTensor>& weights,
                          const RetrievalTask& task);
// The same from normalised features [n, dim] (pairs by index).
RetrievalResult ScoreRetrieval(const std::vector<float>& image_features, const std::vector<float>& text_features,
                               int64_t dim);

// The same from features alone: image_features [n, d], class_features [c, d]
// (both normalised), labels [n]. Exposed for tests with known answers.
ZeroShotResult ScoreZeroShot(const std::vector<float>& image_features, const std::vector<float>& class_features,
                             int64_t dim, const std::vector<int>& labels);

}  // namespace fomo::core
