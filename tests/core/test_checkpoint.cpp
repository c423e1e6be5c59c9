#include "catch.hpp"
#include "core/checkpoint.hpp"
#include "storage/error.hpp"
#include "storage/versions.hpp"
#include "test_support.hpp"

using namespace fomo;
using fomo::test::DataFile;
using fomo::test::TempDir;
using fomo::test::TensorBytes;

namespace {

std::map<std::string, std::string> CanonicalBytes(const core::Checkpoint& ckpt) {
  std::map<std::string, std::string> out;
  for (const auto& t : ckpt.tensors) {
    out[t.name] = std::string(reinterpret_cast<const char*>(t.view.data), t.view.size);
  }
  return out;
}

// Imports ckpt into a fresh store and exports it in layout to out.
void StoreAndExport(const core::Checkpoint& ckpt, core::Layout layout, const fs::path& root,
                    const fs::path& out) {
  ObjectStore store(root / "objects", StoreOptions{});
  Manifest manifest;
  for (const auto& t : ckpt.tensors) {
    ObjectId id = TensorId(t.view);
    PutResult r = store.Put(id, t.view, std::nullopt);
    manifest.tensors.push_back({t.name, id, t.view.dtype, t.view.shape, r.encoding, r.stored_size});
  }
  core::ExportOptions options;
  options.layout = layout;
  core::ExportCheckpoint(store, manifest, ckpt.config, out, options);
}

}  // namespace

TEST_CASE("both reference layouts import with the right config", "[checkpoint]") {
  auto openai = core::LoadCheckpoint(DataFile("openai_clip_tiny.safetensors"), {});
  REQUIRE(openai.layout == core::Layout::kOpenAI);
  REQUIRE(openai.config_source == "metadata");
  REQUIRE(openai.config.embed_dim == 32);
  REQUIRE(openai.config.vision.width == 64);
  REQUIRE(openai.config.text.heads == 4);
  REQUIRE(openai.config.image_size == 32);

  auto hf = core::LoadCheckpoint(DataFile("hf_clip_tiny.safetensors"),
                                 core::ConfigSource{DataFile("hf_clip_tiny_config.json"), std::nullopt});
  REQUIRE(hf.layout == core::Layout::kHuggingFace);
  REQUIRE(hf.config.vision.heads == 4);
  REQUIRE(hf.config.quick_gelu);
  REQUIRE(hf.tensors.size() == hf.config.ExpectedTensors().size());

  // The OpenCLIP model config beside the OpenAI checkpoint says the same thing.
  auto from_json = core::ClipConfig::FromJsonText(fomo::test::ReadFile(DataFile("openai_clip_tiny_config.json")),
                                                  "openai_clip_tiny_config.json");
  REQUIRE(from_json == openai.config);
}

TEST_CASE("a checkpoint without metadata gets its sizes from shapes", "[checkpoint]") {
  core::ConfigSource heads;
  heads.heads = core::HeadCounts{4, 4};
  auto hf = core::LoadCheckpoint(DataFile("hf_clip_tiny.safetensors"), heads);
  REQUIRE(hf.config_source == "shapes");
  REQUIRE(hf.provenance.dimensions == "tensor shapes");
  REQUIRE(hf.config.vision.layers == 2);
  REQUIRE(hf.config.text.width == 48);
  REQUIRE(hf.config.embed_dim == 32);
  REQUIRE(hf.config.image_size == 32);
}

TEST_CASE("import, export in both layouts and re-import are bit-exact", "[checkpoint]") {
  struct Case {
    const char* file;
    std::optional<fs::path> config;
  };
  for (const Case& c : {Case{"openai_clip_tiny.safetensors", std::nullopt},
                        Case{"hf_clip_tiny.safetensors", DataFile("hf_clip_tiny_config.json")}}) {
    INFO(c.file);
    TempDir dir;
    auto original = core::LoadCheckpoint(DataFile(c.file), core::ConfigSource{c.config, std::nullopt});
    auto canonical = CanonicalBytes(original);
    for (core::Layout layout : {core::Layout::kOpenAI, core::Layout::kHuggingFace}) {
      fs::path out = dir / (std::string(core::LayoutName(layout)) + ".safetensors");
      StoreAndExport(original, layout, dir.path(), out);
      // Exports carry their config: no config file needed to read them back.
      auto back = core::LoadCheckpoint(out, {});
      REQUIRE(back.config_source == "metadata");
      REQUIRE(back.config == original.config);
      REQUIRE(back.layout == layout);
      REQUIRE(CanonicalBytes(back) == canonical);
      // Exporting in the layout of the source gives the source's tensors byte for byte.
      if (layout == original.layout) REQUIRE(TensorBytes(out) == TensorBytes(DataFile(c.file)));
    }
  }
}

TEST_CASE("checkpoints that do not fit the config are refused", "[checkpoint]") {
  TempDir dir;
  auto ckpt = core::LoadCheckpoint(DataFile("openai_clip_tiny.safetensors"), {});
  SECTION("missing tensor") {
    std::vector<NamedTensor> fewer(ckpt.tensors.begin() + 1, ckpt.tensors.end());
    core::WriteSafetensors(dir / "x.safetensors", fewer, {});
    REQUIRE_THROWS_WITH(core::LoadCheckpoint(dir / "x.safetensors", core::ConfigSource{std::nullopt, ckpt.config}),
                        HasSubstr("missing"));
  }
  SECTION("wrong shape") {
    auto tensors = ckpt.tensors;
    for (auto& t : tensors) {
      if (t.name == "visual.proj") t.view.shape = {32, 64};
    }
    core::WriteSafetensors(dir / "x.safetensors", tensors, {});
    REQUIRE_THROWS_WITH(core::LoadCheckpoint(dir / "x.safetensors", core::ConfigSource{std::nullopt, ckpt.config}),
                        HasSubstr("visual.proj") && HasSubstr("shape"));
  }
  SECTION("extra tensor") {
    auto tensors = ckpt.tensors;
    tensors.push_back({"visual.extra", tensors.front().view});
    core::WriteSafetensors(dir / "x.safetensors", tensors, {});
    REQUIRE_THROWS_WITH(core::LoadCheckpoint(dir / "x.safetensors", core::ConfigSource{std::nullopt, ckpt.config}),
                        HasSubstr("unexpected tensor 'visual.extra'"));
  }
  SECTION("not a CLIP state dict") {
    Tensor t = fomo::test::RandomF32({2}, 1);
    core::WriteSafetensors(dir / "x.safetensors", {{"encoder.weight", t.view()}}, {});
    REQUIRE_THROWS_WITH(core::LoadCheckpoint(dir / "x.safetensors", {}), HasSubstr("not a CLIP state dict"));
  }
  SECTION("malformed config file") {
    fomo::test::WriteFile(dir / "c.json", "{\"vision_cfg\": ");
    REQUIRE_THROWS_WITH(core::LoadCheckpoint(DataFile("openai_clip_tiny.safetensors"),
                                             core::ConfigSource{dir / "c.json", std::nullopt}),
                        HasSubstr("not valid JSON"));
  }
}
