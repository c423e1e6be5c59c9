#include <sqlite3.h>

#include "catch.hpp"
#include "storage/database.hpp"
#include "storage/error.hpp"
#include "test_support.hpp"

using namespace fomo;

TEST_CASE("the database is created at the current schema with WAL", "[database]") {
  fomo::test::TempDir dir;
  Database db = Database::Open(dir / "fomo.sqlite", true);
  REQUIRE(db.SchemaVersion() == Database::kSchemaVersion);
  sqlite3_stmt* stmt = nullptr;
  sqlite3_prepare_v2(db.handle(), "PRAGMA journal_mode", -1, &stmt, nullptr);
  REQUIRE(sqlite3_step(stmt) == SQLITE_ROW);
  REQUIRE(std::string(reinterpret_cast<const char*>(sqlite3_column_text(stmt, 0))) == "wal");
  sqlite3_finalize(stmt);
}

TEST_CASE("version rows round-trip", "[database]") {
  fomo::test::TempDir dir;
  Database db = Database::Open(dir / "fomo.sqlite", true);
  VersionRow row;
  row.commit = std::string(40, 'a');
  row.version = "1.2.0";
  row.parents = {std::string(40, 'b'), std::string(40, 'c')};
  row.message = "merge";
  row.kind = "merge";
  row.created_at = 123;
  row.raw_bytes = 1000;
  row.stored_bytes = 10;
  row.budget.steps = 5;
  row.budget.seconds = 1.5;
  db.InsertVersion(row);
  auto back = db.FindVersion(row.commit);
  REQUIRE(back);
  REQUIRE(back->parents == row.parents);
  REQUIRE(back->budget.steps == 5);
  REQUIRE_FALSE(back->budget.samples);
  REQUIRE(back->budget.seconds == 1.5);
  REQUIRE(db.AllVersions().size() == 1);
  db.DeleteVersion(row.commit);
  REQUIRE_FALSE(db.FindVersion(row.commit));
}

TEST_CASE("a database from a newer fomo is refused", "[database]") {
  fomo::test::TempDir dir;
  {
    Database db = Database::Open(dir / "fomo.sqlite", true);
    db.Execute("PRAGMA user_version = 99");
  }
  REQUIRE_THROWS_WITH(Database::Open(dir / "fomo.sqlite", false), HasSubstr("schema version 99"));
}

TEST_CASE("a failed transaction leaves no trace", "[database]") {
  fomo::test::TempDir dir;
  Database db = Database::Open(dir / "fomo.sqlite", true);
  REQUIRE_THROWS(db.Transaction([&] {
    db.Execute("INSERT INTO versions(commit_id, version, parents, message, kind, created_at, raw_bytes, "
               "stored_bytes) VALUES ('x', '1.0.0', '[]', '', 'import', 0, 0, 0)");
    throw Error("boom");
  }));
  REQUIRE(db.AllVersions().empty());
}
