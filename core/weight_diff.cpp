#include "core/weight_diff.hpp"

#include <cmath>
#include <cstring>
#include <map>
#include <mutex>
#include <regex>

#include <fmt/format.h>

#include "core/float_bits.hpp"
#include "storage/error.hpp"
#include "storage/parallel.hpp"

namespace fomo::core {

namespace {
struct Sums {
  double diff_sq = 0, base_sq = 0;
  uint64_t changed = 0, elements = 0, stored = 0;
};
}  // namespace

std::string TensorGroup(const std::string& name) {
  static const std::regex kVisualBlock(R"(^visual\.transformer\.resblocks\.(\d+)\..*)");
  static const std::regex kTextBlock(R"(^transformer\.resblocks\.(\d+)\..*)");
  std::smatch m;
  if (std::regex_match(name, m, kVisualBlock)) return "visual.block." + m[1].str();
  if (std::regex_match(name, m, kTextBlock)) return "text.block." + m[1].str();
  if (name.rfind("visual.ln_post", 0) == 0 || name == "visual.proj") return "visual.head";
  if (name.rfind("visual.", 0) == 0) return "visual.embed";
  if (name.rfind("token_embedding", 0) == 0 || name == "positional_embedding") return "text.embed";
  if (name.rfind("ln_final", 0) == 0 || name == "text_projection") return "text.head";
  return name.substr(0, name.find('.'));
}

std::vector<GroupDiff> DiffWeights(const ObjectStore& store, const Manifest& a, const Manifest& b,
                                   size_t threads) {
  std::map<std::string, Sums> sums;
  std::vector<std::string> order;  // groups in b's tensor order
  std::mutex mutex;
  for (const auto& e : b.tensors) {
    std::string group = TensorGroup(e.name);
    if (!sums.count(group)) order.push_back(group);
    sums[group];
  }
  ParallelFor(b.tensors.size(), threads, [&](size_t i) {
    const ManifestEntry& eb = b.tensors[i];
    const ManifestEntry* ea = a.Find(eb.name);
    Sums local;
    local.elements = NumElements(eb.shape);
    bool comparable = ea && ea->dtype == eb.dtype && ea->shape == eb.shape && IsFloatingPoint(eb.dtype);
    if (ea && ea->id == eb.id) {
      // Same object: nothing changed, but the base norm still counts.
      Tensor ta = store.Read(ea->id);
      for (uint64_t k = 0; k < local.elements; ++k) {
        double x = ElementAsDouble(ta.bytes.data(), ta.dtype, k);
        local.base_sq += x * x;
      }
    } else if (comparable) {
      Tensor ta = store.Read(ea->id);
      Tensor tb = store.Read(eb.id);
      const size_t element = DtypeSize(eb.dtype);
      for (uint64_t k = 0; k < local.elements; ++k) {
        double x = ElementAsDouble(ta.bytes.data(), ta.dtype, k);
        double y = ElementAsDouble(tb.bytes.data(), tb.dtype, k);
        local.base_sq += x * x;
        local.diff_sq += (y - x) * (y - x);
        if (std::memcmp(ta.bytes.data() + k * element, tb.bytes.data() + k * element, element) != 0) {
          ++local.changed;
        }
      }
      local.stored = eb.stored_bytes;
    } else {
      // New or reshaped tensor: everything in it is a change.
      Tensor tb = store.Read(eb.id);
      if (IsFloatingPoint(eb.dtype)) {
        for (uint64_t k = 0; k < local.elements; ++k) {
          double y = ElementAsDouble(tb.bytes.data(), tb.dtype, k);
          local.diff_sq += y * y;
        }
      }
      local.changed = local.elements;
      local.stored = eb.stored_bytes;
    }
    std::lock_guard<std::mutex> lock(mutex);
    Sums& s = sums[TensorGroup(eb.name)];
    s.diff_sq += local.diff_sq;
    s.base_sq += local.base_sq;
    s.changed += local.changed;
    s.elements += local.elements;
    s.stored += local.stored;
  });
  std::vector<GroupDiff> out;
  for (const auto& group : order) {
    const Sums& s = sums[group];
    GroupDiff d;
    d.group = group;
    d.elements = s.elements;
    d.rel_l2 = s.base_sq > 0 ? std::sqrt(s.diff_sq / s.base_sq) : (s.diff_sq > 0 ? INFINITY : 0.0);
    d.changed_share = s.elements ? static_cast<double>(s.changed) / s.elements : 0.0;
    d.stored_bytes = s.stored;
    out.push_back(d);
  }
  return out;
}

}  // namespace fomo::core
