// The methods' LibTorch pieces on the tiny model: adapters start as no-ops and
// merge to what the store reconstructs, GaLore's projector, EWC's penalty and
// SI's importance.
#include <torch/torch.h>

#include <cstring>

#include "catch.hpp"
#include "core/arch.hpp"
#include "core/clip_model.hpp"
#include "train/adapters.hpp"
#include "train/galore.hpp"
#include "train/regularizers.hpp"

using namespace fomo;
using namespace fomo::train;

namespace {

// The weights the model's forward pass currently reads, by canonical name.
torch::Tensor InProj(core::ClipModel& model, int block) { return model->visual->transformer->blocks[block]->attn->in_proj_weight; }
torch::Tensor CProj(core::ClipModel& model, int block) { return model->visual->transformer->blocks[block]->mlp->c_proj->weight; }

core::ClipModel TinyModel() {
  torch::manual_seed(5);
  return core::ClipModel(*core::BuiltinArch("tiny"));
}

}  // namespace

TEST_CASE("LoRA and VeRA start as exact no-ops, IA3 at one", "[train][methods]") {
  for (const char* name : {"lora", "vera", "ia3"}) {
    INFO(name);
    core::ClipModel model = TinyModel();
    const torch::Tensor w0 = InProj(model, 0).clone(), c0 = CProj(model, 1).clone();
    Adapters adapters(model, MethodOptions::Named(name), 1);
    REQUIRE(!adapters.parameters().empty());
    adapters.Apply();
    CHECK(torch::equal(InProj(model, 0), w0));
    CHECK(torch::equal(CProj(model, 1), c0));
    if (std::string(name) == "ia3") {
      for (const auto& [n, p] : adapters.parameters()) CHECK(torch::equal(p, torch::ones_like(p)));
    }
  }
}

TEST_CASE("DoRA's magnitude starts at the row norms, so it starts at W0", "[train][methods]") {
  core::ClipModel model = TinyModel();
  const torch::Tensor w0 = InProj(model, 0).clone();
  Adapters adapters(model, MethodOptions::Named("dora"), 1);
  bool saw_magnitude = false;
  for (const auto& [name, p] : adapters.parameters()) {
    if (name == "adapter.visual.transformer.resblocks.0.attn.in_proj_weight.q.m") {
      CHECK(torch::allclose(p, w0.narrow(0, 0, w0.size(1)).norm(2, {1})));
      saw_magnitude = true;
    }
  }
  CHECK(saw_magnitude);
  adapters.Apply();
  CHECK(torch::allclose(InProj(model, 0), w0, 1e-6, 1e-7));
}

TEST_CASE("trained adapters merge into exactly what the store rebuilds from their factors", "[train][methods]") {
  for (const char* name : {"lora", "dora", "vera"}) {
    INFO(name);
    core::ClipModel model = TinyModel();
    const torch::Tensor w0 = InProj(model, 0).clone();
    Adapters adapters(model, MethodOptions::Named(name), 1);
    {
      torch::NoGradGuard no_grad;
      for (const auto& [n, p] : adapters.parameters()) p.add_(torch::randn_like(p) * 0.01);
    }
    adapters.Apply();
    const torch::Tensor adapted = InProj(model, 0).detach().clone();
    auto factors = adapters.Merge();
    const std::string weight = "visual.transformer.resblocks.0.attn.in_proj_weight";
    REQUIRE(factors.count(weight));
    // The model reads its own parameter again, now the merged weight.
    auto named = model->named_parameters();
    CHECK(InProj(model, 0).is_same(named[weight]));
    CHECK(torch::allclose(InProj(model, 0), adapted, 1e-5, 1e-6));
    std::vector<float> base(static_cast<size_t>(w0.numel()));
    std::memcpy(base.data(), w0.contiguous().data_ptr<float>(), base.size() * 4);
    ApplyLowRank(base.data(), w0.size(0), w0.size(1), factors.at(weight), base.data());
    CHECK(std::memcmp(base.data(), InProj(model, 0).contiguous().data_ptr<float>(), base.size() * 4) == 0);
  }
}

TEST_CASE("GaLore projects on the smaller side and refreshes at the gap", "[train][methods]") {
  torch::manual_seed(2);
  auto tall = torch::randn({12, 4}).set_requires_grad(true);
  auto wide = torch::randn({3, 10}).set_requires_grad(true);
  Galore galore({{"tall", tall}, {"wide", wide}}, 2, 3, 0.25, 0.0, 0.9, 0.999, 1e-8);
  auto step = [&] {
    galore.ZeroGrad();
    ((tall * torch::randn_like(tall)).sum() + (wide * torch::randn_like(wide)).sum()).backward();
    galore.Step(1e-2);
  };
  step();
  CHECK(galore.Projector(0).sizes() == torch::IntArrayRef({2, 4}));   // m >= n: P = Vh[:r], r x n
  CHECK(galore.Projector(1).sizes() == torch::IntArrayRef({3, 2}));   // m < n: P = U[:, :r], m x r
  const auto first = galore.Projector(0).clone();
  step();
  step();
  CHECK(torch::equal(galore.Projector(0), first));  // steps 2 and 3 keep it
  step();                                            // step 4: 3 steps later, refreshed
  CHECK_FALSE(torch::equal(galore.Projector(0), first));
  // Rows of P are orthonormal.
  CHECK(torch::allclose(torch::matmul(galore.Projector(0), galore.Projector(0).t()), torch::eye(2), 1e-5, 1e-5));
}

TEST_CASE("the EWC penalty is zero at the anchor and grows away from it", "[train][methods]") {
  auto p = torch::randn({4, 3}).set_requires_grad(true);
  Tensor fisher{Dtype::kF32, {4, 3}, ByteBuffer(48)};
  for (int i = 0; i < 12; ++i) reinterpret_cast<float*>(fisher.bytes.data())[i] = 0.5f + i;
  MethodOptions ewc = MethodOptions::Named("ewc");
  ewc.ewc_lambda = 2;
  Regularizer regularizer(ewc, {{"w", p}}, {{"ewc.fisher.w", fisher.view()}});
  CHECK(regularizer.Penalty().item<double>() == 0.0);
  double last = 0;
  for (double d : {0.01, 0.1, 1.0}) {
    torch::NoGradGuard no_grad;
    auto saved = p.clone();
    p.add_(d);
    const double penalty = regularizer.Penalty().item<double>();
    CHECK(penalty > last);
    // lambda / 2 * sum F d^2
    CHECK(penalty == Approx(2.0 / 2 * (0.5 * 12 + 66) * d * d).epsilon(1e-5));
    last = penalty;
    p.copy_(saved);
  }
  // Without a carried Fisher there is nothing to penalise.
  Regularizer first(ewc, {{"w", p}}, {});
  CHECK_FALSE(first.Penalty().defined());
}

TEST_CASE("SI's importance accumulates over steps and tasks", "[train][methods]") {
  auto p = torch::zeros({5}).set_requires_grad(true);
  MethodOptions si = MethodOptions::Named("si");
  Regularizer task1(si, {{"w", p}}, {});
  for (int step = 0; step < 3; ++step) {
    p.mutable_grad() = torch::full({5}, 2.0);
    task1.AfterBackward(0.1);  // omega += 0.1 * 4
    torch::NoGradGuard no_grad;
    p.sub_(0.1);
  }
  auto state1 = task1.Finish();
  REQUIRE(state1.size() == 1);
  CHECK(state1[0].first == "si.omega.w");
  const float* omega1 = reinterpret_cast<const float*>(state1[0].second.bytes.data());
  // omega = 1.2, moved (0.3)^2 = 0.09, xi = 1: Omega = 1.2 / 1.09.
  CHECK(omega1[0] == Approx(1.2 / 1.09).epsilon(1e-5));
  // The next task starts from that importance and adds its own.
  Regularizer task2(si, {{"w", p}}, {{"si.omega.w", state1[0].second.view()}});
  p.mutable_grad() = torch::full({5}, 1.0);
  task2.AfterBackward(0.1);
  auto state2 = task2.Finish();
  const float* omega2 = reinterpret_cast<const float*>(state2[0].second.bytes.data());
  CHECK(omega2[0] > omega1[0]);
  CHECK(omega2[0] == Approx(1.2 / 1.09 + 0.1 / 1.0).epsilon(1e-5));
  // And penalises moving away from the task's start.
  torch::NoGradGuard no_grad;
  p.add_(1.0);
  CHECK(task2.Penalty().item<double>() == Approx(0.5 * 5 * (1.2 / 1.09)).epsilon(1e-5));
}
