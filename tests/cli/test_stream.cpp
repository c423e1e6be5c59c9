// fomo stream plan: stream files read strictly, concepts ordered as each ordering
// says on data whose right order is known, tasks cut with their remainders, the
// same plan for the same seed, and bad files refused in one line with nothing changed.
#include <algorithm>
#include <cmath>
#include <set>

#include <nlohmann/json.hpp>

#include "catch.hpp"
#include "test_support.hpp"

using namespace fomo::test;
using Catch::Matchers::Contains;
using nlohmann::json;

namespace {

// A repository of the tiny model with a folder dataset `shapes` whose classes have
// 1 (circle), 3 (square) and 2 (star) training images, and fmnist under a second
// name, each with a year.
void MakeRepository(const TempDir& dir) {
  const std::vector<std::pair<std::string, int>> classes = {{"circle", 1}, {"square", 3}, {"star", 2}};
  for (const auto& [name, count] : classes) {
    for (const char* split : {"train", "test"}) {
      fs::create_directories(dir / "shapes" / split / name);
      for (int i = 0; i < count; ++i) {
        WritePng(dir / "shapes" / split / name / (std::to_string(i) + ".png"), 16, 16, 3, static_cast<uint8_t>(40 * i));
      }
    }
  }
  // A class table with a year per sample: sedans from 2003-2005 (median 2004),
  // trucks from 2019; and one without years.
  WritePng(dir / "car.png", 16, 16, 3, 90);
  WriteFile(dir / "cars.csv", "filepath,label,year\ncar.png,sedan,2003\ncar.png,truck,2019-06-01\ncar.png,sedan,2004\n"
                              "car.png,sedan,2005-01-02\n");
  WriteFile(dir / "plain.csv", "filepath,label\ncar.png,0\ncar.png,1\n");
  fs::create_directories(dir / "repo");
  REQUIRE(RunFomo({"init", "--arch", "tiny", "-q", "--no-eval"}, dir / "repo").exit_code == 0);
  WriteFile(dir / "repo" / "fomo.yaml",
            "datasets:\n  shapes:\n    kind: folder\n    path: " + (dir / "shapes").string() +
                "\n    year: 2021\n  fashion:\n    kind: idx\n    path: /usr/share/datasets/fashion-mnist\n    year: "
                "2017\n    classes: [a, b, c, d, e, f, g, h, i, j]\n    templates: ['a photo of a {}.', 'a sketch of "
                "the {}']\n  cars:\n    kind: csv\n    path: " +
                (dir / "cars.csv").string() + "\n    classes: [sedan, truck]\n  plain:\n    kind: csv\n    path: " +
                (dir / "plain.csv").string() + "\n    classes: [van, bus]\n");
}

json Plan(const TempDir& dir, const std::string& stream) {
  WriteFile(dir / "repo" / "s.yaml", stream);
  RunResult r = RunFomo({"stream", "plan", "s.yaml", "--json"}, dir / "repo");
  INFO(r.err);
  REQUIRE(r.exit_code == 0);
  return json::parse(r.out);
}

std::vector<std::string> Order(const json& plan) {
  std::vector<std::string> names;
  for (const auto& c : plan["order"]) names.push_back(c["name"].get<std::string>());
  return names;
}

std::vector<size_t> TaskSizes(const json& plan) {
  std::vector<size_t> sizes;
  for (const auto& t : plan["tasks"]) sizes.push_back(t["concepts"].size());
  return sizes;
}

}  // namespace

TEST_CASE("stream plan orders concepts as each ordering says and cuts the tasks", "[cli][stream]") {
  TempDir dir;
  MakeRepository(dir);
  const std::string head = "name: s\nconcepts: [shapes]\n";

  // Rarest first by training samples: circle 1, star 2, square 3; reversed, the other way.
  json rare = Plan(dir, head + "tasks: 3\nordering: concept-frequency\n");
  CHECK(Order(rare) == std::vector<std::string>{"circle", "star", "square"});
  CHECK(rare["order"][2]["score"] == 3.0);
  CHECK(rare["tasks"][1]["samples"] == 2);
  CHECK(rare["tasks"][1]["data"] == json::array({"shapes:2@train"}));
  json common = Plan(dir, head + "tasks: 3\nordering: {kind: concept-frequency, reverse: true}\n");
  CHECK(Order(common) == std::vector<std::string>{"square", "star", "circle"});

  // Random: the same order for the same seed, every concept once, reversed exactly.
  const std::string ten = "name: s\nconcepts: [fmnist]\ntasks: 4\n";
  json a = Plan(dir, ten + "ordering: {kind: random, seed: 7}\n");
  json b = Plan(dir, ten + "ordering: {kind: random, seed: 7}\n");
  json c = Plan(dir, ten + "ordering: {kind: random, seed: 8}\n");
  json r = Plan(dir, ten + "ordering: {kind: random, seed: 7, reverse: true}\n");
  CHECK(a == b);
  CHECK(Order(a) != Order(c));
  std::vector<std::string> sorted = Order(a), reversed = Order(r);
  std::reverse(reversed.begin(), reversed.end());
  CHECK(reversed == sorted);
  std::sort(sorted.begin(), sorted.end());
  CHECK(std::adjacent_find(sorted.begin(), sorted.end()) == sorted.end());
  CHECK(sorted.size() == 10);
  // Ten concepts in four tasks: the first two take the remainder.
  CHECK(TaskSizes(a) == std::vector<size_t>{3, 3, 2, 2});
  CHECK(a["tasks"][0]["samples"] == 18000);

  // Time-incremental: fashion (2017) before shapes (2021); dataset-incremental: one
  // task per dataset, in the order given.
  const std::string two = "name: s\nconcepts: [shapes, 'fashion:0-1']\n";
  json time = Plan(dir, two + "tasks: 5\nordering: time-incremental\n");
  CHECK(Order(time).front().size() == 1);  // fashion's classes are named a, b, ...
  CHECK(time["order"][0]["score"] == 2017.0);
  CHECK(time["order"][4]["score"] == 2021.0);
  // A year per sample: a concept's year is its samples' median; sedans (2004) come
  // before fashion (2017), trucks (2019) and shapes (2021).
  json dated = Plan(dir, "name: s\nconcepts: [shapes, cars, 'fashion:0']\ntasks: 3\nordering: time-incremental\n");
  const std::vector<std::string> by_year = Order(dated);
  REQUIRE(by_year.size() == 6);
  CHECK(std::vector<std::string>(by_year.begin(), by_year.begin() + 3) == std::vector<std::string>{"sedan", "a", "truck"});
  CHECK(std::set<std::string>(by_year.begin() + 3, by_year.end()) == std::set<std::string>{"circle", "square", "star"});
  CHECK(dated["order"][0]["score"] == 2004.0);
  CHECK(dated["order"][2]["score"] == 2019.0);
  CHECK(dated["tasks"][0]["samples"] == 3 + 6000);
  CHECK_THAT(dated["notes"][0].get<std::string>(), Contains("a year per sample of cars"));
  json datasets = Plan(dir, two + "ordering: dataset-incremental\n");
  CHECK(TaskSizes(datasets) == std::vector<size_t>{3, 2});
  CHECK(datasets["tasks"][1]["data"] == json::array({"fashion:0,1@train"}));

  // The update block: the level's defaults with the file's keys on top, and a
  // total budget (memory-adjusted FLOPs) split evenly.
  json options = Plan(dir, head + "tasks: 3\nupdate: {level: patch, method: lora, rank: 2, total_budget: 3e12}\n");
  CHECK(options["level"] == "patch");
  CHECK(options["update"]["method"]["name"] == "lora");
  CHECK(options["update"]["method"]["rank"] == 2);
  CHECK(options["tasks"][0]["budget"] == "1T MAF");
}

TEST_CASE("stream plan warns about tasks whose batches hold one caption", "[cli][stream]") {
  TempDir dir;
  MakeRepository(dir);
  WriteFile(dir / "repo" / "s.yaml", "name: s\nconcepts: [shapes]\ntasks: 3\nupdate: {replay: 0/1/0}\n");
  RunResult r = RunFomo({"stream", "plan", "s.yaml"}, dir / "repo");
  REQUIRE(r.exit_code == 0);
  CHECK_THAT(r.err, Contains("collapses"));
  WriteFile(dir / "repo" / "s.yaml", "name: s\nconcepts: [shapes]\ntasks: 1\nupdate: {replay: 0/1/0}\n");
  r = RunFomo({"stream", "plan", "s.yaml"}, dir / "repo");
  REQUIRE(r.exit_code == 0);
  CHECK(r.err.find("collapses") == std::string::npos);
}

TEST_CASE("concept-similarity walks the base's text embeddings from a seeded start", "[cli][stream]") {
  TempDir dir;
  MakeRepository(dir);
  const std::vector<std::string> classes = {"a", "b", "c", "d", "e", "f", "g", "h", "i", "j"};
  // The class embeddings computed apart from the plan: fomo embed's normalised text
  // features of both templates, averaged and renormalised.
  std::vector<std::string> args = {"embed", "--json"};
  for (const auto& c : classes) {
    for (const std::string& tmpl : {"a photo of a " + c + ".", "a sketch of the " + c}) {
      args.push_back("--text");
      args.push_back(tmpl);
    }
  }
  RunResult embedded = RunFomo(args, dir / "repo");
  REQUIRE(embedded.exit_code == 0);
  const json rows = json::parse(embedded.out)["text_features"];
  std::vector<std::vector<double>> unit;
  for (size_t k = 0; k < classes.size(); ++k) {
    std::vector<double> v(rows[0].size(), 0.0);
    for (size_t d = 0; d < v.size(); ++d) v[d] = rows[2 * k][d].get<double>() + rows[2 * k + 1][d].get<double>();
    double norm = 0;
    for (double x : v) norm += x * x;
    for (double& x : v) x /= std::sqrt(norm);
    unit.push_back(v);
  }
  auto cosine = [&](size_t a, size_t b) {
    double dot = 0;
    for (size_t d = 0; d < unit[a].size(); ++d) dot += unit[a][d] * unit[b][d];
    return dot;
  };
  const std::string head = "name: s\nconcepts: [fashion]\ntasks: 5\n";
  std::set<int> starts;
  for (int seed : {0, 1, 2, 3}) {
    json plan = Plan(dir, head + "ordering: {kind: concept-similarity, seed: " + std::to_string(seed) + "}\n");
    CHECK(plan["score"] == "cosine similarity to the previous concept");
    std::vector<size_t> path;
    for (const auto& c : plan["order"]) path.push_back(c["class"].get<size_t>());
    REQUIRE(path.size() == 10);
    starts.insert(static_cast<int>(path[0]));
    std::set<size_t> left(path.begin(), path.end());
    left.erase(path[0]);
    for (size_t k = 1; k < path.size(); ++k) {
      // Each next concept is the unvisited one nearest the current.
      for (size_t other : left) CHECK(cosine(path[k - 1], path[k]) >= cosine(path[k - 1], other) - 1e-5);
      CHECK(plan["order"][k]["score"].get<double>() == Approx(cosine(path[k - 1], path[k])).margin(1e-5));
      left.erase(path[k]);
    }
    // The same plan again; reversed, the same path backwards.
    CHECK(Plan(dir, head + "ordering: {kind: concept-similarity, seed: " + std::to_string(seed) + "}\n") == plan);
    json back = Plan(dir, head + "ordering: {kind: concept-similarity, seed: " + std::to_string(seed) +
                              ", reverse: true}\n");
    std::vector<size_t> reversed;
    for (const auto& c : back["order"]) reversed.push_back(c["class"].get<size_t>());
    std::reverse(reversed.begin(), reversed.end());
    CHECK(reversed == path);
  }
  CHECK(starts.size() > 1);  // the seed picks the start
}

TEST_CASE("concept-frequency counts the class names in the pretraining captions", "[cli][stream]") {
  TempDir dir;
  MakeRepository(dir);
  // Captions naming star once, square twice and circle three times: rarest first is
  // star, square, circle, where the training samples (circle 1, star 2, square 3)
  // would say circle, star, square.
  WritePng(dir / "p.png", 16, 16, 3, 50);
  WriteFile(dir / "captions.csv",
            "filepath,title\np.png,a Circle\np.png,a circle beside a square\np.png,circles and a circle\n"
            "p.png,a square and a star\np.png,a plain tile\n");
  fs::create_directories(dir / "pre");
  WriteFile(dir / "pre" / "fomo.yaml", ReadFile(dir / "repo" / "fomo.yaml") +
                                           "  captions:\n    kind: csv\n    splits: {train: " +
                                           (dir / "captions.csv").string() + ", test: " +
                                           (dir / "captions.csv").string() + "}\n");
  RunResult init = RunFomo({"init", "--arch", "tiny", "--pretrain", "captions@train", "--steps", "1", "--batch-size",
                            "4", "--no-eval", "-q"},
                           dir / "pre");
  INFO(init.err);
  REQUIRE(init.exit_code == 0);
  WriteFile(dir / "pre" / "s.yaml", "name: s\nconcepts: [shapes]\ntasks: 3\nordering: concept-frequency\n");
  RunResult r = RunFomo({"stream", "plan", "s.yaml", "--json"}, dir / "pre");
  INFO(r.err);
  REQUIRE(r.exit_code == 0);
  const json plan = json::parse(r.out);
  CHECK(Order(plan) == std::vector<std::string>{"star", "square", "circle"});
  CHECK(plan["score"] == "mentions in the pretraining captions");
  CHECK(plan["order"][2]["score"] == 3.0);
  CHECK_THAT(plan["notes"][0].get<std::string>(), Contains("5 captions") && Contains("captions@train"));
  // Without pretraining data the plan says it fell back to the samples.
  const json fallback = Plan(dir, "name: s\nconcepts: [shapes]\ntasks: 3\nordering: concept-frequency\n");
  CHECK(fallback["score"] == "training samples");
  CHECK_THAT(fallback["notes"][0].get<std::string>(), Contains("no pretraining data"));
}

TEST_CASE("bad stream files are refused in one line and change nothing", "[cli][stream]") {
  TempDir dir;
  MakeRepository(dir);
  const auto before = RepositorySnapshot(dir / "repo");
  struct Case {
    std::string file, message;
  };
  const std::vector<Case> cases = {
      {"name: s\nconcepts: [shapes]\ntasks: 2\ncolour: red\n", "line 4: unknown key 'colour'"},
      {"name: s\nconcepts: [shapes]\ntasks: 2\nupdate: {steps: 5, speed: 3}\n", "line 4: unknown key 'update.speed'"},
      {"name: s\nconcepts: [cifar]\ntasks: 2\n", "cifar"},
      {"name: s\nconcepts: [shapes]\ntasks: 4\n", "4 tasks for 3 concepts"},
      {"name: s\nconcepts: [fmnist]\ntasks: 2\nordering: time-incremental\n", "needs a year for dataset 'fmnist'"},
      {"name: s\nconcepts: [plain]\ntasks: 2\nordering: time-incremental\n", "needs a year for dataset 'plain'"},
      {"name: s\nconcepts: [shapes]\ntasks: 2\nordering: sideways\n", "unknown ordering 'sideways'"},
      {"name: s\nconcepts: [shapes, 'shapes:1']\ntasks: 2\n", "named twice"},
      {"name: 'a b'\nconcepts: [shapes]\ntasks: 2\n", "stream name 'a b'"},
      {"concepts: [shapes]\ntasks: 2\n", "needs a name"},
      {"name: s\nconcepts: [shapes]\ntasks: [2]\n", "line 3"},
      {"name: s\nconcepts: [shapes]\ntasks: 2\nbase: v9.9.9\n", "unknown revision 'v9.9.9'"},
      {"name: s\nconcepts: [shapes]\n  tasks: 2\n", "s.yaml: line"},
  };
  for (const auto& c : cases) {
    INFO(c.file);
    WriteFile(dir / "repo" / "s.yaml", c.file);
    RunResult r = RunFomo({"stream", "plan", "s.yaml"}, dir / "repo");
    CHECK(r.exit_code == 1);
    CHECK_THAT(r.err, Contains(c.message));
    CHECK(std::count(r.err.begin(), r.err.end(), '\n') == 1);
  }
  fs::remove(dir / "repo" / "s.yaml");
  CHECK(RepositorySnapshot(dir / "repo") == before);
  RunResult missing = RunFomo({"stream", "plan", "absent.yaml"}, dir / "repo");
  CHECK(missing.exit_code == 1);
  CHECK_THAT(missing.err, Contains("absent.yaml"));
}

namespace {

// A repository whose v1.0.0 is tiny pretrained for a few steps on classes 0-4.
void InitStreamRepository(const fs::path& dir) {
  fs::create_directories(dir);
  WriteFile(dir / "fomo.yaml", "suites:\n  adaptation: auto\n  retention: ['fmnist:0-4#100']\n");
  RunResult r = RunFomo({"init", "--arch", "tiny", "--pretrain", "fmnist:0-4#200", "--steps", "4", "--batch-size", "16",
                         "--no-eval", "-q"},
                        dir);
  INFO(r.err);
  REQUIRE(r.exit_code == 0);
  WriteFile(dir / "s.yaml",
            "name: fashion\nconcepts: ['fmnist:5-7']\ntasks: 3\nordering: {kind: random, seed: 3}\n"
            "update: {level: minor, steps: 4, batch_size: 16, replay: 0.33/0.34/0.33}\n");
}

std::map<std::string, std::string> ExportedTip(const fs::path& dir) {
  const fs::path out = dir / "tip.safetensors";
  REQUIRE(RunFomo({"export", "stream/fashion", "-o", out.string(), "-q"}, dir).exit_code == 0);
  return TensorBytes(out);
}

bool HaveFashionMnist() { return fs::exists("/usr/share/datasets/fashion-mnist"); }

}  // namespace

TEST_CASE("stream run makes a tagged version per task on its branch and resumes to the same versions",
          "[cli][stream][train]") {
  if (!HaveFashionMnist()) FOMO_SKIP("dataset-fashion-mnist is not installed (scripts/setup.sh installs it)");
  TempDir dir;
  const fs::path a = dir / "a", b = dir / "b", c = dir / "c";
  InitStreamRepository(a);
  RunResult run = RunFomo({"stream", "run", "s.yaml", "--no-eval", "--json"}, a);
  INFO(run.err);
  REQUIRE(run.exit_code == 0);
  const json made = json::parse(run.out);
  REQUIRE(made["versions"].size() == 3);
  std::set<std::string> concepts;
  for (int task = 1; task <= 3; ++task) {
    const std::string tag = "v1." + std::to_string(task) + ".0";
    CHECK(made["versions"][task - 1]["version"] == tag.substr(1));
    const json shown = json::parse(RunFomo({"show", tag, "--json"}, a).out);
    CHECK(shown["recipe"]["stream"]["name"] == "fashion");
    CHECK(shown["recipe"]["stream"]["task"] == task);
    CHECK(shown["recipe"]["stream"]["tasks"] == 3);
    CHECK(shown["recipe"]["task_index"] == task - 1);
    REQUIRE(shown["recipe"]["stream"]["concepts"].size() == 1);
    concepts.insert(shown["recipe"]["stream"]["concepts"][0].get<std::string>());
    // Every earlier task is in the buffer.
    CHECK(shown["recipe"]["buffer_data"].size() == static_cast<size_t>(task - 1));
  }
  CHECK(concepts == std::set<std::string>{"sandal", "shirt", "sneaker"});
  const json tip = json::parse(RunFomo({"show", "stream/fashion", "--json"}, a).out);
  CHECK(tip["version"] == "1.3.0");
  CHECK(json::parse(RunFomo({"show", "--json"}, a).out)["version"] == "1.0.0");  // HEAD stays where it was
  // Started once: running it again is refused, resuming a finished stream does nothing.
  RunResult again = RunFomo({"stream", "run", "s.yaml", "--no-eval"}, a);
  CHECK(again.exit_code == 1);
  CHECK_THAT(again.err, Contains("--resume"));
  RunResult finished = RunFomo({"stream", "run", "s.yaml", "--resume", "--no-eval", "--json"}, a);
  CHECK(finished.exit_code == 0);
  CHECK(json::parse(finished.out)["versions"].empty());
  const auto uninterrupted = ExportedTip(a);

  // The report measures the base and every task on the same suites: A_KA over
  // every task's test data, A_ZS over the retention suite.
  RunResult reported = RunFomo({"stream", "report", "fashion", "--json"}, a);
  INFO(reported.err);
  REQUIRE(reported.exit_code == 0);
  const json report = json::parse(reported.out);
  REQUIRE(report["points"].size() == 4);
  CHECK(report["points"][0]["version"] == "v1.0.0");
  CHECK(report["suites"]["accumulation"].size() == 3);
  double mean_retention = 0;
  for (size_t k = 0; k < 4; ++k) {
    const json& p = report["points"][k];
    CHECK(p["task"] == static_cast<int>(k));
    // A_KA is the mean of the stored top-1 of the tasks' test sets, as show reads them.
    const json metrics = json::parse(RunFomo({"show", p["version"].get<std::string>(), "--json"}, a).out)["metrics"];
    double sum = 0;
    for (const auto& key : report["suites"]["accumulation"]) sum += metrics[key.get<std::string>()]["top1"].get<double>();
    CHECK(p["accumulation"].get<double>() == Approx(sum / 3));
    CHECK(p["retention"].get<double>() == Approx(metrics["fmnist:0-4#100"]["top1"].get<double>()));
    if (k > 0) mean_retention += p["retention"].get<double>() / 3;
  }
  CHECK(report["summary"]["mean_retention"].get<double>() == Approx(mean_retention));
  CHECK(report["summary"]["final_accumulation"] == report["points"][3]["accumulation"]);
  CHECK(RunFomo({"stream", "report", "nothing"}, a).exit_code == 1);

  // easy-to-hard: the base's zero-shot top-1 on each concept, highest first, as the
  // evaluation stores it; reversed, lowest first.
  WriteFile(a / "e.yaml", "name: e\nbase: v1.0.0\nconcepts: [fmnist]\ntasks: 2\nordering: easy-to-hard\n");
  RunResult easy = RunFomo({"stream", "plan", "e.yaml", "--json"}, a);
  INFO(easy.err);
  REQUIRE(easy.exit_code == 0);
  const json ordered = json::parse(easy.out)["order"];
  REQUIRE(ordered.size() == 10);
  const json base_metrics = json::parse(RunFomo({"show", "v1.0.0", "--json"}, a).out)["metrics"];
  for (size_t k = 0; k < ordered.size(); ++k) {
    const std::string key = "fmnist:" + std::to_string(ordered[k]["class"].get<int>());
    CHECK(ordered[k]["score"].get<double>() == Approx(base_metrics[key]["top1"].get<double>()));
    if (k > 0) CHECK(ordered[k - 1]["score"].get<double>() >= ordered[k]["score"].get<double>());
  }
  WriteFile(a / "e.yaml", "name: e\nbase: v1.0.0\nconcepts: [fmnist]\ntasks: 2\nordering: {kind: easy-to-hard, reverse: true}\n");
  const json hard = json::parse(RunFomo({"stream", "plan", "e.yaml", "--json"}, a).out)["order"];
  CHECK(hard.front()["score"] == ordered.back()["score"]);
  CHECK(hard.back()["score"] == ordered.front()["score"]);

  // Stopped inside the first task's training (Ctrl-C), then resumed.
  InitStreamRepository(b);
  RunResult stopped = RunFomo({"stream", "run", "s.yaml", "--no-eval", "-q"}, b, {{"FOMO_STOP_AFTER_STEP", "2"}});
  CHECK(stopped.exit_code == 130);
  // fomo status says where the stream stands and how to go on.
  const json waiting = json::parse(RunFomo({"status", "--json"}, b).out);
  REQUIRE(waiting["streams"].size() == 1);
  CHECK(waiting["streams"][0]["state"] == "in progress");
  CHECK(waiting["streams"][0]["tasks_done"] == 0);
  CHECK(waiting["training"]["line"] == "stream/fashion");
  CHECK_THAT(RunFomo({"status"}, b).out, Contains("fomo stream run FILE --resume"));
  RunResult resumed = RunFomo({"stream", "run", "s.yaml", "--resume", "--no-eval", "-q"}, b);
  INFO(resumed.err);
  REQUIRE(resumed.exit_code == 0);
  CHECK(ExportedTip(b) == uninterrupted);

  // Killed (SIGKILL) right after the first task's version was recorded, before the
  // next began, then resumed.
  InitStreamRepository(c);
  RunResult killed = RunFomo({"stream", "run", "s.yaml", "--no-eval", "-q"}, c, {{"FOMO_CRASH_AT", "database-written"}});
  CHECK(killed.exit_code == -9);
  RunResult continued = RunFomo({"stream", "run", "s.yaml", "--resume", "--no-eval", "--json"}, c);
  INFO(continued.err);
  REQUIRE(continued.exit_code == 0);
  CHECK(json::parse(continued.out)["tasks_done_before"] == 1);
  const json status = json::parse(RunFomo({"status", "--json"}, c).out);
  REQUIRE(status["streams"].size() == 1);
  CHECK(status["streams"][0]["state"] == "done");
  CHECK(status["streams"][0]["tasks_done"] == 3);
  CHECK(ExportedTip(c) == uninterrupted);
  const json log = json::parse(RunFomo({"log", "stream/fashion", "--json"}, c).out);
  CHECK(log.size() == 4);  // the three tasks and the base, nothing twice
}

TEST_CASE("a task rejected by the stream's gate stops the stream with exit 3", "[cli][stream][train]") {
  if (!HaveFashionMnist()) FOMO_SKIP("dataset-fashion-mnist is not installed (scripts/setup.sh installs it)");
  TempDir dir;
  InitStreamRepository(dir.path());
  RunResult r = RunFomo({"stream", "run", "s.yaml", "--require", "adaptation > 101", "-q"}, dir.path());
  CHECK(r.exit_code == 3);
  CHECK_THAT(r.err, Contains("stopped at task 1 of 3"));
  const std::string branches = RunFomo({"branch"}, dir.path()).out;
  CHECK_THAT(branches, Contains("rejected/"));
  // The stream's branch did not advance past its base.
  CHECK(json::parse(RunFomo({"show", "stream/fashion", "--json"}, dir.path()).out)["version"] == "1.0.0");
}

TEST_CASE("the joint reference gives the report its trade-off line, and a collapse is flagged", "[cli][stream][train]") {
  if (!HaveFashionMnist()) FOMO_SKIP("dataset-fashion-mnist is not installed (scripts/setup.sh installs it)");
  TempDir dir;
  const fs::path repo = dir.path();
  // A base well above chance on its retention suite (5 classes: chance 20).
  WriteFile(repo / "fomo.yaml", "suites:\n  adaptation: auto\n  retention: ['fmnist:0-4#100']\n");
  REQUIRE(RunFomo({"init", "--arch", "tiny", "--pretrain", "fmnist:0-4#1000", "--steps", "40", "--batch-size", "32", "-q"},
                  repo)
              .exit_code == 0);
  const std::string base = json::parse(RunFomo({"show", "--json"}, repo).out)["commit"];
  // One class per task, no replay: each task's batches hold one caption. The EMA
  // merge keeps the tasks near the base; the joint reference has no merge, and its
  // contrastive training on the two captions alone loses the base's classes.
  WriteFile(repo / "s.yaml",
            "name: two\nconcepts: ['fmnist:5-6']\ntasks: 2\n"
            "update: {level: minor, steps: 10, batch_size: 16, replay: 0/1/0, lr: 0.001, merge: ema:0.9}\n");
  RunResult run = RunFomo({"stream", "run", "s.yaml", "--joint", "--no-eval", "--json"}, repo);
  INFO(run.err);
  REQUIRE(run.exit_code == 0);
  const json made = json::parse(run.out);
  REQUIRE(made["joint"].is_object());
  CHECK(made["joint"]["made"] == true);
  const std::string joint_version = "v" + made["joint"]["version"].get<std::string>();
  const json joint = json::parse(RunFomo({"show", "stream-joint/two", "--json"}, repo).out);
  CHECK(joint["parents"] == json::array({base}));
  CHECK(joint["recipe"]["stream"]["reference"] == "joint");
  CHECK(joint["recipe"]["data"].size() == 2);  // both tasks' data
  CHECK(joint["recipe"]["steps"] == 20);       // both tasks' budgets
  CHECK(!joint["recipe"].contains("merge"));
  CHECK(json::parse(RunFomo({"show", "stream/two", "--json"}, repo).out)["recipe"].contains("merge"));
  // Made once: resuming with --joint again makes nothing.
  RunResult again = RunFomo({"stream", "run", "s.yaml", "--resume", "--joint", "--no-eval", "--json"}, repo);
  REQUIRE(again.exit_code == 0);
  CHECK(json::parse(again.out)["joint"]["made"] == false);
  CHECK(json::parse(RunFomo({"log", "stream-joint/two", "--json"}, repo).out).size() == 2);
  CHECK(RunFomo({"stream", "plan", "s.yaml", "--joint"}, repo).exit_code == 2);

  RunResult reported = RunFomo({"stream", "report", "two", "--json"}, repo);
  INFO(reported.err);
  REQUIRE(reported.exit_code == 0);
  const json report = json::parse(reported.out);
  REQUIRE(report["joint"].is_object());
  CHECK(report["joint"]["version"] == joint_version);
  CHECK(report["retention_chance"].get<double>() == Approx(20));
  const json& b = report["points"][0];
  const json& j = report["joint"];
  const double bx = b["accumulation"], by = b["retention"], jx = j["accumulation"], jy = j["retention"];
  REQUIRE(std::hypot(jx - bx, jy - by) > 1);
  // Both ends lie on the line; every point's distance is its signed distance from it.
  CHECK(b["distance"].get<double>() == Approx(0).margin(1e-9));
  CHECK(j["distance"].get<double>() == Approx(0).margin(1e-9));
  double sum = 0;
  for (size_t k = 1; k < report["points"].size(); ++k) {
    const json& p = report["points"][k];
    const double px = p["accumulation"], py = p["retention"];
    const double line_y = by + (jy - by) * (px - bx) / (jx - bx);
    const double cross = (jx - bx) * (py - by) - (jy - by) * (px - bx);
    const double expected = (jx < bx ? -cross : cross) / std::hypot(jx - bx, jy - by);
    CHECK(p["distance"].get<double>() == Approx(expected));
    CHECK((p["distance"].get<double>() > 0) == (py > line_y));  // positive above the line
    sum += expected;
  }
  CHECK(report["summary"]["mean_distance"].get<double>() == Approx(sum / 2));
  // The base is above chance; the EMA-merged tasks kept it; the joint fell to chance.
  CHECK(by > 25);
  CHECK(b["collapsed"] == false);
  CHECK(report["points"][1]["collapsed"] == false);
  CHECK(report["points"][2]["collapsed"] == false);
  CHECK(j["retention"].get<double>() <= 25);
  CHECK(j["collapsed"] == true);
  const std::string text = RunFomo({"stream", "report", "two"}, repo).out;
  CHECK_THAT(text, Contains("[collapsed]"));
  CHECK_THAT(text, Contains("collapsed: " + joint_version));
  CHECK_THAT(text, Contains("joint  " + joint_version));
}

TEST_CASE("a reservoir buffer bounds what each task replays and is the same in every run", "[cli][stream][train]") {
  if (!HaveFashionMnist()) FOMO_SKIP("dataset-fashion-mnist is not installed (scripts/setup.sh installs it)");
  TempDir dir;
  const fs::path a = dir / "a", b = dir / "b";
  std::vector<std::map<std::string, std::string>> tips;
  for (const fs::path& repo : {a, b}) {
    InitStreamRepository(repo);
    // The buffer key before the update's: read in either order.
    WriteFile(repo / "s.yaml",
              "name: fashion\nconcepts: ['fmnist:5-7']\ntasks: 3\nbuffer: {reservoir: 100}\n"
              "ordering: {kind: random, seed: 3}\nupdate: {level: minor, steps: 4, batch_size: 16}\n");
    const json plan = json::parse(RunFomo({"stream", "plan", "s.yaml", "--json"}, repo).out);
    CHECK(plan["buffer"] == json{{"reservoir", 100}});
    RunResult run = RunFomo({"stream", "run", "s.yaml", "--no-eval", "-q"}, repo);
    INFO(run.err);
    REQUIRE(run.exit_code == 0);
    tips.push_back(ExportedTip(repo));
  }
  for (int task = 2; task <= 3; ++task) {
    const json recipe = json::parse(RunFomo({"show", "v1." + std::to_string(task) + ".0", "--json"}, a).out)["recipe"];
    CHECK(recipe["options"]["buffer_reservoir"] == 100);
    CHECK(recipe["buffer_data"].size() == static_cast<size_t>(task - 1));  // drawn from every earlier task
    CHECK(recipe["mixture"]["buffer"]["images"] == 100);                   // of their 6,000 images each
  }
  CHECK(tips[0] == tips[1]);
}
