// fomo eval out of the box on the built-in Fashion-MNIST, with caching.
#include <sqlite3.h>

#include <set>

#include <nlohmann/json.hpp>

#include "catch.hpp"
#include "test_support.hpp"

using namespace fomo::test;

TEST_CASE("eval measures the retention suite, stores it and reuses it", "[cli][eval]") {
  if (!fs::exists("/usr/share/datasets/fashion-mnist")) {
    FOMO_SKIP("dataset-fashion-mnist is not installed (scripts/setup.sh installs it)");
  }
  TempDir dir;
  // A capped selector keeps the test fast; it goes into the suites like any other.
  // init keeps a fomo.yaml that is already there.
  WriteFile(dir / "fomo.yaml", "suites:\n  adaptation: ['fmnist:5-9#200']\n  retention: ['fmnist:0-4#200']\n");
  REQUIRE(RunFomo({"init", "--arch", "tiny", "--seed", "3", "-q", "--no-eval"}, dir.path()).exit_code == 0);
  RunResult first = RunFomo({"eval", "--json"}, dir.path());
  INFO(first.err);
  REQUIRE(first.exit_code == 0);
  auto rows = nlohmann::json::parse(first.out);
  REQUIRE(rows.size() == 4);  // two datasets x top1, top5
  const std::string head = nlohmann::json::parse(RunFomo({"show", "--json"}, dir.path()).out)["commit"];
  for (const auto& r : rows) {
    REQUIRE(r["version"] == "1.0.0");
    REQUIRE(r["commit"] == head);
    REQUIRE(r["split"] == "test");
    REQUIRE(r["stored"] == false);
    REQUIRE(r["value"].get<double>() >= 0);
    REQUIRE(r["value"].get<double>() <= 100);
  }
  RunResult second = RunFomo({"eval"}, dir.path());
  REQUIRE(second.exit_code == 0);
  REQUIRE_THAT(second.out, HasSubstr("(stored)"));
  REQUIRE_THAT(second.err, !HasSubstr("evaluating"));
  auto show = nlohmann::json::parse(RunFomo({"show", "--json"}, dir.path()).out);
  REQUIRE(show["metrics"].contains("fmnist:5-9#200"));
  REQUIRE(show["summary"]["adaptation"].is_number());
  REQUIRE(show["summary"]["retention"].is_number());
  REQUIRE(show["summary"]["gm"].is_number());
  RunResult log = RunFomo({"log", "--metrics", "--oneline"}, dir.path());
  REQUIRE_THAT(log.out, HasSubstr("A_KA"));
  REQUIRE(RunFomo({"eval", "--dataset", "fmnist:shoes"}, dir.path()).exit_code == 2);

  // A second version, measured the same way: diff reports old, new and delta per
  // dataset, largest loss first, and the suite summaries.
  REQUIRE(RunFomo({"export", "-q", "-o", (dir / "v1.safetensors").string()}, dir.path()).exit_code == 0);
  REQUIRE(RunGen({"update", (dir / "v1.safetensors").string(), "-o", (dir / "v2.safetensors").string(), "--scale",
                  "0.5"})
              .exit_code == 0);
  // commit evaluates the new version on the suites by default.
  RunResult commit = RunFomo({"commit", (dir / "v2.safetensors").string()}, dir.path());
  REQUIRE(commit.exit_code == 0);
  REQUIRE_THAT(commit.out, HasSubstr("fmnist:5-9#200"));
  RunResult again = RunFomo({"eval", "HEAD"}, dir.path());
  REQUIRE_THAT(again.out, HasSubstr("(stored)"));
  auto diff = nlohmann::json::parse(RunFomo({"diff", "v1.0.0", "v1.0.1", "--json"}, dir.path()).out);
  REQUIRE(diff["metrics"].size() == 4);
  double previous = -1e9;
  for (const auto& row : diff["metrics"]) {
    REQUIRE(row["delta"].get<double>() == Approx(row["new"].get<double>() - row["old"].get<double>()));
    REQUIRE(row["delta"].get<double>() >= previous);  // sorted by largest loss first
    previous = row["delta"].get<double>();
  }
  REQUIRE(diff["summary"]["adaptation"]["delta"].is_number());
  REQUIRE(diff["summary"]["retention"]["old"].is_number());

  // A version committed without evaluation is measured by diff before comparing.
  REQUIRE(RunGen({"update", (dir / "v2.safetensors").string(), "-o", (dir / "v3.safetensors").string(), "--scale",
                  "0.5", "--seed", "9"})
              .exit_code == 0);
  REQUIRE(RunFomo({"commit", "-q", "--no-eval", (dir / "v3.safetensors").string()}, dir.path()).exit_code == 0);
  auto unmeasured = nlohmann::json::parse(RunFomo({"diff", "v1.0.1", "HEAD", "--json", "--no-eval"}, dir.path()).out);
  REQUIRE(unmeasured["summary"]["retention"]["new"].is_null());
  auto measured = nlohmann::json::parse(RunFomo({"diff", "v1.0.1", "HEAD", "--json"}, dir.path()).out);
  REQUIRE(measured["summary"]["retention"]["new"].is_number());
}

TEST_CASE("eval runs zero-shot on class folders and retrieval on caption tables", "[cli][eval]") {
  TempDir dir;
  for (const char* cls : {"red", "blue"}) {
    fs::create_directories(dir / "folders" / cls);
    for (int i = 0; i < 2; ++i) WritePng(dir / "folders" / cls / (std::to_string(i) + ".png"), 40, 30, 3, 100);
  }
  WritePng(dir / "a.png", 28, 28, 1, 10);
  WriteJpeg(dir / "b.jpg", 50, 40, 200);
  WriteFile(dir / "pairs.csv", "filepath,title\na.png,a dark square\nb.jpg,a bright rectangle\n");
  fs::create_directories(dir / "repo");
  REQUIRE(RunFomo({"init", "--arch", "tiny", "-q", "--no-eval"}, dir / "repo").exit_code == 0);
  WriteFile(dir / "repo" / "fomo.yaml", "datasets:\n  colours:\n    kind: folder\n    path: " + (dir / "folders").string() +
                                            "\n  pairs:\n    kind: csv\n    path: " + (dir / "pairs.csv").string() +
                                            "\nsuites:\n  adaptation: [colours]\n  retention: [pairs]\n");
  RunResult r = RunFomo({"eval", "--json"}, dir / "repo");
  INFO(r.err);
  REQUIRE(r.exit_code == 0);
  std::set<std::string> metrics;
  for (const auto& row : nlohmann::json::parse(r.out)) metrics.insert(row["dataset"].get<std::string>() + " " + row["metric"].get<std::string>());
  REQUIRE(metrics.count("colours top1"));
  REQUIRE(metrics.count("pairs recall@5"));
  REQUIRE(metrics.count("pairs t2i@1"));
  auto show = nlohmann::json::parse(RunFomo({"show", "--json"}, dir / "repo").out);
  // Two images: every caption is within the top 5, both ways.
  REQUIRE(show["summary"]["retention"].get<double>() == Approx(100.0));
  REQUIRE(show["summary"]["adaptation"].is_number());
}

TEST_CASE("init evaluates the base unless --no-eval, and a model that cannot be evaluated is still kept",
          "[cli][eval]") {
  if (!fs::exists("/usr/share/datasets/fashion-mnist")) {
    FOMO_SKIP("dataset-fashion-mnist is not installed (scripts/setup.sh installs it)");
  }
  TempDir dir;
  WriteFile(dir / "fomo.yaml", "suites:\n  retention: ['fmnist#100']\n");
  RunResult init = RunFomo({"init", "--arch", "tiny"}, dir.path());
  REQUIRE(init.exit_code == 0);
  auto show = nlohmann::json::parse(RunFomo({"show", "--json"}, dir.path()).out);
  REQUIRE(show["summary"]["retention"].is_number());
  // The reference checkpoints have a 1000-token vocabulary: committed, not evaluated, said so.
  TempDir other;
  RunResult reference = RunFomo({"init", "--from", DataFile("openai_clip_tiny.safetensors").string()}, other.path());
  REQUIRE(reference.exit_code == 0);
  REQUIRE_THAT(reference.err, HasSubstr("not evaluated") && HasSubstr("vocabulary of 1000 tokens"));
  REQUIRE(RunFomo({"show", "v1.0.0"}, other.path()).exit_code == 0);
}

TEST_CASE("zero-shot accuracy has the known answer when every image is the same", "[cli][eval]") {
  // Six classes, three identical images each: whatever the (random) model makes of
  // the one image, it predicts one class for all of them, so exactly one class in
  // six is right (top-1 = 100/6 %) and five in six are within the top five. Checks
  // the whole path: decoding, preprocessing, prompts, class averaging, scoring.
  TempDir dir;
  const std::vector<std::string> classes = {"apple", "boat", "cloud", "dog", "engine", "flower"};
  for (const auto& cls : classes) {
    fs::create_directories(dir / "same" / cls);
    for (int i = 0; i < 3; ++i) WritePng(dir / "same" / cls / (std::to_string(i) + ".png"), 28, 28, 1, 120);
  }
  fs::create_directories(dir / "repo");
  WriteFile(dir / "repo" / "fomo.yaml", "datasets:\n  same:\n    kind: folder\n    path: " + (dir / "same").string() +
                                            "\nsuites:\n  adaptation: [same]\n  retention: []\n");
  REQUIRE(RunFomo({"init", "--arch", "tiny", "--seed", "7", "-q"}, dir / "repo").exit_code == 0);
  auto show = nlohmann::json::parse(RunFomo({"show", "--json"}, dir / "repo").out);
  CHECK(show["metrics"]["same"]["top1"].get<double>() == Approx(100.0 / 6));
  CHECK(show["metrics"]["same"]["top5"].get<double>() == Approx(500.0 / 6));
}

namespace {
int64_t EvaluationRows(const fs::path& repo) {
  sqlite3* db = nullptr;
  REQUIRE(sqlite3_open_v2((repo / ".fomo" / "fomo.sqlite").c_str(), &db, SQLITE_OPEN_READONLY, nullptr) == SQLITE_OK);
  sqlite3_stmt* statement = nullptr;
  REQUIRE(sqlite3_prepare_v2(db, "SELECT count(*) FROM evaluations", -1, &statement, nullptr) == SQLITE_OK);
  REQUIRE(sqlite3_step(statement) == SQLITE_ROW);
  const int64_t rows = sqlite3_column_int64(statement, 0);
  sqlite3_finalize(statement);
  sqlite3_close(db);
  return rows;
}
}  // namespace

TEST_CASE("log --metrics reads what is stored and evaluates only with --eval", "[cli][eval]") {
  if (!fs::exists("/usr/share/datasets/fashion-mnist")) FOMO_SKIP("dataset-fashion-mnist is not installed");
  TempDir dir;
  WriteFile(dir / "fomo.yaml", "suites:\n  adaptation: ['fmnist:5-9#50']\n  retention: ['fmnist:0-4#50']\n");
  REQUIRE(RunFomo({"init", "--arch", "tiny", "--seed", "3", "-q", "--no-eval"}, dir.path()).exit_code == 0);
  REQUIRE(RunFomo({"export", "-q", "-o", (dir / "v1.safetensors").string()}, dir.path()).exit_code == 0);
  for (int i = 0; i < 2; ++i) {
    fs::path update = dir / ("u" + std::to_string(i) + ".safetensors");
    REQUIRE(RunGen({"update", (dir / "v1.safetensors").string(), "-o", update.string(), "--seed",
                    std::to_string(i + 1)}).exit_code == 0);
    REQUIRE(RunFomo({"commit", update.string(), "-q", "--no-eval"}, dir.path()).exit_code == 0);
  }
  REQUIRE(EvaluationRows(dir.path()) == 0);

  RunResult log = RunFomo({"log", "--metrics", "--oneline"}, dir.path());
  INFO(log.err);
  REQUIRE(log.exit_code == 0);
  REQUIRE_THAT(log.err, HasSubstr("3 of 3 versions lack stored numbers") && !HasSubstr("evaluating"));
  REQUIRE_THAT(log.out, HasSubstr("A_KA     -"));
  REQUIRE(EvaluationRows(dir.path()) == 0);

  RunResult measured = RunFomo({"log", "--metrics", "--eval", "-n", "1", "--oneline"}, dir.path());
  INFO(measured.err);
  REQUIRE(measured.exit_code == 0);
  REQUIRE(EvaluationRows(dir.path()) == 4);  // HEAD only: two datasets x top1, top5
  REQUIRE_THAT(measured.out, !HasSubstr("A_KA     -"));
  REQUIRE(RunFomo({"log", "--eval"}, dir.path()).exit_code == 2);
}

TEST_CASE("a version's numbers are shown over its suite as it was made; today's suite on request", "[cli][eval]") {
  if (!fs::exists("/usr/share/datasets/fashion-mnist")) FOMO_SKIP("dataset-fashion-mnist is not installed");
  TempDir dir;
  WriteFile(dir / "fomo.yaml", "suites:\n  adaptation: auto\n  retention: ['fmnist:0-4#50']\n");
  REQUIRE(RunFomo({"init", "--arch", "tiny", "--seed", "3", "-q", "--no-eval"}, dir.path()).exit_code == 0);
  auto train = [&](const std::string& data) {
    RunResult r = RunFomo({"minor", "--data", data, "--steps", "1", "--batch-size", "8", "-q"}, dir.path());
    INFO(r.err);
    REQUIRE(r.exit_code == 0);
  };
  auto show = [&](std::vector<std::string> args) {
    args.insert(args.begin(), "show");
    args.push_back("--json");
    RunResult r = RunFomo(args, dir.path());
    INFO(r.err);
    REQUIRE(r.exit_code == 0);
    return nlohmann::json::parse(r.out);
  };
  train("fmnist:5-6#40");  // v1.1.0: its suite is fmnist:5-6 (and the retention suite)
  const auto first = show({"v1.1.0"});
  REQUIRE(first["summary"]["adaptation"].is_number());
  CHECK(first["summary"]["adaptation"] == first["metrics"]["fmnist:5-6"]["top1"]);

  train("fmnist:7-8#40");  // v1.2.0 grows the automatic suite; v1.1.0 is measured on 7-8 too
  const auto later = show({"v1.1.0"});
  REQUIRE(later["metrics"].contains("fmnist:7-8"));
  CHECK(later["summary"]["adaptation"] == first["summary"]["adaptation"]);  // unchanged
  const double both = (later["metrics"]["fmnist:5-6"]["top1"].get<double>() +
                       later["metrics"]["fmnist:7-8"]["top1"].get<double>()) / 2;
  CHECK(show({"v1.1.0", "--current-suite"})["summary"]["adaptation"].get<double>() == Approx(both));

  auto log = nlohmann::json::parse(RunFomo({"log", "--metrics", "--json"}, dir.path()).out);
  REQUIRE(log.size() == 3);
  CHECK(log[1]["summary"]["adaptation"] == first["summary"]["adaptation"]);
  const auto head = log[0];
  CHECK(head["summary"]["adaptation"].get<double>() ==
        Approx((head["metrics"]["fmnist:5-6"]["top1"].get<double>() + head["metrics"]["fmnist:7-8"]["top1"].get<double>()) / 2));
  auto current = nlohmann::json::parse(RunFomo({"log", "--metrics", "--current-suite", "--json"}, dir.path()).out);
  CHECK(current[1]["summary"]["adaptation"].get<double>() == Approx(both));
  // diff compares both over the newer version's suite.
  auto diff = nlohmann::json::parse(RunFomo({"diff", "v1.1.0", "v1.2.0", "--no-eval", "--json"}, dir.path()).out);
  CHECK(diff["summary"]["adaptation"]["old"].get<double>() == Approx(both));
}

TEST_CASE("evaluating on the images a version trained on is refused unless --allow-overlap", "[cli][eval]") {
  TempDir dir;
  for (int i = 0; i < 4; ++i) WritePng(dir / ("p" + std::to_string(i) + ".png"), 32, 32, 3, static_cast<uint8_t>(40 * i));
  WriteFile(dir / "pairs.csv",
            "filepath,title\np0.png,a black square\np1.png,a dark square\np2.png,a grey square\np3.png,a light square\n");
  WriteFile(dir / "held.csv", "filepath,title\np3.png,a light square\np2.png,a grey square\n");
  fs::create_directories(dir / "repo");
  const std::string datasets = "datasets:\n  pairs:\n    kind: csv\n    path: " + (dir / "pairs.csv").string() +
                               "\n  split:\n    kind: csv\n    splits:\n      train: " + (dir / "pairs.csv").string() +
                               "\n      test: " + (dir / "held.csv").string() + "\n";
  WriteFile(dir / "repo" / "fomo.yaml", datasets + "suites:\n  adaptation: auto\n  retention: []\n");
  REQUIRE(RunFomo({"init", "--arch", "tiny", "-q", "--no-eval"}, dir / "repo").exit_code == 0);
  // One table for both splits: the automatic evaluation leaves it out and says why.
  RunResult trained = RunFomo({"minor", "--data", "pairs@train", "--steps", "1", "--batch-size", "4"}, dir / "repo");
  INFO(trained.err);
  REQUIRE(trained.exit_code == 0);
  CHECK_THAT(trained.err, HasSubstr("not evaluated: v1.1.0 (or an ancestor) was trained on 'pairs@train'"));
  RunResult refused = RunFomo({"eval", "--dataset", "pairs"}, dir / "repo");
  CHECK(refused.exit_code == 1);
  CHECK_THAT(refused.err, HasSubstr("reads the same images as 'pairs@test'") && HasSubstr("--allow-overlap"));
  auto trained_on = [&](const std::string& rev) {
    return nlohmann::json::parse(RunFomo({"show", rev, "--json"}, dir / "repo").out)["metrics"];
  };
  CHECK_FALSE(trained_on("v1.1.0").contains("pairs"));
  CHECK(trained_on("v1.0.0").contains("pairs"));  // the parent, which never trained on it
  // The base never trained on it; --allow-overlap measures anyway.
  CHECK(RunFomo({"eval", "v1.0.0", "--dataset", "pairs", "-q"}, dir / "repo").exit_code == 0);
  CHECK(RunFomo({"eval", "--dataset", "pairs", "--allow-overlap", "-q"}, dir / "repo").exit_code == 0);
  CHECK(trained_on("v1.1.0").contains("pairs"));

  // Explicit splits: training on the train table, evaluating on the held-out one.
  RunResult split = RunFomo({"minor", "--data", "split@train", "--steps", "1", "--batch-size", "4"}, dir / "repo");
  INFO(split.err);
  REQUIRE(split.exit_code == 0);
  CHECK_THAT(split.err, !HasSubstr("as 'split@test'"));
  CHECK_THAT(split.err, HasSubstr("as 'pairs@test'"));  // split's train table is pairs' only table
  auto shown = nlohmann::json::parse(RunFomo({"show", "--json"}, dir / "repo").out);
  CHECK(shown["metrics"].contains("split"));
}

TEST_CASE("WebDataset shards with .cls labels and classes are evaluated as classification", "[cli][eval]") {
  TempDir dir;
  WritePng(dir / "dark.png", 32, 32, 3, 20);
  WritePng(dir / "light.png", 32, 32, 3, 230);
  fs::create_directories(dir / "shards-test");
  WriteTar(dir / "shards-test" / "000000.tar", {{"a.png", ReadFile(dir / "dark.png")}, {"a.cls", "0"},
                                                {"b.png", ReadFile(dir / "light.png")}, {"b.cls", "1"}});
  fs::create_directories(dir / "repo");
  REQUIRE(RunFomo({"init", "--arch", "tiny", "-q", "--no-eval"}, dir / "repo").exit_code == 0);
  WriteFile(dir / "repo" / "fomo.yaml", "datasets:\n  tiles:\n    kind: wds\n    path: " + (dir / "shards-{split}").string() +
                                            "\n    classes: [dark, light]\n    templates: ['a {} tile']\n");
  RunResult r = RunFomo({"eval", "--dataset", "tiles", "--json"}, dir / "repo");
  INFO(r.err);
  REQUIRE(r.exit_code == 0);
  std::set<std::string> metrics;
  for (const auto& row : nlohmann::json::parse(r.out)) metrics.insert(row["metric"].get<std::string>());
  CHECK(metrics == std::set<std::string>{"top1", "top5"});
  CHECK(RunFomo({"eval", "--dataset", "tiles:light", "-q"}, dir / "repo").exit_code == 0);
}
