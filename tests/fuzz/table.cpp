// CSV and TSV caption tables (the first byte picks the delimiter), with images
// named in them read from the scratch directory.
#include "core/dataset.hpp"
#include "fuzz_target.hpp"
#include "test_images.hpp"

FOMO_FUZZ_TARGET(table) {
  if (input.empty()) return;
  const bool tabs = input[0] & 1;
  fomo::fuzz::ScratchFile("a.png", fomo::fuzz::TinyPng());
  auto table = fomo::fuzz::ScratchFile("pairs.table", input.substr(1));
  fomo::core::DatasetSpec spec;
  spec.name = "pairs";
  spec.kind = tabs ? "tsv" : "csv";
  spec.path = table;
  spec.max_image_bytes = 1 << 20;
  fomo::core::Selector selector;
  selector.dataset = "pairs";
  fomo::core::LoadImages(spec, selector, 0);
}
