// The pickle of a torch.save archive (data.pkl) through fomo's opcode filter, which
// runs before LibTorch's unpickler sees anything.
#include "core/pickle_filter.hpp"
#include "fuzz_target.hpp"

FOMO_FUZZ_TARGET(pickle) { fomo::core::FilterTorchPickle(input); }
