// A safetensors file as `fomo commit` and `fomo init` read it: header, tensor
// layout, the checkpoint layout (OpenAI or Hugging Face) and the config its shapes
// and metadata give.
#include "core/checkpoint.hpp"
#include "core/config_resolution.hpp"
#include "core/safetensors.hpp"
#include "fuzz_target.hpp"

FOMO_FUZZ_TARGET(safetensors) {
  const auto path = fomo::fuzz::ScratchFile("model.safetensors", input);
  {
    auto file = fomo::core::SafetensorsFile::Open(path);
    for (const auto& t : file.tensors()) {
      if (file.Find(t.name) == nullptr) __builtin_trap();
    }
  }
  fomo::core::LoadCheckpoint(path, fomo::core::ConfigSource{});
}
