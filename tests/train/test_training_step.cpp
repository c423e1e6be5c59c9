// The training step's pieces on the tiny model: the contrastive loss, AdamW with
// its decay groups, one step lowering the loss, and the prefetching loader.
#include <torch/torch.h>

#include "catch.hpp"
#include "core/arch.hpp"
#include "core/clip_model.hpp"
#include "train/adamw.hpp"
#include "train/batch_loader.hpp"
#include "train/contrastive_loss.hpp"

using namespace fomo;
using namespace fomo::train;

TEST_CASE("with distinct captions the loss is CLIP's cross-entropy against arange", "[train][loss]") {
  torch::manual_seed(1);
  auto image = torch::randn({6, 8});
  auto text = torch::randn({6, 8});
  auto scale = torch::tensor(2.0);
  auto ids = torch::arange(6, torch::kInt64);
  auto zi = image / image.norm(2, -1, true);
  auto zt = text / text.norm(2, -1, true);
  auto logits = scale.exp() * zi.matmul(zt.t());
  auto expected = (torch::nn::functional::cross_entropy(logits, ids) +
                   torch::nn::functional::cross_entropy(logits.t(), ids)) / 2;
  CHECK(ContrastiveLoss(image, text, scale, ids).item<double>() == Approx(expected.item<double>()).epsilon(1e-6));
}

TEST_CASE("samples sharing a caption share the target mass", "[train][loss]") {
  // Rows 0 and 1 carry one caption: each image's target is spread over both texts
  // (and each text's over both images) instead of a one-hot on its own index.
  torch::manual_seed(3);
  auto image = torch::randn({3, 4});
  auto text = torch::randn({3, 4});
  auto scale = torch::tensor(1.5);
  auto zi = image / image.norm(2, -1, true);
  auto zt = text / text.norm(2, -1, true);
  auto logits = scale.exp() * zi.matmul(zt.t());
  auto targets = torch::tensor({0.5f, 0.5f, 0.0f, 0.5f, 0.5f, 0.0f, 0.0f, 0.0f, 1.0f}).view({3, 3});
  auto expected = (-(targets * torch::log_softmax(logits, 1)).sum(1).mean() -
                   (targets * torch::log_softmax(logits.t(), 1)).sum(1).mean()) / 2;
  auto ids = torch::tensor({7, 7, 3}, torch::kInt64);
  CHECK(ContrastiveLoss(image, text, scale, ids).item<double>() == Approx(expected.item<double>()).epsilon(1e-6));
  auto hard = ContrastiveLoss(image, text, scale, torch::tensor({0, 1, 2}, torch::kInt64)).item<double>();
  CHECK(hard != Approx(expected.item<double>()).epsilon(1e-3));
}

TEST_CASE("AdamW exempts biases, norms, embeddings and logit_scale from decay", "[train][adamw]") {
  core::ClipModel model(*core::BuiltinArch("tiny"));
  std::vector<std::pair<std::string, torch::Tensor>> params;
  for (const auto& item : model->named_parameters()) params.emplace_back(item.key(), item.value());
  auto groups = DecayGroups(params, 0.2);
  REQUIRE(groups.size() == 2);
  const auto& decay = groups[0].weight_decay > 0 ? groups[0] : groups[1];
  const auto& exempt = groups[0].weight_decay > 0 ? groups[1] : groups[0];
  auto has = [](const ParamGroup& g, const std::string& name) {
    return std::find(g.names.begin(), g.names.end(), name) != g.names.end();
  };
  CHECK(has(decay, "visual.transformer.resblocks.0.attn.in_proj_weight"));
  CHECK(has(decay, "visual.proj"));
  CHECK(has(decay, "text_projection"));
  CHECK(has(exempt, "logit_scale"));
  CHECK(has(exempt, "visual.class_embedding"));
  CHECK(has(exempt, "positional_embedding"));
  CHECK(has(exempt, "token_embedding.weight"));
  CHECK(has(exempt, "ln_final.weight"));
  CHECK(has(exempt, "visual.transformer.resblocks.0.mlp.c_fc.bias"));
}

TEST_CASE("AdamW matches the textbook update", "[train][adamw]") {
  auto p = torch::tensor({1.0f, -2.0f}).set_requires_grad(true);
  AdamW opt({ParamGroup{{"w"}, {p}, 0.1}}, 0.9, 0.999, 1e-8);
  p.mutable_grad() = torch::tensor({0.5f, 0.25f});
  opt.Step(0.01);
  // Step 1: m_hat = g, v_hat = g^2, so the update is lr * sign(g) (plus decay).
  CHECK(p[0].item<double>() == Approx(1.0 * (1 - 0.001) - 0.01).epsilon(1e-5));
  CHECK(p[1].item<double>() == Approx(-2.0 * (1 - 0.001) - 0.01).epsilon(1e-5));
  auto state = opt.State();
  REQUIRE(state.size() == 2);
  AdamW restored({ParamGroup{{"w"}, {p}, 0.1}}, 0.9, 0.999, 1e-8);
  restored.Restore(state, opt.steps());
  CHECK(restored.steps() == 1);
}

TEST_CASE("one training step lowers the loss on a fixed batch", "[train]") {
  torch::manual_seed(0);
  core::ClipModel model(*core::BuiltinArch("tiny"));
  model->train();
  auto images = torch::randn({8, 3, 28, 28});
  auto tokens = torch::zeros({8, 77}, torch::kInt64);
  for (int64_t i = 0; i < 8; ++i) {
    tokens[i][0] = 49406;
    tokens[i][1] = 320 + i;
    tokens[i][2] = 49407;
  }
  auto ids = torch::arange(8, torch::kInt64);
  std::vector<std::pair<std::string, torch::Tensor>> params;
  for (const auto& item : model->named_parameters()) params.emplace_back(item.key(), item.value());
  AdamW opt(DecayGroups(params, 0.2), 0.9, 0.999, 1e-8);
  auto loss_now = [&] {
    return ContrastiveLoss(model->EncodeImage(images), model->EncodeText(tokens), model->logit_scale, ids);
  };
  auto before = loss_now();
  opt.ZeroGrad();
  before.backward();
  opt.Step(1e-3);
  double after = loss_now().item<double>();
  CHECK(after < before.item<double>());
}

TEST_CASE("the prefetching loader yields exactly the planned batches, in order", "[train][loader]") {
  std::vector<core::Image> images;
  for (int i = 0; i < 5; ++i) {
    core::Image image;
    image.width = image.height = 28;
    image.channels = 1;
    image.pixels.assign(28 * 28, static_cast<uint8_t>(40 * i));
    images.push_back(image);
  }
  TrainCorpus corpus;
  for (int i = 0; i < 5; ++i) {
    corpus.sources[kUpdate].push_back({&images[static_cast<size_t>(i)], {corpus.Caption("caption " + std::to_string(i))}});
  }
  auto tokens = torch::arange(5 * 4, torch::kInt64).view({5, 4});
  MixturePlanner planner(corpus, MixtureShares{0, 1, 0}, 3, 9);
  BatchLoader loader(corpus, planner, tokens, 28, 2, 12, 2, 3);
  for (int64_t step = 2; step < 12; ++step) {
    Batch got = loader.Next();
    Batch want = AssembleBatch(corpus, planner.Plan(step), tokens, 28);
    REQUIRE(torch::equal(got.images, want.images));
    REQUIRE(torch::equal(got.tokens, want.tokens));
    REQUIRE(torch::equal(got.caption_ids, want.caption_ids));
  }
}
