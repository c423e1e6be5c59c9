// The text side of zero-shot classification on its own: each class's embedding
// under a stored version, the mean of its normalised prompt embeddings (one per
// template of its dataset), renormalised. A stream's concept-similarity ordering
// walks these.
#pragma once

#include <vector>

#include "core/dataset.hpp"
#include "storage/repository.hpp"

namespace fomo::core {

struct ClassRef {
  const DatasetSpec* dataset = nullptr;
  int class_index = 0;
};

// One unit vector per class, in the order given.
std::vector<std::vector<float>> ClassTextEmbeddings(Repository& repo, const CommitId& commit,
                                                    const std::vector<ClassRef>& classes);

}  // namespace fomo::core
