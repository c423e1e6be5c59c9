// Captions and --text through CLIP's clean-up and byte-level BPE.
#include "core/tokenizer.hpp"
#include "fuzz_target.hpp"

FOMO_FUZZ_TARGET(tokenizer) {
  const auto& tokenizer = fomo::core::ClipTokenizer::Default();
  const auto ids = tokenizer.EncodeContext(fomo::core::CleanCaption(input), 77);
  if (ids.size() != 77) __builtin_trap();
  for (int64_t id : tokenizer.Encode(input)) {
    if (id < 0 || static_cast<size_t>(id) >= tokenizer.vocab_size()) __builtin_trap();
  }
}
