// The entry point of libfomo_torch.so: the table of LibTorch-backed functions
// that core/torch_api.hpp hands to the commands.
#include <cstring>

#include "core/clip_model.hpp"
#include "core/embedding.hpp"
#include "core/torch_api.hpp"
#include "core/zero_shot.hpp"

namespace {

using namespace fomo;

std::vector<Tensor> InitWeights(const core::ClipConfig& config, uint64_t seed) {
  torch::manual_seed(seed);
  core::ClipModel model(config);
  auto params = model->named_parameters();
  std::vector<Tensor> out;
  for (const auto& [name, shape] : config.ExpectedTensors()) {
    torch::Tensor p = params[name].detach().to(torch::kFloat32).contiguous();
    Tensor t{Dtype::kF32, shape, ByteBuffer(ByteSize(Dtype::kF32, shape))};
    std::memcpy(t.bytes.data(), p.data_ptr(), t.bytes.size());
    out.push_back(std::move(t));
  }
  return out;
}

const core::TorchApi kApi = {
    core::kTorchApiVersion,
    &core::Embed,
    &core::ZeroShot,
    &InitWeights,
};

}  // namespace

extern "C" __attribute__((visibility("default"))) const fomo::core::TorchApi* fomo_torch_api() { return &kApi; }
