#include "core/class_text.hpp"

#include <algorithm>
#include <cmath>

#include <fmt/format.h>

#include "core/checkpoint.hpp"
#include "core/tokenizer.hpp"
#include "core/torch_api.hpp"
#include "storage/error.hpp"
#include "storage/versions.hpp"

namespace fomo::core {

namespace {

void Normalise(float* v, int64_t dim) {
  double norm = 0;
  for (int64_t d = 0; d < dim; ++d) norm += static_cast<double>(v[d]) * v[d];
  norm = std::sqrt(norm);
  if (norm == 0) return;
  for (int64_t d = 0; d < dim; ++d) v[d] = static_cast<float>(v[d] / norm);
}

}  // namespace

std::vector<std::vector<float>> ClassTextEmbeddings(Repository& repo, const CommitId& commit,
                                                    const std::vector<ClassRef>& classes) {
  StoredVersion v = LoadVersion(repo.graph(), commit);
  const ClipConfig config = ClipConfig::FromJsonText(v.config_json, "version config");
  const auto& tokenizer = ClipTokenizer::Default();
  if (config.vocab_size < static_cast<int64_t>(tokenizer.vocab_size())) {
    throw Error(fmt::format("{} has a vocabulary of {} tokens; CLIP text needs {}", v.version.Tag(), config.vocab_size,
                            tokenizer.vocab_size()));
  }
  std::vector<int64_t> tokens;
  std::vector<size_t> prompts;  // per class
  for (const auto& c : classes) {
    const DatasetSpec& spec = *c.dataset;
    if (spec.templates.empty()) throw Error(fmt::format("dataset '{}' has no prompt templates", spec.name));
    for (const auto& tmpl : spec.templates) {
      const auto ids = tokenizer.EncodeContext(FillTemplate(tmpl, spec.classes.at(static_cast<size_t>(c.class_index))),
                                               config.context_length);
      tokens.insert(tokens.end(), ids.begin(), ids.end());
    }
    prompts.push_back(spec.templates.size());
  }
  std::vector<std::vector<float>> out;
  if (classes.empty()) return out;
  CheckManifest(v.manifest, config, v.version.Tag());
  const StoredWeights weights = ReadWeights(repo.objects(), v.manifest, repo.config().storage.threads);
  // Prompts in batches, so a thousand classes with eighty templates each stay small.
  constexpr int64_t kBatchRows = 256;
  const int64_t rows = static_cast<int64_t>(tokens.size()) / config.context_length;
  std::vector<float> features;
  int64_t dim = 0;
  for (int64_t begin = 0; begin < rows; begin += kBatchRows) {
    const int64_t n = std::min(kBatchRows, rows - begin);
    EmbedInputs inputs;
    inputs.tokens = TensorView{Dtype::kI64, {n, config.context_length},
                               reinterpret_cast<const uint8_t*>(tokens.data() + begin * config.context_length),
                               static_cast<uint64_t>(n * config.context_length) * sizeof(int64_t)};
    const EmbedOutputs batch = Torch().embed(config, weights.named, inputs, /*normalize=*/true);
    const Tensor& text = *batch.text_features;
    dim = text.shape.at(1);
    const auto* f = reinterpret_cast<const float*>(text.bytes.data());
    features.insert(features.end(), f, f + n * dim);
  }
  const float* f = features.data();
  size_t row = 0;
  for (size_t k = 0; k < classes.size(); ++k) {
    std::vector<float> mean(static_cast<size_t>(dim), 0.0f);
    for (size_t t = 0; t < prompts[k]; ++t, ++row) {
      for (int64_t d = 0; d < dim; ++d) mean[static_cast<size_t>(d)] += f[row * static_cast<size_t>(dim) + d];
    }
    for (float& x : mean) x /= static_cast<float>(prompts[k]);
    Normalise(mean.data(), dim);
    out.push_back(std::move(mean));
  }
  return out;
}

}  // namespace fomo::core
