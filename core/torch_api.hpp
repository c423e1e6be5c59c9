// fomo's LibTorch code lives in a module (libfomo_torch.so) loaded on first use:
// loading LibTorch costs most of a second, which commands such as log, show or
// commit should not pay. Commands reach the model through this table.
#pragma once

#include <vector>

#include "core/clip_config.hpp"
#include "core/embedding.hpp"
#include "core/pytorch_file.hpp"
#include "core/zero_shot.hpp"

namespace fomo::core {

struct TorchApi {
  int abi_version;
  EmbedOutputs (*embed)(const ClipConfig& config, const std::vector<NamedTensor>& weights,
                        const EmbedInputs& inputs, bool normalize);
  ZeroShotResult (*zero_shot)(const ClipConfig& config, const std::vector<NamedTensor>& weights,
                              const ZeroShotTask& task);
  RetrievalResult (*retrieval)(const ClipConfig& config, const std::vector<NamedTensor>& weights,
                               const RetrievalTask& task);
  // Freshly initialised weights (seeded), in ExpectedTensors order.
  std::vector<Tensor> (*init_weights)(const ClipConfig& config, uint64_t seed);
  // torch.save and TorchScript archives (core/pytorch_file.hpp).
  PytorchFile (*read_pytorch)(const std::string& path);
};

inline constexpr int kTorchApiVersion = 4;

// Loads the module once (FOMO_TORCH_MODULE, else beside the executable, else the
// install directory); throws fomo::Error saying what is missing.
const TorchApi& Torch();
// A symbol of the module (loaded on first use); the layers above core/ keep their
// own tables there (train/train_api.hpp).
void* TorchModuleSymbol(const char* name);

}  // namespace fomo::core
