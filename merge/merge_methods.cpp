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

// tau_i[j] = models[i][j] - base[j], in double.
std::vector<std::vector<double>> TaskVectors(const std::vector<const float*>& models, const float* base, size_t n) {
  std::vector<std::vector<double>> tau(models.size(), std::vector<double>(n));
  for (size_t i = 0; i < models.size(); ++i) {
    for (size_t j = 0; j < n; ++j) tau[i][j] = static_cast<double>(models[i][j]) - static_cast<double>(base[j]);
  }
  return tau;
}

// Keeps the k entries of largest magnitude (ties at the threshold kept), zeroes the rest.
void TrimToDensity(std::vector<double>& tau, double density) {
  const size_t n = tau.size();
  const size_t keep = static_cast<size_t>(std::ceil(density * static_cast<double>(n)));
  if (keep >= n) return;
  if (keep == 0) {
    std::fill(tau.begin(), tau.end(), 0.0);
    return;
  }
  std::vector<double> magnitudes(n);
  for (size_t j = 0; j < n; ++j) magnitudes[j] = std::fabs(tau[j]);
  std::nth_element(magnitudes.begin(), magnitudes.begin() + static_cast<std::ptrdiff_t>(n - keep), magnitudes.end());
  const double threshold = magnitudes[n - keep];
  for (double& v : tau) {
    if (std::fabs(v) < threshold) v = 0;
  }
}

// TIES: sign per element from the sum, then the mean of the entries that agree.
void ElectAndMean(const std::vector<std::vector<double>>& tau, const std::vector<double>& w, size_t j, double* out) {
  double sum = 0;
  for (size_t i = 0; i < tau.size(); ++i) sum += w[i] * tau[i][j];
  const double sign = sum > 0 ? 1.0 : (sum < 0 ? -1.0 : 0.0);
  double total = 0, count = 0;
  for (size_t i = 0; i < tau.size(); ++i) {
    const double v = w[i] * tau[i][j];
    if (sign != 0 && v * sign > 0) {
      total += v;
      count += w[i];
    }
  }
  *out = count > 0 ? total / count : 0.0;
}

double Dot(const double* a, const double* b, size_t n) {
  double s = 0;
  for (size_t j = 0; j < n; ++j) s += a[j] * b[j];
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
      std::vector<double> a(models[0], models[0] + n), b(models[1], models[1] + n);
      const double na = std::sqrt(Dot(a.data(), a.data(), n)), nb = std::sqrt(Dot(b.data(), b.data(), n));
      double cos = (na > 0 && nb > 0) ? Dot(a.data(), b.data(), n) / (na * nb) : 1.0;
      cos = std::clamp(cos, -1.0, 1.0);
      double ca = 1 - p.t, cb = p.t;
      if (std::fabs(cos) < 1 - 1e-6) {  // otherwise nearly parallel: lerp
        const double omega = std::acos(cos);
        ca = std::sin((1 - p.t) * omega) / std::sin(omega);
        cb = std::sin(p.t * omega) / std::sin(omega);
      }
      for (size_t j = 0; j < n; ++j) store(j, ca * a[j] + cb * b[j]);
      return;
    }
    default:
      break;
  }

  auto tau = TaskVectors(models, base, n);
  switch (method) {
    case MergeMethod::kTaskArithmetic:
      for (size_t j = 0; j < n; ++j) {
        double sum = 0;
        for (size_t i = 0; i < count; ++i) sum += w[i] * tau[i][j];
        store(j, static_cast<double>(base[j]) + p.lambda * sum);
      }
      return;
    case MergeMethod::kTies:
      if (!(p.density > 0 && p.density <= 1)) throw UsageError(fmt::format("--density must be in (0, 1], not {}", p.density));
      for (auto& t : tau) TrimToDensity(t, p.density);
      for (size_t j = 0; j < n; ++j) {
        double mean = 0;
        ElectAndMean(tau, w, j, &mean);
        store(j, static_cast<double>(base[j]) + p.lambda * mean);
      }
      return;
    case MergeMethod::kDare: {
      if (!(p.drop >= 0 && p.drop < 1)) throw UsageError(fmt::format("--drop must be in [0, 1), not {}", p.drop));
      for (size_t i = 0; i < count; ++i) {
        std::mt19937_64 rng(p.seed * 0x9e3779b97f4a7c15ULL ^ (tensor_seed + 0x632be59bd9b4e019ULL * (i + 1)));
        const double keep = 1.0 / (1.0 - p.drop);
        for (double& v : tau[i]) {
          // rng() / 2^64 is uniform in [0, 1) on every platform (no distribution object).
          const double u = static_cast<double>(rng() >> 11) * 0x1.0p-53;
          v = u < p.drop ? 0.0 : v * keep;
        }
      }
      for (size_t j = 0; j < n; ++j) {
        double merged = 0;
        if (p.dare_ties) {
          ElectAndMean(tau, w, j, &merged);
        } else {
          for (size_t i = 0; i < count; ++i) merged += w[i] * tau[i][j];
        }
        store(j, static_cast<double>(base[j]) + p.lambda * merged);
      }
      return;
    }
    case MergeMethod::kModelStock: {
      std::vector<double> norms(count);
      for (size_t i = 0; i < count; ++i) norms[i] = std::sqrt(Dot(tau[i].data(), tau[i].data(), n));
      double cos_sum = 0;
      size_t pairs = 0;
      for (size_t a = 0; a < count; ++a) {
        for (size_t b = a + 1; b < count; ++b) {
          // A zero task vector agrees with everything: it moves nothing.
          cos_sum += (norms[a] > 0 && norms[b] > 0) ? Dot(tau[a].data(), tau[b].data(), n) / (norms[a] * norms[b]) : 1.0;
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
          if (std::fabs(tau[i][j]) > std::fabs(best)) best = tau[i][j];
        }
        store(j, static_cast<double>(base[j]) + p.lambda * best);
      }
      return;
    default:
      return;
  }
}

}  // namespace fomo::merge
