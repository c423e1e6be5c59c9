// Checkpoints as PyTorch, OpenAI, OpenCLIP and Hugging Face distribute them
// (tests/data/checkpoints, made by tests/data/make_checkpoints.py from the
// reference safetensors) import to exactly the reference weights, with the right
// config, and hostile or unreadable ones are refused.
#include <cstdio>

#include <nlohmann/json.hpp>

#include "catch.hpp"
#include "core/checkpoint.hpp"
#include "core/model_directory.hpp"
#include "core/weight_dtype.hpp"
#include "storage/error.hpp"
#include "test_support.hpp"

using namespace fomo;
using fomo::test::DataFile;
using fomo::test::TempDir;

namespace {

fs::path Fixture(const std::string& name) { return DataFile("checkpoints") / name; }

core::ConfigSource WithConfig(const std::string& file) {
  core::ConfigSource s;
  s.file = DataFile(file);
  return s;
}

std::map<std::string, std::string> CanonicalBytes(const core::Checkpoint& ckpt) {
  std::map<std::string, std::string> out;
  for (const auto& t : ckpt.tensors) {
    out[t.name] = std::string(DtypeName(t.view.dtype)) + ShapeString(t.view.shape) +
                  std::string(reinterpret_cast<const char*>(t.view.data), t.view.size);
  }
  return out;
}

const core::Checkpoint& OpenAiReference() {
  static const core::Checkpoint ckpt = core::LoadCheckpoint(DataFile("openai_clip_tiny.safetensors"), {});
  return ckpt;
}

const core::Checkpoint& HfReference() {
  static const core::Checkpoint ckpt =
      core::LoadCheckpoint(DataFile("hf_clip_tiny.safetensors"), WithConfig("hf_clip_tiny_config.json"));
  return ckpt;
}

bool HasNote(const core::Checkpoint& ckpt, const std::string& text) {
  for (const auto& n : ckpt.notes) {
    if (n.find(text) != std::string::npos) return true;
  }
  return false;
}

}  // namespace

TEST_CASE("PyTorch files import to the reference weights, bit for bit", "[checkpoint][formats]") {
  for (const char* file : {"openai_state_dict.pt", "openai_ordereddict.pt", "openclip_epoch_3.pt", "openai_jit.pt"}) {
    INFO(file);
    auto ckpt = core::LoadCheckpoint(Fixture(file), WithConfig("openai_clip_tiny_config.json"));
    REQUIRE(ckpt.layout == core::Layout::kOpenAI);
    REQUIRE(ckpt.config == OpenAiReference().config);
    REQUIRE(CanonicalBytes(ckpt) == CanonicalBytes(OpenAiReference()));
  }
}

TEST_CASE("what a PyTorch file held is said: the entry, DDP prefixes, TorchScript", "[checkpoint][formats]") {
  auto epoch = core::LoadCheckpoint(Fixture("openclip_epoch_3.pt"), WithConfig("openai_clip_tiny_config.json"));
  REQUIRE(HasNote(epoch, "'state_dict' entry"));
  REQUIRE(HasNote(epoch, "stripped the 'module.' prefix (DistributedDataParallel) from 62 tensors"));
  REQUIRE(epoch.kind == "PyTorch file");
  auto jit = core::LoadCheckpoint(Fixture("openai_jit.pt"), WithConfig("openai_clip_tiny_config.json"));
  REQUIRE(jit.kind == "TorchScript archive");
}

TEST_CASE("a TorchScript archive without a config: shapes, attributes and OpenAI's head rule", "[checkpoint][formats]") {
  auto jit = core::LoadCheckpoint(Fixture("openai_jit.pt"), {});
  REQUIRE(jit.config_source == "shapes");
  REQUIRE(jit.provenance.dimensions == "tensor shapes and TorchScript attributes");
  REQUIRE_THAT(jit.provenance.heads, HasSubstr("width / 64"));
  REQUIRE(jit.config.image_size == 32);
  REQUIRE(jit.config.context_length == 77);
  REQUIRE(jit.config.vocab_size == 1000);
  REQUIRE(jit.config.vision.heads == 1);  // 64 / 64
  REQUIRE(CanonicalBytes(jit) == CanonicalBytes(OpenAiReference()));
}

TEST_CASE("Hugging Face directories, pytorch_model.bin and sharded checkpoints import", "[checkpoint][formats]") {
  for (const fs::path& path : {Fixture("hf_bin"), Fixture("hf_sharded"), Fixture("hf_sharded/model.safetensors.index.json"),
                               Fixture("hf_sharded/model-00002-of-00002.safetensors")}) {
    INFO(path.string());
    auto ckpt = core::LoadCheckpoint(path, {});
    REQUIRE(ckpt.layout == core::Layout::kHuggingFace);
    REQUIRE(ckpt.config_source == "config.json beside the checkpoint");
    REQUIRE(ckpt.config == HfReference().config);
    REQUIRE(ckpt.config.text.heads == 4);
    REQUIRE(ckpt.config.vision.heads == 4);
    REQUIRE(CanonicalBytes(ckpt) == CanonicalBytes(HfReference()));
  }
  REQUIRE(core::LoadCheckpoint(Fixture("hf_sharded"), {}).kind == "Hugging Face directory, 2 shards");
}

TEST_CASE("an OpenCLIP directory imports with its open_clip_config.json", "[checkpoint][formats]") {
  auto ckpt = core::LoadCheckpoint(Fixture("openclip_dir"), {});
  REQUIRE(ckpt.kind == "OpenCLIP directory");
  REQUIRE(ckpt.config_source == "open_clip_config.json beside the checkpoint");
  REQUIRE(ckpt.config == OpenAiReference().config);
  REQUIRE(CanonicalBytes(ckpt) == CanonicalBytes(OpenAiReference()));
  REQUIRE(ckpt.config.source_format == "openclip");
}

TEST_CASE("head counts are never guessed outside the OpenAI layout", "[checkpoint][config]") {
  // The Hugging Face state dict alone: 1 head would be a different model (it has 4).
  REQUIRE_THROWS_WITH(core::LoadCheckpoint(Fixture("hf_alone.safetensors"), {}),
                      HasSubstr("does not show its attention head counts") &&
                          HasSubstr("--config FILE") && HasSubstr("--heads N"));
  SECTION("--heads gives them") {
    core::ConfigSource s;
    s.heads = core::ParseHeadCounts("4");
    auto ckpt = core::LoadCheckpoint(Fixture("hf_alone.safetensors"), s);
    REQUIRE(ckpt.config == HfReference().config);
    REQUIRE(ckpt.provenance.heads == "--heads");
    REQUIRE_THAT(ckpt.provenance.activation, HasSubstr("Hugging Face layout's default"));
  }
  SECTION("a config.json beside the file gives them") {
    TempDir dir;
    fs::copy_file(Fixture("hf_alone.safetensors"), dir / "model.safetensors");
    fs::copy_file(DataFile("hf_clip_tiny_config.json"), dir / "config.json");
    auto ckpt = core::LoadCheckpoint(dir / "model.safetensors", {});
    REQUIRE(ckpt.config == HfReference().config);
    REQUIRE(ckpt.provenance.heads == "config.json beside the checkpoint");
  }
  SECTION("--heads that contradict the config are refused") {
    core::ConfigSource s = WithConfig("hf_clip_tiny_config.json");
    s.heads = core::ParseHeadCounts("8,8");
    REQUIRE_THROWS_WITH(core::LoadCheckpoint(Fixture("hf_alone.safetensors"), s),
                        HasSubstr("contradicts --config"));
  }
  REQUIRE_THROWS_AS(core::ParseHeadCounts("four"), UsageError);
  REQUIRE_THROWS_AS(core::ParseHeadCounts("0"), UsageError);
  REQUIRE(core::ParseHeadCounts("12,8").text == 8);
  REQUIRE_THROWS_AS(core::ParseActivation("relu"), UsageError);
}

TEST_CASE("a config.json of another program beside a checkpoint is ignored, said so", "[checkpoint][config]") {
  TempDir dir;
  fs::copy_file(DataFile("openai_clip_tiny.safetensors"), dir / "w.safetensors");
  fomo::test::WriteFile(dir / "config.json", R"({"learning_rate": 0.1})");
  auto ckpt = core::LoadCheckpoint(dir / "w.safetensors", {});
  REQUIRE(ckpt.config == OpenAiReference().config);
  REQUIRE(HasNote(ckpt, "not a CLIP config"));
  fomo::test::WriteFile(dir / "config.json", R"({"model_type": "clip", )");
  REQUIRE_THROWS_WITH(core::LoadCheckpoint(dir / "w.safetensors", {}), HasSubstr("not valid JSON"));
}

TEST_CASE("configs that describe another model than fomo's CLIP are refused", "[checkpoint][config]") {
  auto hf = nlohmann::json::parse(fomo::test::ReadFile(DataFile("hf_clip_tiny_config.json")));
  hf["vision_config"]["layer_norm_eps"] = 1e-6;
  REQUIRE_THROWS_WITH(core::ClipConfig::FromJsonText(hf.dump(), "config.json"),
                      HasSubstr("'layer_norm_eps' is 1e-06"));
  auto oc = nlohmann::json::parse(fomo::test::ReadFile(DataFile("openai_clip_tiny_config.json")));
  oc["text_cfg"]["hf_model_name"] = "roberta-base";
  REQUIRE_THROWS_WITH(core::ClipConfig::FromJsonText(oc.dump(), "m.json"), HasSubstr("hf_model_name"));
  oc["text_cfg"].erase("hf_model_name");
  oc["vision_cfg"]["attentional_pool"] = true;
  REQUIRE_THROWS_WITH(core::ClipConfig::FromJsonText(oc.dump(), "m.json"), HasSubstr("attentional_pool"));
}

TEST_CASE("every field of a Hugging Face config.json is kept and written back", "[checkpoint][config]") {
  auto ckpt = core::LoadCheckpoint(Fixture("hf_bin"), {});
  REQUIRE(ckpt.config.source_format == "hf");
  // Through the stored form (config.json in the version) and back.
  auto stored = core::ClipConfig::FromJsonText(ckpt.config.ToJson(), "stored");
  REQUIRE(stored.ToJson() == ckpt.config.ToJson());
  auto out = nlohmann::json::parse(core::HuggingFaceConfigJson(stored, Dtype::kBF16));
  auto source = nlohmann::json::parse(fomo::test::ReadFile(DataFile("hf_clip_tiny_config.json")));
  REQUIRE(out["torch_dtype"] == "bfloat16");
  out.erase("torch_dtype");
  REQUIRE(out == source);
}

TEST_CASE("unreadable and hostile files are refused with what they are", "[checkpoint][formats]") {
  std::remove("/tmp/fomo-pickle-executed");
  REQUIRE_THROWS_WITH(core::LoadCheckpoint(Fixture("evil.pt"), {}),
                      HasSubstr("'posix.system'") && HasSubstr("nothing was executed"));
  REQUIRE_FALSE(fs::exists("/tmp/fomo-pickle-executed"));
  REQUIRE_THROWS_WITH(core::LoadCheckpoint(Fixture("openai_legacy.pt"), {}),
                      HasSubstr("legacy torch.save file"));
  TempDir dir;
  fomo::test::WriteFile(dir / "noise.bin", std::string(64, '\x17'));
  REQUIRE_THROWS_WITH(core::LoadCheckpoint(dir / "noise.bin", {}), HasSubstr("not a checkpoint fomo reads"));
  fomo::test::WriteFile(dir / "x.zip", std::string("PK\x03\x04", 4) + std::string(60, '\0'));
  REQUIRE_THROWS_WITH(core::LoadCheckpoint(dir / "x.zip", {}), HasSubstr("cannot read PyTorch file"));
  fs::create_directories(dir / "empty");
  REQUIRE_THROWS_WITH(core::LoadCheckpoint(dir / "empty", {}), HasSubstr("a directory without a model"));
  // A shard index pointing outside its directory is not followed.
  fs::create_directories(dir / "sharded");
  fomo::test::WriteFile(dir / "sharded/model.safetensors.index.json", R"({"weight_map": {"a": "../../etc/passwd"}})");
  REQUIRE_THROWS_WITH(core::LoadCheckpoint(dir / "sharded", {}), HasSubstr("not a file beside the index"));
  // One shard alone, without its index.
  fs::copy_file(Fixture("hf_sharded/model-00001-of-00002.safetensors"), dir / "model-00001-of-00002.safetensors");
  REQUIRE_THROWS_WITH(core::LoadCheckpoint(dir / "model-00001-of-00002.safetensors", {}),
                      HasSubstr("one shard of a checkpoint"));
}

TEST_CASE("floating-point conversion rounds to nearest even and round-trips exactly", "[checkpoint][dtype]") {
  const std::vector<float> values = {0.0f, -0.0f, 1.0f, -2.5f, 3.14159265f, 1e-8f, 65504.0f, 1e5f, 1.00390625f};
  std::vector<uint8_t> f16(values.size() * 2), bf16(values.size() * 2), back(values.size() * 4);
  auto bytes = reinterpret_cast<const uint8_t*>(values.data());
  core::ConvertFloats(bytes, Dtype::kF32, bf16.data(), Dtype::kBF16, values.size());
  core::ConvertFloats(bf16.data(), Dtype::kBF16, back.data(), Dtype::kF32, values.size());
  const float* b = reinterpret_cast<const float*>(back.data());
  REQUIRE(b[2] == 1.0f);
  REQUIRE(b[3] == -2.5f);
  REQUIRE(b[8] == 1.0f);  // 1 + 2^-8 is a tie between 1 and 1 + 2^-7: even wins
  core::ConvertFloats(bytes, Dtype::kF32, f16.data(), Dtype::kF16, values.size());
  core::ConvertFloats(f16.data(), Dtype::kF16, back.data(), Dtype::kF32, values.size());
  REQUIRE(b[6] == 65504.0f);
  REQUIRE(std::isinf(b[7]));  // beyond F16's range
  REQUIRE(b[8] == 1.00390625f);  // exact in F16
  REQUIRE(core::ParseWeightDtype("BF16", "--dtype") == Dtype::kBF16);
  REQUIRE(core::ParseWeightDtype("fp16", "--dtype") == Dtype::kF16);
  REQUIRE_THROWS_AS(core::ParseWeightDtype("int8", "--dtype"), UsageError);
}
