// fomo.sqlite: versions, evaluations, training runs and their per-step logs, releases. The
// schema is versioned with PRAGMA user_version; the journal is WAL; every write is
// a transaction.
#pragma once

#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <vector>

#include "storage/budget.hpp"

struct sqlite3;

namespace fomo {

namespace fs = std::filesystem;

struct VersionRow {
  std::string commit;
  std::string version;  // "1.2.0"
  std::vector<std::string> parents;
  std::string message;
  std::string kind;  // import, commit, train, merge
  int64_t created_at = 0;
  uint64_t raw_bytes = 0;
  uint64_t stored_bytes = 0;
  Budget budget;
};

struct EvaluationRow {
  std::string commit;
  std::string dataset;  // selector without its split, e.g. "fmnist:5-9"
  std::string split;
  std::string metric;   // top1, top5, ...
  double value = 0;
  std::string config_hash;  // what the evaluation ran with; a change re-measures
  int64_t created_at = 0;
};

// A version tag marked released: it names its weights forever (never deleted).
struct ReleaseRow {
  std::string tag;     // "v1.2.0"
  std::string commit;
  int64_t released_at = 0;
  std::string how;     // "marked" (fomo tag --release), "pushed"
};

struct TrainingStepRow {
  int64_t step = 0;  // 1-based
  double loss = 0;
  double lr = 0;
  double samples_per_second = 0;
};

class Database {
 public:
  static constexpr int kSchemaVersion = 2;

  // Opens (creating when asked) and migrates to kSchemaVersion. Refuses a database
  // written by a newer fomo.
  static Database Open(const fs::path& path, bool create);
  static Database OpenReadOnly(const fs::path& path);
  ~Database();
  Database(Database&& other) noexcept;
  Database& operator=(Database&& other) noexcept;
  Database(const Database&) = delete;
  Database& operator=(const Database&) = delete;

  int SchemaVersion() const;
  // Opened read-only (a read-only file system or directory): every write refuses.
  bool read_only() const { return read_only_; }
  // What differs from the schema this fomo writes: the version, missing or
  // redefined tables and indexes. Empty when all is well.
  std::vector<std::string> SchemaProblems() const;
  // Recreates what is missing and rebuilds what is defined otherwise (keeping the
  // rows of the columns both definitions share); returns what it did.
  std::vector<std::string> RepairSchema();

  void InsertVersion(const VersionRow& row);
  std::optional<VersionRow> FindVersion(const std::string& commit) const;
  std::vector<VersionRow> AllVersions() const;
  void DeleteVersion(const std::string& commit);

  // Inserts (or replaces) rows in one transaction.
  void InsertEvaluations(const std::vector<EvaluationRow>& rows);

  // Training runs: a row when a run starts, its steps as they are logged, the
  // commit and status ("committed", "rejected", "failed") when it ends.
  int64_t BeginTrainingRun(const std::string& parent_commit, const std::string& level, const std::string& recipe);
  void InsertTrainingSteps(int64_t run_id, const std::vector<TrainingStepRow>& steps);
  void FinishTrainingRun(int64_t run_id, const std::string& status, const std::optional<std::string>& commit);
  std::vector<TrainingStepRow> TrainingSteps(int64_t run_id) const;
  // The run that made a version, if fomo trained it.
  std::optional<int64_t> TrainingRunOf(const std::string& commit) const;
  std::vector<EvaluationRow> Evaluations(const std::string& commit) const;

  // Marks a version tag released (a second mark keeps the first).
  void MarkReleased(const ReleaseRow& row);
  std::optional<ReleaseRow> FindRelease(const std::string& tag) const;
  std::vector<ReleaseRow> Releases() const;

  // Runs body inside BEGIN IMMEDIATE ... COMMIT; rolls back on an exception.
  template <typename Body>
  void Transaction(Body&& body) {
    Execute("BEGIN IMMEDIATE");
    try {
      body();
      Execute("COMMIT");
    } catch (...) {
      Execute("ROLLBACK");
      throw;
    }
  }

  void Execute(const std::string& sql);
  sqlite3* handle() const { return db_; }

 private:
  explicit Database(sqlite3* db, fs::path path) : db_(db), path_(std::move(path)) {}
  void Migrate();
  sqlite3* db_ = nullptr;
  fs::path path_;
  bool read_only_ = false;
};

}  // namespace fomo
