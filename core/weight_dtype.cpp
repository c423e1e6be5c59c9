#include "core/weight_dtype.hpp"

#include <algorithm>
#include <cctype>
#include <cstring>
#include <set>

#include <fmt/format.h>

#include "core/float_bits.hpp"
#include "storage/error.hpp"

namespace fomo::core {

namespace {

template <typename Dtypes>
std::optional<Dtype> Common(const Dtypes& dtypes) {
  std::optional<Dtype> common;
  for (Dtype d : dtypes) {
    if (!IsFloatingPoint(d)) continue;
    if (common && *common != d) return std::nullopt;
    common = d;
  }
  return common;
}

template <typename Dtypes>
std::string Describe(const Dtypes& dtypes) {
  std::vector<std::string> names;
  for (Dtype d : dtypes) {
    if (!IsFloatingPoint(d)) continue;
    std::string name(DtypeName(d));
    if (std::find(names.begin(), names.end(), name) == names.end()) names.push_back(name);
  }
  if (names.empty()) return "no floating-point tensors";
  if (names.size() == 1) return names[0];
  return fmt::format("mixed {}", fmt::join(names, "/"));
}

std::vector<Dtype> DtypesOf(const std::vector<NamedTensor>& tensors) {
  std::vector<Dtype> out;
  for (const auto& t : tensors) out.push_back(t.view.dtype);
  return out;
}

std::vector<Dtype> DtypesOf(const Manifest& manifest) {
  std::vector<Dtype> out;
  for (const auto& e : manifest.tensors) out.push_back(e.dtype);
  return out;
}

}  // namespace

Dtype ParseWeightDtype(const std::string& text, std::string_view option) {
  std::string t;
  for (char c : text) t.push_back(static_cast<char>(std::tolower(static_cast<unsigned char>(c))));
  if (t == "f32" || t == "fp32" || t == "float32" || t == "float") return Dtype::kF32;
  if (t == "f16" || t == "fp16" || t == "float16" || t == "half") return Dtype::kF16;
  if (t == "bf16" || t == "bfloat16") return Dtype::kBF16;
  throw UsageError(fmt::format("{} must be f32, f16 or bf16, not '{}'", option, text));
}

std::optional<Dtype> CommonFloatDtype(const std::vector<NamedTensor>& tensors) { return Common(DtypesOf(tensors)); }
std::optional<Dtype> CommonFloatDtype(const Manifest& manifest) { return Common(DtypesOf(manifest)); }
std::string DescribeDtypes(const std::vector<NamedTensor>& tensors) { return Describe(DtypesOf(tensors)); }
std::string DescribeDtypes(const Manifest& manifest) { return Describe(DtypesOf(manifest)); }

namespace {

// One pass per (from, to) pair: the dtype switches stay outside the element loop.
template <typename Load>
void StoreAll(Load load, uint8_t* dst, Dtype to, uint64_t count) {
  switch (to) {
    case Dtype::kF32:
      for (uint64_t i = 0; i < count; ++i) {
        const float v = static_cast<float>(load(i));
        std::memcpy(dst + 4 * i, &v, 4);
      }
      return;
    case Dtype::kF64:
      for (uint64_t i = 0; i < count; ++i) {
        const double v = load(i);
        std::memcpy(dst + 8 * i, &v, 8);
      }
      return;
    case Dtype::kF16:
    case Dtype::kBF16:
      // From F64, round once through F32 first (as PyTorch's .half() does).
      for (uint64_t i = 0; i < count; ++i) {
        const float f = static_cast<float>(load(i));
        const uint16_t v = to == Dtype::kF16 ? FloatToHalf(f) : FloatToBFloat16(f);
        std::memcpy(dst + 2 * i, &v, 2);
      }
      return;
    default: throw Error("unreachable dtype conversion");
  }
}

template <typename Bits>
Bits LoadBits(const uint8_t* src, uint64_t i) {
  Bits v;
  std::memcpy(&v, src + sizeof(Bits) * i, sizeof(Bits));
  return v;
}

}  // namespace

void ConvertFloats(const uint8_t* src, Dtype from, uint8_t* dst, Dtype to, uint64_t count) {
  if (from == to) {
    std::memcpy(dst, src, count * DtypeSize(from));
    return;
  }
  if (!IsFloatingPoint(from) || !IsFloatingPoint(to)) {
    throw Error(fmt::format("cannot convert {} to {}: only floating-point tensors convert", DtypeName(from), DtypeName(to)));
  }
  switch (from) {
    case Dtype::kF32: return StoreAll([&](uint64_t i) { return double(LoadBits<float>(src, i)); }, dst, to, count);
    case Dtype::kF64: return StoreAll([&](uint64_t i) { return LoadBits<double>(src, i); }, dst, to, count);
    case Dtype::kF16: return StoreAll([&](uint64_t i) { return HalfToDouble(LoadBits<uint16_t>(src, i)); }, dst, to, count);
    case Dtype::kBF16:
      return StoreAll([&](uint64_t i) { return BFloat16ToDouble(LoadBits<uint16_t>(src, i)); }, dst, to, count);
    default: throw Error("unreachable dtype conversion");
  }
}

namespace {

template <typename TargetOf>
ConvertedWeights ConvertEach(const std::vector<NamedTensor>& weights, TargetOf target_of) {
  ConvertedWeights out;
  for (const auto& w : weights) {
    const Dtype to = target_of(w);
    if (w.view.dtype == to || !IsFloatingPoint(w.view.dtype) || !IsFloatingPoint(to)) {
      out.named.push_back(w);
      continue;
    }
    auto t = std::make_shared<Tensor>(Tensor{to, w.view.shape, ByteBuffer(ByteSize(to, w.view.shape))});
    ConvertFloats(w.view.data, w.view.dtype, t->bytes.data(), to, NumElements(w.view.shape));
    out.named.push_back({w.name, t->view()});
    out.owned.push_back(std::move(t));
  }
  return out;
}

}  // namespace

ConvertedWeights ConvertWeights(const std::vector<NamedTensor>& weights, Dtype to) {
  return ConvertEach(weights, [to](const NamedTensor&) { return to; });
}

ConvertedWeights ConvertWeightsLike(const std::vector<NamedTensor>& weights, const Manifest& manifest) {
  return ConvertEach(weights, [&](const NamedTensor& w) {
    const ManifestEntry* e = manifest.Find(w.name);
    return e ? e->dtype : w.view.dtype;
  });
}

size_t CountDtypeChanges(const std::vector<NamedTensor>& weights, const Manifest& manifest) {
  size_t changed = 0;
  for (const auto& w : weights) {
    const ManifestEntry* e = manifest.Find(w.name);
    changed += e && e->dtype != w.view.dtype;
  }
  return changed;
}

}  // namespace fomo::core
