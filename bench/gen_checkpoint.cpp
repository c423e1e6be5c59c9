// fomo-gen: makes checkpoints for benchmarks, the quick start and tests.
//
//   fomo-gen base --shape tiny|vit-b-32|vit-b-16|vit-l-14 -o FILE [--seed N]
//       A CLIP checkpoint (OpenAI layout, fp32) with CLIP-like scales per tensor:
//       N(0, width^-0.5) projections, N(0, 0.02) token embeddings, LayerNorm
//       weights near 1, small biases.
//   fomo-gen update IN -o OUT --kind dense|bitfit [--scale S] [--seed N] [--dtype D]
//       dense:  every element moves by N(0, (S * std of its tensor)^2), S = 1e-3
//       bitfit: only biases and LayerNorm weights move (by S * their std)
//       --dtype F16|BF16: F32 tensors are written rounded to that dtype
#include <cmath>
#include <cstdio>
#include <cstring>
#include <random>
#include <string>

#include "core/checkpoint.hpp"
#include "core/arch.hpp"
#include "core/clip_config.hpp"
#include "core/float_bits.hpp"
#include "storage/error.hpp"

namespace {

using namespace fomo;

// splitmix64 + Box-Muller: fast enough for 150M parameters.
class Normal {
 public:
  explicit Normal(uint64_t seed) : state_(seed * 0x9E3779B97F4A7C15ull + 1) {}
  double operator()() {
    if (has_spare_) {
      has_spare_ = false;
      return spare_;
    }
    double u1 = (Next() >> 11) * 0x1.0p-53, u2 = (Next() >> 11) * 0x1.0p-53;
    double r = std::sqrt(-2.0 * std::log(u1 + 1e-300)), t = 2 * M_PI * u2;
    spare_ = r * std::sin(t);
    has_spare_ = true;
    return r * std::cos(t);
  }

 private:
  uint64_t Next() {
    uint64_t z = (state_ += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
  }
  uint64_t state_;
  double spare_ = 0;
  bool has_spare_ = false;
};

core::ClipConfig ConfigForShape(const std::string& name) {
  auto config = core::BuiltinArch(name);
  if (!config) throw Error("unknown shape '" + name + "' (tiny, vit-b-32, vit-b-16, vit-l-14)");
  return *config;
}

bool IsNormWeight(const std::string& n) {
  return n.find("ln_") != std::string::npos && n.size() > 7 && n.substr(n.size() - 7) == ".weight";
}
bool IsBias(const std::string& n) {
  return (n.size() > 5 && n.substr(n.size() - 5) == ".bias") || n.find("in_proj_bias") != std::string::npos;
}

void FillBase(const std::string& name, const Shape& shape, float* out, uint64_t count, Normal& normal) {
  if (name == "logit_scale") {
    out[0] = std::log(1 / 0.07f);
    return;
  }
  double mean = 0, std = 0.02;
  if (IsNormWeight(name)) {
    mean = 1.0;
    std = 0.05;
  } else if (IsBias(name)) {
    std = 0.02;
  } else if (name.find("token_embedding") != std::string::npos) {
    std = 0.02;
  } else if (name.find("positional_embedding") != std::string::npos) {
    std = 0.01;
  } else if (shape.size() >= 2) {
    std = 1.0 / std::sqrt(static_cast<double>(shape.back() * (shape.size() == 4 ? shape[1] * shape[2] : 1)));
  }
  for (uint64_t i = 0; i < count; ++i) out[i] = static_cast<float>(mean + std * normal());
}

int Base(const std::string& shape_name, const std::string& out, uint64_t seed) {
  core::ClipConfig config = ConfigForShape(shape_name);
  Normal normal(seed);
  std::vector<core::SafetensorsEntry> entries;
  for (const auto& [name, shape] : config.ExpectedTensors()) entries.push_back({name, Dtype::kF32, shape});
  core::SafetensorsWriter writer(out, entries, {{"fomo.config", config.ToJson()}, {"format", "pt"}});
  for (size_t i = 0; i < entries.size(); ++i) {
    uint64_t count = NumElements(entries[i].shape);
    std::vector<float> values(count);
    FillBase(entries[i].name, entries[i].shape, values.data(), count, normal);
    writer.Write(i, reinterpret_cast<const uint8_t*>(values.data()), count * 4);
  }
  writer.Commit();
  return 0;
}

int Update(const std::string& in, const std::string& out, const std::string& kind, double scale,
           uint64_t seed, const std::string& dtype_name) {
  if (kind != "dense" && kind != "bitfit") throw Error("--kind must be dense or bitfit");
  const std::optional<Dtype> out_dtype = ParseDtype(dtype_name);
  if (!out_dtype || (*out_dtype != Dtype::kF32 && *out_dtype != Dtype::kF16 && *out_dtype != Dtype::kBF16)) {
    throw Error("--dtype must be F32, F16 or BF16");
  }
  core::SafetensorsFile file = core::SafetensorsFile::Open(in);
  Normal normal(seed);
  std::vector<core::SafetensorsEntry> entries;
  for (const auto& t : file.tensors()) {
    entries.push_back({t.name, t.view.dtype == Dtype::kF32 ? *out_dtype : t.view.dtype, t.view.shape});
  }
  core::SafetensorsWriter writer(out, entries, file.metadata());
  for (size_t i = 0; i < entries.size(); ++i) {
    const TensorView& v = file.tensors()[i].view;
    std::vector<uint8_t> bytes(v.data, v.data + v.size);
    const std::string& name = entries[i].name;
    bool touch = kind == "dense" || IsBias(name) || IsNormWeight(name);
    if (touch && v.dtype == Dtype::kF32) {
      uint64_t count = v.size / 4;
      auto* f = reinterpret_cast<float*>(bytes.data());
      double sum = 0, sq = 0;
      for (uint64_t k = 0; k < count; ++k) {
        sum += f[k];
        sq += static_cast<double>(f[k]) * f[k];
      }
      double mean = sum / count;
      double std = std::sqrt(std::max(1e-12, sq / count - mean * mean));
      if (count == 1) std = std::fabs(f[0]) + 1e-6;
      for (uint64_t k = 0; k < count; ++k) f[k] += static_cast<float>(scale * std * normal());
    }
    if (v.dtype == Dtype::kF32 && *out_dtype != Dtype::kF32) {
      const auto* f = reinterpret_cast<const float*>(bytes.data());
      std::vector<uint16_t> half(v.size / 4);
      for (size_t k = 0; k < half.size(); ++k) {
        half[k] = *out_dtype == Dtype::kF16 ? core::FloatToHalf(f[k]) : core::FloatToBFloat16(f[k]);
      }
      writer.Write(i, reinterpret_cast<const uint8_t*>(half.data()), half.size() * 2);
      continue;
    }
    writer.Write(i, bytes.data(), bytes.size());
  }
  writer.Commit();
  return 0;
}

int Usage() {
  std::fprintf(stderr,
               "usage: fomo-gen base --shape tiny|vit-b-32|vit-b-16|vit-l-14 -o FILE [--seed N]\n"
               "       fomo-gen update IN -o OUT --kind dense|bitfit [--scale S] [--seed N] [--dtype F16|BF16]\n");
  return 2;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2) return Usage();
  std::string mode = argv[1], input, out, shape = "vit-b-16", kind = "dense", dtype = "F32";
  double scale = 1e-3;
  uint64_t seed = 1;
  for (int i = 2; i < argc; ++i) {
    std::string a = argv[i];
    auto value = [&]() -> std::string {
      if (i + 1 >= argc) throw fomo::Error("option " + a + " needs a value");
      return argv[++i];
    };
    try {
      if (a == "-o") out = value();
      else if (a == "--shape") shape = value();
      else if (a == "--kind") kind = value();
      else if (a == "--scale") scale = std::stod(value());
      else if (a == "--seed") seed = std::stoull(value());
      else if (a == "--dtype") dtype = value();
      else if (input.empty() && a[0] != '-') input = a;
      else return Usage();
    } catch (const std::exception& e) {
      std::fprintf(stderr, "fomo-gen: %s\n", e.what());
      return 2;
    }
  }
  if (out.empty()) return Usage();
  try {
    if (mode == "base") return Base(shape, out, seed);
    if (mode == "update" && !input.empty()) return Update(input, out, kind, scale, seed, dtype);
    return Usage();
  } catch (const std::exception& e) {
    std::fprintf(stderr, "fomo-gen: %s\n", e.what());
    return 1;
  }
}
