// The entry point of libfomo_torch.so: the table of LibTorch-backed functions
// that core/torch_api.hpp hands to the commands.
#include "core/embedding.hpp"
#include "core/torch_api.hpp"

namespace {
const fomo::core::TorchApi kApi = {
    fomo::core::kTorchApiVersion,
    &fomo::core::Embed,
};
}  // namespace

extern "C" __attribute__((visibility("default"))) const fomo::core::TorchApi* fomo_torch_api() { return &kApi; }
