#include "storage/repository.hpp"

#include <sstream>

#include <fmt/format.h>

#include "storage/atomic_file.hpp"
#include "storage/error.hpp"

namespace fomo {

namespace {
fs::path GraphDir(const fs::path& fomo_dir) { return fomo_dir / "graph"; }
fs::path ObjectsDir(const fs::path& fomo_dir) { return fomo_dir / "objects"; }
fs::path DatabasePath(const fs::path& fomo_dir) { return fomo_dir / "fomo.sqlite"; }
}  // namespace

Repository::Repository(fs::path root, fs::path fomo_dir, RepoConfig config, Graph graph, Database db)
    : root_(std::move(root)),
      fomo_dir_(std::move(fomo_dir)),
      config_(std::move(config)),
      objects_(std::make_unique<ObjectStore>(ObjectsDir(fomo_dir_), config_.storage)),
      graph_(std::move(graph)),
      db_(std::move(db)) {
  std::error_code ec;
  if (fs::exists(fomo_dir_ / "shallow", ec)) {
    objects_->set_missing_hint(
        ": this is a shallow clone, which left some versions' tensors out ('fomo fetch --unshallow' brings them)");
  }
}

Repository Repository::Create(const fs::path& root, const fs::path& fomo_dir) {
  ObjectStore::Initialize(ObjectsDir(fomo_dir));
  RepoConfig config = RepoConfig::Load(root / kConfigFileName);
  Graph graph = Graph::Init(GraphDir(fomo_dir), kDefaultBranch);
  Database db = Database::Open(DatabasePath(fomo_dir), /*create=*/true);
  WriteFileAtomic(fomo_dir / "lock", "", 0);
  return Repository(root, fomo_dir, std::move(config), std::move(graph), std::move(db));
}

std::optional<fs::path> Repository::Discover(const fs::path& start) {
  std::error_code ec;
  fs::path dir = fs::weakly_canonical(fs::absolute(start), ec);
  if (ec) dir = fs::absolute(start);
  for (;;) {
    if (fs::is_directory(dir / kFomoDirName / "graph", ec)) return dir;
    if (!dir.has_parent_path() || dir.parent_path() == dir) return std::nullopt;
    dir = dir.parent_path();
  }
}

Repository Repository::Open(const fs::path& start) {
  auto root = Discover(start);
  if (!root) {
    std::error_code ec;
    const fs::path where = fs::weakly_canonical(fs::absolute(start, ec), ec);
    throw Error(fmt::format("not a fomo repository (or any parent up to /): '{}'",
                            (ec ? start : where).string()));
  }
  fs::path fomo_dir = *root / kFomoDirName;
  RepoConfig config = RepoConfig::Load(*root / kConfigFileName);
  Graph graph = Graph::Open(GraphDir(fomo_dir));
  Database db = Database::Open(DatabasePath(fomo_dir), /*create=*/false);
  return Repository(*root, fomo_dir, std::move(config), std::move(graph), std::move(db));
}

void Repository::RequireWritable() const {
  if (db_.read_only()) {
    throw Error(fmt::format("cannot change the repository in '{}': it is read-only (a read-only mount or "
                            "directory); reading commands work on it",
                            root_.string()));
  }
}

void Repository::LockForWriting(bool quiet) {
  RequireWritable();
  if (!lock_) lock_ = std::make_unique<RepoLock>(lock_path(), RepoLock::DefaultTimeout(), quiet);
}

std::set<CommitId> Repository::ShallowVersions() const {
  std::set<CommitId> versions;
  std::error_code ec;
  const fs::path path = fomo_dir_ / "shallow";
  if (!fs::exists(path, ec)) return versions;
  std::istringstream in(ReadFileToString(path));
  for (std::string line; std::getline(in, line);) {
    if (line.size() == 40) versions.insert(line);
  }
  return versions;
}

void Repository::RequireTensors(const CommitId& commit, const std::string& version) const {
  if (IsShallow(commit)) {
    throw Error(fmt::format("{} lies beyond this shallow clone's depth: its tensors are not here ('fomo fetch "
                            "--unshallow' brings them)",
                            version));
  }
}

void Repository::SetShallowVersions(const std::set<CommitId>& versions) const {
  const fs::path path = fomo_dir_ / "shallow";
  std::error_code ec;
  if (versions.empty()) {
    fs::remove(path, ec);
    return;
  }
  std::string text;
  for (const auto& id : versions) text += id + "\n";
  WriteFileAtomic(path, text.data(), text.size());
}

}  // namespace fomo
