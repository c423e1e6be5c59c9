// fomo clone: a repository made from a remote's versions (storage/transfer.hpp).
#include <unistd.h>

#include <fmt/format.h>

#include "storage/atomic_file.hpp"
#include "storage/error.hpp"
#include "storage/semver.hpp"
#include "storage/transfer.hpp"

namespace fomo {

CloneResult Clone(const std::string& url, const fs::path& dir, FetchRequest request, bool insecure,
                  const TransferProgress& progress) {
  std::error_code ec;
  if (fs::exists(dir, ec) && !(fs::is_directory(dir, ec) && fs::directory_iterator(dir, ec) == fs::directory_iterator())) {
    throw Error(fmt::format("cannot clone into '{}': it exists and is not an empty directory", dir.string()));
  }
  std::unique_ptr<Remote> remote = OpenRemote(url, RemoteOptions{false, insecure});
  const bool made_dir = !fs::exists(dir, ec);
  fs::create_directories(dir, ec);
  if (ec) throw Error(fmt::format("cannot create '{}': {}", dir.string(), ec.message()));
  const fs::path root = fs::absolute(dir);
  const fs::path staging = root / fmt::format(".fomo-clone-{}", ::getpid());
  CloneResult result;
  result.root = root;
  try {
    const std::string config = remote->ConfigText();
    if (!config.empty()) {
      RepoConfig::Parse(config, fmt::format("fomo.yaml of {}", url));  // refuse a malformed one before any work
      WriteFileAtomic(root / kConfigFileName, config.data(), config.size());
    }
    {
      Repository repo = Repository::Create(root, staging);
      // A directory remote given as a relative path is recorded as an absolute one,
      // so the clone finds it from anywhere.
      std::string recorded = url;
      if (auto path = DirectoryPathOf(url); path && !fs::path(*path).is_absolute()) {
        recorded = fs::absolute(*path).lexically_normal().string();
      }
      repo.graph().SetRemote({"origin", recorded, insecure});
      request.remote_name = "origin";
      result.report = Fetch(repo, *remote, request, progress);
      Graph& graph = repo.graph();
      const RemoteRefs refs = remote->ListRefs();
      const auto tracking = graph.RemoteBranches("origin");
      for (const auto& [branch, id] : tracking) graph.SetBranch(branch, id, "clone: from " + url);
      if (refs.head_branch && tracking.count(*refs.head_branch)) {
        result.branch = refs.head_branch;
      } else if (!tracking.empty()) {
        result.branch = tracking.count(kDefaultBranch) ? std::string(kDefaultBranch) : tracking.begin()->first;
      }
      if (result.branch) {
        graph.SetHeadToBranch(*result.branch);
        result.head = tracking.at(*result.branch);
      } else {
        // Only tags or versions were asked for, or the remote has tags and no
        // branch: HEAD at the first asked for, else at the highest version, as
        // git clone --branch TAG leaves it.
        for (const auto& rev : request.only) {
          if (auto id = graph.Resolve(rev)) {
            result.head = *id;
            break;
          }
        }
        std::optional<SemVer> highest;
        for (const auto& [tag, id] : result.head ? std::map<std::string, CommitId>{} : graph.Tags()) {
          const auto version = tag.size() > 1 && tag[0] == 'v' ? SemVer::Parse(tag) : std::nullopt;
          if (version && (!highest || *highest < *version)) {
            highest = version;
            result.head_tag = tag;
          }
        }
        if (!result.head && result.head_tag) result.head = graph.TagTarget(*result.head_tag);
        if (!result.head) throw Error(fmt::format("{} holds no versions", url));
        graph.SetHeadDetached(*result.head);
      }
    }
    fs::rename(staging, root / kFomoDirName);
    FsyncDirectory(root);
  } catch (...) {
    fs::remove_all(staging, ec);
    fs::remove(root / kConfigFileName, ec);
    if (made_dir) fs::remove_all(root, ec);
    throw;
  }
  return result;
}

}  // namespace fomo
