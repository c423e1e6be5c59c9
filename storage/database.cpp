#include "storage/database.hpp"

#include <ctime>
#include <map>

#include <sqlite3.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include <fmt/format.h>

#include <nlohmann/json.hpp>

#include "storage/error.hpp"

namespace fomo {

namespace {

// Migrations[i] takes the schema from version i to i + 1.
const char* const kMigrations[] = {
    R"sql(
CREATE TABLE versions(
  commit_id    TEXT PRIMARY KEY,
  version      TEXT NOT NULL,
  parents      TEXT NOT NULL,
  message      TEXT NOT NULL,
  kind         TEXT NOT NULL,
  created_at   INTEGER NOT NULL,
  raw_bytes    INTEGER NOT NULL,
  stored_bytes INTEGER NOT NULL,
  steps        INTEGER,
  samples      INTEGER,
  flops        REAL,
  maf          REAL,
  seconds      REAL
);
CREATE INDEX versions_by_version ON versions(version);
CREATE TABLE evaluations(
  id          INTEGER PRIMARY KEY,
  commit_id   TEXT NOT NULL,
  dataset     TEXT NOT NULL,
  split       TEXT NOT NULL,
  metric      TEXT NOT NULL,
  value       REAL NOT NULL,
  config_hash TEXT NOT NULL,
  created_at  INTEGER NOT NULL,
  UNIQUE(commit_id, dataset, split, metric, config_hash)
);
CREATE TABLE training_runs(
  id            INTEGER PRIMARY KEY,
  commit_id     TEXT,
  parent_commit TEXT NOT NULL,
  level         TEXT NOT NULL,
  recipe        TEXT NOT NULL,
  status        TEXT NOT NULL,
  started_at    INTEGER NOT NULL,
  finished_at   INTEGER
);
CREATE TABLE training_steps(
  run_id             INTEGER NOT NULL REFERENCES training_runs(id),
  step               INTEGER NOT NULL,
  loss               REAL NOT NULL,
  lr                 REAL NOT NULL,
  samples_per_second REAL,
  PRIMARY KEY(run_id, step)
);
)sql",
    // 2: versions marked released (pushed, or `fomo tag --release`): their tags stay.
    R"sql(
CREATE TABLE releases(
  tag         TEXT PRIMARY KEY,
  commit_id   TEXT NOT NULL,
  released_at INTEGER NOT NULL,
  how         TEXT NOT NULL
);
)sql",
};
static_assert(sizeof(kMigrations) / sizeof(kMigrations[0]) == Database::kSchemaVersion);

class Statement {
 public:
  Statement(sqlite3* db, const char* sql) : db_(db) {
    if (sqlite3_prepare_v2(db, sql, -1, &stmt_, nullptr) != SQLITE_OK) {
      throw Error(fmt::format("database error: {}", sqlite3_errmsg(db)));
    }
  }
  ~Statement() { sqlite3_finalize(stmt_); }
  Statement(const Statement&) = delete;
  Statement& operator=(const Statement&) = delete;

  void Bind(int i, const std::string& v) {
    sqlite3_bind_text(stmt_, i, v.c_str(), static_cast<int>(v.size()), SQLITE_TRANSIENT);
  }
  void Bind(int i, int64_t v) { sqlite3_bind_int64(stmt_, i, v); }
  void Bind(int i, double v) { sqlite3_bind_double(stmt_, i, v); }
  template <typename T>
  void Bind(int i, const std::optional<T>& v) {
    if (v) {
      Bind(i, *v);
    } else {
      sqlite3_bind_null(stmt_, i);
    }
  }
  void Reset() {
    sqlite3_reset(stmt_);
    sqlite3_clear_bindings(stmt_);
  }
  bool Step() {
    int rc = sqlite3_step(stmt_);
    if (rc == SQLITE_ROW) return true;
    if (rc == SQLITE_DONE) return false;
    throw Error(fmt::format("database error: {}", sqlite3_errmsg(db_)));
  }
  std::string Text(int col) const {
    auto p = sqlite3_column_text(stmt_, col);
    return p ? reinterpret_cast<const char*>(p) : "";
  }
  int64_t Int(int col) const { return sqlite3_column_int64(stmt_, col); }
  double Real(int col) const { return sqlite3_column_double(stmt_, col); }
  bool IsNull(int col) const { return sqlite3_column_type(stmt_, col) == SQLITE_NULL; }
  std::optional<int64_t> OptInt(int col) const {
    return IsNull(col) ? std::nullopt : std::optional<int64_t>(Int(col));
  }
  std::optional<double> OptReal(int col) const {
    return IsNull(col) ? std::nullopt : std::optional<double>(sqlite3_column_double(stmt_, col));
  }

 private:
  sqlite3* db_;
  sqlite3_stmt* stmt_ = nullptr;
};

constexpr const char* kVersionColumns =
    "commit_id, version, parents, message, kind, created_at, raw_bytes, stored_bytes, steps, "
    "samples, flops, maf, seconds";

VersionRow ReadVersionRow(const Statement& s) {
  VersionRow row;
  row.commit = s.Text(0);
  row.version = s.Text(1);
  try {
    row.parents = nlohmann::json::parse(s.Text(2)).get<std::vector<std::string>>();
  } catch (const nlohmann::json::exception&) {
    throw CorruptError(fmt::format("the database row of {} has malformed parents ('fomo fsck --repair' rebuilds it)",
                                   row.commit.substr(0, 12)));
  }
  row.message = s.Text(3);
  row.kind = s.Text(4);
  row.created_at = s.Int(5);
  row.raw_bytes = static_cast<uint64_t>(s.Int(6));
  row.stored_bytes = static_cast<uint64_t>(s.Int(7));
  row.budget.steps = s.OptInt(8);
  row.budget.samples = s.OptInt(9);
  row.budget.flops = s.OptReal(10);
  row.budget.maf = s.OptReal(11);
  row.budget.seconds = s.OptReal(12);
  return row;
}

}  // namespace

namespace {

bool DirectoryWritable(const fs::path& path) {
  fs::path dir = path.has_parent_path() ? path.parent_path() : fs::path(".");
  return ::access(dir.c_str(), W_OK) == 0 && ::access(path.c_str(), W_OK) == 0;
}

}  // namespace

Database Database::Open(const fs::path& path, bool create) {
  if (!create && !fs::exists(path)) {
    throw Error(fmt::format("database '{}' is missing", path.string()));
  }
  // A repository on a read-only mount (a released model on a share, a mounted
  // backup) is read through an immutable open: WAL mode needs no files beside it then.
  if (!create && !DirectoryWritable(path)) return OpenReadOnly(path);
  sqlite3* db = nullptr;
  int flags = SQLITE_OPEN_READWRITE | (create ? SQLITE_OPEN_CREATE : 0) | SQLITE_OPEN_FULLMUTEX;
  if (sqlite3_open_v2(path.c_str(), &db, flags, nullptr) != SQLITE_OK) {
    std::string message = db ? sqlite3_errmsg(db) : "out of memory";
    sqlite3_close(db);
    throw Error(fmt::format("cannot open database '{}': {}", path.string(), message));
  }
  Database database(db, path);
  sqlite3_busy_timeout(db, 10000);
  try {
    database.Execute("PRAGMA journal_mode=WAL");
    database.Execute("PRAGMA synchronous=FULL");
    database.Execute("PRAGMA foreign_keys=ON");
    database.Migrate();
  } catch (const Error&) {
    // access() says writable, yet writing fails: a read-only file system (root
    // passes access() there). Read it as such.
    if (!create && (errno == EROFS || std::string(sqlite3_errmsg(db)).find("readonly") != std::string::npos)) {
      return OpenReadOnly(path);
    }
    throw;
  }
  return database;
}

Database Database::OpenReadOnly(const fs::path& path) {
  sqlite3* db = nullptr;
  char* uri = sqlite3_mprintf("file:%s?immutable=1", path.c_str());
  const int rc = sqlite3_open_v2(uri, &db, SQLITE_OPEN_READONLY | SQLITE_OPEN_URI | SQLITE_OPEN_FULLMUTEX, nullptr);
  sqlite3_free(uri);
  if (rc != SQLITE_OK) {
    std::string message = db ? sqlite3_errmsg(db) : "out of memory";
    sqlite3_close(db);
    throw Error(fmt::format("cannot open database '{}' read-only: {}", path.string(), message));
  }
  Database database(db, path);
  database.read_only_ = true;
  const int version = database.SchemaVersion();
  if (version > kSchemaVersion) {
    throw Error(fmt::format("database '{}' has schema version {}; this fomo knows up to {}", path.string(), version,
                            kSchemaVersion));
  }
  if (version < kSchemaVersion) {
    throw Error(fmt::format("database '{}' needs a schema upgrade, which a read-only repository cannot take",
                            path.string()));
  }
  return database;
}

namespace {

// name -> SQL of every table and index, as sqlite_master holds them.
std::map<std::string, std::string> SchemaObjects(sqlite3* db) {
  std::map<std::string, std::string> out;
  sqlite3_stmt* stmt = nullptr;
  if (sqlite3_prepare_v2(db, "SELECT name, sql FROM sqlite_master WHERE type IN ('table', 'index') AND sql IS NOT NULL",
                         -1, &stmt, nullptr) != SQLITE_OK) {
    throw Error(fmt::format("database error: {}", sqlite3_errmsg(db)));
  }
  while (sqlite3_step(stmt) == SQLITE_ROW) {
    out[reinterpret_cast<const char*>(sqlite3_column_text(stmt, 0))] =
        reinterpret_cast<const char*>(sqlite3_column_text(stmt, 1));
  }
  sqlite3_finalize(stmt);
  return out;
}

// The schema this fomo writes: the migrations run on an empty database.
std::map<std::string, std::string> ExpectedSchema() {
  sqlite3* db = nullptr;
  sqlite3_open(":memory:", &db);
  for (const char* migration : kMigrations) sqlite3_exec(db, migration, nullptr, nullptr, nullptr);
  auto schema = SchemaObjects(db);
  sqlite3_close(db);
  return schema;
}

}  // namespace

std::vector<std::string> Database::SchemaProblems() const {
  std::vector<std::string> problems;
  const int version = SchemaVersion();
  if (version != kSchemaVersion) {
    problems.push_back(fmt::format("database schema version is {}, expected {}", version, kSchemaVersion));
  }
  const auto actual = SchemaObjects(db_);
  for (const auto& [name, sql] : ExpectedSchema()) {
    auto it = actual.find(name);
    if (it == actual.end()) {
      problems.push_back(fmt::format("database lacks '{}'", name));
    } else if (it->second != sql) {
      problems.push_back(fmt::format("database '{}' is not defined as this fomo defines it", name));
    }
  }
  return problems;
}

std::vector<std::string> Database::RepairSchema() {
  std::vector<std::string> fixes;
  const auto actual = SchemaObjects(db_);
  Transaction([&] {
    for (const auto& [name, sql] : ExpectedSchema()) {
      auto it = actual.find(name);
      if (it != actual.end() && it->second == sql) continue;
      if (it != actual.end()) {
        // Another definition: keep the rows of the columns both share.
        Execute(fmt::format("ALTER TABLE \"{0}\" RENAME TO \"{0}_damaged\"", name));
        Execute(sql);
        Statement cols(db_, fmt::format("SELECT name FROM pragma_table_info('{}') INTERSECT SELECT name FROM "
                                        "pragma_table_info('{}_damaged')",
                                        name, name)
                                .c_str());
        std::vector<std::string> shared;
        while (cols.Step()) shared.push_back(cols.Text(0));
        if (!shared.empty()) {
          std::string list = fmt::format("\"{}\"", fmt::join(shared, "\", \""));
          Execute(fmt::format("INSERT INTO \"{0}\"({1}) SELECT {1} FROM \"{0}_damaged\"", name, list));
        }
        Execute(fmt::format("DROP TABLE \"{}_damaged\"", name));
        fixes.push_back(fmt::format("rebuilt database table '{}'", name));
      } else {
        Execute(sql);
        fixes.push_back(fmt::format("recreated database '{}'", name));
      }
    }
    Execute(fmt::format("PRAGMA user_version = {}", kSchemaVersion));
  });
  return fixes;
}

Database::~Database() {
  if (db_) sqlite3_close(db_);
}

Database::Database(Database&& other) noexcept
    : db_(other.db_), path_(std::move(other.path_)), read_only_(other.read_only_) {
  other.db_ = nullptr;
}

Database& Database::operator=(Database&& other) noexcept {
  if (this != &other) {
    if (db_) sqlite3_close(db_);
    db_ = other.db_;
    path_ = std::move(other.path_);
    read_only_ = other.read_only_;
    other.db_ = nullptr;
  }
  return *this;
}

void Database::Execute(const std::string& sql) {
  if (read_only_) {
    throw Error(fmt::format("cannot update database '{}': the repository is read-only", path_.string()));
  }
  char* message = nullptr;
  if (sqlite3_exec(db_, sql.c_str(), nullptr, nullptr, &message) != SQLITE_OK) {
    std::string text = message ? message : "unknown error";
    sqlite3_free(message);
    throw Error(fmt::format("cannot update database '{}': {}", path_.string(), text));
  }
}

int Database::SchemaVersion() const {
  Statement s(db_, "PRAGMA user_version");
  s.Step();
  return static_cast<int>(s.Int(0));
}

void Database::Migrate() {
  int version = SchemaVersion();
  if (version > kSchemaVersion) {
    throw Error(fmt::format("database '{}' has schema version {}; this fomo knows up to {}",
                            path_.string(), version, kSchemaVersion));
  }
  while (version < kSchemaVersion) {
    Transaction([&] {
      Execute(kMigrations[version]);
      Execute(fmt::format("PRAGMA user_version = {}", version + 1));
    });
    ++version;
  }
}

void Database::InsertVersion(const VersionRow& row) {
  Transaction([&] {
    Statement s(db_, fmt::format("INSERT OR REPLACE INTO versions({}) VALUES "
                                 "(?,?,?,?,?,?,?,?,?,?,?,?,?)",
                                 kVersionColumns)
                         .c_str());
    s.Bind(1, row.commit);
    s.Bind(2, row.version);
    s.Bind(3, nlohmann::json(row.parents).dump());
    s.Bind(4, row.message);
    s.Bind(5, row.kind);
    s.Bind(6, row.created_at);
    s.Bind(7, static_cast<int64_t>(row.raw_bytes));
    s.Bind(8, static_cast<int64_t>(row.stored_bytes));
    s.Bind(9, row.budget.steps);
    s.Bind(10, row.budget.samples);
    s.Bind(11, row.budget.flops);
    s.Bind(12, row.budget.maf);
    s.Bind(13, row.budget.seconds);
    s.Step();
  });
}

std::optional<VersionRow> Database::FindVersion(const std::string& commit) const {
  Statement s(db_, fmt::format("SELECT {} FROM versions WHERE commit_id = ?", kVersionColumns).c_str());
  s.Bind(1, commit);
  if (!s.Step()) return std::nullopt;
  return ReadVersionRow(s);
}

std::vector<VersionRow> Database::AllVersions() const {
  Statement s(db_, fmt::format("SELECT {} FROM versions ORDER BY created_at", kVersionColumns).c_str());
  std::vector<VersionRow> rows;
  while (s.Step()) rows.push_back(ReadVersionRow(s));
  return rows;
}

void Database::DeleteVersion(const std::string& commit) {
  Transaction([&] {
    Statement s(db_, "DELETE FROM versions WHERE commit_id = ?");
    s.Bind(1, commit);
    s.Step();
  });
}

}  // namespace fomo

namespace fomo {

void Database::InsertEvaluations(const std::vector<EvaluationRow>& rows) {
  Transaction([&] {
    for (const auto& r : rows) {
      Statement s(db_, "INSERT OR REPLACE INTO evaluations(commit_id, dataset, split, metric, value, config_hash, "
                       "created_at) VALUES (?,?,?,?,?,?,?)");
      s.Bind(1, r.commit);
      s.Bind(2, r.dataset);
      s.Bind(3, r.split);
      s.Bind(4, r.metric);
      s.Bind(5, r.value);
      s.Bind(6, r.config_hash);
      s.Bind(7, r.created_at);
      s.Step();
    }
  });
}

int64_t Database::BeginTrainingRun(const std::string& parent_commit, const std::string& level,
                                   const std::string& recipe) {
  int64_t id = 0;
  Transaction([&] {
    Statement s(db_, "INSERT INTO training_runs(parent_commit, level, recipe, status, started_at) "
                     "VALUES (?,?,?,'running',?)");
    s.Bind(1, parent_commit);
    s.Bind(2, level);
    s.Bind(3, recipe);
    s.Bind(4, static_cast<int64_t>(std::time(nullptr)));
    s.Step();
    id = sqlite3_last_insert_rowid(db_);
  });
  return id;
}

void Database::InsertTrainingSteps(int64_t run_id, const std::vector<TrainingStepRow>& steps) {
  Transaction([&] {
    Statement s(db_, "INSERT OR REPLACE INTO training_steps(run_id, step, loss, lr, samples_per_second) "
                     "VALUES (?,?,?,?,?)");
    for (const auto& row : steps) {
      s.Bind(1, run_id);
      s.Bind(2, row.step);
      s.Bind(3, row.loss);
      s.Bind(4, row.lr);
      s.Bind(5, row.samples_per_second);
      s.Step();
      s.Reset();
    }
  });
}

void Database::FinishTrainingRun(int64_t run_id, const std::string& status, const std::optional<std::string>& commit) {
  Transaction([&] {
    Statement s(db_, "UPDATE training_runs SET status = ?, commit_id = ?, finished_at = ? WHERE id = ?");
    s.Bind(1, status);
    s.Bind(2, commit);
    s.Bind(3, static_cast<int64_t>(std::time(nullptr)));
    s.Bind(4, run_id);
    s.Step();
  });
}

std::vector<TrainingStepRow> Database::TrainingSteps(int64_t run_id) const {
  Statement s(db_, "SELECT step, loss, lr, samples_per_second FROM training_steps WHERE run_id = ? ORDER BY step");
  s.Bind(1, run_id);
  std::vector<TrainingStepRow> rows;
  while (s.Step()) rows.push_back({s.Int(0), s.Real(1), s.Real(2), s.Real(3)});
  return rows;
}

std::optional<int64_t> Database::TrainingRunOf(const std::string& commit) const {
  Statement s(db_, "SELECT id FROM training_runs WHERE commit_id = ? ORDER BY id DESC LIMIT 1");
  s.Bind(1, commit);
  if (!s.Step()) return std::nullopt;
  return s.Int(0);
}

void Database::MarkReleased(const ReleaseRow& row) {
  Transaction([&] {
    Statement s(db_, "INSERT OR IGNORE INTO releases(tag, commit_id, released_at, how) VALUES (?, ?, ?, ?)");
    s.Bind(1, row.tag);
    s.Bind(2, row.commit);
    s.Bind(3, row.released_at);
    s.Bind(4, row.how);
    s.Step();
  });
}

std::optional<ReleaseRow> Database::FindRelease(const std::string& tag) const {
  Statement s(db_, "SELECT tag, commit_id, released_at, how FROM releases WHERE tag = ?");
  s.Bind(1, tag);
  if (!s.Step()) return std::nullopt;
  return ReleaseRow{s.Text(0), s.Text(1), s.Int(2), s.Text(3)};
}

std::vector<ReleaseRow> Database::Releases() const {
  Statement s(db_, "SELECT tag, commit_id, released_at, how FROM releases ORDER BY tag");
  std::vector<ReleaseRow> rows;
  while (s.Step()) rows.push_back(ReleaseRow{s.Text(0), s.Text(1), s.Int(2), s.Text(3)});
  return rows;
}

std::vector<EvaluationRow> Database::Evaluations(const std::string& commit) const {
  Statement s(db_, "SELECT commit_id, dataset, split, metric, value, config_hash, created_at FROM evaluations "
                   "WHERE commit_id = ? ORDER BY dataset, split, metric, created_at");
  s.Bind(1, commit);
  std::vector<EvaluationRow> rows;
  while (s.Step()) {
    EvaluationRow r;
    r.commit = s.Text(0);
    r.dataset = s.Text(1);
    r.split = s.Text(2);
    r.metric = s.Text(3);
    r.value = s.Real(4);
    r.config_hash = s.Text(5);
    r.created_at = s.Int(6);
    rows.push_back(std::move(r));
  }
  return rows;
}

}  // namespace fomo
