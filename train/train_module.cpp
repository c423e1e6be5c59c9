// The training table of libfomo_torch.so (see train/train_api.hpp).
#include "train/trainer.hpp"

namespace {

const fomo::train::TrainApi kTrainApi = {
    fomo::train::kTrainApiVersion,
    &fomo::train::Train,
};

}  // namespace

namespace fomo::core {
struct TorchApi;
}
// Defined in core/torch_module.cpp; its first call also tunes the BLAS threads.
extern "C" const fomo::core::TorchApi* fomo_torch_api();

extern "C" __attribute__((visibility("default"))) const fomo::train::TrainApi* fomo_train_api() {
  fomo_torch_api();
  return &kTrainApi;
}
