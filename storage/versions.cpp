#include "storage/versions.hpp"

#include <functional>

#include <algorithm>
#include <atomic>
#include <ctime>
#include <mutex>
#include <set>
#include <unordered_map>

#include <fmt/format.h>

#include "storage/atomic_file.hpp"
#include "storage/error.hpp"
#include "storage/parallel.hpp"
#include "storage/trace.hpp"
#include "storage/json_number.hpp"

namespace fomo {

namespace {

using nlohmann::json;

json BudgetToJson(const Budget& b) {
  auto opt = [](const auto& v) -> json { return v ? json(*v) : json(nullptr); };
  return {{"steps", opt(b.steps)},
          {"samples", opt(b.samples)},
          {"flops", opt(b.flops)},
          {"maf", opt(b.maf)},
          {"seconds", opt(b.seconds)}};
}

Budget BudgetFromJson(const json& j) {
  Budget b;
  if (!j.is_object()) return b;
  auto get = [&](const char* key, auto& field) {
    using T = typename std::decay_t<decltype(field)>::value_type;
    if (!j.contains(key) || j[key].is_null()) return;
    if constexpr (std::is_integral_v<T>) {
      field = JsonInteger(j[key], fmt::format("budget.{}", key), 0, INT64_MAX);
    } else {
      if (!j[key].is_number()) throw CorruptError(fmt::format("budget.{} must be a number", key));
      field = j[key].get<T>();
    }
  };
  get("steps", b.steps);
  get("samples", b.samples);
  get("flops", b.flops);
  get("maf", b.maf);
  get("seconds", b.seconds);
  return b;
}

std::string RequireFile(const VersionFiles& files, const std::string& what, const std::string& name) {
  auto text = files(name);
  if (!text) throw CorruptError(fmt::format("commit {} has no {}", what, name));
  return *text;
}

json ParseJsonFile(const VersionFiles& files, const std::string& what, const std::string& name) {
  try {
    return json::parse(RequireFile(files, what, name));
  } catch (const json::exception& e) {
    throw CorruptError(fmt::format("{} of commit {} is malformed: {}", name, what, e.what()));
  }
}

// Removes objects a failed commit added; a removal that fails leaves garbage for
// `fomo gc`, not an error on top of the first.
void RemoveQuietly(const ObjectStore& store, const std::vector<ObjectId>& ids) {
  for (const auto& id : ids) {
    try {
      store.Remove(id);
    } catch (const Error&) {
    }
  }
}

// Bytes this commit added to the store: the objects it wrote itself. An object
// already there (from a parent, another branch, an earlier identical commit) costs
// nothing, however far away its owner is.
uint64_t WrittenBytes(const Manifest& manifest, const std::set<ObjectId>& written) {
  std::set<ObjectId> counted;
  uint64_t total = 0;
  for (const auto& e : manifest.tensors) {
    if (written.count(e.id) && counted.insert(e.id).second) total += e.stored_bytes;
  }
  return total;
}

}  // namespace

StoredVersion ParseVersion(const VersionFiles& files, const std::string& what) {
  StoredVersion v;
  json info = ParseJsonFile(files, what, "version.json");
  try {
    if (!info.is_object()) throw CorruptError("it is not an object");
    auto semver = SemVer::Parse(info.value("version", ""));
    if (!semver) throw CorruptError("it gives no valid version");
    v.version = *semver;
    v.kind = info.value("kind", "commit");
    v.raw_bytes = info.contains("raw_bytes") ? JsonUnsigned(info["raw_bytes"], "raw_bytes") : 0;
    v.stored_bytes = info.contains("stored_bytes") ? JsonUnsigned(info["stored_bytes"], "stored_bytes") : 0;
    v.budget = BudgetFromJson(info.value("budget", json::object()));
  } catch (const json::exception& e) {
    throw CorruptError(fmt::format("version.json of commit {} is malformed: {}", what, e.what()));
  } catch (const CorruptError& e) {
    throw CorruptError(fmt::format("version.json of commit {} is malformed: {}", what, e.what()));
  }
  try {
    v.manifest = Manifest::FromJson(RequireFile(files, what, "manifest.json"));
  } catch (const CorruptError& e) {
    throw CorruptError(fmt::format("commit {}: {}", what, e.what()));
  }
  if (auto state = files("method_state.json")) {
    try {
      v.method_state = Manifest::FromJson(*state);
    } catch (const CorruptError& e) {
      throw CorruptError(fmt::format("commit {}: method_state.json: {}", what, e.what()));
    }
  }
  v.config_json = RequireFile(files, what, "config.json");
  v.recipe = ParseJsonFile(files, what, "recipe.json");
  v.metrics = ParseJsonFile(files, what, "metrics.json");
  if (!v.recipe.is_object()) throw CorruptError(fmt::format("recipe.json of commit {} is not an object", what));
  if (!v.metrics.is_object()) throw CorruptError(fmt::format("metrics.json of commit {} is not an object", what));
  return v;
}

namespace {
VersionFiles FilesOf(const Graph& graph, const CommitId& commit) {
  return [&graph, commit](const std::string& name) { return graph.ReadFile(commit, name); };
}
}  // namespace

Manifest LoadManifest(const Graph& graph, const CommitId& commit) {
  const std::string what = commit.substr(0, 12);
  try {
    return Manifest::FromJson(RequireFile(FilesOf(graph, commit), what, "manifest.json"));
  } catch (const CorruptError& e) {
    throw CorruptError(fmt::format("commit {}: {}", what, e.what()));
  }
}

Manifest LoadMethodState(const Graph& graph, const CommitId& commit) {
  auto text = graph.ReadFile(commit, "method_state.json");
  if (!text) return Manifest{};
  try {
    return Manifest::FromJson(*text);
  } catch (const CorruptError& e) {
    throw CorruptError(fmt::format("commit {}: method_state.json: {}", commit.substr(0, 12), e.what()));
  }
}

StoredVersion LoadVersion(const Graph& graph, const CommitId& commit) {
  CommitInfo info = graph.ReadCommit(commit);
  StoredVersion v = ParseVersion(FilesOf(graph, commit), commit.substr(0, 12));
  v.commit = std::move(info);
  return v;
}

SemVer LoadVersionNumber(const Graph& graph, const CommitId& commit) {
  const std::string what = commit.substr(0, 12);
  const json info = ParseJsonFile(FilesOf(graph, commit), what, "version.json");
  std::optional<SemVer> version = info.is_object() ? SemVer::Parse(info.value("version", "")) : std::nullopt;
  if (!version) throw CorruptError(fmt::format("version.json of commit {} gives no valid version", what));
  return *version;
}

VersionRow VersionRowOf(const StoredVersion& v) {
  VersionRow row;
  row.commit = v.commit.id;
  row.version = v.version.ToString();
  row.parents = v.commit.parents;
  row.message = v.commit.message;
  row.kind = v.kind;
  row.created_at = v.commit.time;
  row.raw_bytes = v.raw_bytes;
  row.stored_bytes = v.stored_bytes;
  row.budget = v.budget;
  return row;
}

SemVer NextFreeVersion(const Graph& graph, const SemVer& parent, BumpLevel level) {
  SemVer next = parent.Bumped(level);
  while (graph.TagTarget(next.Tag())) next = next.Bumped(level);
  return next;
}

SemVer NextCandidate(const Repository& repo, const SemVer& release) {
  int highest = 0;
  auto consider = [&](const std::string& text) {
    auto v = SemVer::Parse(text);
    if (v && v->candidate() && v->Release() == release) highest = std::max(highest, v->rc);
  };
  // The database remembers every version ever committed, so a number once shown is
  // not given again after its branch was deleted.
  for (const auto& row : repo.db().AllVersions()) consider(row.version);
  for (const auto& branch : repo.graph().Branches()) consider(branch.substr(branch.rfind('/') + 1));
  for (const auto& [tag, commit] : repo.graph().Tags()) consider(tag);
  return release.Candidate(highest + 1);
}

StoredVersion RenumberVersion(Repository& repo, const CommitId& commit, const SemVer& version) {
  Graph& graph = repo.graph();
  const CommitInfo info = graph.ReadCommit(commit);
  const StoredVersion before = LoadVersion(graph, commit);
  std::map<std::string, std::string> files;
  for (const char* name : {"manifest.json", "config.json", "recipe.json", "metrics.json", "method_state.json"}) {
    if (auto text = graph.ReadFile(commit, name)) files[name] = *text;
  }
  json record = json::parse(*graph.ReadFile(commit, "version.json"));
  record["version"] = version.ToString();
  record["candidate"] = before.version.ToString();
  files["version.json"] = record.dump(2) + "\n";
  const CommitId renumbered = graph.WriteCommit(files, info.parents, info.message);
  StoredVersion v = LoadVersion(graph, renumbered);
  repo.db().InsertVersion(VersionRowOf(v));
  // The same weights: what was measured of the candidate holds for the release.
  std::vector<EvaluationRow> rows = repo.db().Evaluations(commit);
  for (auto& row : rows) row.commit = renumbered;
  repo.db().InsertEvaluations(rows);
  return v;
}

std::optional<StoredVersion> CommitVersion(Repository& repo, const VersionDraft& draft,
                                           const StoreProgress& progress) {
  Graph& graph = repo.graph();
  const ObjectStore& store = repo.objects();
  const bool prestored = draft.tensors.empty() && !draft.stored.empty();
  const size_t n = prestored ? draft.stored.size() : draft.tensors.size();
  if (n == 0) throw Error("cannot commit a version without tensors");
  std::string branch;
  if (draft.branch) {
    branch = *draft.branch;
  } else {
    HeadState head = graph.Head();
    if (!head.branch) throw Error("HEAD is detached; switch to a branch before committing");
    branch = *head.branch;
  }

  std::vector<StoredVersion> parents;
  for (const auto& parent : draft.parents) parents.push_back(LoadVersion(graph, parent));
  const Manifest* base = parents.empty() ? nullptr : &parents.front().manifest;

  StoredVersion v;
  std::function<void()> remove_new_objects;
  // Outlive the storing block: a failed graph commit still removes what was added.
  std::unordered_map<ObjectId, PutResult> results;
  std::mutex results_mutex;
  std::vector<ObjectId> state_written;  // the method state's new objects
  if (prestored) {
    v.manifest.tensors = draft.stored;
    remove_new_objects = [&] {
      RemoveQuietly(store, draft.written_objects);
      RemoveQuietly(store, state_written);
    };
  } else {
    // 1. Objects, one pass per tensor: hash it, store it unless the store has it,
    // release its bytes. Largest first, so the threads finish together. A version
    // identical to its parent finds every object present and writes nothing.
    std::vector<size_t> order(n);
    for (size_t i = 0; i < n; ++i) order[i] = i;
    std::stable_sort(order.begin(), order.end(), [&](size_t a, size_t b) {
      return draft.tensors[a].view.size > draft.tensors[b].view.size;
    });
    uint64_t total_bytes = 0;
    for (size_t i : order) total_bytes += draft.tensors[i].view.size;
    std::vector<ObjectId> ids(n);
    std::atomic<uint64_t> done_bytes{0};
    std::mutex progress_mutex;
    // A failure before the refs move leaves the store as it was: the objects this
    // commit added are removed again (the write lock keeps anyone from using them).
    remove_new_objects = [&] {
      std::lock_guard<std::mutex> lock(results_mutex);
      for (const auto& [id, result] : results) {
        if (result.written) RemoveQuietly(store, {id});
      }
      RemoveQuietly(store, state_written);
    };
    // Tensors with equal content (tied weights) are stored by whichever thread
    // claims the id first.
    std::set<ObjectId> claimed;
    try {
      ParallelFor(order.size(), store.options().threads, [&](size_t k) {
        const NamedTensor& planned = draft.tensors[order[k]];
        NamedTensor t = planned;
        std::optional<ByteBuffer> produced;
        if (!t.view.data && t.view.size && draft.produce) {
          produced.emplace(t.view.size);
          draft.produce(order[k], produced->data());
          t.view.data = produced->data();
        }
        // Put may call release before it has read the bytes (a mapped file's pages
        // then fault in again); a produced buffer goes at the end of this tensor.
        auto release = [&] {
          if (!produced && draft.release) draft.release(t.view);
        };
        const ObjectId id = TensorId(t.view);
        ids[order[k]] = id;
        bool mine = false;
        {
          std::lock_guard<std::mutex> lock(results_mutex);
          mine = claimed.insert(id).second;
        }
        if (mine) {
          std::optional<ObjectId> parent;
          if (base) {
            if (const ManifestEntry* e = base->Find(t.name)) parent = e->id;
          }
          auto hint = draft.low_rank.find(t.name);
          PutResult result = store.Put(id, t.view, parent, hint == draft.low_rank.end() ? nullptr : &hint->second,
                                       release);
          std::lock_guard<std::mutex> lock(results_mutex);
          results[id] = result;
        } else {
          release();
        }
        uint64_t done = done_bytes += t.view.size;
        if (progress) {
          std::lock_guard<std::mutex> lock(progress_mutex);
          progress(done, total_bytes);
        }
      });
    } catch (...) {
      remove_new_objects();
      throw;
    }
    if (base && !draft.allow_empty && base->tensors.size() == n) {
      bool same = true;
      for (size_t i = 0; i < n && same; ++i) {
        const ManifestEntry* e = base->Find(draft.tensors[i].name);
        same = e && e->id == ids[i];
      }
      // Every object was found in the store: nothing was written.
      if (same) return std::nullopt;
    }
    CrashPoint("objects-written");

    // 3. Manifest and version record.
    for (size_t i = 0; i < n; ++i) {
      const PutResult& r = results.at(ids[i]);
      v.manifest.tensors.push_back(ManifestEntry{draft.tensors[i].name, ids[i], draft.tensors[i].view.dtype,
                                                 draft.tensors[i].view.shape, r.encoding, r.stored_size});
    }
  }
  std::set<ObjectId> written;
  if (prestored) {
    written.insert(draft.written_objects.begin(), draft.written_objects.end());
  } else {
    for (const auto& [id, result] : results) {
      if (result.written) written.insert(id);
    }
  }
  v.raw_bytes = v.manifest.RawBytes();
  v.stored_bytes = WrittenBytes(v.manifest, written);
  if (TraceOn()) {
    size_t deltas = 0;
    for (const auto& e : v.manifest.tensors) deltas += e.encoding != Encoding::kFull;
    Trace(fmt::format("{} tensors: {} new objects ({} bytes), {} already in the store; {} stored as deltas", n,
                      written.size(), v.stored_bytes, n - written.size(), deltas));
  }
  // An online method's state, stored as deltas against the parent's.
  try {
    for (const auto& t : draft.method_state) {
      const ObjectId id = TensorId(t.view);
      std::optional<ObjectId> previous;
      if (!parents.empty()) {
        if (const ManifestEntry* e = parents.front().method_state.Find(t.name)) previous = e->id;
      }
      PutResult put = store.Put(id, t.view, previous);
      if (put.written) {
        state_written.push_back(id);
        v.stored_bytes += put.stored_size;
      }
      v.method_state.tensors.push_back(ManifestEntry{t.name, id, t.view.dtype, t.view.shape, put.encoding, put.stored_size});
    }
  } catch (...) {
    remove_new_objects();
    throw;
  }
  if (draft.version) {
    if (graph.TagTarget(draft.version->Tag())) {
      throw Error(fmt::format("version {} already exists", draft.version->Tag()));
    }
    v.version = *draft.version;
  } else {
    if (parents.empty()) throw Error("a version without parents needs an explicit version number");
    v.version = NextFreeVersion(graph, parents.front().version, draft.bump);
  }
  v.kind = draft.kind;
  v.budget = draft.budget;
  v.config_json = draft.config_json;
  v.recipe = draft.recipe;
  v.metrics = draft.metrics;
  json record = {{"format", "fomo-version"},   {"version", v.version.ToString()},
                 {"kind", v.kind},             {"raw_bytes", v.raw_bytes},
                 {"stored_bytes", v.stored_bytes}, {"budget", BudgetToJson(v.budget)}};
  std::map<std::string, std::string> files = {
      {"manifest.json", v.manifest.ToJson()},
      {"config.json", draft.config_json},
      {"recipe.json", draft.recipe.dump(2) + "\n"},
      {"metrics.json", draft.metrics.dump(2) + "\n"},
      {"version.json", record.dump(2) + "\n"},
  };
  if (!v.method_state.tensors.empty()) files["method_state.json"] = v.method_state.ToJson();
  std::string message = draft.message.empty() ? fmt::format("version {}", v.version.ToString())
                                              : draft.message;

  // 4. The graph commit, then the refs (branch, then tag), then the database row.
  CommitId commit;
  try {
    store.Flush();  // the commit names the small objects: they must be on disk first
    commit = graph.WriteCommit(files, draft.parents, message);
  } catch (...) {
    remove_new_objects();
    throw;
  }
  CrashPoint("commit-written");
  if (!branch.empty()) graph.SetBranch(branch, commit, fmt::format("fomo: version {}", v.version.ToString()));
  CrashPoint("branch-moved");
  if (draft.tag) graph.CreateTag(v.version.Tag(), commit);
  CrashPoint("tagged");
  graph.PackRefsIfMany();
  v.commit = graph.ReadCommit(commit);
  repo.db().InsertVersion(VersionRowOf(v));
  CrashPoint("database-written");
  Trace(fmt::format("committed {} as {}{}{}", v.version.Tag(), commit.substr(0, 12), branch.empty() ? "" : " on " + branch,
                    draft.tag ? ", tagged" : ""));
  return v;
}

}  // namespace fomo
