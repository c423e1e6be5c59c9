#include "storage/transfer.hpp"

#include <algorithm>
#include <ctime>
#include <deque>
#include <map>
#include <set>

#include <fmt/format.h>

#include "storage/atomic_file.hpp"
#include "storage/error.hpp"
#include "storage/manifest.hpp"
#include "storage/object_record.hpp"
#include "storage/semver.hpp"
#include "storage/versions.hpp"

namespace fomo {

namespace {

bool IsVersionTag(const std::string& tag) { return !tag.empty() && tag[0] == 'v' && SemVer::Parse(tag).has_value(); }

std::vector<CommitId> ParentsOf(const CommitPayload& payload) {
  std::vector<CommitId> parents;
  size_t at = 0;
  while (at < payload.raw.size()) {
    const size_t end = payload.raw.find('\n', at);
    if (end == std::string::npos || end == at) break;
    const std::string line = payload.raw.substr(at, end - at);
    if (line.rfind("parent ", 0) == 0) parents.push_back(line.substr(7));
    at = end + 1;
  }
  return parents;
}

// Commits in an order where every parent among them comes before its children.
std::vector<CommitId> ParentsFirst(const std::map<CommitId, std::vector<CommitId>>& parents) {
  std::vector<CommitId> order;
  std::set<CommitId> done;
  for (const auto& [start, unused] : parents) {
    std::vector<std::pair<CommitId, size_t>> stack{{start, 0}};
    while (!stack.empty()) {
      auto& [id, next] = stack.back();
      if (done.count(id)) {
        stack.pop_back();
        continue;
      }
      const auto& ps = parents.at(id);
      if (next < ps.size()) {
        const CommitId parent = ps[next++];
        if (parents.count(parent) && !done.count(parent)) stack.emplace_back(parent, 0);
        continue;
      }
      done.insert(id);
      order.push_back(id);
      stack.pop_back();
    }
  }
  return order;
}

// "name shape" for every tensor of a manifest: what makes two repositories hold
// the same model.
std::map<std::string, Shape> ModelShape(const std::string& manifest_json) {
  std::map<std::string, Shape> shape;
  for (const auto& entry : Manifest::FromJson(manifest_json).tensors) shape[entry.name] = entry.shape;
  return shape;
}

// Refuses versions of another model than `here`'s (a different tensor or shape).
void RequireSameModel(const std::map<std::string, Shape>& here, const std::map<std::string, Shape>& there,
                      const std::string& where) {
  for (const auto& [name, shape] : there) {
    auto it = here.find(name);
    if (it == here.end()) {
      throw Error(fmt::format("{} holds another model: it has tensor '{}', which this repository's has not", where, name));
    }
    if (it->second != shape) {
      throw Error(fmt::format("{} holds another model: tensor '{}' is {} there and {} here", where, name,
                              ShapeString(shape), ShapeString(it->second)));
    }
  }
  for (const auto& [name, shape] : here) {
    if (!there.count(name)) {
      throw Error(fmt::format("{} holds another model: it lacks tensor '{}'", where, name));
    }
  }
}

std::optional<CommitId> AnyLocalVersion(const Repository& repo) {
  const Graph& graph = repo.graph();
  if (auto head = graph.Head().commit) return head;
  for (const auto& branch : graph.Branches()) {
    if (auto target = graph.BranchTarget(branch)) return target;
  }
  return std::nullopt;
}

std::string Short(const CommitId& id) { return ShortId(id); }

// Refuses a remote whose versions are of another model than `ours`. A remote
// sharing a version with this repository holds the same model by construction.
void RequireRemoteModel(const Repository& local, Remote& remote, const RemoteRefs& theirs, const CommitId& ours) {
  std::optional<CommitId> sample;
  if (theirs.head_branch && theirs.branches.count(*theirs.head_branch)) sample = theirs.branches.at(*theirs.head_branch);
  if (!sample && !theirs.branches.empty()) sample = theirs.branches.begin()->second;
  if (!sample && !theirs.tags.empty()) sample = theirs.tags.begin()->second;
  if (!sample || local.graph().HasCommit(*sample)) return;
  const RemoteVersion version = remote.GetVersion(*sample);
  auto manifest = version.commit.files.find("manifest.json");
  if (manifest == version.commit.files.end()) return;
  RequireSameModel(ModelShape(*local.graph().ReadFile(ours, "manifest.json")), ModelShape(manifest->second),
                   remote.url());
}

}  // namespace

bool IsAncestor(const Graph& graph, const CommitId& ancestor, const CommitId& descendant) {
  if (ancestor == descendant) return true;
  const auto base = graph.MergeBase({ancestor, descendant});
  return base && *base == ancestor;
}

std::vector<ObjectId> VersionObjects(const Repository& repo, const CommitId& commit) {
  std::vector<ObjectId> roots;
  for (const auto& entry : LoadManifest(repo.graph(), commit).tensors) roots.push_back(entry.id);
  for (const auto& entry : LoadMethodState(repo.graph(), commit).tensors) roots.push_back(entry.id);
  std::vector<ObjectId> order;
  std::set<ObjectId> seen;
  for (const auto& root : roots) {
    std::vector<ObjectId> chain;
    for (std::optional<ObjectId> id = root; id && !seen.count(*id);) {
      if (chain.size() > static_cast<size_t>(kMaxDeltaLinks)) {
        throw CorruptError(fmt::format("object {} is corrupt: its delta chain is more than {} links long",
                                       root.Hex(), kMaxDeltaLinks));
      }
      chain.push_back(*id);
      seen.insert(*id);
      id = repo.objects().Stat(*id).base;
    }
    order.insert(order.end(), chain.rbegin(), chain.rend());
  }
  return order;
}

TransferReport Push(Repository& local, Remote& remote, const PushRequest& request, const TransferProgress& progress) {
  Graph& graph = local.graph();
  const RemoteRefs theirs = remote.ListRefs();
  const std::string where = remote.url();
  TransferReport report;
  std::vector<RefUpdate> updates;
  std::vector<CommitId> targets;
  for (const auto& name : request.branches.empty() ? request.tags : request.branches) {
    const auto ours = request.branches.empty() ? graph.TagTarget(name) : graph.BranchTarget(name);
    if (ours) RequireRemoteModel(local, remote, theirs, *ours);
    break;
  }

  // Tags first: a version tag that would move is refused whatever --force says.
  for (const auto& tag : request.tags) {
    const auto mine = graph.TagTarget(tag);
    if (!mine) throw Error(fmt::format("no tag '{}' here", tag));
    targets.push_back(*mine);
    auto it = theirs.tags.find(tag);
    if (it != theirs.tags.end()) {
      if (it->second == *mine) continue;
      throw Error(fmt::format("tag '{}' on {} names {}, here {}: {}", tag, where, Short(it->second), Short(*mine),
                              IsVersionTag(tag) ? "a version number names one set of weights forever"
                                                : "delete it there first"));
    }
    updates.push_back({RefUpdate::Kind::kTag, tag, std::nullopt, *mine});
    report.refs.push_back(fmt::format("new tag {} {}", tag, Short(*mine)));
  }
  for (const auto& branch : request.branches) {
    const auto mine = graph.BranchTarget(branch);
    if (!mine) throw Error(fmt::format("no branch '{}' here", branch));
    targets.push_back(*mine);
    auto it = theirs.branches.find(branch);
    std::optional<CommitId> expected;
    if (it != theirs.branches.end()) {
      expected = it->second;
      if (it->second == *mine) continue;
      const bool fast_forward = graph.HasCommit(it->second) && IsAncestor(graph, it->second, *mine);
      if (!fast_forward && !request.force) {
        throw Error(fmt::format("'{}' on {} ({}) is not an ancestor of yours ({}): fetch and merge first "
                                "('fomo pull', 'fomo merge'), or push --force to replace it",
                                branch, where, Short(it->second), Short(*mine)));
      }
    }
    updates.push_back({RefUpdate::Kind::kBranch, branch, expected, *mine});
    report.refs.push_back(expected ? fmt::format("{} {}..{}{}", branch, Short(*expected), Short(*mine),
                                                 graph.HasCommit(*expected) && IsAncestor(graph, *expected, *mine)
                                                     ? ""
                                                     : " (forced)")
                                   : fmt::format("new branch {} {}", branch, Short(*mine)));
  }
  if (targets.empty()) return report;
  if (remote.ConfigText().empty()) {
    std::error_code ec;
    if (fs::exists(local.config_path(), ec)) remote.PutConfigText(ReadFileToString(local.config_path()));
  }

  // Versions the remote lacks, parents first.
  std::vector<CommitId> walk = graph.Walk(targets);
  std::reverse(walk.begin(), walk.end());
  std::vector<CommitId> to_send, present;
  for (const auto& id : walk) (remote.HasVersion(id) ? present : to_send).push_back(id);
  report.versions_present = present.size();

  // The objects they lack, once each, with their sizes for the progress.
  std::vector<std::vector<ObjectId>> objects_of(to_send.size());
  std::vector<ObjectId> all;
  std::set<ObjectId> listed;
  for (size_t i = 0; i < to_send.size(); ++i) {
    objects_of[i] = VersionObjects(local, to_send[i]);
    for (const auto& id : objects_of[i]) {
      if (listed.insert(id).second) all.push_back(id);
    }
  }
  const std::vector<ObjectId> missing_list = remote.MissingObjects(all, [&local](const ObjectId& id) {
    const std::vector<uint8_t> record = local.objects().ReadRecord(id);
    return ObjectBlob{Sha256::Of(record.data(), record.size()), record.size()};
  });
  std::set<ObjectId> missing(missing_list.begin(), missing_list.end());
  TransferStatus status;
  status.objects_total = missing.size();
  for (const auto& id : missing) status.bytes_total += local.objects().Stat(id).stored_size;
  report.objects_present = all.size() - missing.size();
  if (progress) progress(status);

  for (size_t i = 0; i < to_send.size(); ++i) {
    for (const auto& id : objects_of[i]) {
      if (!missing.count(id)) continue;
      const std::vector<uint8_t> record = local.objects().ReadRecord(id);
      remote.PutObject(id, record);
      missing.erase(id);
      ++status.objects_done;
      status.bytes_done += local.objects().Stat(id).stored_size;
      report.bytes += record.size();
      ++report.objects;
      if (progress) progress(status);
      if (status.objects_done == (status.objects_total + 1) / 2) CrashPoint("push-objects-half");
    }
    RemoteVersion version{graph.ExportCommit(to_send[i]), objects_of[i], local.db().Evaluations(to_send[i])};
    report.evaluations += version.evaluations.size();
    remote.PutVersion(version);
    ++report.versions;
  }
  // Rows measured since those versions were pushed.
  for (const auto& id : present) {
    const auto rows = local.db().Evaluations(id);
    if (rows.empty()) continue;
    remote.PutEvaluations(id, rows);
    report.evaluations += rows.size();
  }
  CrashPoint("push-before-refs");
  if (!updates.empty()) remote.UpdateRefs(updates);
  const int64_t now = static_cast<int64_t>(std::time(nullptr));
  for (const auto& update : updates) {
    if (update.kind == RefUpdate::Kind::kTag && IsVersionTag(update.name)) {
      local.db().MarkReleased({update.name, update.target, now, "pushed"});
    }
  }
  return report;
}

TransferReport Fetch(Repository& local, Remote& remote, const FetchRequest& request, const TransferProgress& progress) {
  Graph& graph = local.graph();
  const RemoteRefs theirs = remote.ListRefs();
  const std::string where = remote.url();
  TransferReport report;

  if (auto ours = AnyLocalVersion(local)) RequireRemoteModel(local, remote, theirs, *ours);

  // What to fetch.
  std::map<std::string, CommitId> branches, tags;
  std::vector<CommitId> wanted;
  if (request.only.empty()) {
    branches = theirs.branches;
    tags = theirs.tags;
  } else {
    for (const auto& rev : request.only) {
      if (auto b = theirs.branches.find(rev); b != theirs.branches.end()) {
        branches.insert(*b);
      } else if (auto t = theirs.tags.find(rev); t != theirs.tags.end()) {
        tags.insert(*t);
      } else if (auto v = theirs.tags.find("v" + rev); v != theirs.tags.end() && IsVersionTag(v->first)) {
        tags.insert(*v);
      } else if (rev.size() == 40 && remote.HasVersion(rev)) {
        wanted.push_back(rev);
      } else {
        throw Error(fmt::format("{} has no branch, tag or version '{}'", where, rev));
      }
    }
  }
  for (const auto& [name, id] : branches) wanted.push_back(id);
  for (const auto& [name, id] : tags) wanted.push_back(id);
  for (const auto& [tag, id] : tags) {
    const auto mine = graph.TagTarget(tag);
    if (mine && *mine != id) {
      throw Error(fmt::format("tag '{}' names {} here and {} on {}: {}; nothing fetched", tag, Short(*mine), Short(id),
                              where, IsVersionTag(tag) ? "a version number names one set of weights forever"
                                                       : "delete one of them first"));
    }
  }

  // The versions missing here, found by walking down from what is wanted. A commit
  // without its row is a fetch killed in between: it comes again.
  std::map<CommitId, RemoteVersion> versions;
  std::map<CommitId, std::vector<CommitId>> parents;
  std::vector<CommitId> stack(wanted.begin(), wanted.end());
  while (!stack.empty()) {
    const CommitId id = stack.back();
    stack.pop_back();
    if (versions.count(id) || (graph.HasCommit(id) && local.db().FindVersion(id))) continue;
    RemoteVersion version = remote.GetVersion(id);
    if (version.commit.id != id) throw CorruptError(fmt::format("{} returned another version for {}", where, id));
    parents[id] = ParentsOf(version.commit);
    for (const auto& parent : parents[id]) stack.push_back(parent);
    versions.emplace(id, std::move(version));
  }
  const std::vector<CommitId> order = ParentsFirst(parents);

  // Which versions bring their tensors: all, or the last `depth` down from each ref.
  std::set<CommitId> with_tensors(order.begin(), order.end());
  if (request.depth > 0) {
    with_tensors.clear();
    auto parents_of = [&](const CommitId& id) {
      auto it = parents.find(id);
      return it != parents.end() ? it->second : graph.ReadCommit(id).parents;
    };
    // Lines are branches: their tips (or the versions asked for) count, not tags.
    std::vector<CommitId> tips;
    for (const auto& [name, id] : branches) tips.push_back(id);
    if (tips.empty()) tips = wanted;
    for (const auto& start : tips) {
      std::deque<CommitId> queue{start};
      std::set<CommitId> seen;
      for (int taken = 0; !queue.empty() && taken < request.depth;) {
        const CommitId id = queue.front();
        queue.pop_front();
        if (!seen.insert(id).second) continue;
        ++taken;
        if (versions.count(id)) with_tensors.insert(id);
        for (const auto& parent : parents_of(id)) queue.push_back(parent);
      }
    }
  }
  std::set<CommitId> shallow = local.ShallowVersions();
  std::vector<std::pair<CommitId, std::vector<ObjectId>>> object_lists;
  for (const auto& id : order) {
    if (with_tensors.count(id)) object_lists.emplace_back(id, versions.at(id).objects);
  }
  std::set<CommitId> unshallowed;
  if (request.unshallow) {
    for (const auto& id : shallow) {
      if (!graph.HasCommit(id)) continue;
      object_lists.emplace_back(id, remote.GetVersion(id).objects);
      unshallowed.insert(id);
    }
  }

  // Objects first, each proven before it is stored; bases come before deltas.
  std::vector<ObjectId> needed;
  std::set<ObjectId> listed;
  for (const auto& [id, objects] : object_lists) {
    for (const auto& object : objects) {
      if (listed.insert(object).second && !local.objects().Contains(object)) needed.push_back(object);
    }
  }
  TransferStatus status;
  status.objects_total = needed.size();
  report.objects_present = listed.size() - needed.size();
  if (progress) progress(status);
  std::optional<std::pair<ObjectId, std::vector<uint8_t>>> last;  // the previous object, decoded
  for (const auto& id : needed) {
    const std::vector<uint8_t> record = remote.GetObject(id);
    ObjectHeader header;
    ParseHeader(record.data(), record.size(), id.Hex(), &header);
    const bool onto_last = last && header.encoding != Encoding::kFull && header.base == last->first;
    std::vector<uint8_t> decoded;
    local.objects().PutRecord(id, record, onto_last ? &last->second : nullptr, &decoded);
    last.emplace(id, std::move(decoded));
    ++status.objects_done;
    status.bytes_done += record.size();
    report.bytes += record.size();
    ++report.objects;
    if (progress) progress(status);
    if (status.objects_done == (status.objects_total + 1) / 2) CrashPoint("fetch-objects-half");
  }
  local.objects().Flush();

  // The shallow list before the commits it describes, so no commit is ever here
  // without its tensors unless the list says so.
  for (const auto& id : order) {
    if (!with_tensors.count(id)) shallow.insert(id);
  }
  for (const auto& id : unshallowed) shallow.erase(id);
  if (shallow != local.ShallowVersions()) local.SetShallowVersions(shallow);

  // Then the commits, parents first, and their rows.
  for (const auto& id : order) graph.ImportCommit(versions.at(id).commit);
  CrashPoint("fetch-commits-imported");
  for (const auto& id : order) {
    local.db().InsertVersion(VersionRowOf(LoadVersion(graph, id)));
    const auto& rows = versions.at(id).evaluations;
    if (!rows.empty()) local.db().InsertEvaluations(rows);
    report.evaluations += rows.size();
  }
  report.versions = order.size();

  // Rows the remote measured on versions this repository had already.
  if (!wanted.empty()) {
    std::set<CommitId> fetched(order.begin(), order.end());
    for (const auto& id : graph.Walk(wanted)) {
      if (fetched.count(id)) continue;
      ++report.versions_present;
      std::vector<EvaluationRow> rows = remote.GetEvaluations(id);
      const auto mine = local.db().Evaluations(id);
      rows.erase(std::remove_if(rows.begin(), rows.end(),
                                [&](const EvaluationRow& r) {
                                  return std::any_of(mine.begin(), mine.end(), [&](const EvaluationRow& m) {
                                    return m.dataset == r.dataset && m.split == r.split && m.metric == r.metric &&
                                           m.config_hash == r.config_hash && m.value == r.value;
                                  });
                                }),
                 rows.end());
      if (rows.empty()) continue;
      local.db().InsertEvaluations(rows);
      report.evaluations += rows.size();
    }
  }

  // Refs last.
  CrashPoint("fetch-before-refs");
  const auto before = graph.RemoteBranches(request.remote_name);
  for (const auto& [branch, id] : branches) {
    auto old = before.find(branch);
    if (old != before.end() && old->second == id) continue;
    graph.SetRemoteBranch(request.remote_name, branch, id);
    report.refs.push_back(old != before.end()
                              ? fmt::format("{}/{} {}..{}", request.remote_name, branch, Short(old->second), Short(id))
                              : fmt::format("new branch {}/{} {}", request.remote_name, branch, Short(id)));
  }
  if (request.only.empty()) {
    for (const auto& [branch, id] : before) {
      if (theirs.branches.count(branch)) continue;
      graph.DeleteRemoteBranch(request.remote_name, branch);  // gone there: pruned, as git fetch --prune
      report.refs.push_back(fmt::format("deleted {}/{}", request.remote_name, branch));
    }
  }
  if (!request.only.empty()) {
    // The tags of the versions an --only fetch brought, so its history reads the same.
    for (const auto& [tag, id] : theirs.tags) {
      if (!tags.count(tag) && graph.HasCommit(id) && !graph.TagTarget(tag)) tags.insert({tag, id});
    }
  }
  const int64_t now = static_cast<int64_t>(std::time(nullptr));
  for (const auto& [tag, id] : tags) {
    if (graph.TagTarget(tag)) continue;
    graph.CreateTag(tag, id);
    if (IsVersionTag(tag)) local.db().MarkReleased({tag, id, now, "fetched"});
    report.refs.push_back(fmt::format("new tag {} {}", tag, Short(id)));
  }
  return report;
}

}  // namespace fomo
