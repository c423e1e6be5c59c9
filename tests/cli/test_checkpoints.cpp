// Checkpoints as users hold them, end to end through the binary: init from every
// format, exports that other tools load, dtypes kept on a line, many checkpoints in
// one commit.
#include <sys/stat.h>
#include <utime.h>

#include <algorithm>

#include <nlohmann/json.hpp>

#include "catch.hpp"
#include "core/safetensors.hpp"
#include "test_support.hpp"

using namespace fomo::test;
using nlohmann::json;

namespace {

fs::path Fixture(const std::string& name) { return DataFile("checkpoints") / name; }

RunResult MustRun(const std::vector<std::string>& args, const fs::path& dir) {
  RunResult r = RunFomo(args, dir);
  INFO("fomo " << args.at(0) << "\nstdout: " << r.out << "\nstderr: " << r.err);
  REQUIRE(r.exit_code == 0);
  return r;
}

std::vector<std::string> FilesIn(const fs::path& dir) {
  std::vector<std::string> names;
  for (const auto& e : fs::directory_iterator(dir)) names.push_back(e.path().filename().string());
  std::sort(names.begin(), names.end());
  return names;
}

json Manifest(const fs::path& repo, const std::string& rev) {
  return json::parse(MustRun({"show", rev, "--json"}, repo).out);
}

// dtype of every tensor of a safetensors file.
std::map<std::string, std::string> Dtypes(const fs::path& file) {
  auto st = fomo::core::SafetensorsFile::Open(file);
  std::map<std::string, std::string> out;
  for (const auto& t : st.tensors()) out[t.name] = std::string(fomo::DtypeName(t.view.dtype));
  return out;
}

}  // namespace

TEST_CASE("init reads every format and says where the config came from", "[cli][checkpoints]") {
  TempDir dir;
  struct Case {
    fs::path from;
    std::vector<std::string> extra;
    std::string kind, heads_from;
  };
  const std::string oc_config = DataFile("openai_clip_tiny_config.json").string();
  int index = 0;
  for (const Case& c : {Case{Fixture("hf_sharded"), {}, "Hugging Face directory, 2 shards", "config.json beside the checkpoint"},
                        Case{Fixture("hf_bin"), {}, "Hugging Face directory", "config.json beside the checkpoint"},
                        Case{Fixture("openclip_dir"), {}, "OpenCLIP directory", "open_clip_config.json beside the checkpoint"},
                        Case{Fixture("openclip_epoch_3.pt"), {"--config", oc_config}, "PyTorch file", "--config"},
                        Case{Fixture("openai_jit.pt"), {}, "TorchScript archive", "OpenAI's rule, width / 64"}}) {
    INFO(c.from.string());
    fs::path repo = dir / ("r" + std::to_string(index++));
    std::vector<std::string> args = {"init", repo.string(), "--from", c.from.string(), "--no-eval"};
    args.insert(args.end(), c.extra.begin(), c.extra.end());
    RunResult r = MustRun(args, dir.path());
    REQUIRE_THAT(r.out, HasSubstr("(" + c.kind + ","));
    REQUIRE_THAT(r.out, HasSubstr("model config: vision 2 x 64"));
    REQUIRE_THAT(r.out, HasSubstr("heads from " + c.heads_from));
    REQUIRE_THAT(r.out, HasSubstr("activation from "));
  }
  // --json carries the same report.
  fs::path repo = dir / "json";
  json out = json::parse(MustRun({"init", repo.string(), "--from", Fixture("hf_bin").string(), "--no-eval", "--json"}, dir.path()).out);
  REQUIRE(out["import"]["format"] == "Hugging Face directory");
  REQUIRE(out["import"]["config_from"]["heads"] == "config.json beside the checkpoint");
  REQUIRE(out["import"]["config"]["text_cfg"]["heads"] == 4);
}

TEST_CASE("a Hugging Face state dict without its config is refused; nothing is created", "[cli][checkpoints]") {
  TempDir dir;
  RunResult r = RunFomo({"init", "repo", "--from", Fixture("hf_alone.safetensors").string()}, dir.path());
  REQUIRE(r.exit_code == 1);
  REQUIRE_THAT(r.err, HasSubstr("does not show its attention head counts"));
  REQUIRE(std::count(r.err.begin(), r.err.end(), '\n') == 1);
  REQUIRE_FALSE(fs::exists(dir / "repo" / ".fomo"));
  // With the config, the right model: its export equals the reference bytes.
  MustRun({"init", "repo", "--from", Fixture("hf_alone.safetensors").string(), "--config",
           DataFile("hf_clip_tiny_config.json").string(), "--no-eval", "-q"},
          dir.path());
  MustRun({"export", "-o", (dir / "back.safetensors").string(), "--layout", "hf"}, dir / "repo");
  REQUIRE(TensorBytes(dir / "back.safetensors") == TensorBytes(Fixture("hf_alone.safetensors")));
}

TEST_CASE("a pickle naming a foreign global is refused without running it", "[cli][checkpoints]") {
  TempDir dir;
  std::remove("/tmp/fomo-pickle-executed");
  RunResult r = RunFomo({"init", "repo", "--from", Fixture("evil.pt").string()}, dir.path());
  REQUIRE(r.exit_code == 1);
  REQUIRE_THAT(r.err, HasSubstr("'posix.system'"));
  REQUIRE_FALSE(fs::exists("/tmp/fomo-pickle-executed"));
  REQUIRE_FALSE(fs::exists(dir / "repo" / ".fomo"));
}

TEST_CASE("export --layout hf writes a directory transformers loads", "[cli][checkpoints][export]") {
  TempDir dir;
  MustRun({"init", "repo", "--from", Fixture("hf_bin").string(), "--no-eval", "-q"}, dir.path());
  const fs::path repo = dir / "repo";
  MustRun({"export", "-o", (dir / "hf").string(), "--layout", "hf"}, repo);
  REQUIRE(FilesIn(dir / "hf") == std::vector<std::string>{"config.json", "merges.txt", "model.safetensors",
                                                          "preprocessor_config.json", "special_tokens_map.json",
                                                          "tokenizer_config.json", "vocab.json"});
  // config.json: the source's fields (token ids, eps, ...) written back.
  json config = json::parse(ReadFile(dir / "hf" / "config.json"));
  json source = json::parse(ReadFile(DataFile("hf_clip_tiny_config.json")));
  REQUIRE(config["text_config"]["bos_token_id"] == 998);
  REQUIRE(config["text_config"]["eos_token_id"] == 999);
  REQUIRE(config["vision_config"]["num_attention_heads"] == 4);
  REQUIRE(config["torch_dtype"] == "float32");
  config.erase("torch_dtype");
  REQUIRE(config == source);
  REQUIRE(TensorBytes(dir / "hf" / "model.safetensors") == TensorBytes(Fixture("hf_alone.safetensors")));
  // The tokenizer files are CLIP's BPE vocabulary.
  json vocab = json::parse(ReadFile(dir / "hf" / "vocab.json"));
  REQUIRE(vocab.size() == 49408);
  REQUIRE(vocab["<|startoftext|>"] == 49406);
  REQUIRE(vocab["<|endoftext|>"] == 49407);
  REQUIRE(vocab["a</w>"] == 320);  // "a photo of a dog." tokenises to 320 1125 539 320 1929 269
  const std::string merges = ReadFile(dir / "hf" / "merges.txt");
  REQUIRE(merges.rfind("#version: 0.2\n", 0) == 0);
  REQUIRE(std::count(merges.begin(), merges.end(), '\n') == 48895);
  json pre = json::parse(ReadFile(dir / "hf" / "preprocessor_config.json"));
  REQUIRE(pre["crop_size"]["height"] == 32);
  REQUIRE(pre["image_processor_type"] == "CLIPImageProcessor");
  // The directory imports back to the same version.
  MustRun({"init", "again", "--from", (dir / "hf").string(), "--no-eval", "-q"}, dir.path());
  MustRun({"export", "-o", (dir / "again.safetensors").string(), "--layout", "hf"}, dir / "again");
  REQUIRE(TensorBytes(dir / "again.safetensors") == TensorBytes(dir / "hf" / "model.safetensors"));
  // An existing, non-empty directory is not overwritten.
  RunResult r = RunFomo({"export", "-o", (dir / "hf").string(), "--layout", "hf"}, repo);
  REQUIRE(r.exit_code == 1);
  REQUIRE_THAT(r.err, HasSubstr("exists and is not empty"));
  // -o FILE.safetensors stays a single file.
  MustRun({"export", "-o", (dir / "one.safetensors").string(), "--layout", "hf"}, repo);
  REQUIRE(fs::is_regular_file(dir / "one.safetensors"));
}

TEST_CASE("export --layout openclip writes open_clip_config.json and its weights", "[cli][checkpoints][export]") {
  TempDir dir;
  MustRun({"init", "repo", "--from", Fixture("openclip_dir").string(), "--no-eval", "-q"}, dir.path());
  MustRun({"export", "-o", (dir / "oc").string(), "--layout", "openclip"}, dir / "repo");
  REQUIRE(FilesIn(dir / "oc") == std::vector<std::string>{"open_clip_config.json", "open_clip_model.safetensors"});
  json config = json::parse(ReadFile(dir / "oc" / "open_clip_config.json"));
  REQUIRE(config["model_cfg"]["text_cfg"]["heads"] == 4);
  REQUIRE(config["model_cfg"]["vision_cfg"]["width"] == 64);
  REQUIRE(config["preprocess_cfg"]["mean"].size() == 3);
  auto weights = TensorBytes(dir / "oc" / "open_clip_model.safetensors");
  auto reference = TensorBytes(DataFile("openai_clip_tiny.safetensors"));
  for (const auto& [name, bytes] : reference) {
    INFO(name);
    REQUIRE(weights.at(name) == bytes);
  }
  MustRun({"init", "again", "--from", (dir / "oc").string(), "--no-eval", "-q"}, dir.path());
}

TEST_CASE("export --dtype converts; a bf16 line trained stays bf16", "[cli][checkpoints][dtype]") {
  TempDir dir;
  // The tiny architecture reads CLIP captions (the reference checkpoint's vocabulary is too small to train).
  MustRun({"init", "base", "--arch", "tiny", "--no-eval", "-q"}, dir.path());
  MustRun({"export", "-o", (dir / "bf16.safetensors").string(), "--dtype", "bf16"}, dir / "base");
  for (const auto& [name, dtype] : Dtypes(dir / "bf16.safetensors")) {
    INFO(name);
    REQUIRE(dtype == "BF16");
  }
  MustRun({"init", "line", "--from", (dir / "bf16.safetensors").string(), "--no-eval", "-q"}, dir.path());
  RunResult r = MustRun({"patch", "--data", "fmnist:0-1", "--steps", "2", "--batch-size", "8", "--no-eval"}, dir / "line");
  json shown = Manifest(dir / "line", "HEAD");
  REQUIRE(shown["recipe"]["dtype"] == "BF16");
  MustRun({"export", "-o", (dir / "trained.safetensors").string()}, dir / "line");
  for (const auto& [name, dtype] : Dtypes(dir / "trained.safetensors")) {
    INFO(name);
    REQUIRE(dtype == "BF16");
  }
  // --dtype says otherwise, and is recorded.
  MustRun({"patch", "--data", "fmnist:0-1", "--steps", "2", "--batch-size", "8", "--no-eval", "--dtype", "f32"}, dir / "line");
  REQUIRE(Manifest(dir / "line", "HEAD")["recipe"]["dtype"] == "F32");
  REQUIRE(Manifest(dir / "line", "HEAD")["recipe"]["dtype_option"] == "f32");
}

TEST_CASE("committing another dtype onto a line needs --dtype-change or --dtype", "[cli][checkpoints][dtype]") {
  TempDir dir;
  InitReference(dir.path());
  const fs::path repo = dir.path();
  MustRun({"export", "-o", (dir / "f16.safetensors").string(), "--dtype", "f16"}, repo);
  auto before = RepositorySnapshot(repo);
  RunResult r = RunFomo({"commit", (dir / "f16.safetensors").string()}, repo);
  REQUIRE(r.exit_code == 1);
  REQUIRE_THAT(r.err, HasSubstr("it is F16 and the line is F32 (v1.0.0)"));
  REQUIRE_THAT(r.err, HasSubstr("--dtype-change"));
  REQUIRE(RepositorySnapshot(repo) == before);
  // Converted back to the line's dtype it is a commit like any other.
  MustRun({"commit", (dir / "f16.safetensors").string(), "--dtype", "f32", "--no-eval"}, repo);
  r = MustRun({"commit", (dir / "f16.safetensors").string(), "--dtype-change", "--no-eval"}, repo);
  REQUIRE_THAT(r.out, HasSubstr("the dtype changes from F32 to F16"));
  REQUIRE_THAT(r.out, HasSubstr("full frames"));
  REQUIRE(Manifest(repo, "HEAD")["recipe"]["dtype"] == "F16");
}

TEST_CASE("commit takes many checkpoints: files, a folder in name or mtime order", "[cli][checkpoints][commit]") {
  TempDir dir;
  const fs::path repo = dir / "repo";
  const std::string config = DataFile("openai_clip_tiny_config.json").string();
  MustRun({"init", repo.string(), "--from", DataFile("openai_clip_tiny.safetensors").string(), "--no-eval", "-q"}, dir.path());
  // Three different checkpoints: the reference and two exports of other versions.
  fs::create_directories(dir / "runs");
  MustRun({"export", "-o", (dir / "f16.safetensors").string(), "--dtype", "f16"}, repo);
  MustRun({"commit", (dir / "f16.safetensors").string(), "--dtype", "f32", "--no-eval", "-q"}, repo);
  MustRun({"export", "-o", (dir / "runs" / "epoch_10.safetensors").string()}, repo);
  fs::copy_file(Fixture("openai_state_dict.pt"), dir / "runs" / "epoch_2.pt");
  WriteFile(dir / "runs" / "notes.txt", "not a checkpoint\n");
  WriteFile(dir / "runs" / "config.json", R"({"unrelated": true})");
  RunResult r = MustRun({"commit", (dir / "runs").string(), "--no-eval", "--allow-empty", "--config", config}, repo);
  // Name order reads numbers as numbers: epoch_2 before epoch_10.
  const auto two = r.out.find("commit epoch_2.pt"), ten = r.out.find("commit epoch_10.safetensors");
  REQUIRE(two != std::string::npos);
  REQUIRE(ten != std::string::npos);
  REQUIRE(two < ten);
  json log = json::parse(MustRun({"log", "--json"}, repo).out);
  REQUIRE(log.size() == 4);
  // --order mtime: the older file first.
  struct utimbuf old_time {1000000000, 1000000000};
  ::utime((dir / "runs" / "epoch_10.safetensors").c_str(), &old_time);
  r = MustRun({"commit", (dir / "runs").string(), "--order", "mtime", "--no-eval", "--allow-empty", "--config", config}, repo);
  REQUIRE(r.out.find("commit epoch_10.safetensors") < r.out.find("commit epoch_2.pt"));
  // A bad checkpoint among them: located before anything is committed.
  WriteFile(dir / "broken.safetensors", "not safetensors at all");
  auto before = RepositorySnapshot(repo);
  r = RunFomo({"commit", (dir / "runs" / "epoch_2.pt").string(), (dir / "broken.safetensors").string(), "--config", config}, repo);
  REQUIRE(r.exit_code == 1);
  REQUIRE_THAT(r.err, HasSubstr("broken.safetensors"));
  REQUIRE(RepositorySnapshot(repo) == before);
  RunResult bad = RunFomo({"commit", (dir / "runs").string(), "--order", "size"}, repo);
  REQUIRE(bad.exit_code == 2);
}

TEST_CASE("exported Hugging Face directories run in a plain PyTorch CLIP built from their config", "[cli][checkpoints][python]") {
  const std::string python = PythonWithTorch();
  if (python.empty()) FOMO_SKIP("python3-torch is not installed (scripts/setup.sh installs it)");
  TempDir dir;
  struct Case {
    std::vector<std::string> init;
    std::string io;
  };
  int index = 0;
  for (const Case& c : {Case{{"--from", Fixture("hf_bin").string()}, "hf_clip_tiny_io.safetensors"},
                        Case{{"--from", DataFile("openai_clip_tiny.safetensors").string()}, "openai_clip_tiny_io.safetensors"}}) {
    INFO(c.io);
    const fs::path repo = dir / ("r" + std::to_string(index++));
    std::vector<std::string> args = {"init", repo.string(), "--no-eval", "-q"};
    args.insert(args.end(), c.init.begin(), c.init.end());
    MustRun(args, dir.path());
    MustRun({"export", "-o", (repo / "hf").string(), "--layout", "hf"}, repo);
    RunResult r = RunProgram({python, (fs::path(FOMO_TEST_DATA) / ".." / "python" / "hf_clip_forward.py").string(),
                              (repo / "hf").string(), DataFile(c.io).string()},
                             dir.path());
    INFO(r.err);
    REQUIRE(r.exit_code == 0);
    json diff = json::parse(r.out);
    CHECK(diff["image"].get<double>() < 1e-5);
    CHECK(diff["text"].get<double>() < 1e-5);
  }
}

TEST_CASE("checkpoints made by the installed PyTorch import to the reference weights", "[cli][checkpoints][python]") {
  const std::string python = PythonWithTorch();
  if (python.empty()) FOMO_SKIP("python3-torch is not installed (scripts/setup.sh installs it)");
  TempDir dir;
  RunResult made = RunProgram({python, (fs::path(FOMO_TEST_DATA) / ".." / "python" / "make_checkpoints.py").string(), DataFile("").string(), (dir / "made").string()},
                              dir.path());
  INFO(made.err);
  REQUIRE(made.exit_code == 0);
  const std::string config = DataFile("openai_clip_tiny_config.json").string();
  int index = 0;
  for (const char* file : {"openai_state_dict.pt", "openai_ordereddict.pt", "openclip_epoch_3.pt", "openai_jit.pt", "openclip_dir"}) {
    INFO(file);
    const fs::path repo = dir / ("o" + std::to_string(index++));
    MustRun({"init", repo.string(), "--from", (dir / "made" / file).string(), "--config", config, "--no-eval", "-q"}, dir.path());
    MustRun({"export", "-o", (repo / "out.safetensors").string()}, repo);
    REQUIRE(TensorBytes(repo / "out.safetensors") == TensorBytes(DataFile("openai_clip_tiny.safetensors")));
  }
  for (const char* file : {"hf_bin", "hf_sharded"}) {
    INFO(file);
    const fs::path repo = dir / ("h" + std::to_string(index++));
    MustRun({"init", repo.string(), "--from", (dir / "made" / file).string(), "--no-eval", "-q"}, dir.path());
    MustRun({"export", "-o", (repo / "out.safetensors").string(), "--layout", "hf"}, repo);
    REQUIRE(TensorBytes(repo / "out.safetensors") == TensorBytes(DataFile("hf_clip_tiny.safetensors")));
  }
  std::remove("/tmp/fomo-pickle-executed");
  RunResult evil = RunFomo({"init", "e", "--from", (dir / "made" / "evil.pt").string()}, dir.path());
  REQUIRE(evil.exit_code == 1);
  REQUIRE_FALSE(fs::exists("/tmp/fomo-pickle-executed"));
}
