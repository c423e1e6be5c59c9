// fomo init --pretrain and fomo patch / minor / major end to end on the built-in
// Fashion-MNIST with the tiny model: version bumps, budgets in the record,
// determinism, resume equal to an uninterrupted run, the --require gate, NaN, and
// bad options. Runs are a few steps at batch 16 on capped selectors.
#include <cstring>

#include <regex>

#include <fmt/format.h>
#include <fmt/ranges.h>
#include <nlohmann/json.hpp>

#include "catch.hpp"
#include "storage/database.hpp"
#include "test_support.hpp"

using namespace fomo;
using namespace fomo::test;

namespace {

bool HaveFashionMnist() {
  if (fs::exists("/usr/share/datasets/fashion-mnist")) return true;
  const char* why = "dataset-fashion-mnist is not installed (scripts/setup.sh installs it)";
  if (UnderCtest()) SkipUnderCtest(why);
  WARN("skipped: " << why);
  return false;
}

const char* kSmallSuites = "suites:\n  adaptation: auto\n  retention: ['fmnist:0-4#100']\n";

// A repository whose v1.0.0 is tiny pretrained for a few steps.
void InitPretrained(const fs::path& dir) {
  WriteFile(dir / "fomo.yaml", kSmallSuites);
  RunResult r = RunFomo({"init", "--arch", "tiny", "--pretrain", "fmnist:0-4#200", "--steps", "4", "--batch-size",
                         "16", "--no-eval", "-q"},
                        dir);
  INFO(r.err);
  REQUIRE(r.exit_code == 0);
}

std::vector<std::string> Update(const std::string& level, std::vector<std::string> extra) {
  std::vector<std::string> args = {level, "--data", "fmnist:5-9#200", "--batch-size", "16", "--no-eval", "-q"};
  // Six steps unless the case gives its own budget.
  if (std::find(extra.begin(), extra.end(), "--samples") == extra.end()) extra.insert(extra.end(), {"--steps", "6"});
  args.insert(args.end(), extra.begin(), extra.end());
  return args;
}

std::vector<double> Losses(const fs::path& dir, const std::string& rev) {
  auto show = nlohmann::json::parse(RunFomo({"show", rev, "--json"}, dir).out);
  Database db = Database::Open(dir / ".fomo" / "fomo.sqlite", false);
  auto run = db.TrainingRunOf(show["commit"].get<std::string>());
  REQUIRE(run);
  std::vector<double> losses;
  for (const auto& row : db.TrainingSteps(*run)) losses.push_back(row.loss);
  return losses;
}

std::map<std::string, std::string> Exported(const fs::path& dir, const std::string& rev) {
  fs::path out = dir / (rev + ".safetensors");
  REQUIRE(RunFomo({"export", rev, "-o", out.string(), "-q"}, dir).exit_code == 0);
  return TensorBytes(out);
}

}  // namespace

TEST_CASE("updates bump the semantic version and record data, budget and steps", "[cli][train]") {
  if (!HaveFashionMnist()) return;
  TempDir dir;
  InitPretrained(dir.path());
  auto base = nlohmann::json::parse(RunFomo({"show", "--json"}, dir.path()).out);
  CHECK(base["version"] == "1.0.0");
  CHECK(base["budget"]["steps"] == 4);
  CHECK(base["recipe"]["pretrain"] == nlohmann::json::array({"fmnist:0-4@train#200"}));

  REQUIRE(RunFomo(Update("minor", {}), dir.path()).exit_code == 0);
  REQUIRE(RunFomo(Update("patch", {"--schedule", "autoregressive-rsqrt"}), dir.path()).exit_code == 0);
  REQUIRE(RunFomo(Update("major", {"--samples", "40"}), dir.path()).exit_code == 0);
  auto log = nlohmann::json::parse(RunFomo({"log", "--json"}, dir.path()).out);
  REQUIRE(log.size() == 4);
  CHECK(log[0]["version"] == "2.0.0");
  CHECK(log[1]["version"] == "1.1.1");
  CHECK(log[2]["version"] == "1.1.0");
  const auto& major = log[0];
  CHECK(major["budget"]["steps"] == 3);  // 40 samples at batch 16
  CHECK(major["budget"]["samples"] == 48);
  CHECK(major["budget"]["flops"].get<double>() > 0);
  CHECK(major["budget"]["maf"].get<double>() == Approx(major["budget"]["flops"].get<double>()));
  CHECK(major["budget"]["seconds"].get<double>() > 0);
  CHECK(major["recipe"]["data"] == nlohmann::json::array({"fmnist:5-9@train#200"}));
  CHECK(major["recipe"]["task_index"] == 2);  // two updates before it on the line
  CHECK(major["recipe"]["buffer_data"] == nlohmann::json::array({"fmnist:5-9@train#200"}));
  CHECK(major["recipe"]["replay_data"] == nlohmann::json::array({"fmnist:0-4@train#200"}));
  CHECK(log[1]["recipe"]["options"]["schedule"]["name"] == "autoregressive-rsqrt");
  CHECK(Losses(dir.path(), "v1.1.0").size() == 6);
  // The update's data joined the adaptation suite.
  RunResult eval = RunFomo({"eval", "v2.0.0", "--suite", "adaptation", "--json"}, dir.path());
  REQUIRE(eval.exit_code == 0);
  CHECK_THAT(eval.out, HasSubstr("fmnist:5-9"));
  // Text output rounds its numbers (metrics to two decimals, options to six
  // significant digits): no 43.999999999999993 on a terminal.
  RunResult shown = RunFomo({"show", "v2.0.0"}, dir.path());
  REQUIRE(shown.exit_code == 0);
  CHECK_THAT(shown.out, HasSubstr("metrics\n"));
  CHECK_FALSE(std::regex_search(shown.out, std::regex("[0-9]\\.[0-9]{7,}")));
}

TEST_CASE("the same update twice gives the same loss curve and bit-identical weights", "[cli][train]") {
  if (!HaveFashionMnist()) return;
  TempDir a, b;
  InitPretrained(a.path());
  InitPretrained(b.path());
  CHECK(Exported(a.path(), "v1.0.0") == Exported(b.path(), "v1.0.0"));
  REQUIRE(RunFomo(Update("minor", {"--seed", "5"}), a.path()).exit_code == 0);
  REQUIRE(RunFomo(Update("minor", {"--seed", "5"}), b.path()).exit_code == 0);
  CHECK(Losses(a.path(), "v1.1.0") == Losses(b.path(), "v1.1.0"));
  CHECK(Exported(a.path(), "v1.1.0") == Exported(b.path(), "v1.1.0"));
}

TEST_CASE("an interrupted update resumes to the result of an uninterrupted one", "[cli][train]") {
  if (!HaveFashionMnist()) return;
  TempDir a, b;
  InitPretrained(a.path());
  InitPretrained(b.path());
  auto before = RepositorySnapshot(a.path());
  RunResult stopped = RunFomo(Update("minor", {}), a.path(), {{"FOMO_STOP_AFTER_STEP", "3"}});
  CHECK(stopped.exit_code == 130);  // as a shell reports Ctrl-C
  CHECK_THAT(stopped.err, HasSubstr("--resume"));
  CHECK(RepositorySnapshot(a.path()) == before);  // nothing committed
  auto status = nlohmann::json::parse(RunFomo({"status", "--json"}, a.path()).out);
  CHECK(status["training"]["level"] == "minor");
  CHECK(status["training"]["step"] == 3);
  // Another update must not start over the waiting one; --resume takes no options.
  CHECK(RunFomo(Update("minor", {}), a.path()).exit_code == 1);
  CHECK(RunFomo({"minor", "--resume", "--steps", "9"}, a.path()).exit_code == 2);
  CHECK(RunFomo({"patch", "--resume"}, a.path()).exit_code == 2);
  RunResult resumed = RunFomo({"minor", "--resume", "-q"}, a.path());
  INFO(resumed.err);
  REQUIRE(resumed.exit_code == 0);
  CHECK(nlohmann::json::parse(RunFomo({"status", "--json"}, a.path()).out)["training"].is_null());

  RunResult uninterrupted = RunFomo(Update("minor", {}), b.path());
  INFO(uninterrupted.err);
  REQUIRE(uninterrupted.exit_code == 0);
  CHECK(Losses(a.path(), "v1.1.0") == Losses(b.path(), "v1.1.0"));
  CHECK(Exported(a.path(), "v1.1.0") == Exported(b.path(), "v1.1.0"));
}

TEST_CASE("an update killed with SIGKILL resumes from its last checkpoint", "[cli][train]") {
  if (!HaveFashionMnist()) return;
  TempDir a, b;
  InitPretrained(a.path());
  InitPretrained(b.path());
  auto before = RepositorySnapshot(a.path());
  // Checkpoint after every step; die right after the first checkpoint is written.
  RunResult killed = RunFomo(Update("minor", {}), a.path(),
                             {{"FOMO_CHECKPOINT_SECONDS", "1e-9"}, {"FOMO_CRASH_AT", "training-checkpoint"}});
  CHECK(killed.exit_code == -9);
  CHECK(RepositorySnapshot(a.path()) == before);
  auto status = nlohmann::json::parse(RunFomo({"status", "--json"}, a.path()).out);
  CHECK(status["training"]["step"] == 1);
  RunResult resumed = RunFomo({"minor", "--resume", "-q"}, a.path());
  INFO(resumed.err);
  REQUIRE(resumed.exit_code == 0);
  REQUIRE(RunFomo(Update("minor", {}), b.path()).exit_code == 0);
  CHECK(Exported(a.path(), "v1.1.0") == Exported(b.path(), "v1.1.0"));
  // The resumed process logged steps 2-6 (the killed one flushes every 5 s, so
  // step 1 may be missing); the curve is the uninterrupted one.
  auto losses_a = Losses(a.path(), "v1.1.0");
  auto losses_b = Losses(b.path(), "v1.1.0");
  REQUIRE(losses_a.size() >= 5);
  REQUIRE(losses_b.size() == 6);
  CHECK(std::vector<double>(losses_b.end() - 5, losses_b.end()) == std::vector<double>(losses_a.end() - 5, losses_a.end()));
}

TEST_CASE("a failed --require gate commits on rejected/ and exits 3", "[cli][train]") {
  if (!HaveFashionMnist()) return;
  TempDir dir;
  InitPretrained(dir.path());
  std::vector<std::string> args = Update("minor", {"--require", "adaptation > parent.adaptation + 1000"});
  args.erase(std::find(args.begin(), args.end(), "--no-eval"));
  RunResult rejected = RunFomo(args, dir.path());
  INFO(rejected.err);
  CHECK(rejected.exit_code == 3);
  CHECK_THAT(rejected.err, HasSubstr("rejected/v1.1.0-rc.1"));
  // The last line on stdout says it first: the run trained, but the version was rejected.
  CHECK_THAT(rejected.out, HasSubstr("rejected: v1.1.0-rc.1 fails --require 'adaptation > parent.adaptation + 1000' (adaptation = "));
  auto head = nlohmann::json::parse(RunFomo({"show", "HEAD", "--json"}, dir.path()).out);
  CHECK(head["version"] == "1.0.0");
  CHECK(RunFomo({"show", "v1.1.0"}, dir.path()).exit_code == 1);  // not tagged
  auto kept = nlohmann::json::parse(RunFomo({"show", "rejected/v1.1.0-rc.1", "--json"}, dir.path()).out);
  // A candidate's own number, never a release's: rejected runs do not reuse v1.1.0.
  CHECK(kept["version"] == "1.1.0-rc.1");
  CHECK(kept["summary"]["adaptation"].is_number());
  CHECK(nlohmann::json::parse(RunFomo({"show", "v1.1.0-rc.1", "--json"}, dir.path()).out)["commit"] == kept["commit"]);
  RunResult again = RunFomo(args, dir.path());
  CHECK(again.exit_code == 3);
  CHECK_THAT(again.err, HasSubstr("rejected/v1.1.0-rc.2"));

  args = Update("minor", {"--require", "retention > -1 && adaptation >= 0"});
  args.erase(std::find(args.begin(), args.end(), "--no-eval"));
  RunResult passed = RunFomo(args, dir.path());
  INFO(passed.err);
  CHECK(passed.exit_code == 0);
  head = nlohmann::json::parse(RunFomo({"show", "HEAD", "--json"}, dir.path()).out);
  CHECK(head["version"] == "1.1.0");  // the candidate, released under the release number
  CHECK(head["summary"]["adaptation"].is_number());  // its evaluations came with it
  CHECK(RunFomo({"show", "v1.1.0"}, dir.path()).exit_code == 0);
  auto branches = nlohmann::json::parse(RunFomo({"branch", "--json"}, dir.path()).out);
  for (const auto& b : branches) CHECK(b["branch"].get<std::string>().rfind("pending/", 0) != 0);
  // The rejected version branches off v1.0.0 beside the line.
  RunResult graph = RunFomo({"log", "--graph", "--all"}, dir.path());
  REQUIRE(graph.exit_code == 0);
  CHECK_THAT(graph.out, HasSubstr("| * "));
  CHECK_THAT(graph.out, HasSubstr("\n|/\n* "));
  CHECK_THAT(graph.out, HasSubstr("rejected/v1.1.0-rc.1"));
}

TEST_CASE("a NaN loss stops the update and commits nothing", "[cli][train]") {
  if (!HaveFashionMnist()) return;
  TempDir dir;
  InitPretrained(dir.path());
  auto before = RepositorySnapshot(dir.path());
  RunResult r = RunFomo(Update("patch", {"--lr", "1e30"}), dir.path());
  CHECK(r.exit_code == 1);
  CHECK_THAT(r.err, HasSubstr("NaN"));
  CHECK(RepositorySnapshot(dir.path()) == before);
  CHECK_FALSE(fs::exists(dir / ".fomo" / "train"));
}

TEST_CASE("bad training options are refused before any work", "[cli][train]") {
  if (!HaveFashionMnist()) return;
  TempDir dir;
  InitPretrained(dir.path());
  auto before = RepositorySnapshot(dir.path());
  struct Case {
    std::vector<std::string> extra;
    int code;
    const char* message;
  };
  const std::vector<Case> cases = {
      {{"--replay", "0.5/0.5"}, 2, "P/D/B"},
      {{"--schedule", "cosin"}, 2, "unknown schedule"},
      {{"--samples", "10", "--budget", "5e12"}, 2, "one way"},
      {{"--lr", "fast"}, 2, "--lr"},
      {{"--warmup", "2"}, 2, "--warmup"},
      {{"--method", "magic"}, 2, "--method"},
      {{"--require", "adaptation >"}, 2, "column"},
      // Names no evaluation of the new version measures fail before training.
      {{"--require", "bogus >= 1"}, 2, "--require names 'bogus', which the evaluation of this version will not"},
      {{"--require", "fmnist:0-4#100.top9 > 0 && parent.nosuch > 0"}, 2, "'fmnist:0-4#100.top9', 'parent.nosuch'"},
      {{"--from", "v9.9.9"}, 1, "unknown revision"},
      {{"--data", "nosuch:1-2"}, 1, "nosuch"},
  };
  for (const auto& c : cases) {
    RunResult r = RunFomo(Update("minor", c.extra), dir.path());
    INFO(c.extra.front() << ": " << r.err);
    CHECK(r.exit_code == c.code);
    CHECK_THAT(r.err, HasSubstr(c.message));
  }
  CHECK(RunFomo({"minor", "--resume"}, dir.path()).exit_code == 1);
  CHECK(RepositorySnapshot(dir.path()) == before);
}

TEST_CASE("a model that cannot read CLIP captions is refused with a clear error", "[cli][train]") {
  if (!HaveFashionMnist()) return;
  TempDir dir;
  // The reference checkpoint has a 1000-token vocabulary.
  REQUIRE(RunFomo({"init", "--from", DataFile("openai_clip_tiny.safetensors").string(), "--no-eval", "-q"}, dir.path())
              .exit_code == 0);
  auto before = RepositorySnapshot(dir.path());
  RunResult r = RunFomo(Update("minor", {}), dir.path());
  CHECK(r.exit_code == 1);
  CHECK_THAT(r.err, HasSubstr("vocabulary of 1000 tokens"));
  CHECK(r.err.find('\n') == r.err.size() - 1);  // one line
  CHECK(RepositorySnapshot(dir.path()) == before);
  CHECK_FALSE(fs::exists(dir / ".fomo" / "train"));
}

TEST_CASE("init --pretrain without a model trains the embedded default, tiny", "[cli][train]") {
  if (!HaveFashionMnist()) return;
  TempDir dir;
  RunResult r = RunFomo({"init", "--pretrain", "fmnist:0-4#100", "--steps", "2", "--batch-size", "8", "--no-eval", "-q"},
                        dir.path());
  INFO(r.err);
  REQUIRE(r.exit_code == 0);
  auto show = nlohmann::json::parse(RunFomo({"show", "--json"}, dir.path()).out);
  CHECK(show["recipe"]["arch"] == "tiny");
  CHECK(show["budget"]["steps"] == 2);
  // The pretraining data's test split is the retention suite of the new fomo.yaml.
  CHECK_THAT(ReadFile(dir / "fomo.yaml"), HasSubstr("retention: [fmnist:0-4]"));
}

namespace {

nlohmann::json Show(const fs::path& dir, const std::string& rev) {
  RunResult r = RunFomo({"show", rev, "--json"}, dir);
  INFO(r.err);
  REQUIRE(r.exit_code == 0);
  return nlohmann::json::parse(r.out);
}

// Every tensor of `merged` is (1 - w) finetuned + w other, computed in double.
void RequireWeightedMean(const fs::path& dir, const std::string& merged, const std::string& finetuned,
                         const std::string& other, double w) {
  auto m = Exported(dir, merged), f = Exported(dir, finetuned), o = Exported(dir, other);
  REQUIRE(m.size() == f.size());
  for (const auto& [name, bytes] : m) {
    const size_t n = bytes.size() / 4;
    std::vector<float> x(n), y(n), z(n);
    std::memcpy(x.data(), f[name].data(), bytes.size());
    std::memcpy(y.data(), o[name].data(), bytes.size());
    std::memcpy(z.data(), bytes.data(), bytes.size());
    for (size_t i = 0; i < n; ++i) {
      INFO(name << "[" << i << "]");
      REQUIRE(z[i] == static_cast<float>((1 - w) * static_cast<double>(x[i]) + w * static_cast<double>(y[i])));
    }
  }
}

}  // namespace

TEST_CASE("an ema-merge update keeps the finetuned weights as a parent and deploys their mean", "[cli][train][merge]") {
  if (!HaveFashionMnist()) return;
  TempDir dir;
  InitPretrained(dir.path());
  RunResult r = RunFomo(Update("minor", {"--merge", "ema:0.75", "--json"}), dir.path());
  INFO(r.err);
  REQUIRE(r.exit_code == 0);
  auto merged = nlohmann::json::parse(r.out);
  auto base = Show(dir.path(), "v1.0.0");
  auto tuned = Show(dir.path(), "v1.1.0^2");
  CHECK(merged["version"] == "1.1.0");
  CHECK(merged["parents"] == nlohmann::json::array({base["commit"], tuned["commit"]}));
  CHECK(merged["recipe"]["merge"]["strategy"] == "ema");
  CHECK(merged["recipe"]["merge"]["w"] == 0.75);
  CHECK(merged["recipe"]["merge"]["anchor"] == "v1.0.0");
  CHECK(merged["recipe"]["merge"]["finetuned_commit"] == tuned["commit"]);
  CHECK(tuned["kind"] == "finetuned");
  CHECK(tuned["parents"] == nlohmann::json::array({base["commit"]}));
  CHECK(tuned["tags"].empty());
  RequireWeightedMean(dir.path(), "v1.1.0", "v1.1.0^2", "v1.0.0", 0.75);

  // The finetuned weights are what a plain update of the same parent gives.
  REQUIRE(RunFomo(Update("minor", {"--from", "v1.0.0"}), dir.path()).exit_code == 0);
  CHECK(Exported(dir.path(), "v1.2.0") == Exported(dir.path(), "v1.1.0^2"));

  // The next ema update trains from the merged version and merges with it; the
  // line counts one task per update.
  REQUIRE(RunFomo(Update("minor", {"--merge", "ema:0.75"}), dir.path()).exit_code == 0);
  auto second = Show(dir.path(), "HEAD");
  CHECK(second["version"] == "1.3.0");
  CHECK(Show(dir.path(), "HEAD^2")["parents"] == nlohmann::json::array({merged["commit"]}));
  CHECK(second["recipe"]["task_index"] == 1);
  RequireWeightedMean(dir.path(), "HEAD", "HEAD^2", "v1.1.0", 0.75);
}

TEST_CASE("finetune-merge merges with the anchor, zeroshot-merge trains from it", "[cli][train][merge]") {
  if (!HaveFashionMnist()) return;
  TempDir dir;
  InitPretrained(dir.path());
  REQUIRE(RunFomo(Update("patch", {}), dir.path()).exit_code == 0);  // v1.0.1: the line moved past the root
  auto root = Show(dir.path(), "v1.0.0");
  auto patch = Show(dir.path(), "v1.0.1");

  REQUIRE(RunFomo(Update("minor", {"--merge", "finetune:0.5"}), dir.path()).exit_code == 0);
  auto finetune = Show(dir.path(), "v1.1.0");
  CHECK(Show(dir.path(), "v1.1.0^2")["parents"] == nlohmann::json::array({patch["commit"]}));  // trained from the tip
  CHECK(finetune["recipe"]["merge"]["merged_with"] == "v1.0.0");
  RequireWeightedMean(dir.path(), "v1.1.0", "v1.1.0^2", "v1.0.0", 0.5);

  REQUIRE(RunFomo(Update("minor", {"--merge", "zeroshot:0.5"}), dir.path()).exit_code == 0);
  CHECK(Show(dir.path(), "v1.2.0^2")["parents"] == nlohmann::json::array({root["commit"]}));  // trained from theta_0
  CHECK(Show(dir.path(), "v1.2.0")["parents"][0] == finetune["commit"]);
  RequireWeightedMean(dir.path(), "v1.2.0", "v1.2.0^2", "v1.1.0", 0.5);

  // --anchor is recorded, and later merge updates on the line keep it.
  REQUIRE(RunFomo(Update("minor", {"--merge", "finetune:0.5", "--anchor", "v1.0.1"}), dir.path()).exit_code == 0);
  CHECK(Show(dir.path(), "v1.3.0")["recipe"]["merge"]["anchor"] == "v1.0.1");
  RequireWeightedMean(dir.path(), "v1.3.0", "v1.3.0^2", "v1.0.1", 0.5);
  REQUIRE(RunFomo(Update("patch", {"--merge", "zeroshot:0.9"}), dir.path()).exit_code == 0);
  CHECK(Show(dir.path(), "v1.3.1^2")["parents"] == nlohmann::json::array({patch["commit"]}));

  auto before = RepositorySnapshot(dir.path());
  struct Case {
    std::vector<std::string> extra;
    const char* message;
  };
  for (const Case& c : std::vector<Case>{{{"--merge", "average:0.5"}, "ema, finetune or zeroshot"},
                                         {{"--merge", "ema:1.5"}, "from 0 to 1"},
                                         {{"--merge", "ema"}, "ema:0.9"},
                                         {{"--anchor", "v1.0.0"}, "give --merge too"},
                                         {{"--merge", "ema:0.9", "--anchor", "v7.0.0"}, "unknown revision"}}) {
    RunResult r = RunFomo(Update("minor", c.extra), dir.path());
    INFO(r.err);
    CHECK(r.exit_code != 0);
    CHECK_THAT(r.err, HasSubstr(c.message));
  }
  CHECK(RepositorySnapshot(dir.path()) == before);
}

TEST_CASE("a merge update that fails its gate keeps both commits on rejected/", "[cli][train][merge]") {
  if (!HaveFashionMnist()) return;
  TempDir dir;
  InitPretrained(dir.path());
  std::vector<std::string> args = Update("minor", {"--merge", "ema:0.9", "--require", "adaptation > 1000"});
  args.erase(std::find(args.begin(), args.end(), "--no-eval"));
  RunResult r = RunFomo(args, dir.path());
  CHECK(r.exit_code == 3);
  CHECK(Show(dir.path(), "HEAD")["version"] == "1.0.0");
  auto rejected = Show(dir.path(), "rejected/v1.1.0-rc.1");
  CHECK(rejected["recipe"]["merge"]["strategy"] == "ema");
  CHECK(Show(dir.path(), "rejected/v1.1.0-rc.1^2")["kind"] == "finetuned");
  RunResult fsck = RunFomo({"fsck"}, dir.path());
  CHECK(fsck.exit_code == 0);
  CHECK_THAT(fsck.out + fsck.err, !HasSubstr("has no tag"));
}

TEST_CASE("fomo.yaml's level defaults can make every update a merge update", "[cli][train][merge]") {
  if (!HaveFashionMnist()) return;
  TempDir dir;
  InitPretrained(dir.path());
  WriteFile(dir / "fomo.yaml", ReadFile(dir / "fomo.yaml") + "defaults:\n  patch:\n    merge: zeroshot:0.8\n");
  REQUIRE(RunFomo(Update("patch", {}), dir.path()).exit_code == 0);
  auto made = Show(dir.path(), "v1.0.1");
  CHECK(made["recipe"]["merge"]["strategy"] == "zeroshot");
  CHECK(made["recipe"]["merge"]["w"] == 0.8);
  RequireWeightedMean(dir.path(), "v1.0.1", "v1.0.1^2", "v1.0.0", 0.8);
  WriteFile(dir / "fomo.yaml", ReadFile(dir / "fomo.yaml") + "  minor:\n    merge: mean:0.8\n");
  RunResult bad = RunFomo(Update("minor", {}), dir.path());
  CHECK(bad.exit_code != 0);
  CHECK_THAT(bad.err, HasSubstr("defaults.minor.merge"));
}

TEST_CASE("reads, evaluations, tags and other trainings run while a training works; its publish on a moved line "
          "lands on pending/",
          "[cli][train][concurrent]") {
  if (!HaveFashionMnist()) return;
  TempDir dir;
  InitPretrained(dir.path());
  REQUIRE(RunFomo({"branch", "exp"}, dir.path()).exit_code == 0);
  // The training stops itself (SIGSTOP) after its second step, so everything below
  // happens while it is mid-run; anything waiting on a lock gives up within 1 s.
  BackgroundRun training(FomoBinary(), Update("minor", {"-m", "slow"}), dir.path(), {{"FOMO_PAUSE_AT_STEP", "2"}});
  REQUIRE(training.WaitUntilStopped(300));
  const std::map<std::string, std::string> impatient = {{"FOMO_LOCK_TIMEOUT", "1"}};
  auto ok = [&](const std::vector<std::string>& args) {
    RunResult r = RunFomo(args, dir.path(), impatient);
    INFO(fmt::format("{}: {}", fmt::join(args, " "), r.err));
    CHECK(r.exit_code == 0);
    return r;
  };
  auto status = nlohmann::json::parse(ok({"status", "--json"}).out);
  REQUIRE(status["trainings"].size() == 1);
  CHECK(status["trainings"][0]["state"] == "running");
  CHECK(status["trainings"][0]["line"] == "main");
  ok({"log", "--metrics"});
  ok({"show", "v1.0.0"});
  ok({"diff", "v1.0.0", "v1.0.0"});
  ok({"export", "v1.0.0", "-o", (dir / "v1.safetensors").string(), "-q"});
  ok({"eval", "v1.0.0", "-q"});
  ok({"tag", "reviewed", "v1.0.0"});
  ok({"branch", "exp2"});
  // A second training, on another branch, from start to commit.
  ok({"switch", "exp"});
  ok(Update("patch", {"--samples", "32"}));
  CHECK(nlohmann::json::parse(ok({"show", "exp", "--json"}).out)["version"] == "1.0.1");
  // And one on the stopped training's own line: it lands first.
  ok({"switch", "main"});
  ok(Update("minor", {"--samples", "32", "-m", "fast"}));
  CHECK(nlohmann::json::parse(ok({"show", "main", "--json"}).out)["message"] == "fast");

  training.Continue();
  RunResult slow = training.Wait();
  INFO(slow.err);
  CHECK(slow.exit_code == 4);
  CHECK_THAT(slow.err, HasSubstr("'main' moved to v1.1.0"));
  CHECK_THAT(slow.err, HasSubstr("pending/v1.2.0-rc.1"));
  CHECK_THAT(slow.err, HasSubstr("fomo merge main pending/v1.2.0-rc.1"));
  CHECK(nlohmann::json::parse(ok({"show", "main", "--json"}).out)["message"] == "fast");  // main did not move
  auto pending = nlohmann::json::parse(ok({"show", "pending/v1.2.0-rc.1", "--json"}).out);
  CHECK(pending["version"] == "1.2.0-rc.1");
  CHECK(pending["message"] == "slow");
  CHECK(nlohmann::json::parse(ok({"status", "--json"}).out)["trainings"].empty());
  // A candidate has no tag by design: fsck finds nothing to say or repair.
  CHECK(nlohmann::json::parse(ok({"fsck", "--json"}).out)["notices"].empty());
  // The hint works: merging it onto the line makes the next release.
  ok({"merge", "main", "pending/v1.2.0-rc.1", "--no-eval", "-q"});
  auto merged = nlohmann::json::parse(ok({"show", "main", "--json"}).out);
  CHECK(merged["version"] == "1.2.0");
  CHECK(ok({"fsck", "-q"}).exit_code == 0);
}
