#include "storage/low_rank.hpp"

#include <cmath>

#include <fmt/format.h>

#include "storage/error.hpp"

namespace fomo {

void LowRankFactors::Check(int64_t rows, int64_t cols) const {
  const auto r = static_cast<size_t>(rank);
  if (rank <= 0 || a.size() != r * static_cast<size_t>(cols) || b.size() != static_cast<size_t>(rows) * r ||
      (!magnitude.empty() && magnitude.size() != static_cast<size_t>(rows))) {
    throw Error(fmt::format("low-rank factors of rank {} do not fit a {} x {} weight", rank, rows, cols));
  }
}

void ApplyLowRank(const float* base, int64_t rows, int64_t cols, const LowRankFactors& f, float* out) {
  f.Check(rows, cols);
  std::vector<double> row(static_cast<size_t>(cols));
  for (int64_t o = 0; o < rows; ++o) {
    const float* w0 = base + o * cols;
    for (int64_t i = 0; i < cols; ++i) row[i] = w0[i];
    for (int64_t k = 0; k < f.rank; ++k) {
      const double bk = f.b[o * f.rank + k];
      if (bk == 0) continue;
      const float* ak = f.a.data() + k * cols;
      for (int64_t i = 0; i < cols; ++i) row[i] += bk * ak[i];
    }
    double factor = 1;
    if (!f.magnitude.empty() && !std::isnan(f.magnitude[o])) {
      double norm = 0;
      for (int64_t i = 0; i < cols; ++i) norm += row[i] * row[i];
      norm = std::sqrt(norm);
      factor = norm > 0 ? f.magnitude[o] / norm : 0;
    }
    float* dst = out + o * cols;
    for (int64_t i = 0; i < cols; ++i) dst[i] = static_cast<float>(row[i] * factor);
  }
}

}  // namespace fomo
