// fomo minor --method on the tiny model end to end: exactly the intended tensors
// change, adapters are stored as factors and BitFit as its biases, EWC's Fisher
// and SI's importance reach the next update through the store, a resumed adapter
// run equals an uninterrupted one, bad method options are refused.
#include <cstring>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "catch.hpp"
#include "core/arch.hpp"
#include "storage/database.hpp"
#include "storage/object_store.hpp"
#include "test_support.hpp"
#include "train/method.hpp"

using namespace fomo;
using namespace fomo::test;
using nlohmann::json;

namespace {

bool HaveFashionMnist() {
  if (fs::exists("/usr/share/datasets/fashion-mnist")) return true;
  const char* why = "dataset-fashion-mnist is not installed (scripts/setup.sh installs it)";
  if (UnderCtest()) SkipUnderCtest(why);
  WARN("skipped: " << why);
  return false;
}

void InitPretrained(const fs::path& dir) {
  WriteFile(dir / "fomo.yaml", "suites:\n  adaptation: auto\n  retention: ['fmnist:0-4#100']\n");
  RunResult r = RunFomo({"init", "--arch", "tiny", "--pretrain", "fmnist:0-4#200", "--steps", "4", "--batch-size",
                         "16", "--no-eval", "-q"},
                        dir);
  INFO(r.err);
  REQUIRE(r.exit_code == 0);
}

// A short update of v1.0.0 (or FROM) with extra options; returns the new
// version's show --json --tensors.
json Update(const fs::path& dir, std::vector<std::string> extra, const std::string& from = "v1.0.0",
            const std::map<std::string, std::string>& env = {}) {
  std::vector<std::string> args = {"minor", "--from", from, "--data", "fmnist:5-9#200", "--batch-size", "16",
                                   "--no-eval", "--json"};
  if (std::find(extra.begin(), extra.end(), "--budget") == extra.end() &&
      std::find(extra.begin(), extra.end(), "--steps") == extra.end()) {
    extra.insert(extra.end(), {"--steps", "4"});
  }
  args.insert(args.end(), extra.begin(), extra.end());
  RunResult r = RunFomo(args, dir, env);
  INFO(r.err);
  REQUIRE(r.exit_code == 0);
  const std::string commit = json::parse(r.out)["commit"];
  return json::parse(RunFomo({"show", "--json", "--tensors", commit}, dir).out);
}

std::map<std::string, std::string> Exported(const fs::path& dir, const std::string& rev) {
  fs::path out = dir / "export.safetensors";
  REQUIRE(RunFomo({"export", rev, "-o", out.string(), "-q"}, dir).exit_code == 0);
  return TensorBytes(out);
}

std::set<std::string> Changed(const fs::path& dir, const std::string& a, const std::string& b) {
  auto x = Exported(dir, a), y = Exported(dir, b);
  std::set<std::string> changed;
  for (const auto& [name, bytes] : y) {
    if (x.at(name) != bytes) changed.insert(name);
  }
  return changed;
}

// What a method should change: the tensors it trains and the weights its adapters wrap.
std::set<std::string> Intended(const train::MethodOptions& o) {
  const auto config = *core::BuiltinArch("tiny");
  std::set<std::string> names;
  for (const auto& [name, shape] : config.ExpectedTensors()) {
    if (train::TrainsTensor(o, name)) names.insert(name);
  }
  for (const auto& site : train::AdapterSites(config, o)) {
    names.insert(site.weight);
    if (o.method == train::Method::kIa3 && site.target != "mlp-inner") {
      names.insert(site.weight.substr(0, site.weight.size() - 6) + "bias");
    }
  }
  return names;
}

std::vector<float> ReadObject(const fs::path& dir, const std::string& hex) {
  ObjectStore store(dir / ".fomo" / "objects", StoreOptions{});
  Tensor t = store.Read(*ObjectId::FromHex(hex));
  std::vector<float> out(t.bytes.size() / 4);
  std::memcpy(out.data(), t.bytes.data(), t.bytes.size());
  return out;
}

}  // namespace

TEST_CASE("each method changes exactly the tensors it trains", "[cli][methods]") {
  if (!HaveFashionMnist()) return;
  TempDir dir;
  InitPretrained(dir.path());
  struct Case {
    std::vector<std::string> args;
    std::vector<std::string> freeze;
    std::vector<std::string> targets;
    bool tune_temperature;
    int64_t rank = 4;
  };
  const std::vector<Case> cases = {
      {{"--method", "locked-image"}, {}, {}, false},
      {{"--method", "locked-text"}, {}, {}, false},
      {{"--method", "freeze", "--freeze", "vision:0-0", "--freeze", "attention,embeddings"},
       {"vision:0-0", "attention", "embeddings"}, {}, false},
      {{"--method", "lora", "--targets", "q,v,mlp-in"}, {}, {"q", "v", "mlp-in"}, false},
      {{"--method", "lora", "--tune-temperature"}, {}, {}, true},
      {{"--method", "dora", "--rank", "2"}, {}, {}, false, 2},
      {{"--method", "vera"}, {}, {}, false},
      {{"--method", "ia3"}, {}, {}, false},
      {{"--method", "bitfit"}, {}, {}, false},
      {{"--method", "lnfit"}, {}, {}, false},
  };
  for (const Case& c : cases) {
    INFO(c.args[1] << (c.args.size() > 2 ? " " + c.args[2] : ""));
    train::MethodOptions o;
    o.method = train::ParseMethod(c.args[1]);
    o.freeze = c.freeze;
    if (!c.targets.empty()) o.targets = c.targets;
    o.tune_temperature = c.tune_temperature;
    o.rank = c.rank;
    json made = Update(dir.path(), c.args);
    CHECK(made["recipe"]["method"] == c.args[1]);
    CHECK(made["recipe"]["trained_parameters"] == train::TrainedParameterCount(*core::BuiltinArch("tiny"), o));
    const auto changed = Changed(dir.path(), "v1.0.0", made["commit"].get<std::string>());
    const auto intended = Intended(o);
    CHECK(!changed.empty());
    for (const auto& name : changed) {
      INFO(name << " changed");
      CHECK(intended.count(name) == 1);  // everything else is bit-identical
    }
    CHECK(changed.count("logit_scale") == (o.TrainsTemperature() ? 1u : 0u));
  }
}

TEST_CASE("LoRA versions are stored as factors, BitFit versions as their biases", "[cli][methods]") {
  if (!HaveFashionMnist()) return;
  TempDir dir;
  InitPretrained(dir.path());
  json lora = Update(dir.path(), {"--method", "lora"});
  int lowrank = 0;
  for (const auto& t : lora["manifest"]) lowrank += t["encoding"] == "lowrank";
  const auto config = *core::BuiltinArch("tiny");
  train::MethodOptions o;
  o.method = train::Method::kLora;
  CHECK(lowrank == static_cast<int>(config.vision.layers + config.text.layers) * 4);  // in_proj, out_proj, c_fc, c_proj
  const double factor_bytes = 4.0 * static_cast<double>(train::TrainedParameterCount(config, o));
  INFO("stored " << lora["storage"]["stored_bytes"] << " for " << factor_bytes << " bytes of factors");
  CHECK(lora["storage"]["stored_bytes"].get<double>() <= 1.2 * factor_bytes);

  json bitfit = Update(dir.path(), {"--method", "bitfit"});
  CHECK(bitfit["storage"]["stored_bytes"].get<double>() <= 0.01 * bitfit["storage"]["raw_bytes"].get<double>());
  RunResult fsck = RunFomo({"fsck"}, dir.path());
  INFO(fsck.out << fsck.err);
  CHECK(fsck.exit_code == 0);
}

TEST_CASE("EWC's Fisher and SI's importance reach the next update through the store", "[cli][methods]") {
  if (!HaveFashionMnist()) return;
  TempDir dir;
  InitPretrained(dir.path());
  json ewc1 = Update(dir.path(), {"--method", "ewc", "--fisher-samples", "48"});
  REQUIRE(ewc1["storage"]["method_state"].size() == ewc1["storage"]["tensors"]);
  CHECK(ewc1["storage"]["method_state"][0]["name"].get<std::string>().rfind("ewc.fisher.", 0) == 0);
  // gc keeps the state; a new process reads it: a strong penalty holds the weights
  // near the anchor, where no penalty lets them move.
  REQUIRE(RunFomo({"gc", "-q"}, dir.path()).exit_code == 0);
  const std::string from = ewc1["commit"];
  const std::string free =
      Update(dir.path(), {"--method", "ewc", "--fisher-samples", "16", "--ewc-lambda", "0", "--lr", "1e-3"}, from)["commit"];
  const std::string held =
      Update(dir.path(), {"--method", "ewc", "--fisher-samples", "16", "--ewc-lambda", "1000", "--lr", "1e-3"}, from)["commit"];
  // Both runs take the same first step (the penalty is zero at the anchor); from
  // the second on, the loss of the run with lambda > 0 carries the penalty of the
  // Fisher the parent left, which only the store can have given it.
  auto losses = [&](const std::string& commit) {
    Database db = Database::Open(dir / ".fomo" / "fomo.sqlite", false);
    auto run = db.TrainingRunOf(commit);
    REQUIRE(run);
    std::vector<double> out;
    for (const auto& row : db.TrainingSteps(*run)) out.push_back(row.loss);
    return out;
  };
  const auto free_losses = losses(free), held_losses = losses(held);
  REQUIRE(free_losses.size() == 4);
  REQUIRE(held_losses.size() == 4);
  CHECK(held_losses[0] == free_losses[0]);
  CHECK(held_losses[1] > free_losses[1]);

  // SI: Omega only grows from one update to the next.
  json si1 = Update(dir.path(), {"--method", "si"});
  json si2 = Update(dir.path(), {"--method", "si"}, si1["commit"]);
  REQUIRE(si1["storage"]["method_state"].size() == si2["storage"]["method_state"].size());
  bool grew = false;
  for (size_t i = 0; i < si1["storage"]["method_state"].size(); ++i) {
    const auto& e1 = si1["storage"]["method_state"][i];
    const auto& e2 = si2["storage"]["method_state"][i];
    REQUIRE(e1["name"] == e2["name"]);
    auto o1 = ReadObject(dir.path(), e1["id"]), o2 = ReadObject(dir.path(), e2["id"]);
    for (size_t k = 0; k < o1.size(); ++k) {
      REQUIRE(o2[k] >= o1[k]);
      grew = grew || o2[k] > o1[k];
    }
  }
  CHECK(grew);
  CHECK(RunFomo({"fsck", "-q"}, dir.path()).exit_code == 0);
}

TEST_CASE("an interrupted LoRA update resumes to the uninterrupted result", "[cli][methods]") {
  if (!HaveFashionMnist()) return;
  TempDir dir;
  InitPretrained(dir.path());
  const std::string whole = Update(dir.path(), {"--method", "lora", "--steps", "6"})["commit"];
  RunResult stopped = RunFomo({"minor", "--from", "v1.0.0", "--data", "fmnist:5-9#200", "--batch-size", "16",
                               "--no-eval", "-q", "--method", "lora", "--steps", "6"},
                              dir.path(), {{"FOMO_STOP_AFTER_STEP", "3"}});
  CHECK(stopped.exit_code == 130);  // as a shell reports Ctrl-C
  RunResult resumed = RunFomo({"minor", "--resume", "--json"}, dir.path());
  INFO(resumed.err);
  REQUIRE(resumed.exit_code == 0);
  const std::string again = json::parse(resumed.out)["commit"];
  CHECK(Exported(dir.path(), again) == Exported(dir.path(), whole));
}

TEST_CASE("an equal MAF budget buys cheaper methods more steps", "[cli][methods]") {
  if (!HaveFashionMnist()) return;
  TempDir dir;
  InitPretrained(dir.path());
  const double maf = Update(dir.path(), {"--steps", "4"})["budget"]["maf"];
  json bitfit = Update(dir.path(), {"--method", "bitfit", "--budget", fmt::format("{}", maf)});
  CHECK(bitfit["budget"]["steps"].get<int>() > 4);
  CHECK(bitfit["budget"]["maf"].get<double>() <= maf * 1.0001);
}

TEST_CASE("bad method options are refused and change nothing", "[cli][methods]") {
  if (!HaveFashionMnist()) return;
  TempDir dir;
  InitPretrained(dir.path());
  auto before = RepositorySnapshot(dir.path());
  struct Case {
    std::vector<std::string> args;
    const char* message;
  };
  for (const Case& c : std::vector<Case>{{{"--method", "adapters"}, "unknown --method"},
                                         {{"--method", "lora", "--rank", "0"}, "--rank"},
                                         {{"--method", "lora", "--targets", "q,gate"}, "unknown adapter target"},
                                         {{"--method", "freeze"}, "--freeze"},
                                         {{"--freeze", "attention"}, "--method freeze"},
                                         {{"--method", "freeze", "--freeze", "nothing*"}, "matches no tensor"}}) {
    std::vector<std::string> args = {"minor", "--data", "fmnist:5-9#200", "--steps", "2", "-q"};
    args.insert(args.end(), c.args.begin(), c.args.end());
    RunResult r = RunFomo(args, dir.path());
    INFO(r.err);
    CHECK(r.exit_code == 2);
    CHECK_THAT(r.err, HasSubstr(c.message));
  }
  CHECK(RepositorySnapshot(dir.path()) == before);
}

TEST_CASE("fomo.yaml's level defaults choose the method and its options", "[cli][methods]") {
  if (!HaveFashionMnist()) return;
  TempDir dir;
  InitPretrained(dir.path());
  WriteFile(dir / "fomo.yaml", ReadFile(dir / "fomo.yaml") + "defaults:\n  minor:\n    method: lora\n    rank: 2\n    targets: [q, v]\n");
  json made = Update(dir.path(), {});
  CHECK(made["recipe"]["method"] == "lora");
  CHECK(made["recipe"]["method_options"]["rank"] == 2);
  CHECK(made["recipe"]["method_options"]["targets"] == json::array({"q", "v"}));
  // The command line picks another method, with that method's own defaults.
  json bitfit = Update(dir.path(), {"--method", "bitfit"});
  CHECK(bitfit["recipe"]["method_options"]["name"] == "bitfit");
  WriteFile(dir / "fomo.yaml", ReadFile(dir / "fomo.yaml") + "    galore_gap: many\n");
  RunResult bad = RunFomo({"minor", "--data", "fmnist:5-9#200", "--steps", "2"}, dir.path());
  CHECK(bad.exit_code != 0);
  CHECK_THAT(bad.err, HasSubstr("galore_gap"));
}

TEST_CASE("a version stored as low-rank factors merges like any other", "[cli][methods][merge]") {
  if (!HaveFashionMnist()) return;
  TempDir dir;
  InitPretrained(dir.path());
  const std::string lora = Update(dir.path(), {"--method", "lora"})["commit"];
  const std::string full = Update(dir.path(), {})["commit"];
  RunResult r = RunFomo({"merge", lora, full, "--no-eval", "--json"}, dir.path());
  INFO(r.err);
  REQUIRE(r.exit_code == 0);
  const std::string merged = json::parse(r.out)["commit"];
  auto a = Exported(dir.path(), lora), b = Exported(dir.path(), full), m = Exported(dir.path(), merged);
  for (const auto& [name, bytes] : m) {
    const float* x = reinterpret_cast<const float*>(a.at(name).data());
    const float* y = reinterpret_cast<const float*>(b.at(name).data());
    const float* z = reinterpret_cast<const float*>(bytes.data());
    for (size_t i = 0; i < bytes.size() / 4; ++i) {
      INFO(name << "[" << i << "]");
      REQUIRE(z[i] == static_cast<float>(0.5 * x[i] + 0.5 * y[i]));
    }
  }
}

TEST_CASE("adapters and the selective methods train at their own learning rate unless --lr says", "[cli][methods]") {
  if (!HaveFashionMnist()) return;
  TempDir dir;
  InitPretrained(dir.path());
  auto lr = [](const json& version) { return version["recipe"]["options"]["schedule"]["lr"].get<double>(); };
  const double full = lr(Update(dir.path(), {"--steps", "1"}));
  CHECK(full == Approx(1e-4));  // the built-in minor default
  for (const char* method : {"lora", "bitfit", "lnfit", "ia3"}) {
    INFO(method);
    CHECK(lr(Update(dir.path(), {"--method", method, "--steps", "1"})) == Approx(10 * full));
  }
  CHECK(lr(Update(dir.path(), {"--method", "locked-image", "--steps", "1"})) == Approx(full));
  CHECK(lr(Update(dir.path(), {"--method", "lora", "--lr", "3e-5", "--steps", "1"})) == Approx(3e-5));
}
