// What training a version cost: optimizer steps, samples seen, FLOPs,
// memory-adjusted FLOPs (MAF) and wall time. Unset for imported versions.
#pragma once

#include <cstdint>
#include <optional>

namespace fomo {

struct Budget {
  std::optional<int64_t> steps;
  std::optional<int64_t> samples;
  std::optional<double> flops;
  std::optional<double> maf;
  std::optional<double> seconds;
};

}  // namespace fomo
