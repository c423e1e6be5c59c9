// fomo status: where HEAD is, what the store holds, and anything that needs care
// (an interrupted write, database rows to repair).
#include <iostream>
#include <set>

#include <fmt/format.h>

#include "cmd/command.hpp"
#include "cmd/output.hpp"
#include "core/safetensors.hpp"
#include "storage/atomic_file.hpp"
#include "storage/training_runs.hpp"
#include "train/history.hpp"
#include "storage/versions.hpp"

namespace fomo::cmd {

namespace {

uint64_t DirectoryBytes(const fs::path& dir, size_t* files) {
  uint64_t total = 0;
  std::error_code ec;
  for (auto it = fs::recursive_directory_iterator(dir, ec); !ec && it != fs::recursive_directory_iterator();
       it.increment(ec)) {
    if (it->is_regular_file(ec)) {
      total += it->file_size(ec);
      if (files) ++*files;
    }
  }
  return total;
}

int RunStatus(Context& ctx) {
  Repository& repo = ctx.repo();
  const Graph& graph = repo.graph();
  HeadState head = graph.Head();
  std::optional<StoredVersion> current;
  if (head.commit) current = LoadVersion(graph, *head.commit);
  size_t object_files = 0;
  uint64_t object_bytes = DirectoryBytes(repo.fomo_dir() / "objects", &object_files);
  // Files are loose objects, packs and the FORMAT file; count the packs' objects instead.
  const size_t packs = repo.objects().PackPaths().size();
  const size_t format_files = repo.objects().format() >= 2 ? 1 : 0;
  object_files = object_files >= packs + format_files ? object_files - packs - format_files : 0;
  object_files += repo.objects().PackedCount();
  uint64_t graph_bytes = DirectoryBytes(repo.fomo_dir() / "graph", nullptr);
  uint64_t db_bytes = 0;
  for (const char* name : {"fomo.sqlite", "fomo.sqlite-wal"}) {
    std::error_code ec;
    auto size = fs::file_size(repo.fomo_dir() / name, ec);
    if (!ec) db_bytes += size;
  }
  size_t missing_rows = 0;
  std::vector<CommitId> reachable = graph.ReachableCommits();
  // One query for every row, not one per version.
  std::set<std::string> rows;
  for (const auto& row : repo.db().AllVersions()) rows.insert(row.commit);
  for (const auto& commit : reachable) missing_rows += rows.count(commit) == 0;
  // Trainings running now, and interrupted ones waiting in .fomo/train.
  nlohmann::json trainings = nlohmann::json::array();
  for (const auto& r : ListTrainingRuns(repo.fomo_dir())) {
    const nlohmann::json run = r.run.is_object() ? r.run : nlohmann::json::object();
    nlohmann::json t = {{"level", run.value("level", "")},
                        {"from", run.value("from", "")},
                        {"line", run.value("line", "")},
                        {"state", r.running ? "running" : "interrupted"},
                        {"pid", r.running ? nlohmann::json(r.pid) : nlohmann::json(nullptr)},
                        {"run", run.contains("run_id") ? run["run_id"] : nlohmann::json(nullptr)},
                        {"step", nullptr}};
    if (fs::exists(r.state_file())) {
      try {
        auto file = core::SafetensorsFile::Open(r.state_file());
        t["step"] = std::stoll(file.metadata().at("step"));
      } catch (const std::exception&) {
      }
    }
    if (run.contains("options")) t["options"] = run["options"];
    trainings.push_back(std::move(t));
  }
  // Streams: every stream/ branch, with the tasks done and how many its versions say it has.
  nlohmann::json streams = nlohmann::json::array();
  for (const auto& branch : graph.Branches()) {
    if (branch.rfind("stream/", 0) != 0) continue;
    const std::string name = branch.substr(7);
    const std::vector<train::StreamStep> done = train::ReadStreamSteps(graph, name);
    const nlohmann::json tasks = done.empty() ? nlohmann::json(nullptr) : done.back().stream.value("tasks", nlohmann::json(nullptr));
    const bool finished = tasks.is_number() && done.size() >= tasks.get<size_t>();
    streams.push_back({{"name", name},
                       {"branch", branch},
                       {"tasks_done", done.size()},
                       {"tasks", tasks},
                       {"state", finished ? "done" : "in progress"}});
  }
  // The first of them, for scripts written before several could run.
  const nlohmann::json training = trainings.empty() ? nlohmann::json(nullptr) : trainings.front();
  if (ctx.global.json) {
    PrintJson({{"root", repo.root().string()},
               {"branch", head.branch ? nlohmann::json(*head.branch) : nlohmann::json(nullptr)},
               {"commit", head.commit ? nlohmann::json(*head.commit) : nlohmann::json(nullptr)},
               {"version", current ? nlohmann::json(current->version.ToString()) : nlohmann::json(nullptr)},
               {"versions", reachable.size()},
               {"branches", graph.Branches().size()},
               {"storage",
                {{"objects", object_files},
                 {"object_bytes", object_bytes},
                 {"graph_bytes", graph_bytes},
                 {"database_bytes", db_bytes}}},
               {"missing_database_rows", missing_rows},
               {"shallow_versions", repo.ShallowVersions().size()},
               {"training", training},
               {"trainings", trainings},
               {"streams", streams}});
    return 0;
  }
  if (head.branch) {
    std::cout << fmt::format("On branch {}\n", *head.branch);
  } else {
    std::cout << "HEAD detached\n";
  }
  if (current) {
    std::cout << fmt::format("HEAD is {} ({}): {}\n", current->version.Tag(), ShortId(current->commit.id),
                             MessageLine(current->commit.message));
  }
  std::cout << fmt::format("{} versions on {} branches\n", reachable.size(), graph.Branches().size());
  std::cout << fmt::format("store: {} objects, {}; graph {}; database {}\n", object_files,
                           FormatBytes(object_bytes), FormatBytes(graph_bytes), FormatBytes(db_bytes));
  if (const size_t shallow = repo.ShallowVersions().size()) {
    std::cout << fmt::format("shallow clone: {} version{} without {} tensors ('fomo fetch --unshallow' brings them)\n",
                             shallow, shallow == 1 ? "" : "s", shallow == 1 ? "its" : "their");
  }
  if (trainings.empty()) std::cout << "no training in progress\n";
  for (const auto& t : trainings) {
    const std::string level = t["level"].get<std::string>();
    const std::string line = t["line"].get<std::string>().empty() ? "" : " on " + t["line"].get<std::string>();
    const std::string from = ShortId(t["from"].get<std::string>());
    if (t["state"] == "running") {
      std::cout << fmt::format("a 'fomo {}'{} from {} is running (pid {}){}\n", level, line, from,
                               t["pid"].get<std::string>(),
                               t["step"].is_null() ? "" : fmt::format(", saved at step {}", t["step"].get<int64_t>()));
      continue;
    }
    std::string step = t["step"].is_null() ? "before its first checkpoint"
                                           : fmt::format("at step {}", t["step"].get<int64_t>());
    if (t["line"].get<std::string>().rfind("stream/", 0) == 0) {
      std::cout << fmt::format("an interrupted task of the stream on {} is saved {}: 'fomo stream run FILE --resume' "
                               "finishes it\n",
                               t["line"].get<std::string>(), step);
      continue;
    }
    if (t["line"].get<std::string>().rfind("stream-joint/", 0) == 0) {
      std::cout << fmt::format("an interrupted joint reference of a stream on {} is saved {}: 'fomo stream run FILE "
                               "--resume --joint' finishes it\n",
                               t["line"].get<std::string>(), step);
      continue;
    }
    std::cout << fmt::format("an interrupted 'fomo {0}'{1} from {2} is saved {3}: 'fomo {0} --resume' finishes it, "
                             "'fomo {0} --abort' drops it\n",
                             level, line, from, step);
  }
  for (const auto& s : streams) {
    if (s["state"] == "done") continue;
    std::cout << fmt::format("stream {} in progress on {}: {} of {} tasks done; 'fomo stream run FILE --resume' "
                             "continues it\n",
                             s["name"].get<std::string>(), s["branch"].get<std::string>(), s["tasks_done"].get<size_t>(),
                             s["tasks"].is_null() ? std::string("?") : std::to_string(s["tasks"].get<size_t>()));
  }
  if (missing_rows) {
    std::cout << fmt::format("{} versions lack their database row (an interrupted commit): run "
                             "'fomo fsck --repair'\n",
                             missing_rows);
  }
  return 0;
}

}  // namespace

Runner SetupStatus(CommandLine& cli) {
  return [](Context& ctx) { return RunStatus(ctx); };
}

}  // namespace fomo::cmd
