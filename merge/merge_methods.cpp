#include "merge/merge_methods.hpp"

#include <algorithm>
#include <cmath>
#include <random>
#include <utility>

#include <fmt/format.h>

#include "storage/error.hpp"

namespace fomo::merge {

namespace {

const std::vector<std::pair<MergeMethod, const char*>> kNames = {
    {MergeMethod::kLinear, "linear"},       {MergeMethod::kTaskArithmetic, "task-arithmetic"},
    {MergeMethod::kTies, "ties"},           {MergeMethod::kDare, "dare"},
    {MergeMethod::kSlerp, "slerp"},         {MergeMethod::kModelStock, "model-stock"},
    {MergeMethod::kMagmax, "magmax"},
};

std::vector<double> Weights(const MergeParams& p, size_t models) {
  if (p.weights.empty()) return std::vector<double>(models, 1.0);
  if (p.weights.size() != models) {
    throw UsageError(fmt::format("{} weights for {} models", p.weights.size(), models));
  }
  for (double w : p.weights) {
    if (!std::isfinite(w)) throw UsageError("merge weights must be finite numbers");
  }
  return p.weights;
}

// tau_i[j] = models[i][j] - base[j], in double. Task vectors are computed where
// they are used, never stored: a merge holds the inputs and one output, nothing
// model-sized besides.
inline double Tau(const std::vector<const float*>& models, const float* base, size_t i, size_t j) {
  return static_cast<double>(models[i][j]) - static_cast<double>(base[j]);
}

// TIES trimming: the magnitude at or above which an entry of tau_i survives, so
// that a density share of entries (ties at the threshold kept) remains.
double TrimThreshold(const std::vector<const float*>& models, const float* base, size_t i, size_t n, double density,
                     std::vector<float>& scratch) {
  const size_t keep = static_cast<size_t>(std::ceil(density * static_cast<double>(n)));
  if (keep >= n) return 0.0;
  scratch.resize(n);
  for (size_t j = 0; j < n; ++j) scratch[j] = static_cast<float>(std::fabs(Tau(models, base, i, j)));
  std::nth_element(scratch.begin(), scratch.begin() + static_cast<std::ptrdiff_t>(n - keep), scratch.end());
  return static_cast<double>(scratch[n - keep]);
}

// TIES: sign per element from the weighted sum, then the mean of the entries that
// agree with it. values[i]: tau_i[j] after trimming or dropping.
double ElectAndMean(const std::vector<double>& values, const std::vector<double>& w) {
  double sum = 0;
  for (size_t i = 0; i < values.size(); ++i) sum += w[i] * values[i];
  const double sign = sum > 0 ? 1.0 : (sum < 0 ? -1.0 : 0.0);
  double total = 0, count = 0;
  for (size_t i = 0; i < values.size(); ++i) {
    const double v = w[i] * values[i];
    if (sign != 0 && v * sign > 0) {
      total += v;
      count += w[i];
    }
  }
  return count > 0 ? total / count : 0.0;
}

double Dot(const float* a, const float* b, size_t n) {
  double s = 0;
  for (size_t j = 0; j < n; ++j) s += static_cast<double>(a[j]) * static_cast<double>(b[j]);
  return s;
}

double TauDot(const std::vector<const float*>& models, const float* base, size_t a, size_t b, size_t n) {
  double s = 0;
  for (size_t j = 0; j < n; ++j) s += Tau(models, base, a, j) * Tau(models, base, b, j);
  return s;
}

}  // namespace

MergeMethod ParseMergeMethod(const std::string& name) {
  for (const auto& [method, text] : kNames) {
    if (name == text) return method;
  }
  throw UsageError(fmt::format("unknown merge method '{}' (known: {})", name, fmt::join(MergeMethodNames(), ", ")));
}

std::string MergeMethodName(MergeMethod method) {
  for (const auto& [m, text] : kNames) {
    if (m == method) return text;
  }
  return "?";
}

std::vector<std::string> MergeMethodNames() {
  std::vector<std::string> names;
  for (const auto& entry : kNames) names.push_back(entry.second);
  return names;
}

bool NeedsBase(MergeMethod method) { return method != MergeMethod::kLinear && method != MergeMethod::kSlerp; }

void MergeTensor(MergeMethod method, const MergeParams& p, const std::vector<const float*>& models, const float* base,
                 size_t n, float* out, uint64_t tensor_seed) {
  const size_t count = models.size();
  if (count == 0) throw UsageError("a merge needs at least one model");
  if (NeedsBase(method) && !base) throw UsageError(fmt::format("merge method '{}' needs a base", MergeMethodName(method)));
  const std::vector<double> w = Weights(p, count);
  auto store = [&](size_t j, double v) { out[j] = static_cast<float>(v); };

  switch (method) {
    case MergeMethod::kLinear: {
      double total = 0;
      for (double x : w) total += x;
      if (total == 0) throw UsageError("linear merge weights sum to zero");
      for (size_t j = 0; j < n; ++j) {
        double v = 0;
        for (size_t i = 0; i < count; ++i) v += w[i] / total * static_cast<double>(models[i][j]);
        store(j, v);
      }
      return;
    }
    case MergeMethod::kSlerp: {
      if (count != 2) throw UsageError(fmt::format("slerp merges exactly two models, not {}", count));
      if (!(p.t >= 0 && p.t <= 1)) throw UsageError(fmt::format("--t must be in [0, 1], not {}", p.t));
      const float* a = models[0];
      const float* b = models[1];
      const double na = std::sqrt(Dot(a, a, n)), nb = std::sqrt(Dot(b, b, n));
      double cos = (na > 0 && nb > 0) ? Dot(a, b, n) / (na * nb) : 1.0;
      cos = std::clamp(cos, -1.0, 1.0);
      double ca = 1 - p.t, cb = p.t;
      if (std::fabs(cos) < 1 - 1e-6) {  // otherwise nearly parallel: lerp
        const double omega = std::acos(cos);
        ca = std::sin((1 - p.t) * omega) / std::sin(omega);
        cb = std::sin(p.t * omega) / std::sin(omega);
      }
      for (size_t j = 0; j < n; ++j) store(j, ca * static_cast<double>(a[j]) + cb * static_cast<double>(b[j]));
      return;
    }
    default:
      break;
  }

  std::vector<double> values(count);
  switch (method) {
    case MergeMethod::kTaskArithmetic:
      for (size_t j = 0; j < n; ++j) {
        double sum = 0;
        for (size_t i = 0; i < count; ++i) sum += w[i] * Tau(models, base, i, j);
        store(j, static_cast<double>(base[j]) + p.lambda * sum);
      }
      return;
    case MergeMethod::kTies: {
      if (!(p.density > 0 && p.density <= 1)) throw UsageError(fmt::format("--density must be in (0, 1], not {}", p.density));
      std::vector<double> threshold(count);
      std::vector<float> scratch;
      for (size_t i = 0; i < count; ++i) threshold[i] = TrimThreshold(models, base, i, n, p.density, scratch);
      scratch = std::vector<float>();
      for (size_t j = 0; j < n; ++j) {
        for (size_t i = 0; i < count; ++i) {
          const double tau = Tau(models, base, i, j);
          // Compared as the float the threshold was selected from, so the entry at
          // the threshold itself is kept.
          values[i] = static_cast<double>(static_cast<float>(std::fabs(tau))) >= threshold[i] ? tau : 0.0;
        }
        store(j, static_cast<double>(base[j]) + p.lambda * ElectAndMean(values, w));
      }
      return;
    }
    case MergeMethod::kDare: {
      if (!(p.drop >= 0 && p.drop < 1)) throw UsageError(fmt::format("--drop must be in [0, 1), not {}", p.drop));
      // One generator per model, advanced element by element: the mask of model i
      // depends only on (seed, tensor, i).
      std::vector<std::mt19937_64> rngs;
      for (size_t i = 0; i < count; ++i) {
        rngs.emplace_back(p.seed * 0x9e3779b97f4a7c15ULL ^ (tensor_seed + 0x632be59bd9b4e019ULL * (i + 1)));
      }
      const double rescale = 1.0 / (1.0 - p.drop);
      for (size_t j = 0; j < n; ++j) {
        for (size_t i = 0; i < count; ++i) {
          // rng() / 2^64 is uniform in [0, 1) on every platform (no distribution object).
          const double u = static_cast<double>(rngs[i]() >> 11) * 0x1.0p-53;
          values[i] = u < p.drop ? 0.0 : Tau(models, base, i, j) * rescale;
        }
        double merged = 0;
        if (p.dare_ties) {
          merged = ElectAndMean(values, w);
        } else {
          for (size_t i = 0; i < count; ++i) merged += w[i] * values[i];
        }
        store(j, static_cast<double>(base[j]) + p.lambda * merged);
      }
      return;
    }
    case MergeMethod::kModelStock: {
      std::vector<double> norms(count);
      for (size_t i = 0; i < count; ++i) norms[i] = std::sqrt(TauDot(models, base, i, i, n));
      double cos_sum = 0;
      size_t pairs = 0;
      for (size_t a = 0; a < count; ++a) {
        for (size_t b = a + 1; b < count; ++b) {
          // A zero task vector agrees with everything: it moves nothing.
          cos_sum += (norms[a] > 0 && norms[b] > 0) ? TauDot(models, base, a, b, n) / (norms[a] * norms[b]) : 1.0;
          ++pairs;
        }
      }
      const double cos = pairs ? cos_sum / static_cast<double>(pairs) : 1.0;
      const double N = static_cast<double>(count);
      const double denominator = 1 + (N - 1) * cos;
      const double t = denominator != 0 ? N * cos / denominator : 0.0;
      for (size_t j = 0; j < n; ++j) {
        double mean = 0;
        for (size_t i = 0; i < count; ++i) mean += static_cast<double>(models[i][j]);
        mean /= N;
        store(j, t * mean + (1 - t) * static_cast<double>(base[j]));
      }
      return;
    }
    case MergeMethod::kMagmax:
      for (size_t j = 0; j < n; ++j) {
        double best = 0;
        for (size_t i = 0; i < count; ++i) {
          const double tau = Tau(models, base, i, j);
          if (std::fabs(tau) > std::fabs(best)) best = tau;
        }
        store(j, static_cast<double>(base[j]) + p.lambda * best);
      }
      return;
    default:
      return;
  }
}

}  // namespace fomo::merge
