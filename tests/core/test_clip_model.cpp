// Parity with the reference implementations: fomo's CLIP gives the features and
// logits that OpenAI's CLIP code and Hugging Face's CLIPModel gave for the same
// weights and inputs (tests/data, from ../shared/data/reference).
#include <torch/torch.h>

#include "catch.hpp"
#include "core/checkpoint.hpp"
#include "core/clip_model.hpp"
#include "core/preprocess.hpp"
#include "core/safetensors.hpp"
#include "core/zero_shot.hpp"
#include "test_support.hpp"

using namespace fomo;
using fomo::test::DataFile;

namespace {

torch::Tensor Io(const core::SafetensorsFile& io, const std::string& name) {
  const NamedTensor* t = io.Find(name);
  REQUIRE(t != nullptr);
  return core::ToTorch(t->view).clone();
}

double MaxDiff(const torch::Tensor& a, const torch::Tensor& b) {
  REQUIRE(a.sizes() == b.sizes());
  return (a - b).abs().max().item<double>();
}

void CheckParity(const core::Checkpoint& ckpt, const std::string& io_file) {
  core::ClipModel model(ckpt.config);
  core::LoadWeights(model, ckpt.tensors);
  model->eval();
  torch::NoGradGuard no_grad;
  auto io = core::SafetensorsFile::Open(DataFile(io_file));
  auto image_features = model->EncodeImage(Io(io, "image"));
  auto text_features = model->EncodeText(Io(io, "tokens").to(torch::kLong));
  auto logits = model->LogitsPerImage(image_features, text_features);
  CHECK(MaxDiff(image_features, Io(io, "image_features")) < 1e-5);
  CHECK(MaxDiff(text_features, Io(io, "text_features")) < 1e-5);
  CHECK(MaxDiff(logits, Io(io, "logits_per_image")) < 1e-4);
  // Logits are exp(logit_scale) (about 14) times cosines: 1e-5 relative.
  CHECK(MaxDiff(logits / model->logit_scale.exp(), Io(io, "logits_per_image") / model->logit_scale.exp()) < 1e-5);
}

}  // namespace

TEST_CASE("features and logits match OpenAI's CLIP code", "[model][parity]") {
  CheckParity(core::LoadCheckpoint(DataFile("openai_clip_tiny.safetensors"), {}), "openai_clip_tiny_io.safetensors");
}

TEST_CASE("features and logits match Hugging Face's CLIPModel", "[model][parity]") {
  CheckParity(core::LoadCheckpoint(DataFile("hf_clip_tiny.safetensors"),
                                   core::ConfigSource{DataFile("hf_clip_tiny_config.json"), std::nullopt}),
              "hf_clip_tiny_io.safetensors");
}

TEST_CASE("parity holds for checkpoints in every format fomo reads", "[model][parity][formats]") {
  core::ConfigSource openai_config;
  openai_config.file = DataFile("openai_clip_tiny_config.json");
  for (const char* file : {"openai_ordereddict.pt", "openclip_epoch_3.pt", "openai_jit.pt", "openclip_dir"}) {
    INFO(file);
    CheckParity(core::LoadCheckpoint(DataFile("checkpoints") / file, openai_config), "openai_clip_tiny_io.safetensors");
  }
  for (const char* dir : {"hf_bin", "hf_sharded"}) {
    INFO(dir);
    CheckParity(core::LoadCheckpoint(DataFile("checkpoints") / dir, {}), "hf_clip_tiny_io.safetensors");
  }
}

TEST_CASE("parameter names are the store's canonical tensor names", "[model]") {
  auto ckpt = core::LoadCheckpoint(DataFile("openai_clip_tiny.safetensors"), {});
  core::ClipModel model(ckpt.config);
  std::vector<std::string> names;
  for (const auto& p : model->named_parameters()) names.push_back(p.key());
  std::vector<std::string> expected;
  for (const auto& [name, shape] : ckpt.config.ExpectedTensors()) expected.push_back(name);
  std::sort(names.begin(), names.end());
  std::sort(expected.begin(), expected.end());
  REQUIRE(names == expected);
  // The linear maps a method may wrap are reachable by name.
  auto modules = model->named_modules();
  REQUIRE(modules.contains("visual.transformer.resblocks.0.attn.out_proj"));
  REQUIRE(modules.contains("transformer.resblocks.1.mlp.c_fc"));
}

TEST_CASE("loading weights of the wrong shape is refused", "[model]") {
  auto ckpt = core::LoadCheckpoint(DataFile("openai_clip_tiny.safetensors"), {});
  core::ClipConfig other = ckpt.config;
  other.embed_dim = 16;
  core::ClipModel model(other);
  REQUIRE_THROWS_WITH(core::LoadWeights(model, ckpt.tensors), HasSubstr("shape"));
}

TEST_CASE("zero-shot scoring on features with known answers", "[eval]") {
  // Three classes along the axes; images point near their class, one near the wrong one.
  std::vector<float> classes = {1, 0, 0, 0, 1, 0, 0, 0, 1};
  std::vector<float> images = {0.9f, 0.1f, 0, 0, 1, 0, 0.2f, 0, 0.9f, 0.8f, 0, 0.1f};
  std::vector<int> labels = {0, 1, 2, 1};
  auto r = core::ScoreZeroShot(images, classes, 3, labels);
  REQUIRE(r.samples == 4);
  REQUIRE(r.top1 == Approx(75.0));
  REQUIRE(r.top5 == Approx(100.0));  // only 3 classes: top-5 holds them all
}

TEST_CASE("retrieval recall on features with known answers", "[eval]") {
  // Image 0 matches caption 0; image 1 is closer to caption 0 than to its own.
  std::vector<float> images = {1, 0, 0.95f, 0.31f, 0, 1};
  std::vector<float> texts = {1, 0, 0.6f, 0.8f, 0, 1};
  auto r = core::ScoreRetrieval(images, texts, 2);
  REQUIRE(r.image_to_text[0] == Approx(200.0 / 3));  // image 1 ranks caption 0 above its own
  REQUIRE(r.image_to_text[1] == Approx(100.0));
  REQUIRE(r.text_to_image[0] == Approx(100.0));      // every caption still finds its image first
}

TEST_CASE("the train transform crops at random, reproducibly from a seed", "[preprocess]") {
  core::Image image{30, 40, 3, {}};
  for (int64_t i = 0; i < 30 * 40 * 3; ++i) image.pixels.push_back(static_cast<uint8_t>(i * 7 % 251));
  std::mt19937_64 a(5), b(5), c(6);
  auto x = core::TrainTransform(image, 28, a);
  REQUIRE(x.sizes() == torch::IntArrayRef({1, 3, 28, 28}));
  REQUIRE(torch::equal(x, core::TrainTransform(image, 28, b)));
  REQUIRE_FALSE(torch::equal(x, core::TrainTransform(image, 28, c)));
  // The eval transform of a 28x28 grey image is the plain normalisation.
  core::Image grey{28, 28, 1, std::vector<uint8_t>(28 * 28, 255)};
  auto y = core::PreprocessImages({grey}, 0, 1, 28);
  REQUIRE(y.sizes() == torch::IntArrayRef({1, 3, 28, 28}));
  REQUIRE(y[0][0][0][0].item<float>() == Approx((1.0 - 0.48145466) / 0.26862954).epsilon(1e-5));
}
