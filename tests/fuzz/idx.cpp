// IDX files (MNIST format), plain or gzipped.
#include "core/dataset.hpp"
#include "fuzz_target.hpp"

FOMO_FUZZ_TARGET(idx) {
  auto array = fomo::core::ReadIdx(fomo::fuzz::ScratchFile("data.idx", input));
  uint64_t count = 1;
  for (int64_t d : array.dims) count *= static_cast<uint64_t>(d);
  if (count != array.data.size()) __builtin_trap();
}
