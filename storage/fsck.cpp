#include "storage/fsck.hpp"

#include <map>
#include <mutex>
#include <set>

#include <fmt/format.h>

#include "storage/error.hpp"
#include "storage/parallel.hpp"
#include "storage/versions.hpp"

namespace fomo {

namespace {

std::string Short(const CommitId& id) { return id.substr(0, 12); }

}  // namespace

void AddDeltaBases(const ObjectStore& store, std::set<ObjectId>* ids) {
  std::vector<ObjectId> pending(ids->begin(), ids->end());
  while (!pending.empty()) {
    ObjectId id = pending.back();
    pending.pop_back();
    if (!store.Contains(id)) continue;
    ObjectInfo info = store.Stat(id);
    if (info.base && ids->insert(*info.base).second) pending.push_back(*info.base);
  }
}

namespace {

bool OnRejectedBranch(const Graph& graph, const CommitId& commit) {
  for (const auto& branch : graph.Branches()) {
    if (branch.rfind("rejected/", 0) == 0 && graph.BranchTarget(branch) == commit) return true;
  }
  return false;
}

}  // namespace

namespace {

// Decodes every object of the chains that end in ids once: each full object, then
// each delta onto its decoded base, hashing every result. Bases are decoded
// before their deltas, so a chain of n links costs n decodes, not n(n+1)/2.
void VerifyChains(const ObjectStore& store, const std::vector<ObjectId>& ids,
                  const std::function<void(const std::string&, const ObjectId&)>& fail) {
  std::set<ObjectId> all(ids.begin(), ids.end());
  AddDeltaBases(store, &all);
  std::map<ObjectId, ObjectInfo> infos;
  std::map<ObjectId, std::vector<ObjectId>> children;
  std::vector<ObjectId> roots;
  for (const auto& id : all) {
    try {
      ObjectInfo info = store.Stat(id);
      if (info.base) {
        if (!store.Contains(*info.base)) {
          fail(fmt::format("object {} is corrupt: its delta base {} is missing", id.Hex(), info.base->Hex()), id);
          continue;
        }
        children[*info.base].push_back(id);
      } else {
        roots.push_back(id);
      }
      infos.emplace(id, std::move(info));
    } catch (const Error& e) {
      fail(e.what(), id);
    }
  }
  std::mutex visited_mutex;
  std::set<ObjectId> visited;
  // Depth first from each full object: one buffer per level of the chain.
  std::function<void(const ObjectId&, const uint8_t*, int)> visit = [&](const ObjectId& id, const uint8_t* base,
                                                                       int depth) {
    {
      std::lock_guard<std::mutex> lock(visited_mutex);
      if (!visited.insert(id).second) return;
    }
    const ObjectInfo& info = infos.at(id);
    if (depth > kMaxDeltaLinks) {
      fail(fmt::format("object {} is corrupt: its delta chain is more than {} links long", id.Hex(), kMaxDeltaLinks), id);
      return;
    }
    ByteBuffer content(info.raw_size);
    try {
      store.DecodeLink(id, base, content.data(), info.raw_size);
      if (TensorId(TensorView{info.dtype, info.shape, content.data(), info.raw_size}) != id) {
        throw CorruptError(fmt::format("object {} is corrupt: content does not match its hash", id.Hex()));
      }
    } catch (const Error& e) {
      fail(e.what(), id);
      return;  // what is built on it cannot be checked; reported below
    }
    auto it = children.find(id);
    if (it == children.end()) return;
    for (const auto& child : it->second) {
      const ObjectInfo& c = infos.at(child);
      if (c.raw_size != info.raw_size || c.dtype != info.dtype || c.shape != info.shape) {
        fail(fmt::format("object {} is corrupt: it is a delta of {} {} on a base of {} {}", child.Hex(),
                         DtypeName(c.dtype), ShapeString(c.shape), DtypeName(info.dtype), ShapeString(info.shape)),
             child);
        continue;
      }
      visit(child, content.data(), depth + 1);
    }
  };
  ParallelFor(roots.size(), store.options().threads, [&](size_t i) { visit(roots[i], nullptr, 0); });
  for (const auto& [id, info] : infos) {
    if (visited.count(id)) continue;
    fail(fmt::format("object {} cannot be verified: its delta chain does not reach an intact full object",
                     id.Hex()),
         id);
  }
}

}  // namespace

std::vector<ObjectId> ReachableObjects(const Repository& repo) {
  std::set<ObjectId> ids;
  for (const auto& commit : repo.graph().ReachableCommits()) {
    for (const auto& e : LoadManifest(repo.graph(), commit).tensors) ids.insert(e.id);
    for (const auto& e : LoadMethodState(repo.graph(), commit).tensors) ids.insert(e.id);
  }
  AddDeltaBases(repo.objects(), &ids);
  return std::vector<ObjectId>(ids.begin(), ids.end());
}

FsckReport CheckRepository(const Repository& repo, bool verify_objects, const VersionCheck& check_version) {
  FsckReport report;
  const Graph& graph = repo.graph();
  const ObjectStore& store = repo.objects();
  // The database's schema first: rows cannot be read from tables that are gone.
  report.schema_problems = repo.db().SchemaProblems();
  for (const auto& p : report.schema_problems) report.errors.push_back(p + " ('fomo fsck --repair' rebuilds it)");
  const bool rows_readable = report.schema_problems.empty();
  std::map<std::string, CommitId> tags = graph.Tags();

  std::set<ObjectId> referenced;
  std::map<ObjectId, std::string> first_user;  // object -> "tensor of version", for messages
  std::set<CommitId> reachable;
  const std::set<CommitId> shallow = repo.ShallowVersions();
  size_t shallow_seen = 0;
  for (const auto& commit : graph.ReachableCommits()) {
    reachable.insert(commit);
    ++report.versions_checked;
    StoredVersion v;
    try {
      v = LoadVersion(graph, commit);
    } catch (const Error& e) {
      report.errors.push_back(e.what());
      continue;
    }
    if (check_version) check_version(v, &report.errors);
    std::vector<ManifestEntry> entries = v.manifest.tensors;
    entries.insert(entries.end(), v.method_state.tensors.begin(), v.method_state.tensors.end());
    const bool tensors_left_out = shallow.count(commit) > 0;
    shallow_seen += tensors_left_out;
    for (const auto& e : entries) {
      referenced.insert(e.id);
      first_user.emplace(e.id, fmt::format("'{}' of {}", e.name, v.version.Tag()));
      if (tensors_left_out && !store.Contains(e.id)) continue;  // a shallow clone's, by design
      if (!store.Contains(e.id)) {
        report.errors.push_back(fmt::format("object {} ('{}' of {}) is missing", e.id.Hex(), e.name,
                                            v.version.Tag()));
        continue;
      }
      // The manifest must say what the object's own header says.
      try {
        ObjectInfo info = store.Stat(e.id);
        if (info.dtype != e.dtype || info.shape != e.shape) {
          report.errors.push_back(fmt::format("'{}' of {}: the manifest says {} {}, its object {} holds {} {}", e.name,
                                              v.version.Tag(), DtypeName(e.dtype), ShapeString(e.shape),
                                              e.id.Hex().substr(0, 12), DtypeName(info.dtype), ShapeString(info.shape)));
        }
      } catch (const Error&) {
        // Reported with the object checks below.
      }
    }
    // A merge-based update's finetuned weights never carry the tag: the merged
    // version that names them as a parent does. Nor does a candidate (vX.Y.Z-rc.N).
    auto tag = tags.find(v.version.Tag());
    if (tag == tags.end() && !v.version.candidate() && !OnRejectedBranch(graph, commit) && v.kind != "finetuned") {
      report.missing_tags.emplace_back(commit, v.version);
      report.notices.push_back(fmt::format("version {} ({}) has no tag", v.version.ToString(), Short(commit)));
    }
    if (rows_readable && !repo.db().FindVersion(commit)) {
      report.missing_rows.push_back(commit);
      report.notices.push_back(fmt::format("version {} ({}) has no database row",
                                           v.version.ToString(), Short(commit)));
    }
  }
  if (shallow_seen) {
    report.notices.push_back(fmt::format("{} version{} of this shallow clone hold{} no tensors here ('fomo fetch "
                                         "--unshallow' brings them)",
                                         shallow_seen, shallow_seen == 1 ? "" : "s", shallow_seen == 1 ? "s" : ""));
  }
  for (const auto& row : rows_readable ? repo.db().AllVersions() : std::vector<VersionRow>{}) {
    if (!graph.HasCommit(row.commit)) {
      report.stale_rows.push_back(row.commit);
      report.notices.push_back(fmt::format("database row for {} names a commit the graph lacks",
                                           Short(row.commit)));
    }
  }

  // Stored bytes: packs against their checksums, loose objects against theirs.
  QuickCheck stored = store.CheckStoredBytes();
  report.errors.insert(report.errors.end(), stored.errors.begin(), stored.errors.end());
  report.bytes_hashed = stored.bytes_hashed;
  if (!verify_objects && stored.unchecked_old_loose) {
    report.notices.push_back(fmt::format("{} objects of the old layout carry no checksum of their bytes: only their "
                                         "headers were checked ('fomo fsck' decodes them, 'fomo gc' packs the small ones)",
                                         stored.unchecked_old_loose));
  }

  // Objects: every header, and with verify_objects every link of every chain
  // decoded once, bottom-up, and matched against its hash.
  std::vector<ObjectId> to_check;
  for (const auto& id : referenced) {
    if (store.Contains(id)) to_check.push_back(id);
  }
  std::mutex errors_mutex;
  auto fail = [&](const std::string& message, const ObjectId& id) {
    std::lock_guard<std::mutex> lock(errors_mutex);
    auto user = first_user.find(id);
    report.errors.push_back(user == first_user.end() ? fmt::format("{} (a delta base)", message)
                                                     : fmt::format("{} (tensor {})", message, user->second));
  };
  if (!verify_objects) {
    ParallelFor(to_check.size(), store.options().threads, [&](size_t i) {
      try {
        store.Stat(to_check[i]);
      } catch (const Error& e) {
        fail(e.what(), to_check[i]);
      }
    });
  } else {
    VerifyChains(store, to_check, fail);
  }
  report.objects_checked = to_check.size();

  std::set<ObjectId> needed = referenced;
  AddDeltaBases(store, &needed);
  for (const auto& id : store.List()) {
    if (!needed.count(id)) report.unreachable_objects.push_back(id);
  }
  if (!report.unreachable_objects.empty()) {
    report.notices.push_back(fmt::format("{} unreachable objects ('fomo gc' removes them)",
                                         report.unreachable_objects.size()));
  }
  for (const auto& entry : fs::recursive_directory_iterator(repo.fomo_dir() / "objects")) {
    if (entry.is_regular_file() && entry.path().filename().string().rfind(".tmp-", 0) == 0) {
      ++report.temporary_files;
    }
  }
  if (report.temporary_files) {
    report.notices.push_back(
        fmt::format("{} temporary files from an interrupted write", report.temporary_files));
  }
  return report;
}

std::vector<std::string> RepairRepository(Repository& repo, const FsckReport& first) {
  std::vector<std::string> fixes;
  FsckReport report = first;
  if (!first.schema_problems.empty()) {
    // Tables first; then the rows the graph can give them.
    fixes = repo.db().RepairSchema();
    report = CheckRepository(repo, /*verify_objects=*/false);
  }
  for (const auto& [commit, version] : report.missing_tags) {
    if (repo.graph().TagTarget(version.Tag())) continue;  // taken since: leave it
    repo.graph().CreateTag(version.Tag(), commit);
    fixes.push_back(fmt::format("tagged {} as {}", Short(commit), version.Tag()));
  }
  for (const auto& commit : report.missing_rows) {
    repo.db().InsertVersion(VersionRowOf(LoadVersion(repo.graph(), commit)));
    fixes.push_back(fmt::format("added the database row of {}", Short(commit)));
  }
  for (const auto& commit : report.stale_rows) {
    repo.db().DeleteVersion(commit);
    fixes.push_back(fmt::format("removed the stale database row of {}", Short(commit)));
  }
  if (size_t n = repo.objects().RemoveTemporaryFiles()) {
    fixes.push_back(fmt::format("removed {} temporary files", n));
  }
  return fixes;
}

GcReport CollectGarbage(Repository& repo, bool dry_run) {
  GcReport report;
  std::vector<ObjectId> reachable = ReachableObjects(repo);
  std::set<ObjectId> keep(reachable.begin(), reachable.end());
  const ObjectStore& store = repo.objects();
  for (const auto& [id, size] : store.ListSizes()) {
    if (keep.count(id)) continue;
    ++report.objects_removed;
    report.bytes_removed += size;
    if (!dry_run) store.Remove(id);  // a loose one now; a packed one with the repack
  }
  if (dry_run) return report;
  report.temporary_files_removed = store.RemoveTemporaryFiles();
  const RepackReport repack = store.Repack(keep);
  report.packs_before = repack.packs_before;
  report.objects_packed = repack.objects_packed;
  report.loose_packed = repack.loose_packed;
  report.graph = repo.graph().Pack();
  return report;
}

}  // namespace fomo
