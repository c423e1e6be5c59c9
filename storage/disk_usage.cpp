#include "storage/disk_usage.hpp"

#include <algorithm>
#include <map>
#include <set>

#include <sys/stat.h>

#include "storage/fsck.hpp"
#include "storage/pack.hpp"
#include "storage/versions.hpp"

namespace fomo {

DiskUsage MeasureDiskUsage(const Repository& repo) {
  const ObjectStore& store = repo.objects();
  const Graph& graph = repo.graph();
  const std::map<ObjectId, uint64_t> sizes = store.ListSizes();  // every object, loose or packed
  auto size_of = [&](const ObjectId& id) {
    auto it = sizes.find(id);
    return it == sizes.end() ? uint64_t{0} : it->second;
  };

  DiskUsage usage;
  // Parents before children: a version's `added` is what no ancestor (nor any
  // version walked before it) already stored.
  std::vector<CommitId> commits = graph.ReachableCommits();
  std::reverse(commits.begin(), commits.end());
  std::set<ObjectId> owned;
  for (const auto& commit : commits) {
    VersionUsage v;
    v.commit = commit;
    std::set<ObjectId> mine;
    for (const auto& e : LoadManifest(graph, commit).tensors) mine.insert(e.id);
    for (const auto& e : LoadMethodState(graph, commit).tensors) mine.insert(e.id);
    for (const auto& id : mine) {
      v.total += size_of(id);
      if (owned.insert(id).second) v.added += size_of(id);
    }
    usage.store.versions_added += v.added;
    usage.versions.push_back(v);
  }
  // The manifests are read once, above: what they hold plus their delta bases is
  // what gc keeps (ReachableObjects would read them all again).
  std::set<ObjectId> needed = owned;
  AddDeltaBases(store, &needed);
  for (const auto& [id, size] : sizes) {
    usage.store.bytes += size;
    ++usage.store.objects;
    if (!needed.count(id)) {
      usage.store.unreachable += size;
      ++usage.store.unreachable_objects;
    } else if (!owned.count(id)) {
      usage.store.delta_bases += size;
    }
  }
  std::error_code ec;
  for (fs::recursive_directory_iterator it(store.dir(), ec), end; !ec && it != end; it.increment(ec)) {
    const std::string name = it->path().filename().string();
    if (!it->is_regular_file() || name == "FORMAT" || name.rfind(".tmp-", 0) == 0) continue;
    struct stat st {};
    if (::stat(it->path().c_str(), &st) != 0) continue;
    ++usage.store.files;
    usage.store.file_bytes += static_cast<uint64_t>(st.st_size);
    usage.store.disk_bytes += static_cast<uint64_t>(st.st_blocks) * 512;
    if (it->path().extension() == kPackSuffix) ++usage.store.packs;
  }
  return usage;
}

}  // namespace fomo
