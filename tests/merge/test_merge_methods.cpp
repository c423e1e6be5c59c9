// Every merge operator on small tensors with answers computed by hand, plus the
// properties a user relies on: a self-merge returns the model bit for bit, linear
// weights are normalised, DARE is reproducible from its seed, SLERP of parallel
// tensors is a lerp.
#include <cmath>
#include <cstring>

#include "catch.hpp"
#include "merge/merge_methods.hpp"
#include "storage/error.hpp"

using namespace fomo;
using namespace fomo::merge;

namespace {

std::vector<float> Merge(MergeMethod method, const MergeParams& p, const std::vector<std::vector<float>>& models,
                         const std::vector<float>* base = nullptr, uint64_t tensor_seed = 0) {
  std::vector<const float*> pointers;
  for (const auto& m : models) pointers.push_back(m.data());
  std::vector<float> out(models.front().size());
  MergeTensor(method, p, pointers, base ? base->data() : nullptr, out.size(), out.data(), tensor_seed);
  return out;
}

void RequireClose(const std::vector<float>& got, const std::vector<float>& want) {
  REQUIRE(got.size() == want.size());
  for (size_t i = 0; i < got.size(); ++i) {
    INFO("element " << i);
    REQUIRE(got[i] == Approx(want[i]).margin(1e-6));
  }
}

}  // namespace

TEST_CASE("linear merge normalises its weights", "[merge]") {
  MergeParams p;
  p.weights = {1, 3};
  RequireClose(Merge(MergeMethod::kLinear, p, {{0, 4}, {4, 8}}), {3, 7});
  p.weights = {0.25, 0.75};
  RequireClose(Merge(MergeMethod::kLinear, p, {{0, 4}, {4, 8}}), {3, 7});
  p.weights = {1, -1};
  CHECK_THROWS_AS(Merge(MergeMethod::kLinear, p, {{0}, {1}}), UsageError);
  p.weights = {1};
  CHECK_THROWS_AS(Merge(MergeMethod::kLinear, p, {{0}, {1}}), UsageError);
}

TEST_CASE("task arithmetic adds lambda times the weighted task vectors", "[merge]") {
  std::vector<float> base = {1, 1, 1};
  MergeParams p;
  p.lambda = 0.5;
  // tau_1 = (1, 0, -1), tau_2 = (3, 2, 1): base + 0.5 (4, 2, 0)
  RequireClose(Merge(MergeMethod::kTaskArithmetic, p, {{2, 1, 0}, {4, 3, 2}}, &base), {3, 2, 1});
  CHECK_THROWS_AS(Merge(MergeMethod::kTaskArithmetic, p, {{2, 1, 0}}), UsageError);  // no base
}

TEST_CASE("TIES trims, elects signs and takes the disjoint mean", "[merge]") {
  std::vector<float> base = {0, 0, 0, 0};
  MergeParams p;
  p.density = 0.5;  // two of four entries survive per model
  p.lambda = 1;
  // tau_1 = ( 4, -1,  3, 0.5) -> ( 4, 0, 3, 0)
  // tau_2 = (-2, -5,  1, 6  ) -> ( 0,-5, 0, 6)
  // tau_3 = ( 2,  1, -4, 0  ) -> ( 2, 0,-4, 0)
  // sums: 6, -5, -1, 6 -> signs +, -, -, +; agreeing entries: (4, 2), (-5), (-4), (6)
  RequireClose(Merge(MergeMethod::kTies, p, {{4, -1, 3, 0.5f}, {-2, -5, 1, 6}, {2, 1, -4, 0}}, &base), {3, -5, -4, 6});
  p.density = 0;
  CHECK_THROWS_AS(Merge(MergeMethod::kTies, p, {{1}}, &base), UsageError);
}

TEST_CASE("DARE drops at its rate, rescales, and repeats with its seed", "[merge]") {
  const size_t n = 20000;
  std::vector<float> base(n, 0.0f), model(n, 1.0f);
  MergeParams p;
  p.drop = 0.25;
  p.seed = 7;
  auto a = Merge(MergeMethod::kDare, p, {model}, &base, 3);
  auto b = Merge(MergeMethod::kDare, p, {model}, &base, 3);
  CHECK(a == b);
  CHECK(Merge(MergeMethod::kDare, p, {model}, &base, 4) != a);  // another tensor, another mask
  size_t dropped = 0;
  for (float v : a) {
    REQUIRE((v == 0.0f || v == Approx(1.0 / 0.75)));
    dropped += v == 0.0f;
  }
  CHECK(static_cast<double>(dropped) / n == Approx(0.25).margin(0.02));
  // The rescale keeps the expected task vector: the mean stays near 1.
  double mean = 0;
  for (float v : a) mean += v;
  CHECK(mean / n == Approx(1.0).margin(0.03));
  p.seed = 8;
  CHECK(Merge(MergeMethod::kDare, p, {model}, &base, 3) != a);
  p.drop = 0;
  p.dare_ties = true;
  // With nothing dropped DARE-TIES is the disjoint mean of the agreeing entries.
  std::vector<float> small_base = {0, 0};
  RequireClose(Merge(MergeMethod::kDare, p, {{2, -1}, {4, 3}}, &small_base), {3, 3});
}

TEST_CASE("SLERP interpolates on the sphere and lerps parallel tensors", "[merge]") {
  MergeParams p;
  p.t = 0.5;
  // Orthogonal unit vectors: the midpoint on the arc is (1, 1) / sqrt(2).
  RequireClose(Merge(MergeMethod::kSlerp, p, {{1, 0}, {0, 1}}), {float(std::sqrt(0.5)), float(std::sqrt(0.5))});
  // Parallel: plain linear interpolation.
  RequireClose(Merge(MergeMethod::kSlerp, p, {{1, 2}, {2, 4}}), {1.5f, 3});
  p.t = 0;
  RequireClose(Merge(MergeMethod::kSlerp, p, {{1, 0}, {0, 1}}), {1, 0});
  CHECK_THROWS_AS(Merge(MergeMethod::kSlerp, p, {{1}, {2}, {3}}), UsageError);
  p.t = 1.5;
  CHECK_THROWS_AS(Merge(MergeMethod::kSlerp, p, {{1}, {2}}), UsageError);
}

TEST_CASE("model stock moves toward the mean by N cos / (1 + (N-1) cos)", "[merge]") {
  std::vector<float> base = {0, 0};
  // Orthogonal task vectors: cos 0, t = 0, the base comes back.
  RequireClose(Merge(MergeMethod::kModelStock, {}, {{1, 0}, {0, 1}}, &base), {0, 0});
  // tau_1 = (1, 0), tau_2 = (1, 1): cos = 1/sqrt(2), t = 2c / (1 + c).
  const double c = 1 / std::sqrt(2.0), t = 2 * c / (1 + c);
  RequireClose(Merge(MergeMethod::kModelStock, {}, {{1, 0}, {1, 1}}, &base), {float(t * 1), float(t * 0.5)});
}

TEST_CASE("magmax keeps the task vector entry of largest magnitude", "[merge]") {
  std::vector<float> base = {1, 1, 1};
  // tau_1 = (2, -1, 0), tau_2 = (-3, 0.5, 0): the larger magnitudes are -3, -1, 0.
  RequireClose(Merge(MergeMethod::kMagmax, {}, {{3, 0, 1}, {-2, 1.5f, 1}}, &base), {-2, 0, 1});
}

TEST_CASE("merging a model with itself gives it back bit for bit, by every method", "[merge]") {
  std::vector<float> model = {0.1f, -3.75e-3f, 1e-30f, 12345.678f, -0.0f, 7.0f / 3};
  std::vector<float> base = model;
  for (const auto& name : MergeMethodNames()) {
    INFO(name);
    MergeMethod method = ParseMergeMethod(name);
    MergeParams p;
    p.drop = 0.5;
    std::vector<std::vector<float>> inputs(method == MergeMethod::kSlerp ? 2 : 3, model);
    auto merged = Merge(method, p, inputs, &base);
    for (size_t i = 0; i < model.size(); ++i) {
      INFO("element " << i);
      REQUIRE(std::fabs(merged[i]) == std::fabs(model[i]));
      REQUIRE(merged[i] == model[i]);
    }
  }
  CHECK_THROWS_AS(ParseMergeMethod("avg"), UsageError);
}
