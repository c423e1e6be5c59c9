#include "train/adapters.hpp"

#include <ATen/CPUGeneratorImpl.h>

#include <cmath>
#include <cstring>
#include <functional>

#include <fmt/format.h>

#include "storage/error.hpp"
#include "storage/sha256.hpp"

namespace fomo::train {

namespace {

// Uniform(-bound, bound) from a generator seeded by (seed, name): the same
// adapters on every run and every resume.
torch::Tensor SeededUniform(std::vector<int64_t> shape, double bound, uint64_t seed, const std::string& name) {
  auto generator = at::detail::createCPUGenerator(seed ^ NameSeed(name));
  return torch::empty(shape, torch::kFloat32).uniform_(-bound, bound, generator);
}

core::ResidualBlock BlockOf(core::ClipModel& model, const std::string& name, std::string* rest) {
  for (const auto& [prefix, vision] : {std::pair<std::string, bool>{"visual.transformer.resblocks.", true},
                                       std::pair<std::string, bool>{"transformer.resblocks.", false}}) {
    if (name.rfind(prefix, 0) != 0) continue;
    const size_t index = std::stoul(name.substr(prefix.size()));
    *rest = name.substr(name.find('.', prefix.size()) + 1);
    auto& blocks = vision ? model->visual->transformer->blocks : model->transformer->blocks;
    return blocks.at(index);
  }
  throw Error(fmt::format("no adapter can wrap '{}'", name));
}

torch::Tensor* MemberOf(core::ClipModel& model, const std::string& name) {
  std::string rest;
  core::ResidualBlock block = BlockOf(model, name, &rest);
  if (rest == "attn.in_proj_weight") return &block->attn->in_proj_weight;
  if (rest == "attn.in_proj_bias") return &block->attn->in_proj_bias;
  if (rest == "attn.out_proj.weight") return &block->attn->out_proj->weight;
  if (rest == "mlp.c_fc.weight") return &block->mlp->c_fc->weight;
  if (rest == "mlp.c_proj.weight") return &block->mlp->c_proj->weight;
  throw Error(fmt::format("no adapter can wrap '{}'", name));
}

std::vector<float> ToFloats(const torch::Tensor& t) {
  torch::Tensor cpu = t.detach().to(torch::kCPU, torch::kFloat32).contiguous();
  std::vector<float> out(static_cast<size_t>(cpu.numel()));
  std::memcpy(out.data(), cpu.data_ptr<float>(), out.size() * 4);
  return out;
}

}  // namespace

Adapters::Adapters(core::ClipModel& model, const MethodOptions& options, uint64_t seed) : options_(options) {
  const auto sites = AdapterSites(model->config, options);
  if (sites.empty()) return;
  auto named = model->named_parameters();
  const torch::TensorOptions like = named["logit_scale"].options();
  const int64_t r = options.rank;
  // VeRA's frozen projections, one pair per weight shape.
  std::map<std::pair<int64_t, int64_t>, std::pair<torch::Tensor, torch::Tensor>> vera_shared;

  auto add_parameter = [&](const std::string& name, torch::Tensor t) {
    t = t.to(like.device()).set_requires_grad(true);
    parameters_.emplace_back(name, t);
    return t;
  };
  for (const auto& site : sites) {
    if (weights_.empty() || weights_.back().name != site.weight) {
      Weight w;
      w.name = site.weight;
      w.member = MemberOf(model, site.weight);
      w.original = named[site.weight];
      weights_.push_back(std::move(w));
    }
    Weight& w = weights_.back();
    Part part;
    part.target = site.target;
    part.row_begin = site.row_begin;
    part.row_end = site.row_end;
    const int64_t rows = site.row_end - site.row_begin, cols = site.in_features;
    const std::string prefix = fmt::format("adapter.{}.{}.", site.weight, site.target);
    switch (options.method) {
      case Method::kLora:
      case Method::kDora:
        // As PyTorch's Linear initialises: kaiming-uniform with a = sqrt(5).
        part.a = add_parameter(prefix + "A", SeededUniform({r, cols}, 1.0 / std::sqrt(static_cast<double>(cols)), seed, prefix + "A"));
        part.b = add_parameter(prefix + "B", torch::zeros({rows, r}));
        if (options.method == Method::kDora) {
          torch::NoGradGuard no_grad;
          auto norms = w.original.narrow(0, site.row_begin, rows).norm(2, {1}).to(torch::kCPU).clone();
          part.magnitude = add_parameter(prefix + "m", norms);
        }
        break;
      case Method::kVera: {
        auto key = std::make_pair(rows, cols);
        if (!vera_shared.count(key)) {
          const std::string shape = fmt::format("vera.{}x{}", rows, cols);
          vera_shared[key] = {
              SeededUniform({r, cols}, 1.0 / std::sqrt(static_cast<double>(cols)), seed, shape + ".A").to(like.device()),
              SeededUniform({rows, r}, 1.0 / std::sqrt(static_cast<double>(r)), seed, shape + ".B").to(like.device())};
        }
        part.a = vera_shared[key].first;
        part.b = vera_shared[key].second;
        part.vera_b = add_parameter(prefix + "b", torch::zeros({rows}));
        part.vera_d = add_parameter(prefix + "d", torch::full({r}, 0.1));
        break;
      }
      case Method::kIa3:
        part.scale = add_parameter(prefix + "l", torch::ones({site.target == "mlp-inner" ? site.row_end : rows}));
        if (site.target != "mlp-inner" && !w.bias_member) {
          const std::string bias = site.weight.substr(0, site.weight.size() - std::string("weight").size()) + "bias";
          w.bias_member = MemberOf(model, bias);
          w.bias_original = named[bias];
        }
        break;
      default:
        throw Error("not an adapter method");
    }
    w.parts.push_back(std::move(part));
  }
}

// The adapted rows of one part, from W0's rows.
torch::Tensor Adapters::Adapted(const Part& p, const torch::Tensor& rows) const {
  const double s = options_.scale;
  switch (options_.method) {
    case Method::kLora:
      return rows + s * torch::matmul(p.b, p.a);
    case Method::kDora: {
      auto v = rows + s * torch::matmul(p.b, p.a);
      return p.magnitude.unsqueeze(1) * v / v.norm(2, {1}, true).detach();
    }
    case Method::kVera:
      return rows + s * torch::matmul(p.vera_b.unsqueeze(1) * p.b * p.vera_d.unsqueeze(0), p.a);
    case Method::kIa3:
      return p.target == "mlp-inner" ? rows * p.scale.unsqueeze(0) : rows * p.scale.unsqueeze(1);
    default:
      return rows;
  }
}

// `whole` with each part's rows replaced by adapt(part, those rows); rows no part
// covers (in_proj's unadapted q, k or v) stay as they are.
torch::Tensor Adapters::Stitched(const torch::Tensor& whole, const std::vector<Part>& parts,
                                 const std::function<torch::Tensor(const Part&, const torch::Tensor&)>& adapt) {
  std::vector<torch::Tensor> pieces;
  int64_t row = 0;
  for (const Part& p : parts) {
    if (p.row_begin > row) pieces.push_back(whole.narrow(0, row, p.row_begin - row));
    pieces.push_back(adapt(p, whole.narrow(0, p.row_begin, p.row_end - p.row_begin)));
    row = p.row_end;
  }
  if (row < whole.size(0)) pieces.push_back(whole.narrow(0, row, whole.size(0) - row));
  return pieces.size() == 1 ? pieces.front() : torch::cat(pieces, 0);
}

torch::Tensor Adapters::AdaptedWeight(const Weight& w) const {
  // IA3's MLP scales act on columns: the whole weight is the part.
  if (w.parts.size() == 1 && w.parts[0].target == "mlp-inner") return Adapted(w.parts[0], w.original);
  return Stitched(w.original, w.parts, [this](const Part& p, const torch::Tensor& rows) { return Adapted(p, rows); });
}

torch::Tensor Adapters::AdaptedBias(const Weight& w) const {
  return Stitched(w.bias_original, w.parts, [](const Part& p, const torch::Tensor& rows) { return rows * p.scale; });
}

void Adapters::Apply() {
  for (Weight& w : weights_) {
    *w.member = AdaptedWeight(w);
    if (w.bias_member) *w.bias_member = AdaptedBias(w);
  }
}

// One factorisation for the whole weight: the parts' factors side by side, B
// block-diagonal over the parts' rows, the scale (and VeRA's vectors) folded
// into B, DoRA's magnitude NaN on rows no part adapts.
LowRankFactors Adapters::Factors(const Weight& w) const {
  const int64_t rows = w.original.size(0), cols = w.original.size(1), r = options_.rank;
  const int64_t parts = static_cast<int64_t>(w.parts.size());
  LowRankFactors f;
  f.rank = r * parts;
  f.a.assign(static_cast<size_t>(f.rank * cols), 0.0f);
  f.b.assign(static_cast<size_t>(rows * f.rank), 0.0f);
  if (options_.method == Method::kDora) f.magnitude.assign(static_cast<size_t>(rows), std::nanf(""));
  for (int64_t k = 0; k < parts; ++k) {
    const Part& p = w.parts[static_cast<size_t>(k)];
    torch::Tensor b = options_.method == Method::kVera ? p.vera_b.unsqueeze(1) * p.b * p.vera_d.unsqueeze(0) : p.b;
    const std::vector<float> a = ToFloats(p.a), bs = ToFloats(b * options_.scale);
    std::memcpy(f.a.data() + k * r * cols, a.data(), a.size() * 4);
    const int64_t part_rows = p.row_end - p.row_begin;
    for (int64_t i = 0; i < part_rows; ++i) {
      for (int64_t j = 0; j < r; ++j) f.b[(p.row_begin + i) * f.rank + k * r + j] = bs[i * r + j];
    }
    if (options_.method == Method::kDora) {
      const std::vector<float> m = ToFloats(p.magnitude);
      std::memcpy(f.magnitude.data() + p.row_begin, m.data(), m.size() * 4);
    }
  }
  return f;
}

std::map<std::string, LowRankFactors> Adapters::Merge() {
  torch::NoGradGuard no_grad;
  std::map<std::string, LowRankFactors> factors;
  for (Weight& w : weights_) {
    if (options_.method == Method::kIa3) {
      torch::Tensor merged = AdaptedWeight(w);
      w.original.copy_(merged);
      if (w.bias_member) {
        torch::Tensor bias = AdaptedBias(w);
        w.bias_original.copy_(bias);
        *w.bias_member = w.bias_original;
      }
    } else {
      LowRankFactors f = Factors(w);
      std::vector<float> values = ToFloats(w.original);
      ApplyLowRank(values.data(), w.original.size(0), w.original.size(1), f, values.data());
      w.original.copy_(torch::from_blob(values.data(), w.original.sizes(), torch::kFloat32));
      factors.emplace(w.name, std::move(f));
    }
    *w.member = w.original;
  }
  return factors;
}

}  // namespace fomo::train
