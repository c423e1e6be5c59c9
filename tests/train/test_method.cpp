// Which tensors each method trains, freeze patterns, adapter sites and option
// checks, on the tiny config (no LibTorch).
#include "catch.hpp"
#include "core/arch.hpp"
#include "storage/error.hpp"
#include "train/method.hpp"

using namespace fomo;
using namespace fomo::train;

namespace {

std::vector<std::string> Trained(const MethodOptions& o) {
  std::vector<std::string> names;
  for (const auto& [name, shape] : core::BuiltinArch("tiny")->ExpectedTensors()) {
    if (TrainsTensor(o, name)) names.push_back(name);
  }
  return names;
}

bool Contains(const std::vector<std::string>& names, const std::string& name) {
  return std::find(names.begin(), names.end(), name) != names.end();
}

}  // namespace

TEST_CASE("each method trains the tensors it names", "[train][method]") {
  const auto all = core::BuiltinArch("tiny")->ExpectedTensors();
  CHECK(Trained(MethodOptions::Named("full")).size() == all.size());
  for (const auto& n : Trained(MethodOptions::Named("locked-image"))) CHECK(n.rfind("visual.", 0) != 0);
  CHECK(Contains(Trained(MethodOptions::Named("locked-image")), "logit_scale"));
  for (const auto& n : Trained(MethodOptions::Named("locked-text"))) CHECK(n.rfind("visual.", 0) == 0);
  for (const auto& n : Trained(MethodOptions::Named("bitfit"))) CHECK(n.find("bias") != std::string::npos);
  CHECK(Contains(Trained(MethodOptions::Named("bitfit")), "visual.transformer.resblocks.0.attn.in_proj_bias"));
  for (const auto& n : Trained(MethodOptions::Named("lnfit"))) CHECK(n.find("ln_") != std::string::npos);
  CHECK(Contains(Trained(MethodOptions::Named("lnfit")), "ln_final.weight"));
  for (const char* adapter : {"lora", "dora", "vera", "ia3"}) CHECK(Trained(MethodOptions::Named(adapter)).empty());
  for (const char* full : {"galore", "ewc", "si"}) CHECK(Trained(MethodOptions::Named(full)).size() == all.size());
  // The temperature: frozen for PEFT and selective methods unless asked.
  MethodOptions lora = MethodOptions::Named("lora");
  CHECK_FALSE(lora.TrainsTemperature());
  lora.tune_temperature = true;
  CHECK(Contains(Trained(lora), "logit_scale"));
  CHECK_FALSE(Contains(Trained(MethodOptions::Named("locked-text")), "logit_scale"));
}

TEST_CASE("freeze patterns pick blocks by range, modules by kind, or names by glob", "[train][method]") {
  CHECK(FreezeMatches("vision:0-1", "visual.transformer.resblocks.1.mlp.c_fc.weight"));
  CHECK_FALSE(FreezeMatches("vision:0-1", "visual.transformer.resblocks.2.mlp.c_fc.weight"));
  CHECK_FALSE(FreezeMatches("vision:0-1", "transformer.resblocks.0.mlp.c_fc.weight"));
  CHECK(FreezeMatches("text:3", "transformer.resblocks.3.ln_1.weight"));
  CHECK(FreezeMatches("attention", "transformer.resblocks.0.attn.in_proj_bias"));
  CHECK(FreezeMatches("vision.mlp", "visual.transformer.resblocks.0.mlp.c_proj.bias"));
  CHECK_FALSE(FreezeMatches("vision.mlp", "transformer.resblocks.0.mlp.c_proj.bias"));
  CHECK(FreezeMatches("embeddings", "token_embedding.weight"));
  CHECK(FreezeMatches("embeddings", "visual.conv1.weight"));
  CHECK(FreezeMatches("norms", "visual.ln_pre.bias"));
  CHECK(FreezeMatches("projections", "text_projection"));
  CHECK(FreezeMatches("temperature", "logit_scale"));
  CHECK(FreezeMatches("visual.transformer.resblocks.*.mlp.*", "visual.transformer.resblocks.1.mlp.c_fc.bias"));
  CHECK(FreezeMatches("text", "ln_final.weight"));

  MethodOptions o = MethodOptions::Named("freeze");
  o.freeze = {"vision", "attention"};
  for (const auto& n : Trained(o)) {
    CHECK(n.rfind("visual.", 0) != 0);
    CHECK(n.find(".attn.") == std::string::npos);
  }
  CHECK(Contains(Trained(o), "transformer.resblocks.0.mlp.c_fc.weight"));
  o.freeze = {"no_such_tensor*"};
  CHECK_THROWS_AS(CheckFreezePatterns(*core::BuiltinArch("tiny"), o), UsageError);
}

TEST_CASE("adapter sites cover the chosen targets of every block", "[train][method]") {
  const auto config = *core::BuiltinArch("tiny");
  const int blocks = config.vision.layers + config.text.layers;
  MethodOptions lora = MethodOptions::Named("lora");
  CHECK(AdapterSites(config, lora).size() == static_cast<size_t>(6 * blocks));
  lora.targets = {"q", "v"};
  auto sites = AdapterSites(config, lora);
  REQUIRE(sites.size() == static_cast<size_t>(2 * blocks));
  CHECK(sites[1].target == "v");
  CHECK(sites[1].row_begin == 2 * config.vision.width);
  CHECK(sites[1].row_end == 3 * config.vision.width);
  // IA3: keys, values and the MLP's inner activations.
  auto ia3 = AdapterSites(config, MethodOptions::Named("ia3"));
  CHECK(ia3.size() == static_cast<size_t>(3 * blocks));
  CHECK(ia3[2].target == "mlp-inner");
  CHECK(TrainedParameterCount(config, MethodOptions::Named("ia3")) ==
        static_cast<int64_t>(config.vision.layers) * (2 * config.vision.width + config.vision.mlp_dim) +
            static_cast<int64_t>(config.text.layers) * (2 * config.text.width + config.text.mlp_dim));
  // LoRA: r (in + out) per adapted map.
  lora.targets = {"out"};
  lora.rank = 2;
  CHECK(TrainedParameterCount(config, lora) ==
        2 * (2 * config.vision.width) * config.vision.layers + 2 * (2 * config.text.width) * config.text.layers);
}

TEST_CASE("method options are checked and round-trip through the recipe", "[train][method]") {
  CHECK_THROWS_AS(ParseMethod("adapter"), UsageError);
  MethodOptions o = MethodOptions::Named("lora");
  o.rank = 0;
  CHECK_THROWS_AS(o.Validate(), UsageError);
  o = MethodOptions::Named("lora");
  o.targets = {"q", "gate"};
  CHECK_THROWS_AS(o.Validate(), UsageError);
  CHECK_THROWS_AS(MethodOptions::Named("freeze").Validate(), UsageError);  // nothing to freeze
  o = MethodOptions::Named("galore");
  o.galore_rank = 16;
  o.galore_gap = 50;
  MethodOptions back = MethodOptions::FromJson(o.ToJson());
  CHECK(back.method == Method::kGalore);
  CHECK(back.galore_rank == 16);
  CHECK(back.galore_gap == 50);
  CHECK(MethodOptions::FromJson(nlohmann::json("bitfit")).method == Method::kBitfit);  // older recipes
}
