// The training loop of fomo patch / minor / major (include only in LibTorch
// files): contrastive CLIP loss on mixed batches, AdamW with decay groups,
// gradient-norm clipping, the task's LR schedule, NaN checks, resumable state.
#pragma once

#include "train/train_api.hpp"

namespace fomo::train {

TrainOutcome Train(const TrainRequest& request);

}  // namespace fomo::train
