// A remote that is another fomo repository on a path: a shared filesystem (NFS, a
// mounted bucket) or a backup disk. It is an ordinary repository (fomo log works
// in it), written the way fomo writes its own: objects verified and renamed into
// place, commits before refs, refs and rows changed under its write lock.
#include <ctime>
#include <fstream>
#include <sstream>

#include <fmt/format.h>

#include "storage/atomic_file.hpp"
#include "storage/error.hpp"
#include "storage/remote.hpp"
#include "storage/repository.hpp"
#include "storage/semver.hpp"
#include "storage/transfer.hpp"
#include "storage/versions.hpp"

namespace fomo {

namespace {

bool IsVersionTag(const std::string& tag) { return !tag.empty() && tag[0] == 'v' && SemVer::Parse(tag).has_value(); }

bool IsEmptyDirectory(const fs::path& dir) {
  std::error_code ec;
  return fs::is_directory(dir, ec) && fs::directory_iterator(dir, ec) == fs::directory_iterator();
}

class DirectoryRemote final : public Remote {
 public:
  DirectoryRemote(std::string url, Repository repo) : url_(std::move(url)), repo_(std::move(repo)) {}

  std::string url() const override { return url_; }

  RemoteRefs ListRefs() override {
    RemoteRefs refs;
    const Graph& graph = repo_.graph();
    for (const auto& branch : graph.Branches()) {
      if (auto target = graph.BranchTarget(branch)) refs.branches[branch] = *target;
    }
    refs.tags = graph.Tags();
    refs.head_branch = graph.Head().branch;
    return refs;
  }

  std::string ConfigText() override {
    std::ifstream in(repo_.config_path(), std::ios::binary);
    std::stringstream text;
    text << in.rdbuf();
    return text.str();
  }

  void PutConfigText(const std::string& text) override {
    Lock();
    std::error_code ec;
    if (!fs::exists(repo_.config_path(), ec)) WriteFileAtomic(repo_.config_path(), text.data(), text.size());
  }

  bool HasVersion(const CommitId& id) override {
    return repo_.graph().HasCommit(id) && repo_.db().FindVersion(id).has_value();
  }

  RemoteVersion GetVersion(const CommitId& id) override {
    if (!repo_.graph().HasCommit(id)) throw Error(fmt::format("{} has no version {}", url_, id));
    return RemoteVersion{repo_.graph().ExportCommit(id), VersionObjects(repo_, id), repo_.db().Evaluations(id)};
  }

  std::vector<EvaluationRow> GetEvaluations(const CommitId& id) override { return repo_.db().Evaluations(id); }

  void PutVersion(const RemoteVersion& version) override {
    Lock();
    repo_.objects().Flush();  // the small objects it names, before the commit does
    repo_.graph().ImportCommit(version.commit);
    repo_.db().InsertVersion(VersionRowOf(LoadVersion(repo_.graph(), version.commit.id)));
    if (!version.evaluations.empty()) repo_.db().InsertEvaluations(version.evaluations);
  }

  void PutEvaluations(const CommitId& id, const std::vector<EvaluationRow>& rows) override {
    Lock();
    if (!HasVersion(id)) throw Error(fmt::format("{} has no version {}", url_, id));
    repo_.db().InsertEvaluations(rows);
  }

  std::vector<ObjectId> MissingObjects(const std::vector<ObjectId>& ids, const BlobOf&) override {
    std::vector<ObjectId> missing;
    for (const auto& id : ids) {
      if (!repo_.objects().Contains(id)) missing.push_back(id);
    }
    return missing;
  }

  std::vector<uint8_t> GetObject(const ObjectId& id) override { return repo_.objects().ReadRecord(id); }

  void PutObject(const ObjectId& id, const std::vector<uint8_t>& record) override {
    Lock();
    repo_.objects().PutRecord(id, record);
  }

  void UpdateRefs(const std::vector<RefUpdate>& updates) override {
    Lock();
    Graph& graph = repo_.graph();
    for (const auto& u : updates) {
      const auto now = u.kind == RefUpdate::Kind::kBranch ? graph.BranchTarget(u.name) : graph.TagTarget(u.name);
      if (now != u.expected) {
        throw RefConflict(fmt::format("{} '{}' on {} moved while this push ran (it names {}): fetch and push again",
                                      u.kind == RefUpdate::Kind::kBranch ? "branch" : "tag", u.name, url_,
                                      now ? ShortId(*now) : "nothing"));
      }
    }
    const bool unborn = !graph.Head().commit;
    for (const auto& u : updates) {
      if (u.kind == RefUpdate::Kind::kBranch) {
        graph.SetBranch(u.name, u.target, "push");
      } else {
        graph.CreateTag(u.name, u.target);
        if (IsVersionTag(u.name)) {
          repo_.db().MarkReleased({u.name, u.target, static_cast<int64_t>(std::time(nullptr)), "pushed"});
        }
      }
    }
    // A repository made by the push checks out what arrived: its main branch, or
    // the first branch pushed.
    const auto head = graph.Head();
    if (unborn && head.branch && !graph.BranchTarget(*head.branch)) {
      for (const auto& u : updates) {
        if (u.kind == RefUpdate::Kind::kBranch) {
          graph.SetHeadToBranch(u.name);
          break;
        }
      }
    }
  }

 private:
  // Writers hold the remote's own lock, as fomo does in it, until the remote is
  // closed; a second pusher waits, then fails clearly.
  void Lock() {
    if (!repo_.locked()) repo_.LockForWriting(/*quiet=*/false);
  }

  std::string url_;
  Repository repo_;
};

}  // namespace

std::optional<std::string> DirectoryPathOf(const std::string& url) {
  if (url.rfind("file://", 0) == 0) return url.substr(7);
  if (url.find("://") != std::string::npos) return std::nullopt;
  return url;
}

std::unique_ptr<Remote> OpenRemote(const std::string& url, const RemoteOptions& options) {
  if (url.rfind("oci://", 0) == 0) return OpenRegistryRemote(url, options.insecure);
  const auto path_text = DirectoryPathOf(url);
  if (!path_text) {
    throw Error(fmt::format("cannot reach '{}': a remote is a path, a file:// URL or an oci:// registry", url));
  }
  const bool create = options.create;
  const fs::path path = fs::absolute(*path_text);
  std::error_code ec;
  if (fs::is_directory(path / kFomoDirName / "graph", ec)) {
    return std::make_unique<DirectoryRemote>(url, Repository::Open(path));
  }
  if (!fs::exists(path, ec)) {
    if (!create) throw Error(fmt::format("cannot reach '{}': no such directory", url));
  } else if (!fs::is_directory(path, ec)) {
    throw Error(fmt::format("'{}' is not a fomo repository: it is a file", url));
  } else if (!IsEmptyDirectory(path)) {
    throw Error(fmt::format("'{}' is not a fomo repository (it has no {}/)", url, kFomoDirName));
  } else if (!create) {
    throw Error(fmt::format("'{}' is not a fomo repository: it is empty", url));
  }
  fs::create_directories(path, ec);
  if (ec) throw Error(fmt::format("cannot create '{}': {}", path.string(), ec.message()));
  Repository::Create(path, path / kFomoDirName);
  return std::make_unique<DirectoryRemote>(url, Repository::Open(path));
}

}  // namespace fomo
