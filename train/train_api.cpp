#include "train/train_api.hpp"

#include <fmt/format.h>

#include "core/torch_api.hpp"
#include "storage/error.hpp"

namespace fomo::train {

const TrainApi& TrainModule() {
  static const TrainApi* api = [] {
    auto entry = reinterpret_cast<const TrainApi* (*)()>(core::TorchModuleSymbol("fomo_train_api"));
    const TrainApi* loaded = entry();
    if (loaded->abi_version != kTrainApiVersion) {
      throw Error(fmt::format("fomo's LibTorch module has training interface {}, need {}", loaded->abi_version,
                              kTrainApiVersion));
    }
    return loaded;
  }();
  return *api;
}

}  // namespace fomo::train
