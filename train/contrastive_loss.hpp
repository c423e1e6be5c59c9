// CLIP's contrastive loss over a whole batch, both directions (include only in
// LibTorch files).
#pragma once

#include <torch/torch.h>

namespace fomo::train {

// image_features, text_features: [B, D], unnormalised; logit_scale: the model's
// log-scale (s = exp(logit_scale)); caption_ids: [B] int64, equal ids for equal
// captions. loss = (CE(L s, T) + CE(L^T s, T)) / 2 with L = z u^T and soft targets
// T spread evenly over the samples that share the caption, so class templates that
// repeat in a batch are not pushed apart as negatives. Distinct captions make T the
// identity, i.e. CLIP's CE(., arange).
torch::Tensor ContrastiveLoss(const torch::Tensor& image_features, const torch::Tensor& text_features,
                              const torch::Tensor& logit_scale, const torch::Tensor& caption_ids);

}  // namespace fomo::train
