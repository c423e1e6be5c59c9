// fomo merge end to end on the tiny reference checkpoint and generated updates:
// parents, version, recipe, the merged numbers, self-merge bit-exactness, the
// fork branch when the line's tip is not merged, and bad options.
#include <cstring>

#include <nlohmann/json.hpp>

#include "catch.hpp"
#include "core/float_bits.hpp"
#include "test_support.hpp"

using namespace fomo::test;
using nlohmann::json;

namespace {

json Json(const RunResult& r) {
  INFO(r.err);
  REQUIRE(r.exit_code == 0);
  return json::parse(r.out);
}

// v1.0.0 the reference; v1.0.1 and v1.0.2 dense updates on top of each other.
void Setup(const TempDir& dir) {
  InitReference(dir.path());
  fs::path a = dir / "a.safetensors", b = dir / "b.safetensors";
  REQUIRE(RunGen({"update", DataFile("openai_clip_tiny.safetensors").string(), "-o", a.string(), "--kind", "dense",
                  "--seed", "1"}).exit_code == 0);
  REQUIRE(RunGen({"update", a.string(), "-o", b.string(), "--kind", "dense", "--seed", "2"}).exit_code == 0);
  REQUIRE(RunFomo({"commit", a.string(), "--no-eval", "-q"}, dir.path()).exit_code == 0);
  REQUIRE(RunFomo({"commit", b.string(), "--no-eval", "-q"}, dir.path()).exit_code == 0);
}

std::vector<float> Floats(const std::string& bytes) {
  std::vector<float> out(bytes.size() / 4);
  std::memcpy(out.data(), bytes.data(), bytes.size());
  return out;
}

std::map<std::string, std::string> Exported(const fs::path& dir, const std::string& rev) {
  fs::path out = dir / (rev + ".safetensors");
  REQUIRE(RunFomo({"export", rev, "-o", out.string(), "-q"}, dir).exit_code == 0);
  return TensorBytes(out);
}

}  // namespace

TEST_CASE("a linear merge averages the versions and has them all as parents", "[cli][merge]") {
  TempDir dir;
  Setup(dir);
  json merged = Json(RunFomo({"merge", "v1.0.2", "v1.0.1", "--weights", "3,1", "--no-eval", "--json"}, dir.path()));
  CHECK(merged["version"] == "1.1.0");
  auto v101 = Json(RunFomo({"show", "v1.0.1", "--json"}, dir.path()));
  auto v102 = Json(RunFomo({"show", "v1.0.2", "--json"}, dir.path()));
  CHECK(merged["parents"] == json::array({v102["commit"], v101["commit"]}));  // the line's tip first
  CHECK(merged["recipe"]["method"] == "linear");
  CHECK(merged["recipe"]["models"] == json::array({"v1.0.2", "v1.0.1"}));
  auto head = Json(RunFomo({"show", "--json"}, dir.path()));
  CHECK(head["version"] == "1.1.0");  // the line advanced

  auto a = Exported(dir.path(), "v1.0.2"), b = Exported(dir.path(), "v1.0.1"), m = Exported(dir.path(), "v1.1.0");
  for (const auto& [name, bytes] : m) {
    auto x = Floats(a[name]), y = Floats(b[name]), z = Floats(bytes);
    for (size_t i = 0; i < z.size(); ++i) {
      INFO(name << "[" << i << "]");
      REQUIRE(z[i] == static_cast<float>(0.75 * x[i] + 0.25 * y[i]));
    }
  }
}

TEST_CASE("merging a version with itself gives it back bit for bit", "[cli][merge]") {
  TempDir dir;
  Setup(dir);
  for (const char* method : {"linear", "task-arithmetic", "ties", "model-stock", "magmax"}) {
    INFO(method);
    RunResult r = RunFomo({"merge", "v1.0.2", "v1.0.2", "--method", method, "--no-eval", "-q"}, dir.path());
    INFO(r.err);
    REQUIRE(r.exit_code == 0);
    CHECK(Exported(dir.path(), "HEAD") == Exported(dir.path(), "v1.0.2"));
  }
  auto show = Json(RunFomo({"show", "--json"}, dir.path()));
  CHECK(show["storage"]["stored_bytes"] == 0);  // every tensor deduplicated
}

TEST_CASE("a task-vector merge finds its base, and a merge off the line gets its own branch", "[cli][merge]") {
  TempDir dir;
  Setup(dir);
  json merged = Json(RunFomo({"merge", "v1.0.0", "v1.0.1", "--method", "task-arithmetic", "--lambda", "0.5",
                              "--no-eval", "--json"},
                             dir.path()));
  CHECK(merged["recipe"]["base"] == "v1.0.0");  // the nearest common ancestor
  CHECK(merged["branches"] == json::array({"fork/v1.1.0"}));
  auto head = Json(RunFomo({"show", "--json"}, dir.path()));
  CHECK(head["version"] == "1.0.2");  // main did not move
  // theta_0 + 0.5 (tau_0 + tau_1) with tau_0 = 0: halfway from v1.0.0 to v1.0.1.
  auto base = Exported(dir.path(), "v1.0.0"), one = Exported(dir.path(), "v1.0.1"), m = Exported(dir.path(), "v1.1.0");
  auto x = Floats(base["visual.proj"]), y = Floats(one["visual.proj"]), z = Floats(m["visual.proj"]);
  for (size_t i = 0; i < z.size(); ++i) {
    REQUIRE(z[i] == static_cast<float>(static_cast<double>(x[i]) + 0.5 * (static_cast<double>(y[i]) - x[i])));
  }
}

TEST_CASE("bad merge options are refused and change nothing", "[cli][merge]") {
  TempDir dir;
  Setup(dir);
  auto before = RepositorySnapshot(dir.path());
  struct Case {
    std::vector<std::string> args;
    int code;
    const char* message;
  };
  const std::vector<Case> cases = {
      {{"merge", "v1.0.1", "v1.0.2", "--method", "avg"}, 2, "unknown merge method"},
      {{"merge", "v1.0.1", "v1.0.2", "--weights", "1"}, 2, "weights"},
      {{"merge", "v1.0.1", "v1.0.2", "--weights", "a,b"}, 2, "--weights"},
      {{"merge", "v1.0.0", "v1.0.1", "v1.0.2", "--method", "slerp"}, 2, "exactly two"},
      {{"merge", "v1.0.1"}, 2, "at least two"},
      {{"merge", "v1.0.1", "v9.9.9"}, 1, "unknown revision"},
      {{"merge", "v1.0.1", "v1.0.2", "--method", "ties", "--density", "0"}, 2, "--density"},
  };
  for (const auto& c : cases) {
    RunResult r = RunFomo(c.args, dir.path());
    INFO(r.err);
    CHECK(r.exit_code == c.code);
    CHECK_THAT(r.err, HasSubstr(c.message));
  }
  CHECK(RepositorySnapshot(dir.path()) == before);
}

TEST_CASE("a merge behind a failed --require gate goes to rejected/ and exits 3", "[cli][merge]") {
  TempDir dir;
  Setup(dir);
  // The reference model cannot read CLIP prompts, so nothing is measured and the
  // gate, which needs a measurement, fails closed.
  RunResult r = RunFomo({"merge", "v1.0.2", "v1.0.1", "--require", "retention >= parent.retention"}, dir.path());
  CHECK(r.exit_code == 3);
  CHECK_THAT(r.err, HasSubstr("not measured"));
  CHECK_THAT(r.err, HasSubstr("rejected/v1.1.0-rc.1"));
  auto head = Json(RunFomo({"show", "--json"}, dir.path()));
  CHECK(head["version"] == "1.0.2");
  auto kept = Json(RunFomo({"show", "rejected/v1.1.0-rc.1", "--json"}, dir.path()));
  CHECK(kept["kind"] == "merge");
  CHECK(kept["tags"].empty());
}

TEST_CASE("a recipe weights tensor groups differently", "[cli][merge]") {
  TempDir dir;
  Setup(dir);
  WriteFile(dir / "recipe.yaml",
            "method: linear\n"
            "models:\n"
            "  - model: v1.0.2\n"
            "    weight: 3\n"
            "  - model: v1.0.1\n"
            "    weight: 1\n"
            "overrides:\n"
            "  - pattern: 'visual.*'\n"
            "    weights: [1, 1]\n");
  json merged = Json(RunFomo({"merge", "--recipe", (dir / "recipe.yaml").string(), "--no-eval", "--json"}, dir.path()));
  CHECK(merged["recipe"]["overrides"][0]["pattern"] == "visual.*");
  auto a = Exported(dir.path(), "v1.0.2"), b = Exported(dir.path(), "v1.0.1"), m = Exported(dir.path(), "v1.1.0");
  auto check = [&](const std::string& name, double wa) {
    auto x = Floats(a[name]), y = Floats(b[name]), z = Floats(m[name]);
    for (size_t i = 0; i < z.size(); ++i) {
      INFO(name << "[" << i << "]");
      REQUIRE(z[i] == static_cast<float>(wa * x[i] + (1 - wa) * y[i]));
    }
  };
  check("visual.proj", 0.5);      // the override
  check("text_projection", 0.75);  // the recipe's weights

  // A recipe without overrides.
  WriteFile(dir / "plain.yaml", "method: linear\nmodels:\n  - model: v1.0.2\n    weight: 3\n  - model: v1.0.1\n    weight: 1\n");
  json plain = Json(RunFomo({"merge", "--recipe", (dir / "plain.yaml").string(), "--no-eval", "--json"}, dir.path()));
  auto p = Exported(dir.path(), plain["version"].get<std::string>());
  {
    auto x = Floats(a["visual.proj"]), y = Floats(b["visual.proj"]), z = Floats(p["visual.proj"]);
    for (size_t i = 0; i < z.size(); ++i) REQUIRE(z[i] == static_cast<float>(0.75 * x[i] + 0.25 * y[i]));
  }

  auto before = RepositorySnapshot(dir.path());
  WriteFile(dir / "bad.yaml", "method: linear\nmodels: [v1.0.1, v1.0.2]\nweigths: [1, 2]\n");
  RunResult bad = RunFomo({"merge", "--recipe", (dir / "bad.yaml").string()}, dir.path());
  CHECK(bad.exit_code == 1);
  CHECK_THAT(bad.err, HasSubstr("line 3: unknown key 'weigths'"));
  WriteFile(dir / "broken.yaml", "method: [linear\n");
  CHECK(RunFomo({"merge", "--recipe", (dir / "broken.yaml").string()}, dir.path()).exit_code == 1);
  CHECK(RunFomo({"merge", "v1.0.1", "--recipe", (dir / "recipe.yaml").string()}, dir.path()).exit_code == 2);
  CHECK(RepositorySnapshot(dir.path()) == before);
}

TEST_CASE("F16 and BF16 versions merge: one precision is kept, a mix gives F32", "[cli][merge]") {
  TempDir dir;
  InitReference(dir.path());
  fs::path bf = dir / "bf16.safetensors", half = dir / "f16.safetensors";
  const std::string reference = DataFile("openai_clip_tiny.safetensors").string();
  REQUIRE(RunGen({"update", reference, "-o", bf.string(), "--kind", "dense", "--seed", "1", "--dtype", "BF16"}).exit_code == 0);
  REQUIRE(RunGen({"update", reference, "-o", half.string(), "--kind", "dense", "--seed", "2", "--dtype", "F16"}).exit_code == 0);
  // Each changes the line's dtype, which a commit must say.
  REQUIRE(RunFomo({"commit", bf.string(), "--dtype-change", "--no-eval", "-q"}, dir.path()).exit_code == 0);    // v1.0.1
  REQUIRE(RunFomo({"commit", half.string(), "--dtype-change", "--no-eval", "-q"}, dir.path()).exit_code == 0);  // v1.0.2

  // BF16 with itself: back bit for bit, still BF16.
  json self = Json(RunFomo({"merge", "v1.0.1", "v1.0.1", "--no-eval", "--json"}, dir.path()));
  CHECK(Exported(dir.path(), self["version"].get<std::string>()) == Exported(dir.path(), "v1.0.1"));
  CHECK(self["storage"]["stored_bytes"] == 0);

  // F16 with BF16: the mean of the widened values, stored as F32.
  json mixed = Json(RunFomo({"merge", "v1.0.2", "v1.0.1", "--no-eval", "--json"}, dir.path()));
  auto show = Json(RunFomo({"show", mixed["version"].get<std::string>(), "--tensors", "--json"}, dir.path()));
  REQUIRE(!show["manifest"].empty());
  for (const auto& t : show["manifest"]) CHECK(t["dtype"] == "F32");
  auto h = Exported(dir.path(), "v1.0.2"), b = Exported(dir.path(), "v1.0.1");
  auto m = Exported(dir.path(), mixed["version"].get<std::string>());
  const std::string name = "visual.proj";
  auto z = Floats(m[name]);
  REQUIRE(z.size() * 2 == h[name].size());
  for (size_t i = 0; i < z.size(); ++i) {
    uint16_t hb, bb;
    std::memcpy(&hb, h[name].data() + 2 * i, 2);
    std::memcpy(&bb, b[name].data() + 2 * i, 2);
    const double want = 0.5 * fomo::core::HalfToDouble(hb) + 0.5 * fomo::core::BFloat16ToDouble(bb);
    INFO(name << "[" << i << "]");
    REQUIRE(z[i] == static_cast<float>(want));
  }
}

TEST_CASE("a mergekit YAML merges as the same fomo recipe does, and its unsupported features are named",
          "[cli][merge][mergekit]") {
  TempDir dir;
  Setup(dir);
  // mergekit's TIES example (examples/ties.yml), with versions for models: the
  // base listed among the models without parameters, per-model weight and density.
  WriteFile(dir / "mergekit.yml",
            "models:\n"
            "  - model: v1.0.0\n"
            "    # no parameters necessary for base model\n"
            "  - model: v1.0.1\n"
            "    parameters:\n"
            "      density: 0.5\n"
            "      weight: 0.5\n"
            "  - model: v1.0.2\n"
            "    parameters:\n"
            "      density: 0.5\n"
            "      weight: 0.3\n"
            "merge_method: ties\n"
            "base_model: v1.0.0\n"
            "parameters:\n"
            "  normalize: true\n"
            "  int8_mask: true\n"
            "dtype: float16\n");
  WriteFile(dir / "fomo.yml",
            "method: ties\nbase: v1.0.0\nmodels:\n  - {model: v1.0.1, weight: 0.5}\n  - {model: v1.0.2, weight: 0.3}\n"
            "parameters: {density: 0.5}\n");
  json a = Json(RunFomo({"merge", "--recipe", (dir / "mergekit.yml").string(), "--no-eval", "--json"}, dir.path()));
  CHECK(a["recipe"]["method"] == "ties");
  CHECK(a["recipe"]["models"] == json::array({"v1.0.1", "v1.0.2"}));
  CHECK(a["recipe"]["base"] == "v1.0.0");
  CHECK(a["recipe"]["density"] == 0.5);
  REQUIRE(RunFomo({"switch", "-c", "other", "v1.0.2", "-q"}, dir.path()).exit_code == 0);
  json b = Json(RunFomo({"merge", "--recipe", (dir / "fomo.yml").string(), "--no-eval", "--json"}, dir.path()));
  CHECK(Exported(dir.path(), a["version"]) == Exported(dir.path(), b["version"]));

  // dare_ties: mergekit's density is the share kept.
  WriteFile(dir / "dare.yml",
            "merge_method: dare_ties\nbase_model: v1.0.0\nmodels:\n  - model: v1.0.0\n"
            "  - model: v1.0.1\n    parameters: {weight: 1.0, density: 0.7}\n");
  json dare = Json(RunFomo({"merge", "--recipe", (dir / "dare.yml").string(), "--no-eval", "--json"}, dir.path()));
  CHECK(dare["recipe"]["method"] == "dare");
  CHECK(dare["recipe"]["dare_ties"] == true);
  CHECK(dare["recipe"]["drop"].get<double>() == Approx(0.3));

  struct Refused {
    const char* yaml;
    const char* message;
  };
  const Refused refused[] = {
      {"slices:\n  - sources:\n      - model: v1.0.1\n        layer_range: [0, 2]\nmerge_method: slerp\n", "'slices'"},
      {"models: [v1.0.1, v1.0.2]\nmerge_method: linear\ntokenizer_source: union\n", "tokenizer merging"},
      {"models:\n  - model: v1.0.1\n    parameters: {weight: [0, 0.5, 1]}\n  - model: v1.0.2\nmerge_method: linear\n",
       "gradients and filters"},
      {"models:\n  - model: v1.0.1\n    parameters: {density: 0.2}\n  - model: v1.0.2\n    parameters: {density: 0.4}\n"
       "merge_method: ties\nbase_model: v1.0.0\n",
       "per-model densities"},
      {"models: [v1.0.1, v1.0.2]\nmerge_method: passthrough\n", "unknown merge method 'passthrough'"},
      {"models: [v1.0.1, v1.0.2]\nmerge_method: linear\ndtype: int4\n", "unknown dtype 'int4'"},
  };
  for (const auto& r : refused) {
    WriteFile(dir / "bad.yml", r.yaml);
    RunResult bad = RunFomo({"merge", "--recipe", (dir / "bad.yml").string(), "--no-eval"}, dir.path());
    INFO(r.yaml << bad.err);
    CHECK(bad.exit_code != 0);
    CHECK_THAT(bad.err, HasSubstr(r.message));
    CHECK_THAT(bad.err, HasSubstr("bad.yml"));
  }
}
