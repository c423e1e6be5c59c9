#include "train/contrastive_loss.hpp"

namespace fomo::train {

torch::Tensor ContrastiveLoss(const torch::Tensor& image_features, const torch::Tensor& text_features,
                              const torch::Tensor& logit_scale, const torch::Tensor& caption_ids) {
  // Normalise and score in fp32 even under autocast: the logits feed a softmax.
  auto z = image_features.to(torch::kFloat32);
  auto u = text_features.to(torch::kFloat32);
  z = z / z.norm(2, -1, true);
  u = u / u.norm(2, -1, true);
  auto logits = logit_scale.to(torch::kFloat32).exp() * torch::matmul(z, u.t());
  auto same = caption_ids.view({-1, 1}).eq(caption_ids.view({1, -1})).to(torch::kFloat32);
  auto targets = same / same.sum(1, true);  // symmetric: equality is
  auto image_to_text = -(targets * torch::log_softmax(logits, 1)).sum(1).mean();
  auto text_to_image = -(targets * torch::log_softmax(logits.t(), 1)).sum(1).mean();
  return (image_to_text + text_to_image) / 2;
}

}  // namespace fomo::train
