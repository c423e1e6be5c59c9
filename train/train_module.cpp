// The training table of libfomo_torch.so (see train/train_api.hpp).
#include <c10/util/Exception.h>

#include <string>

#include "storage/error.hpp"
#include "train/trainer.hpp"

namespace {

// LibTorch's errors carry a C++ backtrace; the command line gets their first line.
fomo::train::TrainOutcome TrainWithPlainErrors(const fomo::train::TrainRequest& request) {
  try {
    return fomo::train::Train(request);
  } catch (const c10::Error& e) {
    std::string message = e.what_without_backtrace();
    throw fomo::Error("training failed in LibTorch: " + message.substr(0, message.find('\n')));
  }
}

const fomo::train::TrainApi kTrainApi = {
    fomo::train::kTrainApiVersion,
    &TrainWithPlainErrors,
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
