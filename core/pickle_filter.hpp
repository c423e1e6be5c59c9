// Prepares the pickle of a torch.save archive for LibTorch's unpickler, which
// builds the objects. Two things stand between a real checkpoint and that
// unpickler: it reads collections.OrderedDict as None (so model.state_dict(),
// Hugging Face's pytorch_model.bin and most training checkpoints come out empty),
// and it would hand any other global to a type resolver. This filter walks the
// opcodes once with a symbolic stack (it builds no objects) and
//   - rewrites each OrderedDict construction into an empty dict, and drops the
//     attribute state (the _metadata of a state dict) that BUILD would apply to it;
//   - refuses every global other than tensor and storage rebuilds, a device, and
//     plain containers, naming it, before anything is unpickled.
// No LibTorch here, so it is tested and fuzzed on its own.
#pragma once

#include <string>

namespace fomo::core {

// The pickle LibTorch can read. Throws fomo::Error naming the first refused global
// or the opcode it cannot follow; what is refused was never run.
std::string FilterTorchPickle(const std::string& pickle);
// The entry an OrderedDict's attributes (a state dict's _metadata) become.
bool IsFilterAttributesKey(const std::string& key);

}  // namespace fomo::core
