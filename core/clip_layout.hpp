// State-dict layouts. fomo stores the OpenAI/OpenCLIP layout (visual.*,
// transformer.*, fused attention in-projection) and converts the Hugging Face CLIP
// layout (vision_model.*, text_model.*, separate q/k/v, transposed projections) on
// import and export. Every conversion is a byte copy, slice or transpose: lossless.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/clip_config.hpp"

namespace fomo::core {

enum class Layout { kOpenAI, kHuggingFace };

std::string_view LayoutName(Layout layout);  // "openai" or "hf"
std::optional<Layout> ParseLayout(std::string_view name);
// From tensor names; throws when they fit neither layout.
Layout DetectLayout(const std::vector<std::string>& names);

// How one canonical tensor maps to Hugging Face tensors.
enum class HfTransform {
  kCopy,       // same bytes, another name
  kTranspose,  // 2-D transpose (the projections)
  kSplitRows,  // canonical = rows of the HF tensors stacked (q, k, v)
};

struct HfMapping {
  std::string canonical;
  std::vector<std::string> hf;  // one name, or q, k, v for kSplitRows
  HfTransform transform = HfTransform::kCopy;
};

// The mapping for every canonical tensor of this config, in ExpectedTensors order.
std::vector<HfMapping> HuggingFaceMappings(const ClipConfig& config);

// Hugging Face tensors fomo does not store (buffers that are derived, not learned).
bool IsIgnoredHuggingFaceTensor(std::string_view name);
// OpenAI-layout entries that are not weights (the JIT archive's scalars).
bool IsIgnoredOpenAITensor(std::string_view name);

// Row-major 2-D transpose of elements of element_size bytes: src is rows x cols.
void Transpose2D(const uint8_t* src, uint8_t* dst, int64_t rows, int64_t cols, size_t element_size);

}  // namespace fomo::core
