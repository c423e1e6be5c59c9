// Low-rank updates (LoRA, DoRA, VeRA): a weight stored as factors against its
// base, W = W0 + B A, or for DoRA W = m * V / ||V|| by row with V = W0 + B A. The
// reconstruction below is the exact definition of such a weight: the trainer
// merges its adapters with this same function, so the XOR residual the store
// keeps against it is zero and export stays bit-exact. No LibTorch here.
#pragma once

#include <cstdint>
#include <vector>

namespace fomo {

struct LowRankFactors {
  int64_t rank = 0;
  std::vector<float> a;          // rank x cols
  std::vector<float> b;          // rows x rank, any scale folded in
  std::vector<float> magnitude;  // DoRA: rows values (NaN: the row stays V); empty otherwise

  // Throws fomo::Error unless the sizes fit a rows x cols weight.
  void Check(int64_t rows, int64_t cols) const;
  uint64_t RawBytes() const { return 4 * (a.size() + b.size() + magnitude.size()); }
};

// out = the weight the factors make from base (rows x cols, row-major); each row
// is computed in double and rounded once. out may be base.
void ApplyLowRank(const float* base, int64_t rows, int64_t cols, const LowRankFactors& factors, float* out);

}  // namespace fomo
