// PyTorch files: torch.save archives (zip, PyTorch 1.6 and later) and TorchScript
// archives. They are read with LibTorch's own readers in libfomo_torch.so; this
// header is free of LibTorch. Pickles are never executed: LibTorch's unpickler
// knows only tensors, storages and plain containers, and any other global a pickle
// names is refused with its name.
#pragma once

#include <map>
#include <string>
#include <vector>

#include "storage/tensor.hpp"

namespace fomo::core {

struct PytorchFile {
  bool torchscript = false;
  // The state dict: tensors by name, in the file's order. For a torch.save file,
  // the dict of tensors found at the root or under a `state_dict`, `model` or
  // `module` entry (nested ones too); for TorchScript, parameters and buffers.
  std::vector<std::string> names;
  std::vector<Tensor> tensors;
  std::string entry;  // where the state dict was: "" (the root) or "state_dict", "model.state_dict", ...
  // TorchScript's integer attributes of the top module (OpenAI's JIT archives carry
  // input_resolution, context_length and vocab_size).
  std::map<std::string, std::string> attributes;
  // Entries of the state dict that are not tensors (skipped), by name.
  std::vector<std::string> skipped;
};

// Reads the file (a PyTorch zip archive); throws fomo::Error naming it and the problem.
PytorchFile ReadPytorchFile(const std::string& path);

}  // namespace fomo::core
