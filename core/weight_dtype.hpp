// The dtype of a model's weights, and converting weights between floating-point
// dtypes (F32, F16, BF16, F64; rounding to nearest, ties to even). A line of
// versions keeps its dtype: training runs in F32 master weights and commits in the
// parent's dtype, and a commit that changes it must say so. No LibTorch here.
#pragma once

#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "storage/manifest.hpp"
#include "storage/tensor.hpp"

namespace fomo::core {

// "f32", "F32", "float32", "fp32", "f16", "half", "bf16", "bfloat16", ...; throws
// fomo::UsageError naming the option otherwise.
Dtype ParseWeightDtype(const std::string& text, std::string_view option);

// The floating-point dtype all floating-point tensors share; nullopt when they mix.
std::optional<Dtype> CommonFloatDtype(const std::vector<NamedTensor>& tensors);
std::optional<Dtype> CommonFloatDtype(const Manifest& manifest);
// "F32", or "mixed F32/F16"
std::string DescribeDtypes(const std::vector<NamedTensor>& tensors);
std::string DescribeDtypes(const Manifest& manifest);

// Converts count elements between floating-point dtypes; from == to copies.
void ConvertFloats(const uint8_t* src, Dtype from, uint8_t* dst, Dtype to, uint64_t count);

// Weights with every floating-point tensor in the dtype chosen for it: views of
// tensors already in it, converted copies of the others.
struct ConvertedWeights {
  std::vector<NamedTensor> named;
  std::vector<std::shared_ptr<Tensor>> owned;
};
ConvertedWeights ConvertWeights(const std::vector<NamedTensor>& weights, Dtype to);
// Each tensor to the dtype of the same-named entry of manifest (the parent's).
ConvertedWeights ConvertWeightsLike(const std::vector<NamedTensor>& weights, const Manifest& manifest);

// Tensors whose dtype differs from the same-named entry of manifest.
size_t CountDtypeChanges(const std::vector<NamedTensor>& weights, const Manifest& manifest);

}  // namespace fomo::core
