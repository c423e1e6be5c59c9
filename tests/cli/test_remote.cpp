// The remote conformance suite: every kind of remote (storage/remote.hpp) passes
// the same tests, run through the fomo binary as users run it: clone, push, fetch,
// pull, their refusals, and what a kill or a damaged remote leaves behind.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <fstream>
#include <functional>
#include <set>
#include <thread>

#include <nlohmann/json.hpp>

#include "catch.hpp"
#include "test_support.hpp"

using namespace fomo::test;
using nlohmann::json;

namespace {

bool HaveFashionMnist() {
  if (fs::exists("/usr/share/datasets/fashion-mnist")) return true;
  const char* why = "dataset-fashion-mnist is not installed (scripts/setup.sh installs it)";
  if (UnderCtest()) SkipUnderCtest(why);
  WARN("skipped: " << why);
  return false;
}

json Json(const RunResult& r) {
  INFO(r.err);
  REQUIRE(r.exit_code == 0);
  return json::parse(r.out);
}

void Ok(const std::vector<std::string>& args, const fs::path& dir) {
  RunResult r = RunFomo(args, dir);
  INFO("fomo " << args[0] << ": " << r.err);
  REQUIRE(r.exit_code == 0);
}

// A kind of remote: how a test names a fresh location of it, and how it looks
// inside one (to show that a refused command changed nothing, or to damage it).
struct RemoteKind {
  std::string name;
  std::function<std::string(const fs::path& where)> url;
  std::function<std::map<std::string, std::string>(const fs::path& where)> snapshot;
  // Damages a stored object that `lacking` (a repository) has not; returns what
  // the error must name.
  std::function<std::string(const fs::path& where, const fs::path& lacking)> damage;
};

// Every file under dir, by path, with its bytes.
std::map<std::string, std::string> FilesUnder(const fs::path& dir) {
  std::map<std::string, std::string> files;
  if (!fs::exists(dir)) return files;
  for (const auto& e : fs::recursive_directory_iterator(dir)) {
    if (e.is_regular_file()) files[fs::relative(e.path(), dir).string()] = ReadFile(e.path());
  }
  return files;
}

void FlipBytesInTheMiddle(const fs::path& file) {
  std::fstream f(file, std::ios::in | std::ios::out | std::ios::binary);
  const auto middle = static_cast<std::streamoff>(fs::file_size(file) / 2);
  f.seekg(middle);
  const char a = static_cast<char>(f.get()), b = static_cast<char>(f.get());
  f.seekp(middle);
  f.put(static_cast<char>(a ^ 0x5a));
  f.put(static_cast<char>(b ^ 0xa5));
}

// The largest loose object file of a store (a tensor, not a pack) that `lacking`'s
// store has not.
fs::path LargestLooseObject(const fs::path& repo, const fs::path& lacking) {
  fs::path best;
  uintmax_t size = 0;
  const fs::path objects = repo / ".fomo" / "objects";
  for (const auto& e : fs::recursive_directory_iterator(objects)) {
    if (!e.is_regular_file() || e.path().extension() == ".fpk" || e.path().filename() == "FORMAT") continue;
    if (fs::exists(lacking / ".fomo" / "objects" / fs::relative(e.path(), objects))) continue;
    if (e.file_size() > size) {
      size = e.file_size();
      best = e.path();
    }
  }
  return best;
}

// Debian's docker-registry (the CNCF distribution registry) on a loopback port,
// started once for the test process and stopped with it.
class Registry {
 public:
  static Registry* Get() {
    static Registry* registry = [] { return fs::exists(kBinary) ? new Registry() : nullptr; }();
    return registry && registry->ready_ ? registry : nullptr;
  }
  static constexpr const char* kBinary = "/usr/bin/docker-registry";
  const std::string& host() const { return host_; }
  fs::path storage() const { return dir_ / "data" / "docker" / "registry" / "v2"; }
  // A repository name of its own for each location a test asks for.
  std::string NameFor(const fs::path& where) {
    auto it = names_.find(where.string());
    if (it == names_.end()) it = names_.emplace(where.string(), "t/r" + std::to_string(names_.size())).first;
    return it->second;
  }

 private:
  Registry() {
    const int port = FreePort();
    host_ = "127.0.0.1:" + std::to_string(port);
    WriteFile(dir_ / "config.yml", "version: 0.1\nlog:\n  level: error\n  accesslog:\n    disabled: true\n"
                                   "storage:\n  filesystem:\n    rootdirectory: " + (dir_ / "data").string() +
                                       "\n  delete:\n    enabled: true\nhttp:\n  addr: " + host_ + "\n");
    server_ = std::make_unique<BackgroundRun>(kBinary, std::vector<std::string>{"serve", (dir_ / "config.yml").string()},
                                              dir_.path());
    for (int i = 0; i < 200 && !ready_; ++i) {
      ready_ = Accepts(port);
      if (!ready_) std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
    ::setenv("FOMO_INSECURE_REGISTRIES", host_.c_str(), 1);  // plain http to it, for every fomo the tests run
  }
  static int FreePort() {
    const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    ::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr));
    socklen_t len = sizeof(addr);
    ::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len);
    ::close(fd);
    return ntohs(addr.sin_port);
  }
  static bool Accepts(int port) {
    const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_port = htons(static_cast<uint16_t>(port));
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    const bool ok = ::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) == 0;
    ::close(fd);
    return ok;
  }
  TempDir dir_;
  std::string host_;
  std::unique_ptr<BackgroundRun> server_;
  bool ready_ = false;
  std::map<std::string, std::string> names_;
};

// The layer digests of a registry manifest stored under a tag, read from the
// registry's own files.
std::set<std::string> LayerDigests(const Registry& registry, const std::string& name, const std::string& tag) {
  const fs::path link = registry.storage() / "repositories" / name / "_manifests" / "tags" / tag / "current" / "link";
  if (!fs::exists(link)) return {};
  const std::string digest = ReadFile(link).substr(7);
  const json manifest =
      json::parse(ReadFile(registry.storage() / "blobs" / "sha256" / digest.substr(0, 2) / digest / "data"));
  std::set<std::string> digests;
  for (const auto& layer : manifest["layers"]) digests.insert(layer["digest"].get<std::string>().substr(7));
  return digests;
}

std::vector<RemoteKind> Kinds() {
  std::vector<RemoteKind> kinds = {
      {"directory", [](const fs::path& where) { return where.string(); }, RepositorySnapshot,
       [](const fs::path& where, const fs::path& lacking) {
         const fs::path damaged = LargestLooseObject(where, lacking);
         REQUIRE(!damaged.empty());
         FlipBytesInTheMiddle(damaged);
         return damaged.parent_path().filename().string() + damaged.filename().string();
       }},
      {"file URL", [](const fs::path& where) { return "file://" + where.string(); }, RepositorySnapshot,
       [](const fs::path& where, const fs::path& lacking) {
         const fs::path damaged = LargestLooseObject(where, lacking);
         REQUIRE(!damaged.empty());
         FlipBytesInTheMiddle(damaged);
         return damaged.parent_path().filename().string() + damaged.filename().string();
       }},
  };
  if (Registry* registry = Registry::Get()) {
    kinds.push_back(
        {"OCI registry",
         [registry](const fs::path& where) { return "oci://" + registry->host() + "/" + registry->NameFor(where); },
         [registry](const fs::path&) { return FilesUnder(registry->storage()); },
         [registry](const fs::path& where, const fs::path& lacking) {
           // A blob that only versions `lacking` has not use.
           const std::string name = registry->NameFor(where);
           std::set<std::string> theirs, mine;
           for (const auto& v : Json(RunFomo({"log", "--json", "--all"}, lacking))) {
             for (const auto& d : LayerDigests(*registry, name, "commit-" + v["commit"].get<std::string>())) mine.insert(d);
           }
           for (const auto& e : fs::directory_iterator(registry->storage() / "repositories" / name / "_manifests" / "tags")) {
             for (const auto& d : LayerDigests(*registry, name, e.path().filename().string())) {
               if (!mine.count(d)) theirs.insert(d);
             }
           }
           fs::path best;
           std::string best_digest;
           for (const auto& d : theirs) {
             const fs::path data = registry->storage() / "blobs" / "sha256" / d.substr(0, 2) / d / "data";
             if (best.empty() || fs::file_size(data) > fs::file_size(best)) {
               best = data;
               best_digest = d;
             }
           }
           REQUIRE(!best.empty());
           FlipBytesInTheMiddle(best);
           return best_digest;
         }});
  }
  return kinds;
}

// The repository every test starts from, made once: a base, a full update on
// main, a LoRA update on branch side, their merge on main, and evaluation rows.
const fs::path& Source() {
  static TempDir dir;
  static const fs::path repo = [] {
    const fs::path r = dir / "source";
    Ok({"init", r.string(), "--arch", "tiny", "--no-eval", "-q"}, dir.path());
    Ok({"minor", "--data", "fmnist:5-6#200", "--steps", "2", "--batch-size", "8", "--no-eval", "-q"}, r);
    Ok({"branch", "side", "v1.0.0"}, r);
    Ok({"switch", "side", "-q"}, r);
    Ok({"minor", "--method", "lora", "--data", "fmnist:7#200", "--steps", "2", "--batch-size", "8", "--no-eval", "-q"},
       r);
    Ok({"switch", "main", "-q"}, r);
    Ok({"merge", "main", "side", "--no-eval", "-q"}, r);
    Ok({"eval", "v1.1.0", "--dataset", "fmnist:5#40", "-q"}, r);
    return r;
  }();
  return repo;
}

fs::path CopyOfSource(const TempDir& dir, const std::string& name) {
  const fs::path to = dir / name;
  fs::copy(Source(), to, fs::copy_options::recursive);
  return to;
}

std::map<std::string, std::string> Refs(const fs::path& repo) {
  std::map<std::string, std::string> refs;
  for (const auto& b : Json(RunFomo({"branch", "--json"}, repo))) refs["branch " + b["branch"].get<std::string>()] = b["commit"];
  for (const auto& t : Json(RunFomo({"tag", "--json"}, repo))) refs["tag " + t["tag"].get<std::string>()] = t["commit"];
  return refs;
}

std::string Export(const fs::path& repo, const std::string& rev, const fs::path& out) {
  Ok({"export", rev, "-o", out.string(), "-q"}, repo);
  return ReadFile(out);
}

// A new version on the current branch: the HEAD weights with every bias moved.
std::string CommitDerived(const TempDir& dir, const fs::path& repo, int seed, const std::string& bump = "patch") {
  const fs::path head = dir / ("head" + std::to_string(seed) + ".safetensors");
  const fs::path derived = dir / ("derived" + std::to_string(seed) + ".safetensors");
  Ok({"export", "HEAD", "-o", head.string(), "-q"}, repo);
  REQUIRE(RunGen({"update", head.string(), "-o", derived.string(), "--kind", "bitfit", "--seed", std::to_string(seed)})
              .exit_code == 0);
  return Json(RunFomo({"commit", derived.string(), "--bump", bump, "--no-eval", "--json"}, repo))["commit"];
}

size_t ObjectCount(const fs::path& repo) { return Json(RunFomo({"status", "--json"}, repo))["storage"]["objects"]; }

void RequireFsckClean(const fs::path& repo) {
  RunResult r = RunFomo({"fsck"}, repo);
  INFO(repo.string() << ": " << r.out << r.err);
  REQUIRE(r.exit_code == 0);
}

// A remote seen as a user sees it: through a fresh clone of it.
fs::path FreshClone(const TempDir& dir, const std::string& url) {
  static int n = 0;
  const fs::path to = dir / ("inspect" + std::to_string(++n));
  Ok({"clone", url, to.string(), "-q"}, dir.path());
  return to;
}

std::map<std::string, std::string> RemoteRefs(const TempDir& dir, const std::string& url) {
  return Refs(FreshClone(dir, url));
}

// The remote is whole: a clone of it verifies, and a directory passes fsck itself.
void RequireRemoteValid(const TempDir& dir, const std::string& url, const RemoteKind& kind, const fs::path& where) {
  RequireFsckClean(FreshClone(dir, url));
  if (kind.name != "OCI registry") RequireFsckClean(where);
}

}  // namespace

TEST_CASE("remotes: a clone is the same history, and every version exports bit for bit", "[remote]") {
  if (!HaveFashionMnist()) return;
  for (const auto& kind : Kinds()) {
    DYNAMIC_SECTION(kind.name) {
      TempDir dir;
      const std::string url = kind.url(dir / "remote");
      json pushed = Json(RunFomo({"push", url, "--all", "--json"}, Source()));
      CHECK(pushed["versions"] == 4);
      json cloned = Json(RunFomo({"clone", url, (dir / "clone").string(), "--json"}, dir.path()));
      CHECK(cloned["versions"] == 4);
      CHECK(cloned["branch"] == "main");
      const fs::path clone = dir / "clone";
      // The same commit ids, version tags and branches everywhere.
      CHECK(Refs(clone) == Refs(Source()));
      CHECK(RemoteRefs(dir, url) == Refs(Source()));
      CHECK(Json(RunFomo({"log", "--json", "--all"}, clone)).dump() ==
            Json(RunFomo({"log", "--json", "--all"}, Source())).dump());
      for (const char* v : {"v1.0.0", "v1.1.0", "v1.2.0", "v1.3.0"}) {
        INFO(v);
        CHECK(Export(clone, v, dir / "a.safetensors") == Export(Source(), v, dir / "b.safetensors"));
      }
      // The LoRA version is stored as factors there too, and the metrics came along.
      json side = Json(RunFomo({"show", "v1.2.0", "--json", "--tensors"}, clone));
      int lowrank = 0;
      for (const auto& t : side["manifest"]) lowrank += t["encoding"] == "lowrank";
      CHECK(lowrank > 0);
      json metrics = Json(RunFomo({"show", "v1.1.0", "--json"}, clone))["metrics"];
      CHECK(!metrics.empty());
      CHECK(metrics == Json(RunFomo({"show", "v1.1.0", "--json"}, Source()))["metrics"]);
      json remotes = Json(RunFomo({"remote", "--json"}, clone));
      REQUIRE(remotes.size() == 1);
      CHECK(remotes[0]["name"] == "origin");
      RequireFsckClean(clone);
      RequireRemoteValid(dir, url, kind, dir / "remote");
    }
  }
}

TEST_CASE("remotes: a push sends only what the remote lacks and fetch and pull bring new versions", "[remote]") {
  if (!HaveFashionMnist()) return;
  for (const auto& kind : Kinds()) {
    DYNAMIC_SECTION(kind.name) {
      TempDir dir;
      const std::string url = kind.url(dir / "remote");
      Ok({"push", url, "--all", "-q"}, Source());
      const fs::path a = dir / "a", b = dir / "b";
      Ok({"clone", url, a.string(), "-q"}, dir.path());
      Ok({"clone", url, b.string(), "-q"}, dir.path());

      // One new version: the push moves exactly the objects its commit wrote.
      const size_t before = ObjectCount(a);
      const std::string made = CommitDerived(dir, a, 1);
      const size_t written = ObjectCount(a) - before;
      REQUIRE(written > 0);
      json push = Json(RunFomo({"push", "--json"}, a));
      CHECK(push["versions"] == 1);
      CHECK(push["objects"] == written);
      CHECK(push["objects_present"].get<size_t>() > 0);
      json again = Json(RunFomo({"push", "--json"}, a));
      CHECK(again["versions"] == 0);
      CHECK(again["objects"] == 0);

      // b fetches it: a remote-tracking branch moves, b's main does not, until pull.
      const std::string b_main = Refs(b)["branch main"];
      json fetched = Json(RunFomo({"fetch", "--json"}, b));
      CHECK(fetched["versions"] == 1);
      CHECK(fetched["objects"] == written);
      CHECK(Refs(b)["branch main"] == b_main);
      CHECK(Refs(b)["tag v1.3.1"] == made);
      json pulled = Json(RunFomo({"pull", "--json"}, b));
      CHECK(pulled["commit"] == made);
      CHECK(Refs(b)["branch main"] == made);
      CHECK(Export(b, "v1.3.1", dir / "x.safetensors") == Export(a, "v1.3.1", dir / "y.safetensors"));

      SECTION("diverged lines: pull refuses and suggests a merge; push refuses, --force replaces") {
        const std::string theirs = CommitDerived(dir, a, 2);  // v1.3.2
        Ok({"push", "-q"}, a);
        const std::string ours = CommitDerived(dir, b, 3, "minor");  // v1.4.0
        RunResult pull = RunFomo({"pull"}, b);
        CHECK(pull.exit_code == 1);
        CHECK(pull.err.find("diverged") != std::string::npos);
        CHECK(pull.err.find("fomo merge origin/main") != std::string::npos);
        CHECK(Refs(b)["branch main"] == ours);
        // The versions are here, so the merge the message suggests can run.
        CHECK(Json(RunFomo({"show", "origin/main", "--json"}, b))["commit"] == theirs);

        const auto remote_before = kind.snapshot(dir / "remote");
        RunResult push_b = RunFomo({"push"}, b);
        CHECK(push_b.exit_code == 1);
        CHECK(push_b.err.find("not an ancestor") != std::string::npos);
        CHECK(kind.snapshot(dir / "remote") == remote_before);
        Ok({"push", "--force", "-q"}, b);
        const auto refs = RemoteRefs(dir, url);
        CHECK(refs.at("branch main") == ours);
        CHECK(refs.at("tag v1.4.0") == ours);
        CHECK(refs.at("tag v1.3.2") == theirs);  // a version pushed stays
      }

      SECTION("a version tag never moves to other weights, --force or not") {
        const fs::path d = CopyOfSource(dir, "d");
        const std::string other = CommitDerived(dir, d, 6);  // another v1.3.1
        REQUIRE(other != made);
        const auto remote_before = kind.snapshot(dir / "remote");
        for (const char* force : {"--quiet", "--force"}) {
          RunResult r = RunFomo({"push", url, "main", force}, d);
          INFO(r.err);
          CHECK(r.exit_code == 1);
          CHECK(r.err.find("v1.3.1") != std::string::npos);
          CHECK(r.err.find("one set of weights forever") != std::string::npos);
        }
        CHECK(kind.snapshot(dir / "remote") == remote_before);
        // Fetching the remote's v1.3.1 into d is refused the same way, changing nothing.
        const auto d_before = RepositorySnapshot(d);
        RunResult fetch = RunFomo({"fetch", url}, d);
        CHECK(fetch.exit_code == 1);
        CHECK(fetch.err.find("v1.3.1") != std::string::npos);
        CHECK(RepositorySnapshot(d) == d_before);
      }
    }
  }
}

TEST_CASE("remotes: --only and --depth clones, and fetch --unshallow", "[remote]") {
  if (!HaveFashionMnist()) return;
  for (const auto& kind : Kinds()) {
    DYNAMIC_SECTION(kind.name) {
      TempDir dir;
      const std::string url = kind.url(dir / "remote");
      Ok({"push", url, "--all", "-q"}, Source());

      const fs::path only = dir / "only";
      Ok({"clone", url, only.string(), "--only", "v1.1.0", "-q"}, dir.path());
      json log = Json(RunFomo({"log", "--json", "--all"}, only));
      REQUIRE(log.size() == 2);
      std::set<std::string> tags;
      for (const auto& [ref, id] : Refs(only)) tags.insert(ref);
      CHECK(tags == std::set<std::string>{"tag v1.0.0", "tag v1.1.0"});
      CHECK(Export(only, "v1.1.0", dir / "a.safetensors") == Export(Source(), "v1.1.0", dir / "b.safetensors"));
      RequireFsckClean(only);

      const fs::path shallow = dir / "shallow";
      json cloned = Json(RunFomo({"clone", url, shallow.string(), "--depth", "1", "--json"}, dir.path()));
      CHECK(cloned["shallow"] == true);
      CHECK(Json(RunFomo({"log", "--json", "--all"}, shallow)).size() == 4);  // the history is whole
      CHECK(Export(shallow, "v1.3.0", dir / "a.safetensors") == Export(Source(), "v1.3.0", dir / "b.safetensors"));
      RunResult beyond = RunFomo({"export", "v1.1.0", "-o", (dir / "c.safetensors").string()}, shallow);
      CHECK(beyond.exit_code == 1);
      CHECK(beyond.err.find("shallow") != std::string::npos);
      CHECK(beyond.err.find("fomo fetch --unshallow") != std::string::npos);
      CHECK(std::count(beyond.err.begin(), beyond.err.end(), '\n') == 1);
      RequireFsckClean(shallow);
      CHECK(Json(RunFomo({"status", "--json"}, shallow))["shallow_versions"].get<size_t>() > 0);

      json unshallow = Json(RunFomo({"fetch", "--unshallow", "--json"}, shallow));
      CHECK(unshallow["objects"].get<size_t>() > 0);
      CHECK(Json(RunFomo({"status", "--json"}, shallow))["shallow_versions"] == 0);
      for (const char* v : {"v1.0.0", "v1.1.0", "v1.2.0"}) {
        INFO(v);
        CHECK(Export(shallow, v, dir / "a.safetensors") == Export(Source(), v, dir / "b.safetensors"));
      }
      RequireFsckClean(shallow);
    }
  }
}

TEST_CASE("remotes: two pushers at once both land or one fails clearly", "[remote]") {
  if (!HaveFashionMnist()) return;
  for (const auto& kind : Kinds()) {
    DYNAMIC_SECTION(kind.name) {
      TempDir dir;
      const std::string url = kind.url(dir / "remote");
      Ok({"push", url, "--all", "-q"}, Source());
      const fs::path a = dir / "a", b = dir / "b";
      Ok({"clone", url, a.string(), "-q"}, dir.path());
      Ok({"clone", url, b.string(), "-q"}, dir.path());
      Ok({"branch", "one", "side"}, a);
      Ok({"switch", "one", "-q"}, a);
      const std::string first = CommitDerived(dir, a, 4);
      Ok({"branch", "two", "v1.1.0"}, b);
      Ok({"switch", "two", "-q"}, b);
      const std::string second = CommitDerived(dir, b, 5);

      BackgroundRun push_a(FomoBinary(), {"push", "-q"}, a);
      BackgroundRun push_b(FomoBinary(), {"push", "-q"}, b);
      const RunResult ra = push_a.Wait(), rb = push_b.Wait();
      INFO(ra.err << rb.err);
      const auto refs = RemoteRefs(dir, url);
      for (const auto& [r, branch, commit] :
           {std::tuple{ra, "one", first}, std::tuple{rb, "two", second}}) {
        if (r.exit_code == 0) {
          CHECK(refs.at(std::string("branch ") + branch) == commit);
        } else {
          CHECK(r.exit_code == 1);
          CHECK(std::count(r.err.begin(), r.err.end(), '\n') == 1);
        }
      }
      CHECK((ra.exit_code == 0 || rb.exit_code == 0));
      RequireRemoteValid(dir, url, kind, dir / "remote");
    }
  }
}

TEST_CASE("remotes: a push or fetch killed anywhere leaves both sides valid, and the rerun completes it",
          "[remote][crash]") {
  if (!HaveFashionMnist()) return;
  for (const auto& kind : Kinds()) {
  for (const char* point : {"push-objects-half", "push-before-refs"}) {
    DYNAMIC_SECTION(kind.name << ": " << point) {
      TempDir dir;
      // Two remotes holding v1.1.0: one for the push that is killed, one for the
      // uninterrupted push it is measured against.
      const std::string url = kind.url(dir / "remote"), control = kind.url(dir / "control");
      Ok({"push", url, "v1.1.0", "-q"}, Source());
      Ok({"push", control, "v1.1.0", "-q"}, Source());
      const json whole = Json(RunFomo({"push", control, "--all", "--json"}, Source()));
      REQUIRE(whole["objects"].get<size_t>() > 0);
      const fs::path a = CopyOfSource(dir, "a");
      Ok({"remote", "add", "origin", url}, a);
      const auto before = RemoteRefs(dir, url);
      RunResult killed = RunFomo({"push", "--all"}, a, {{"FOMO_CRASH_AT", point}});
      REQUIRE(killed.exit_code == -9);
      RequireRemoteValid(dir, url, kind, dir / "remote");
      RequireFsckClean(a);
      CHECK(RemoteRefs(dir, url) == before);  // nothing published
      json rerun = Json(RunFomo({"push", "--all", "--json"}, a));
      // What arrived is not sent again.
      CHECK(rerun["objects"].get<size_t>() < whole["objects"].get<size_t>());
      if (std::string(point) == "push-before-refs") CHECK(rerun["objects"] == 0);
      const fs::path seen = FreshClone(dir, url);
      CHECK(Refs(seen) == Refs(a));
      RequireFsckClean(seen);
      CHECK(Export(seen, "v1.2.0", dir / "x.safetensors") == Export(a, "v1.2.0", dir / "y.safetensors"));
    }
  }
  for (const char* point : {"fetch-objects-half", "fetch-commits-imported", "fetch-before-refs"}) {
    DYNAMIC_SECTION(kind.name << ": " << point) {
      TempDir dir;
      const std::string url = kind.url(dir / "remote");
      Ok({"push", url, "--all", "-q"}, Source());
      const fs::path b = dir / "b";
      Ok({"clone", url, b.string(), "--only", "v1.0.0", "-q"}, dir.path());
      const auto before = Refs(b);
      RunResult killed = RunFomo({"fetch"}, b, {{"FOMO_CRASH_AT", point}});
      REQUIRE(killed.exit_code == -9);
      RequireFsckClean(b);
      CHECK(Refs(b) == before);
      Ok({"fetch", "-q"}, b);
      RequireFsckClean(b);
      for (const char* v : {"v1.1.0", "v1.2.0", "v1.3.0"}) {
        INFO(v);
        CHECK(Export(b, v, dir / "x.safetensors") == Export(Source(), v, dir / "y.safetensors"));
      }
    }
  }
  }
}

TEST_CASE("remotes: a damaged object on the remote is caught and nothing of that fetch is published", "[remote]") {
  if (!HaveFashionMnist()) return;
  for (const auto& kind : Kinds()) {
    DYNAMIC_SECTION(kind.name) {
      TempDir dir;
      const std::string url = kind.url(dir / "remote");
      Ok({"push", url, "--all", "-q"}, Source());
      // b holds v1.0.0; the object damaged is one it lacks.
      const fs::path b = dir / "b";
      Ok({"clone", url, b.string(), "--only", "v1.0.0", "-q"}, dir.path());
      const std::string hex = kind.damage(dir / "remote", b);
      RunResult clone = RunFomo({"clone", url, (dir / "clone").string()}, dir.path());
      CHECK(clone.exit_code == 1);
      CHECK(clone.err.find(hex) != std::string::npos);
      CHECK(!fs::exists(dir / "clone"));

      const auto refs = Refs(b);
      RunResult fetch = RunFomo({"fetch"}, b);
      CHECK(fetch.exit_code == 1);
      CHECK(fetch.err.find(hex) != std::string::npos);
      CHECK(Refs(b) == refs);
      CHECK(Json(RunFomo({"log", "--json", "--all"}, b)).size() == 1);  // v1.0.0 alone
      RequireFsckClean(b);
    }
  }
}

TEST_CASE("remotes: unreachable remotes, other directories and other models are refused in one line", "[remote]") {
  if (!HaveFashionMnist()) return;
  TempDir dir;
  const fs::path remote = dir / "remote";
  Ok({"push", remote.string(), "--all", "-q"}, Source());
  const auto snapshot = RepositorySnapshot(remote);

  auto one_line_error = [](const RunResult& r, const std::string& says) {
    INFO(r.err);
    CHECK(r.exit_code != 0);
    CHECK(r.err.find(says) != std::string::npos);
    CHECK(std::count(r.err.begin(), r.err.end(), '\n') == 1);
  };
  one_line_error(RunFomo({"clone", (dir / "nowhere").string(), (dir / "c1").string()}, dir.path()),
                 "no such directory");
  CHECK(!fs::exists(dir / "c1"));
  fs::create_directories(dir / "plain");
  WriteFile(dir / "plain" / "notes.txt", "not a repository");
  one_line_error(RunFomo({"clone", (dir / "plain").string(), (dir / "c2").string()}, dir.path()),
                 "is not a fomo repository");
  one_line_error(RunFomo({"push", (dir / "plain").string()}, Source()), "is not a fomo repository");
  CHECK(!fs::exists(dir / "plain" / ".fomo"));
  one_line_error(RunFomo({"push", "oci-like://host/name"}, Source()), "cannot reach");
  one_line_error(RunFomo({"clone", "oci://127.0.0.1:1/nobody/home", (dir / "c3").string(), "--insecure"}, dir.path()),
                 "cannot reach 127.0.0.1:1");
  CHECK(!fs::exists(dir / "c3"));
  one_line_error(RunFomo({"fetch"}, Source()), "no remote");

  // Another model: the reference checkpoint's CLIP has other widths than tiny.
  const fs::path other = dir / "other";
  Ok({"init", other.string(), "--from", DataFile("openai_clip_tiny.safetensors").string(), "--no-eval", "-q"},
     dir.path());
  one_line_error(RunFomo({"push", remote.string(), "--force"}, other), "holds another model");
  one_line_error(RunFomo({"fetch", remote.string()}, other), "holds another model");
  CHECK(RepositorySnapshot(remote) == snapshot);

  // Remotes by name.
  const fs::path c = dir / "c";
  Ok({"clone", remote.string(), c.string(), "-q"}, dir.path());
  Ok({"remote", "add", "backup", (dir / "backup").string()}, c);
  one_line_error(RunFomo({"remote", "add", "backup", "/elsewhere"}, c), "already exists");
  json pushed = Json(RunFomo({"push", "backup", "--all", "--json"}, c));
  CHECK(pushed["remote"] == "backup");
  CHECK(Refs(dir / "backup") == Refs(c));
  Ok({"remote", "remove", "backup"}, c);
  CHECK(Json(RunFomo({"remote", "--json"}, c)).size() == 1);
  one_line_error(RunFomo({"remote", "remove", "backup"}, c), "no such remote");
}

TEST_CASE("remotes: skopeo, an independent OCI client, lists the tags and reads every version fomo pushed",
          "[remote][oci]") {
  if (!HaveFashionMnist()) return;
  if (!fs::exists(Registry::kBinary)) FOMO_SKIP("docker-registry is not installed (scripts/setup.sh installs it)");
  Registry* registry = Registry::Get();
  if (!registry) FOMO_SKIP("docker-registry did not start on a loopback port");
  if (!fs::exists("/usr/bin/skopeo")) FOMO_SKIP("skopeo is not installed (scripts/setup.sh installs it)");
  TempDir dir;
  const std::string name = registry->NameFor(dir / "remote");
  const std::string url = "oci://" + registry->host() + "/" + name;
  Ok({"push", url, "--all", "-q"}, Source());
  const std::string image = "docker://" + registry->host() + "/" + name;

  RunResult tags = RunProgram({"/usr/bin/skopeo", "list-tags", "--tls-verify=false", image}, dir.path());
  INFO(tags.out << tags.err);
  REQUIRE(tags.exit_code == 0);
  std::set<std::string> listed;
  const json tag_list = json::parse(tags.out);
  for (const auto& t : tag_list["Tags"]) listed.insert(t.get<std::string>());
  const json log = Json(RunFomo({"log", "--json", "--all"}, Source()));
  for (const auto& v : log) {
    const std::string commit = v["commit"], version = v["version"];
    INFO(version);
    CHECK(listed.count("v" + version) == 1);
    CHECK(listed.count("commit-" + commit) == 1);
    RunResult raw = RunProgram({"/usr/bin/skopeo", "inspect", "--raw", "--tls-verify=false", image + ":v" + version},
                               dir.path());
    REQUIRE(raw.exit_code == 0);
    const json manifest = json::parse(raw.out);
    CHECK(manifest["mediaType"] == "application/vnd.oci.image.manifest.v1+json");
    CHECK(manifest["artifactType"] == "application/vnd.fomo.version.v1+json");
    CHECK(manifest["annotations"]["org.fomo.commit"] == commit);
    CHECK(manifest["annotations"]["org.opencontainers.image.version"] == version);
    // One layer per object its tensors are built from: at least one per tensor.
    const json shown = Json(RunFomo({"show", "v" + version, "--json", "--tensors"}, Source()));
    std::set<std::string> objects;
    for (const auto& layer : manifest["layers"]) {
      CHECK(layer["mediaType"] == "application/vnd.fomo.object.v1");
      objects.insert(layer["annotations"]["org.fomo.object"].get<std::string>());
    }
    for (const auto& t : shown["manifest"]) CHECK(objects.count(t["id"].get<std::string>()) == 1);
  }
  CHECK(listed.count("fomo-refs") == 1);
}
