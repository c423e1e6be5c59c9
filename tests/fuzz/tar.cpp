// WebDataset tar shards: members grouped into image and caption or class samples.
#include "core/dataset.hpp"
#include "fuzz_target.hpp"

FOMO_FUZZ_TARGET(tar) {
  fomo::core::DatasetSpec spec;
  spec.name = "shards";
  spec.kind = "wds";
  spec.path = fomo::fuzz::ScratchFile("shard.tar", input);
  spec.classes = {"zero", "one", "two"};
  fomo::core::Selector selector;
  selector.dataset = "shards";
  fomo::core::LoadImages(spec, selector, 0);
}
