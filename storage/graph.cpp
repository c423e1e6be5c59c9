#include "storage/graph.hpp"

#include <git2.h>

#include <algorithm>
#include <fstream>
#include <functional>
#include <memory>
#include <mutex>
#include <set>

#include <fmt/format.h>

#include "storage/error.hpp"
#include "storage/semver.hpp"

namespace fomo {

namespace {

// The tags packed-refs records as pointing at no tag object, by full name. A file
// with the "peeled" trait (libgit2's and git's pack-refs write it) follows every
// tag that points at a tag object with a "^" line naming what it peels to; a tag
// without one names its commit directly, so no object needs reading to know.
std::map<std::string, std::string> UnpeeledPackedTags(const fs::path& git_dir) {
  std::map<std::string, std::string> tags;
  std::ifstream in(git_dir / "packed-refs");
  std::string line;
  if (!std::getline(in, line) || line.rfind("# pack-refs with:", 0) != 0) return tags;
  if ((line + " ").find(" peeled ") == std::string::npos && line.find(" fully-peeled") == std::string::npos) {
    return tags;  // no promise about peel lines: every target is checked
  }
  std::string last;
  while (std::getline(in, line)) {
    if (!line.empty() && line[0] == '^') {
      tags.erase(last);  // an annotated tag
      continue;
    }
    const size_t space = line.find(' ');
    if (space != 40) continue;
    last = line.substr(space + 1);
    if (last.rfind("refs/tags/", 0) == 0) tags[last] = line.substr(0, space);
  }
  return tags;
}

void EnsureLibgit2() {
  static std::once_flag once;
  std::call_once(once, [] {
    git_libgit2_init();
    // Loose objects and refs are fsynced, so a crash never leaves a torn ref.
    git_libgit2_opts(GIT_OPT_ENABLE_FSYNC_GITDIR, 1);
  });
}

std::string LastGitError() {
  const git_error* e = git_error_last();
  return e && e->message ? e->message : "unknown libgit2 error";
}

void Check(int rc, const std::string& what) {
  if (rc < 0) throw Error(fmt::format("{}: {}", what, LastGitError()));
}

// RAII for libgit2 handles.
template <typename T, void (*Free)(T*)>
struct Handle {
  T* ptr = nullptr;
  Handle() = default;
  Handle(const Handle&) = delete;
  Handle& operator=(const Handle&) = delete;
  ~Handle() {
    if (ptr) Free(ptr);
  }
  T** out() { return &ptr; }
  T* get() const { return ptr; }
};
using Commit = Handle<git_commit, git_commit_free>;
using Tree = Handle<git_tree, git_tree_free>;
using TreeEntry = Handle<git_tree_entry, git_tree_entry_free>;
using Blob = Handle<git_blob, git_blob_free>;
using Object = Handle<git_object, git_object_free>;
using Reference = Handle<git_reference, git_reference_free>;
using Signature = Handle<git_signature, git_signature_free>;
using TreeBuilder = Handle<git_treebuilder, git_treebuilder_free>;
using RevWalk = Handle<git_revwalk, git_revwalk_free>;
using BranchIterator = Handle<git_branch_iterator, git_branch_iterator_free>;

git_oid ToOid(const CommitId& id) {
  git_oid oid;
  if (git_oid_fromstr(&oid, id.c_str()) < 0) throw Error(fmt::format("bad commit id '{}'", id));
  return oid;
}

CommitId FromOid(const git_oid* oid) {
  char buf[GIT_OID_HEXSZ + 1];
  git_oid_tostr(buf, sizeof(buf), oid);
  return buf;
}

void MakeSignature(git_repository* repo, Signature* sig) {
  const char* name = std::getenv("FOMO_AUTHOR_NAME");
  const char* email = std::getenv("FOMO_AUTHOR_EMAIL");
  if (name && email) {
    Check(git_signature_now(sig->out(), name, email), "cannot make a commit signature");
    return;
  }
  if (git_signature_default(sig->out(), repo) == 0) return;
  const char* user = std::getenv("USER");
  Check(git_signature_now(sig->out(), user && *user ? user : "fomo", "fomo@localhost"),
        "cannot make a commit signature");
}

}  // namespace

bool IsValidRefName(const std::string& name) {
  int valid = 0;
  EnsureLibgit2();
  if (name.empty() || name[0] == '-') return false;
  return git_reference_name_is_valid(&valid, ("refs/heads/" + name).c_str()) == 0 && valid;
}

Graph Graph::Init(const fs::path& dir, const std::string& initial_branch) {
  EnsureLibgit2();
  git_repository* repo = nullptr;
  git_repository_init_options options = GIT_REPOSITORY_INIT_OPTIONS_INIT;
  options.flags = GIT_REPOSITORY_INIT_BARE | GIT_REPOSITORY_INIT_MKPATH;
  options.initial_head = initial_branch.c_str();
  Check(git_repository_init_ext(&repo, dir.c_str(), &options),
        fmt::format("cannot create the version graph in '{}'", dir.string()));
  return Graph(repo);
}

Graph Graph::Open(const fs::path& dir) {
  EnsureLibgit2();
  git_repository* repo = nullptr;
  Check(git_repository_open_bare(&repo, dir.c_str()),
        fmt::format("cannot open the version graph in '{}'", dir.string()));
  return Graph(repo);
}

Graph::~Graph() {
  if (repo_) git_repository_free(repo_);
}

Graph::Graph(Graph&& other) noexcept : repo_(other.repo_) { other.repo_ = nullptr; }

Graph& Graph::operator=(Graph&& other) noexcept {
  if (this != &other) {
    if (repo_) git_repository_free(repo_);
    repo_ = other.repo_;
    other.repo_ = nullptr;
  }
  return *this;
}

CommitId Graph::WriteCommit(const std::map<std::string, std::string>& files,
                            const std::vector<CommitId>& parents, const std::string& message) {
  TreeBuilder builder;
  Check(git_treebuilder_new(builder.out(), repo_, nullptr), "cannot build a tree");
  for (const auto& [name, content] : files) {
    git_oid blob;
    Check(git_blob_create_from_buffer(&blob, repo_, content.data(), content.size()),
          fmt::format("cannot store '{}' in the graph", name));
    Check(git_treebuilder_insert(nullptr, builder.get(), name.c_str(), &blob, GIT_FILEMODE_BLOB),
          fmt::format("cannot add '{}' to a tree", name));
  }
  git_oid tree_oid;
  Check(git_treebuilder_write(&tree_oid, builder.get()), "cannot write a tree");
  Tree tree;
  Check(git_tree_lookup(tree.out(), repo_, &tree_oid), "cannot read back a tree");

  std::vector<std::unique_ptr<Commit>> parent_commits;
  std::vector<const git_commit*> parent_ptrs;
  for (const auto& parent : parents) {
    auto commit = std::make_unique<Commit>();
    git_oid oid = ToOid(parent);
    Check(git_commit_lookup(commit->out(), repo_, &oid), fmt::format("unknown parent {}", parent));
    parent_ptrs.push_back(commit->get());
    parent_commits.push_back(std::move(commit));
  }
  Signature sig;
  MakeSignature(repo_, &sig);
  git_oid commit_oid;
  Check(git_commit_create(&commit_oid, repo_, nullptr, sig.get(), sig.get(), "UTF-8",
                          message.c_str(), tree.get(), parent_ptrs.size(), parent_ptrs.data()),
        "cannot write a commit");
  return FromOid(&commit_oid);
}

CommitInfo Graph::ReadCommit(const CommitId& id) const {
  Commit commit;
  git_oid oid = ToOid(id);
  Check(git_commit_lookup(commit.out(), repo_, &oid), fmt::format("cannot read commit {}", id));
  CommitInfo info;
  info.id = id;
  for (unsigned i = 0; i < git_commit_parentcount(commit.get()); ++i) {
    info.parents.push_back(FromOid(git_commit_parent_id(commit.get(), i)));
  }
  const char* message = git_commit_message(commit.get());
  info.message = message ? message : "";
  while (!info.message.empty() && info.message.back() == '\n') info.message.pop_back();
  const git_signature* author = git_commit_author(commit.get());
  info.author = fmt::format("{} <{}>", author->name, author->email);
  info.time = static_cast<int64_t>(git_commit_time(commit.get()));
  return info;
}

std::optional<std::string> Graph::ReadFile(const CommitId& id, const std::string& name) const {
  Commit commit;
  git_oid oid = ToOid(id);
  Check(git_commit_lookup(commit.out(), repo_, &oid), fmt::format("cannot read commit {}", id));
  Tree tree;
  Check(git_commit_tree(tree.out(), commit.get()), fmt::format("cannot read the tree of {}", id));
  TreeEntry entry;
  if (git_tree_entry_bypath(entry.out(), tree.get(), name.c_str()) == GIT_ENOTFOUND) {
    return std::nullopt;
  }
  Blob blob;
  Check(git_blob_lookup(blob.out(), repo_, git_tree_entry_id(entry.get())),
        fmt::format("cannot read '{}' of {}", name, id));
  const char* data = static_cast<const char*>(git_blob_rawcontent(blob.get()));
  return std::string(data, static_cast<size_t>(git_blob_rawsize(blob.get())));
}

bool Graph::HasCommit(const CommitId& id) const {
  git_oid oid;
  if (git_oid_fromstr(&oid, id.c_str()) < 0) return false;
  Commit commit;
  return git_commit_lookup(commit.out(), repo_, &oid) == 0;
}

std::optional<CommitId> Graph::Resolve(const std::string& rev) const {
  auto try_spec = [&](const std::string& spec) -> std::optional<CommitId> {
    Object object;
    int rc = git_revparse_single(object.out(), repo_, spec.c_str());
    if (rc == GIT_ENOTFOUND || rc == GIT_EINVALIDSPEC || rc == GIT_EUNBORNBRANCH) return std::nullopt;
    if (rc == GIT_EAMBIGUOUS) throw Error(fmt::format("revision '{}' is ambiguous", rev));
    if (rc < 0) return std::nullopt;
    Object peeled;
    if (git_object_peel(peeled.out(), object.get(), GIT_OBJECT_COMMIT) < 0) return std::nullopt;
    return FromOid(git_object_id(peeled.get()));
  };
  if (rev.empty()) return std::nullopt;
  // A bare "1.2.0" means the version tag v1.2.0; so does "1.2.0~1" and the like.
  const size_t end = rev.find_first_of("~^");
  const std::optional<SemVer> version = SemVer::Parse(rev.substr(0, end));
  const std::string suffix = end == std::string::npos ? "" : rev.substr(end);
  if (version && rev[0] >= '0' && rev[0] <= '9') {
    if (auto found = try_spec("v" + rev)) return found;
  }
  if (auto found = try_spec(rev)) return found;
  // A candidate (v1.2.0-rc.1) has no tag: its pending/ or rejected/ branch names it.
  if (version && version->candidate()) {
    for (const char* prefix : {"pending/", "rejected/"}) {
      if (auto found = try_spec(std::string(prefix) + version->Tag() + suffix)) return found;
    }
  }
  return std::nullopt;
}

HeadState Graph::Head() const {
  HeadState state;
  Reference head;
  if (git_reference_lookup(head.out(), repo_, "HEAD") < 0) return state;
  if (git_reference_type(head.get()) == GIT_REFERENCE_SYMBOLIC) {
    std::string target = git_reference_symbolic_target(head.get());
    const std::string prefix = "refs/heads/";
    if (target.rfind(prefix, 0) == 0) state.branch = target.substr(prefix.size());
    if (state.branch) state.commit = BranchTarget(*state.branch);
  } else {
    state.commit = FromOid(git_reference_target(head.get()));
  }
  return state;
}

void Graph::SetHeadToBranch(const std::string& branch) {
  Check(git_repository_set_head(repo_, ("refs/heads/" + branch).c_str()),
        fmt::format("cannot switch to '{}'", branch));
}

void Graph::SetHeadDetached(const CommitId& id) {
  git_oid oid = ToOid(id);
  Check(git_repository_set_head_detached(repo_, &oid), fmt::format("cannot detach HEAD at {}", id));
}

std::optional<CommitId> Graph::BranchTarget(const std::string& branch) const {
  Reference ref;
  if (git_reference_lookup(ref.out(), repo_, ("refs/heads/" + branch).c_str()) < 0) {
    return std::nullopt;
  }
  Reference resolved;
  if (git_reference_resolve(resolved.out(), ref.get()) < 0) return std::nullopt;
  return FromOid(git_reference_target(resolved.get()));
}

void Graph::SetBranch(const std::string& branch, const CommitId& id, const std::string& log_message) {
  git_oid oid = ToOid(id);
  Reference ref;
  Check(git_reference_create(ref.out(), repo_, ("refs/heads/" + branch).c_str(), &oid, 1,
                             log_message.c_str()),
        fmt::format("cannot move branch '{}'", branch));
}

void Graph::DeleteBranch(const std::string& branch) {
  Reference ref;
  Check(git_reference_lookup(ref.out(), repo_, ("refs/heads/" + branch).c_str()),
        fmt::format("branch '{}' not found", branch));
  Check(git_reference_delete(ref.get()), fmt::format("cannot delete branch '{}'", branch));
}

std::vector<std::string> Graph::Branches() const {
  std::vector<std::string> names;
  BranchIterator it;
  Check(git_branch_iterator_new(it.out(), repo_, GIT_BRANCH_LOCAL), "cannot list branches");
  git_reference* ref = nullptr;
  git_branch_t type;
  while (git_branch_next(&ref, &type, it.get()) == 0) {
    const char* name = nullptr;
    if (git_branch_name(&name, ref) == 0) names.emplace_back(name);
    git_reference_free(ref);
  }
  std::sort(names.begin(), names.end());
  return names;
}

std::optional<CommitId> Graph::TagTarget(const std::string& tag) const {
  Object object;
  if (git_revparse_single(object.out(), repo_, ("refs/tags/" + tag).c_str()) < 0) return std::nullopt;
  Object peeled;
  if (git_object_peel(peeled.out(), object.get(), GIT_OBJECT_COMMIT) < 0) return std::nullopt;
  return FromOid(git_object_id(peeled.get()));
}

void Graph::CreateTag(const std::string& tag, const CommitId& id) {
  git_oid oid = ToOid(id);
  Object target;
  Check(git_object_lookup(target.out(), repo_, &oid, GIT_OBJECT_COMMIT),
        fmt::format("cannot tag {}", id));
  git_oid tag_oid;
  int rc = git_tag_create_lightweight(&tag_oid, repo_, tag.c_str(), target.get(), 0);
  if (rc == GIT_EEXISTS) throw Error(fmt::format("tag '{}' already exists", tag));
  Check(rc, fmt::format("cannot create tag '{}'", tag));
}

void Graph::DeleteTag(const std::string& tag) {
  int rc = git_tag_delete(repo_, tag.c_str());
  if (rc == GIT_ENOTFOUND) throw Error(fmt::format("tag '{}' not found", tag));
  Check(rc, fmt::format("cannot delete tag '{}'", tag));
}

std::map<std::string, CommitId> Graph::Tags() const {
  // One pass over the refs, each read once; a lightweight tag (all fomo makes)
  // names its commit directly, and only another kind of object is peeled. Looking
  // each tag up by name read every ref file four times and every tagged commit.
  git_reference_iterator* raw = nullptr;
  Check(git_reference_iterator_glob_new(&raw, repo_, "refs/tags/*"), "cannot list tags");
  std::unique_ptr<git_reference_iterator, void (*)(git_reference_iterator*)> it(raw, git_reference_iterator_free);
  git_odb* raw_odb = nullptr;
  Check(git_repository_odb(&raw_odb, repo_), "cannot open the graph's objects");
  std::unique_ptr<git_odb, void (*)(git_odb*)> odb(raw_odb, git_odb_free);
  std::map<std::string, CommitId> tags;
  const std::map<std::string, std::string> unpeeled = UnpeeledPackedTags(git_repository_path(repo_));
  git_reference* ref = nullptr;
  while (git_reference_next(&ref, it.get()) == 0) {
    Reference owned;
    *owned.out() = ref;
    const char* name = git_reference_shorthand(ref);
    const git_oid* target = git_reference_target(ref);
    if (!target) continue;  // symbolic
    // A packed lightweight tag (a loose ref of the same name overrides it, so the
    // targets must agree): its commit, without reading the object.
    const auto packed = unpeeled.find(git_reference_name(ref));
    if (packed != unpeeled.end() && packed->second == git_oid_tostr_s(target)) {
      tags[name] = FromOid(target);
      continue;
    }
    size_t size = 0;
    git_object_t type = GIT_OBJECT_INVALID;
    if (git_odb_read_header(&size, &type, odb.get(), target) < 0) continue;  // names nothing stored
    if (type == GIT_OBJECT_COMMIT) {
      tags[name] = FromOid(target);
    } else if (auto peeled = TagTarget(name)) {
      tags[name] = *peeled;
    }
  }
  return tags;
}

std::vector<CommitId> Graph::Walk(const std::vector<CommitId>& starts) const {
  RevWalk walk;
  Check(git_revwalk_new(walk.out(), repo_), "cannot walk the graph");
  git_revwalk_sorting(walk.get(), GIT_SORT_TOPOLOGICAL | GIT_SORT_TIME);
  for (const auto& start : starts) {
    git_oid oid = ToOid(start);
    Check(git_revwalk_push(walk.get(), &oid), fmt::format("cannot walk from {}", start));
  }
  std::vector<CommitId> ids;
  git_oid oid;
  while (git_revwalk_next(&oid, walk.get()) == 0) ids.push_back(FromOid(&oid));
  return ids;
}

std::optional<CommitId> Graph::MergeBase(const std::vector<CommitId>& commits) const {
  if (commits.empty()) return std::nullopt;
  if (commits.size() == 1) return commits.front();
  std::vector<git_oid> oids;
  for (const auto& c : commits) oids.push_back(ToOid(c));
  git_oid base;
  int rc = git_merge_base_many(&base, repo_, oids.size(), oids.data());
  if (rc == GIT_ENOTFOUND) return std::nullopt;
  Check(rc, "cannot find the common ancestor");
  return FromOid(&base);
}

std::vector<CommitId> Graph::ReachableCommits() const {
  std::set<CommitId> starts;
  for (const auto& branch : Branches()) {
    if (auto target = BranchTarget(branch)) starts.insert(*target);
  }
  for (const auto& [name, target] : Tags()) starts.insert(target);
  for (const auto& remote : Remotes()) {
    for (const auto& [branch, target] : RemoteBranches(remote.name)) starts.insert(target);
  }
  if (auto head = Head().commit) starts.insert(*head);
  if (starts.empty()) return {};
  return Walk(std::vector<CommitId>(starts.begin(), starts.end()));
}

GraphPackReport Graph::Pack() {
  GraphPackReport report;
  const std::vector<CommitId> commits = ReachableCommits();
  if (commits.empty()) return report;
  git_packbuilder* raw = nullptr;
  Check(git_packbuilder_new(&raw, repo_), "cannot pack the version graph");
  std::unique_ptr<git_packbuilder, void (*)(git_packbuilder*)> builder(raw, git_packbuilder_free);
  git_packbuilder_set_threads(builder.get(), 0);
  std::set<std::string> packed;  // hex ids
  auto insert = [&](const git_oid& oid) {
    if (!packed.insert(git_oid_tostr_s(&oid)).second) return;
    Check(git_packbuilder_insert(builder.get(), &oid, nullptr), "cannot pack the version graph");
  };
  for (const auto& id : commits) {
    const git_oid oid = ToOid(id);
    Commit commit;
    Check(git_commit_lookup(commit.out(), repo_, &oid), "cannot read commit " + id);
    insert(oid);
    Tree tree;
    Check(git_commit_tree(tree.out(), commit.get()), "cannot read the tree of commit " + id);
    insert(*git_tree_id(tree.get()));
    struct Walk {
      std::function<void(const git_oid&)>* insert;
    };
    std::function<void(const git_oid&)> add = insert;
    Walk walk{&add};
    Check(git_tree_walk(
              tree.get(), GIT_TREEWALK_PRE,
              [](const char*, const git_tree_entry* entry, void* payload) {
                (*static_cast<Walk*>(payload)->insert)(*git_tree_entry_id(entry));
                return 0;
              },
              &walk),
          "cannot read the tree of commit " + id);
  }
  const fs::path objects = fs::path(git_repository_path(repo_)) / "objects";
  const fs::path pack_dir = objects / "pack";
  std::set<fs::path> old_packs;
  std::error_code ec;
  for (fs::directory_iterator it(pack_dir, ec), end; !ec && it != end; it.increment(ec)) {
    old_packs.insert(it->path());
  }
  Check(git_packbuilder_write(builder.get(), pack_dir.c_str(), 0, nullptr, nullptr), "cannot write the graph's pack");
  report.objects_packed = git_packbuilder_object_count(builder.get());
  const std::string name = std::string("pack-") + git_packbuilder_name(builder.get());
  for (const auto& path : old_packs) {
    if (path.stem().string() == name) continue;  // the same objects were packed already
    const std::string ext = path.extension().string();
    if (ext != ".pack" && ext != ".idx" && ext != ".rev") continue;
    if (fs::remove(path, ec) && ext == ".pack") ++report.packs_removed;
  }
  for (fs::directory_iterator fan(objects, ec), end; !ec && fan != end; fan.increment(ec)) {
    const std::string prefix = fan->path().filename().string();
    if (prefix.size() != 2 || !fan->is_directory()) continue;
    for (fs::directory_iterator it(fan->path(), ec), stop; !ec && it != stop; it.increment(ec)) {
      if (packed.count(prefix + it->path().filename().string()) && fs::remove(it->path(), ec)) ++report.loose_removed;
    }
    fs::remove(fan->path(), ec);  // only when now empty
    ec.clear();
  }
  git_odb* odb = nullptr;
  if (git_repository_odb(&odb, repo_) == 0) {
    git_odb_refresh(odb);
    git_odb_free(odb);
  }
  // The refs too, as git gc does: a version tag per version is a file per version,
  // and listing them read each one. packed-refs is one file.
  report.loose_refs = LooseRefCount();
  PackRefs();
  report.loose_refs -= std::min(report.loose_refs, LooseRefCount());
  return report;
}

void Graph::PackRefs() {
  git_refdb* refdb = nullptr;
  Check(git_repository_refdb(&refdb, repo_), "cannot open the graph's refs");
  std::unique_ptr<git_refdb, void (*)(git_refdb*)> owned_refdb(refdb, git_refdb_free);
  Check(git_refdb_compress(refdb), "cannot pack the graph's refs");
}

bool Graph::PackRefsIfMany() {
  size_t loose = 0;
  std::error_code ec;
  for (fs::directory_iterator it(fs::path(git_repository_path(repo_)) / "refs" / "tags", ec), end; !ec && it != end;
       it.increment(ec)) {
    if (++loose > kLooseTagsBeforePacking) break;
  }
  if (loose <= kLooseTagsBeforePacking) return false;
  PackRefs();
  return true;
}

size_t Graph::LooseRefCount() const {
  size_t count = 0;
  std::error_code ec;
  const fs::path refs = fs::path(git_repository_path(repo_)) / "refs";
  for (fs::recursive_directory_iterator it(refs, ec), end; !ec && it != end; it.increment(ec)) {
    if (it->is_regular_file(ec)) ++count;
  }
  return count;
}

CommitId ResolveRevision(const Graph& graph, const std::string& rev) {
  auto id = graph.Resolve(rev);
  if (!id) throw Error(fmt::format("unknown revision '{}'", rev));
  return *id;
}

}  // namespace fomo

// --- Transfer and remotes -------------------------------------------------

namespace fomo {

namespace {
using Odb = Handle<git_odb, git_odb_free>;
using OdbObject = Handle<git_odb_object, git_odb_object_free>;
using Config = Handle<git_config, git_config_free>;
}  // namespace

CommitPayload Graph::ExportCommit(const CommitId& id) const {
  Odb odb;
  Check(git_repository_odb(odb.out(), repo_), "cannot open the graph's objects");
  git_oid oid = ToOid(id);
  OdbObject object;
  Check(git_odb_read(object.out(), odb.get(), &oid), fmt::format("cannot read commit {}", id));
  if (git_odb_object_type(object.get()) != GIT_OBJECT_COMMIT) throw Error(fmt::format("{} is not a commit", id));
  CommitPayload payload;
  payload.id = id;
  payload.raw.assign(static_cast<const char*>(git_odb_object_data(object.get())), git_odb_object_size(object.get()));
  Commit commit;
  Check(git_commit_lookup(commit.out(), repo_, &oid), fmt::format("cannot read commit {}", id));
  Tree tree;
  Check(git_commit_tree(tree.out(), commit.get()), fmt::format("cannot read the tree of {}", id));
  for (size_t i = 0; i < git_tree_entrycount(tree.get()); ++i) {
    const git_tree_entry* entry = git_tree_entry_byindex(tree.get(), i);
    Blob blob;
    Check(git_blob_lookup(blob.out(), repo_, git_tree_entry_id(entry)),
          fmt::format("cannot read '{}' of {}", git_tree_entry_name(entry), id));
    payload.files[git_tree_entry_name(entry)].assign(static_cast<const char*>(git_blob_rawcontent(blob.get())),
                                                     static_cast<size_t>(git_blob_rawsize(blob.get())));
  }
  return payload;
}

void Graph::ImportCommit(const CommitPayload& payload) {
  git_oid expected;
  if (git_oid_fromstr(&expected, payload.id.c_str()) < 0 || payload.id.size() != GIT_OID_HEXSZ) {
    throw CorruptError(fmt::format("bad commit id '{}'", payload.id));
  }
  git_oid hashed;
  Check(git_odb_hash(&hashed, payload.raw.data(), payload.raw.size(), GIT_OBJECT_COMMIT), "cannot hash a commit");
  if (!git_oid_equal(&hashed, &expected)) {
    throw CorruptError(fmt::format("commit {} is corrupt: its bytes hash to {}", payload.id, FromOid(&hashed)));
  }
  // The tree and parents the commit names, from its own header lines.
  std::string tree_hex;
  std::vector<std::string> parents;
  size_t at = 0;
  while (at < payload.raw.size()) {
    const size_t end = payload.raw.find('\n', at);
    const std::string line = payload.raw.substr(at, end == std::string::npos ? std::string::npos : end - at);
    if (line.empty()) break;
    if (line.rfind("tree ", 0) == 0) tree_hex = line.substr(5);
    if (line.rfind("parent ", 0) == 0) parents.push_back(line.substr(7));
    if (end == std::string::npos) break;
    at = end + 1;
  }
  for (const auto& parent : parents) {
    if (!HasCommit(parent)) throw Error(fmt::format("commit {} needs its parent {}, which is not here", payload.id, parent));
  }
  TreeBuilder builder;
  Check(git_treebuilder_new(builder.out(), repo_, nullptr), "cannot build a tree");
  for (const auto& [name, content] : payload.files) {
    git_oid blob;
    Check(git_blob_create_from_buffer(&blob, repo_, content.data(), content.size()),
          fmt::format("cannot store '{}' in the graph", name));
    Check(git_treebuilder_insert(nullptr, builder.get(), name.c_str(), &blob, GIT_FILEMODE_BLOB),
          fmt::format("cannot add '{}' to a tree", name));
  }
  git_oid tree_oid;
  Check(git_treebuilder_write(&tree_oid, builder.get()), "cannot write a tree");
  if (FromOid(&tree_oid) != tree_hex) {
    throw CorruptError(fmt::format("commit {} is corrupt: its files do not make the tree it names", payload.id));
  }
  Odb odb;
  Check(git_repository_odb(odb.out(), repo_), "cannot open the graph's objects");
  git_oid written;
  Check(git_odb_write(&written, odb.get(), payload.raw.data(), payload.raw.size(), GIT_OBJECT_COMMIT),
        fmt::format("cannot write commit {}", payload.id));
}

std::map<std::string, CommitId> Graph::RemoteBranches(const std::string& remote) const {
  std::map<std::string, CommitId> branches;
  const std::string prefix = "refs/remotes/" + remote + "/";
  git_reference_iterator* it = nullptr;
  Check(git_reference_iterator_glob_new(&it, repo_, (prefix + "*").c_str()), "cannot list remote branches");
  git_reference* ref = nullptr;
  while (git_reference_next(&ref, it) == 0) {
    const git_oid* target = git_reference_target(ref);
    if (target) branches[std::string(git_reference_name(ref)).substr(prefix.size())] = FromOid(target);
    git_reference_free(ref);
  }
  git_reference_iterator_free(it);
  return branches;
}

void Graph::SetRemoteBranch(const std::string& remote, const std::string& branch, const CommitId& id) {
  git_oid oid = ToOid(id);
  Reference ref;
  const std::string name = "refs/remotes/" + remote + "/" + branch;
  Check(git_reference_create(ref.out(), repo_, name.c_str(), &oid, 1, ("fetch from " + remote).c_str()),
        fmt::format("cannot record {}/{}", remote, branch));
}

void Graph::DeleteRemoteBranch(const std::string& remote, const std::string& branch) {
  Reference ref;
  const std::string name = "refs/remotes/" + remote + "/" + branch;
  if (git_reference_lookup(ref.out(), repo_, name.c_str()) == 0) {
    Check(git_reference_delete(ref.get()), fmt::format("cannot remove {}/{}", remote, branch));
  }
}

std::vector<RemoteEntry> Graph::Remotes() const {
  Config config;
  Check(git_repository_config_snapshot(config.out(), repo_), "cannot read the graph's config");
  std::map<std::string, RemoteEntry> found;
  git_config_iterator* it = nullptr;
  Check(git_config_iterator_glob_new(&it, config.get(), "^remote\\..*\\.(url|insecure)$"), "cannot read remotes");
  git_config_entry* entry = nullptr;
  while (git_config_next(&entry, it) == 0) {
    const std::string key = entry->name;
    const size_t dot = key.rfind('.');
    const std::string name = key.substr(7, dot - 7);
    RemoteEntry& remote = found[name];
    remote.name = name;
    if (key.substr(dot + 1) == "url") {
      remote.url = entry->value;
    } else {
      int value = 0;
      remote.insecure = git_config_parse_bool(&value, entry->value) == 0 && value;
    }
  }
  git_config_iterator_free(it);
  std::vector<RemoteEntry> remotes;
  for (auto& [name, remote] : found) {
    if (!remote.url.empty()) remotes.push_back(std::move(remote));
  }
  return remotes;
}

std::optional<RemoteEntry> Graph::FindRemote(const std::string& name) const {
  for (auto& remote : Remotes()) {
    if (remote.name == name) return remote;
  }
  return std::nullopt;
}

void Graph::SetRemote(const RemoteEntry& remote) {
  Config config;
  Check(git_repository_config(config.out(), repo_), "cannot open the graph's config");
  const std::string prefix = "remote." + remote.name + ".";
  Check(git_config_set_string(config.get(), (prefix + "url").c_str(), remote.url.c_str()),
        fmt::format("cannot record remote '{}'", remote.name));
  if (remote.insecure) {
    Check(git_config_set_bool(config.get(), (prefix + "insecure").c_str(), 1),
          fmt::format("cannot record remote '{}'", remote.name));
  } else {
    git_config_delete_entry(config.get(), (prefix + "insecure").c_str());
  }
}

void Graph::RemoveRemote(const std::string& name) {
  Config config;
  Check(git_repository_config(config.out(), repo_), "cannot open the graph's config");
  const std::string prefix = "remote." + name + ".";
  int rc = git_config_delete_entry(config.get(), (prefix + "url").c_str());
  if (rc == GIT_ENOTFOUND) throw Error(fmt::format("no such remote '{}'", name));
  Check(rc, fmt::format("cannot remove remote '{}'", name));
  git_config_delete_entry(config.get(), (prefix + "insecure").c_str());
}

}  // namespace fomo
