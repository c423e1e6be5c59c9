// fomo embed gives the reference implementations' features for a stored version.
#include <cmath>
#include <cstring>

#include <nlohmann/json.hpp>

#include "catch.hpp"
#include "core/safetensors.hpp"
#include "test_support.hpp"

using namespace fomo::test;

namespace {

std::vector<float> Floats(const fomo::core::SafetensorsFile& file, const std::string& name) {
  const fomo::NamedTensor* t = file.Find(name);
  REQUIRE(t != nullptr);
  std::vector<float> out(t->view.size / 4);
  std::memcpy(out.data(), t->view.data, t->view.size);
  return out;
}

double MaxDiff(const std::vector<float>& a, const std::vector<float>& b) {
  REQUIRE(a.size() == b.size());
  double worst = 0;
  for (size_t i = 0; i < a.size(); ++i) worst = std::max(worst, std::fabs(double(a[i]) - b[i]));
  return worst;
}

}  // namespace

TEST_CASE("embed reproduces the reference features from a stored version", "[cli][embed]") {
  struct Case {
    std::vector<std::string> init;
    const char* io;
  };
  const std::vector<Case> cases = {
      {{"init", "--from", DataFile("openai_clip_tiny.safetensors").string()}, "openai_clip_tiny_io.safetensors"},
      {{"init", "--from", DataFile("hf_clip_tiny.safetensors").string(), "--config",
        DataFile("hf_clip_tiny_config.json").string()},
       "hf_clip_tiny_io.safetensors"},
  };
  for (const auto& c : cases) {
    INFO(c.io);
    TempDir dir;
    REQUIRE(RunFomo(c.init, dir.path()).exit_code == 0);
    fs::path out = dir / "out.safetensors";
    RunResult r = RunFomo({"embed", "--input", DataFile(c.io).string(), "--raw", "-o", out.string()}, dir.path());
    INFO(r.err);
    REQUIRE(r.exit_code == 0);
    auto got = fomo::core::SafetensorsFile::Open(out);
    auto want = fomo::core::SafetensorsFile::Open(DataFile(c.io));
    REQUIRE(MaxDiff(Floats(got, "image_features"), Floats(want, "image_features")) < 1e-5);
    REQUIRE(MaxDiff(Floats(got, "text_features"), Floats(want, "text_features")) < 1e-5);
    REQUIRE(MaxDiff(Floats(got, "logits_per_image"), Floats(want, "logits_per_image")) < 1e-4);
  }
}

TEST_CASE("embed tokenizes texts and normalises by default", "[cli][embed]") {
  // The reference checkpoints have a 1000-token vocabulary; texts need CLIP's 49408.
  TempDir dir;
  fs::path base = dir / "tiny.safetensors";
  REQUIRE(RunGen({"base", "--shape", "tiny", "-o", base.string()}).exit_code == 0);
  REQUIRE(RunFomo({"init", "--from", base.string(), "-q", "--no-eval"}, dir.path()).exit_code == 0);
  RunResult r = RunFomo({"embed", "--text", "a photo of a dog.", "--text", "a cat", "--json"}, dir.path());
  INFO(r.err);
  REQUIRE(r.exit_code == 0);
  auto j = nlohmann::json::parse(r.out);
  REQUIRE(j["text_features"].size() == 2);
  for (const auto& row : j["text_features"]) {
    double norm = 0;
    for (const auto& x : row) norm += x.get<double>() * x.get<double>();
    REQUIRE(std::sqrt(norm) == Approx(1.0).epsilon(1e-5));
  }
  REQUIRE_FALSE(j.contains("image_features"));
  // Token ids beyond a model's vocabulary are refused, not read out of bounds.
  TempDir small;
  InitReference(small.path());
  r = RunFomo({"embed", "--text", "a photo of a dog."}, small.path());
  REQUIRE(r.exit_code == 1);
  REQUIRE_THAT(r.err, HasSubstr("token ids must lie in [0, 1000)"));
}

TEST_CASE("embed refuses bad inputs", "[cli][embed]") {
  TempDir dir;
  InitReference(dir.path());
  REQUIRE(RunFomo({"embed"}, dir.path()).exit_code == 2);
  RunResult r = RunFomo({"embed", "--input", DataFile("openai_clip_tiny.safetensors").string()}, dir.path());
  REQUIRE(r.exit_code == 1);
  REQUIRE_THAT(r.err, HasSubstr("no tensor named image or tokens"));
  r = RunFomo({"embed", "--input", (dir / "missing.safetensors").string()}, dir.path());
  REQUIRE(r.exit_code == 1);
  REQUIRE_THAT(r.err, HasSubstr("no such file"));
}

TEST_CASE("embed takes JPEG and PNG files through CLIP's preprocessing", "[cli][embed]") {
  TempDir dir;
  REQUIRE(RunFomo({"init", "--arch", "tiny", "-q", "--no-eval"}, dir.path()).exit_code == 0);
  WritePng(dir / "a.png", 40, 30, 1, 20);
  WriteJpeg(dir / "b.jpg", 28, 28, 220);
  RunResult r = RunFomo({"embed", "--images", (dir / "a.png").string(), (dir / "b.jpg").string(), "--text", "a cat",
                         "--json"},
                        dir.path());
  INFO(r.err);
  REQUIRE(r.exit_code == 0);
  auto j = nlohmann::json::parse(r.out);
  REQUIRE(j["image_features"].size() == 2);
  REQUIRE(j["logits_per_image"].size() == 2);
  REQUIRE(j["logits_per_image"][0].size() == 1);
  WriteFile(dir / "bad.jpg", "not an image");
  r = RunFomo({"embed", "--images", (dir / "bad.jpg").string()}, dir.path());
  REQUIRE(r.exit_code == 1);
  REQUIRE_THAT(r.err, HasSubstr("neither JPEG nor PNG"));
}
