// A remote that is a repository of an OCI distribution registry
// (oci://HOST[:PORT]/NAME; https, or http with --insecure). How fomo lays a
// repository out there, so any OCI client can list and inspect it:
//
//   blobs      every object as its plain record (ObjectStore::ReadRecord),
//              addressed by the SHA-256 of those bytes;
//   commit-ID  for every commit, an OCI image manifest (artifactType
//              application/vnd.fomo.version.v1+json) whose config blob holds the
//              commit (its git bytes and files: manifest of tensors, model config,
//              recipe, metrics, parents) and the evaluation rows, and whose layers
//              are the objects its tensors are decoded from, bases first, each
//              annotated with its fomo object id. Every commit is reachable from
//              the registry alone, without a referrers API;
//   vX.Y.Z     the same manifest under the version tag once the tag is pushed
//              ('+' of semver build metadata, which OCI tags cannot hold, as '_');
//   fomo-refs  a manifest whose config blob lists the branches, tags, HEAD's
//              branch and the fomo.yaml: what ListRefs reads.
//
// Registries offer no compare-and-swap: the refs are re-read right before they
// are written, which narrows the race of two pushers but cannot close it.
#include <algorithm>
#include <cstdlib>
#include <map>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "storage/error.hpp"
#include "storage/http_client.hpp"
#include "storage/remote.hpp"
#include "storage/semver.hpp"

namespace fomo {

namespace {

using nlohmann::json;

constexpr const char* kManifestType = "application/vnd.oci.image.manifest.v1+json";
constexpr const char* kVersionType = "application/vnd.fomo.version.v1+json";
constexpr const char* kRefsType = "application/vnd.fomo.refs.v1+json";
constexpr const char* kObjectType = "application/vnd.fomo.object.v1";
constexpr const char* kRefsTag = "fomo-refs";
constexpr const char* kObjectAnnotation = "org.fomo.object";
// The distribution registry refuses manifests over 4 MiB.
constexpr size_t kMaxManifestBytes = 4u << 20;
// Blobs above this go up in chunks of this size.
constexpr uint64_t kChunkBytes = 16u << 20;

std::string DigestText(const ObjectId& digest) { return "sha256:" + digest.Hex(); }

std::optional<ObjectId> ParseDigest(const std::string& text) {
  if (text.rfind("sha256:", 0) != 0) return std::nullopt;
  return ObjectId::FromHex(text.substr(7));
}

bool IsVersionTag(const std::string& tag) { return !tag.empty() && tag[0] == 'v' && SemVer::Parse(tag).has_value(); }

std::string OciTagOf(const std::string& version_tag) {
  std::string tag = version_tag;
  std::replace(tag.begin(), tag.end(), '+', '_');
  return tag;
}

json RowsToJson(const std::vector<EvaluationRow>& rows) {
  json out = json::array();
  for (const auto& r : rows) {
    out.push_back({{"dataset", r.dataset},
                   {"split", r.split},
                   {"metric", r.metric},
                   {"value", r.value},
                   {"config_hash", r.config_hash},
                   {"created_at", r.created_at}});
  }
  return out;
}

std::vector<EvaluationRow> RowsFromJson(const json& rows, const CommitId& commit) {
  std::vector<EvaluationRow> out;
  if (!rows.is_array()) return out;
  for (const auto& r : rows) {
    EvaluationRow row;
    row.commit = commit;
    row.dataset = r.value("dataset", "");
    row.split = r.value("split", "");
    row.metric = r.value("metric", "");
    row.value = r.value("value", 0.0);
    row.config_hash = r.value("config_hash", "");
    row.created_at = r.value("created_at", int64_t{0});
    out.push_back(std::move(row));
  }
  return out;
}

class OciRemote final : public Remote {
 public:
  OciRemote(std::string url, std::string scheme, std::string host, std::string name)
      : url_(std::move(url)), host_(std::move(host)), name_(std::move(name)), http_(host_) {
    base_ = fmt::format("{}://{}/v2/{}", scheme, host_, name_);
    const HttpResponse ping = http_.Send({"GET", fmt::format("{}://{}/v2/", scheme, host_)});
    if (ping.status != 200) {
      throw Error(fmt::format("{} is no OCI registry (GET /v2/: {})", url_, RegistryErrorText(ping)));
    }
  }

  std::string url() const override { return url_; }

  RemoteRefs ListRefs() override {
    LoadRefs();
    RemoteRefs refs;
    const json branches = refs_.value("branches", json::object()), tags = refs_.value("tags", json::object());
    for (const auto& [name, id] : branches.items()) refs.branches[name] = id;
    for (const auto& [name, id] : tags.items()) refs.tags[name] = id;
    if (refs_.contains("head") && refs_["head"].is_string()) refs.head_branch = refs_["head"].get<std::string>();
    return refs;
  }

  std::string ConfigText() override {
    LoadRefs();
    return refs_.value("config", std::string());
  }

  void PutConfigText(const std::string& text) override { pending_config_ = text; }

  bool HasVersion(const CommitId& id) override {
    const HttpResponse r = http_.Send({"HEAD", ManifestUrl(CommitTag(id)), {std::string("Accept: ") + kManifestType}});
    if (r.status == 200) return true;
    if (r.status == 404) return false;
    throw Error(fmt::format("{}: cannot look up version {}: {}", url_, id, RegistryErrorText(r)));
  }

  RemoteVersion GetVersion(const CommitId& id) override {
    const json manifest = GetManifest(CommitTag(id));
    const json config = GetConfig(manifest, id);
    RemoteVersion version;
    version.commit.id = config.value("commit", "");
    version.commit.raw = config.value("raw", "");
    const json files = config.value("files", json::object());
    for (const auto& [name, text] : files.items()) {
      version.commit.files[name] = text.get<std::string>();
    }
    version.evaluations = RowsFromJson(config.value("evaluations", json::array()), id);
    for (const auto& layer : manifest.value("layers", json::array())) {
      const auto object = ObjectId::FromHex(layer.value("annotations", json::object()).value(kObjectAnnotation, ""));
      const auto digest = ParseDigest(layer.value("digest", ""));
      if (!object || !digest) throw CorruptError(fmt::format("{}: version {} lists a layer that is no fomo object", url_, id));
      blobs_[*object] = ObjectBlob{*digest, layer.value("size", uint64_t{0})};
      version.objects.push_back(*object);
    }
    return version;
  }

  std::vector<EvaluationRow> GetEvaluations(const CommitId& id) override {
    return RowsFromJson(GetConfig(GetManifest(CommitTag(id)), id).value("evaluations", json::array()), id);
  }

  void PutVersion(const RemoteVersion& version) override {
    json config = {{"fomo", 1},
                   {"commit", version.commit.id},
                   {"raw", version.commit.raw},
                   {"files", version.commit.files},
                   {"evaluations", RowsToJson(version.evaluations)}};
    json layers = json::array();
    for (const auto& id : version.objects) {
      auto blob = blobs_.find(id);
      if (blob == blobs_.end()) throw Error(fmt::format("object {} was not sent before its version", id.Hex()));
      layers.push_back({{"mediaType", kObjectType},
                        {"digest", DigestText(blob->second.digest)},
                        {"size", blob->second.size},
                        {"annotations", {{kObjectAnnotation, id.Hex()}}}});
    }
    PutVersionManifest(version.commit.id, config, layers, {CommitTag(version.commit.id)});
  }

  void PutEvaluations(const CommitId& id, const std::vector<EvaluationRow>& rows) override {
    const json manifest = GetManifest(CommitTag(id));
    json config = GetConfig(manifest, id);
    std::vector<EvaluationRow> merged = RowsFromJson(config.value("evaluations", json::array()), id);
    bool changed = false;
    for (const auto& row : rows) {
      auto same = std::find_if(merged.begin(), merged.end(), [&](const EvaluationRow& m) {
        return m.dataset == row.dataset && m.split == row.split && m.metric == row.metric &&
               m.config_hash == row.config_hash;
      });
      if (same == merged.end()) {
        merged.push_back(row);
        changed = true;
      } else if (same->value != row.value) {
        *same = row;
        changed = true;
      }
    }
    if (!changed) return;
    config["evaluations"] = RowsToJson(merged);
    // The version's tags follow: the same weights, with the rows measured since.
    std::vector<std::string> tags = {CommitTag(id)};
    LoadRefs();
    const json refs_tags = refs_.value("tags", json::object());
    for (const auto& [tag, target] : refs_tags.items()) {
      if (target == id && IsVersionTag(tag)) tags.push_back(OciTagOf(tag));
    }
    PutVersionManifest(id, config, manifest.value("layers", json::array()), tags);
  }

  std::vector<ObjectId> MissingObjects(const std::vector<ObjectId>& ids, const BlobOf& blob_of) override {
    std::vector<ObjectId> missing;
    for (const auto& id : ids) {
      auto known = blobs_.find(id);
      if (known == blobs_.end()) known = blobs_.emplace(id, blob_of(id)).first;
      const HttpResponse r = http_.Send({"HEAD", BlobUrl(known->second.digest)});
      if (r.status == 404) {
        missing.push_back(id);
      } else if (r.status != 200) {
        throw Error(fmt::format("{}: cannot look up object {}: {}", url_, id.Hex(), RegistryErrorText(r)));
      }
    }
    return missing;
  }

  std::vector<uint8_t> GetObject(const ObjectId& id) override {
    auto blob = blobs_.find(id);
    if (blob == blobs_.end()) throw Error(fmt::format("{}: object {} is in no version read", url_, id.Hex()));
    const HttpResponse r = http_.Send({"GET", BlobUrl(blob->second.digest)});
    if (r.status != 200) {
      throw Error(fmt::format("{}: cannot fetch object {}: {}", url_, id.Hex(), RegistryErrorText(r)));
    }
    std::vector<uint8_t> bytes(r.body.begin(), r.body.end());
    if (Sha256::Of(bytes.data(), bytes.size()) != blob->second.digest) {
      throw CorruptError(fmt::format("object {} from {} is corrupt: its bytes do not match their digest {}",
                                     id.Hex(), url_, DigestText(blob->second.digest)));
    }
    return bytes;
  }

  void PutObject(const ObjectId& id, const std::vector<uint8_t>& record) override {
    const ObjectBlob blob{Sha256::Of(record.data(), record.size()), record.size()};
    UploadBlob(blob.digest, record.data(), record.size());
    blobs_[id] = blob;
  }

  void UpdateRefs(const std::vector<RefUpdate>& updates) override {
    refs_loaded_ = false;
    LoadRefs();
    json refs = refs_;
    if (!refs.is_object() || refs.empty()) refs = {{"fomo", 1}, {"branches", json::object()}, {"tags", json::object()}};
    for (const auto& u : updates) {
      const char* section = u.kind == RefUpdate::Kind::kBranch ? "branches" : "tags";
      const json& current = refs[section];
      std::optional<CommitId> now;
      if (current.contains(u.name)) now = current[u.name].get<std::string>();
      if (now != u.expected) {
        throw RefConflict(fmt::format("{} '{}' on {} moved while this push ran (it names {}): fetch and push again",
                                      u.kind == RefUpdate::Kind::kBranch ? "branch" : "tag", u.name, url_,
                                      now ? ShortId(*now) : "nothing"));
      }
    }
    // Version tags first, as OCI tags on their version's manifest.
    for (const auto& u : updates) {
      if (u.kind != RefUpdate::Kind::kTag || !IsVersionTag(u.name)) continue;
      const std::string tag = OciTagOf(u.name);
      const HttpResponse existing = http_.Send({"GET", ManifestUrl(tag), {std::string("Accept: ") + kManifestType}});
      const json manifest = GetManifest(CommitTag(u.target));
      if (existing.status == 200) {
        const json there = json::parse(existing.body, nullptr, false);
        if (!there.is_object() || there.value("layers", json::array()) != manifest.value("layers", json::array())) {
          throw Error(fmt::format("tag '{}' on {} names other weights: a version number names one set of weights "
                                  "forever",
                                  u.name, url_));
        }
      }
      PutManifest(tag, manifest.dump());
    }
    for (const auto& u : updates) refs[u.kind == RefUpdate::Kind::kBranch ? "branches" : "tags"][u.name] = u.target;
    if (!refs.contains("head")) {
      for (const auto& u : updates) {
        if (u.kind == RefUpdate::Kind::kBranch) {
          refs["head"] = u.name;
          break;
        }
      }
    }
    if (pending_config_ && !refs.contains("config")) refs["config"] = *pending_config_;
    const std::string config = refs.dump();
    const ObjectId digest = Sha256::Of(config.data(), config.size());
    UploadBlob(digest, reinterpret_cast<const uint8_t*>(config.data()), config.size());
    const json manifest = {{"schemaVersion", 2},
                           {"mediaType", kManifestType},
                           {"artifactType", kRefsType},
                           {"config", {{"mediaType", kRefsType}, {"digest", DigestText(digest)}, {"size", config.size()}}},
                           {"layers", json::array()}};
    PutManifest(kRefsTag, manifest.dump());
    refs_ = refs;
  }

 private:
  static std::string CommitTag(const CommitId& id) { return "commit-" + id; }
  std::string ManifestUrl(const std::string& reference) const { return base_ + "/manifests/" + reference; }
  std::string BlobUrl(const ObjectId& digest) const { return base_ + "/blobs/" + DigestText(digest); }

  void LoadRefs() {
    if (refs_loaded_) return;
    const HttpResponse r = http_.Send({"GET", ManifestUrl(kRefsTag), {std::string("Accept: ") + kManifestType}});
    if (r.status == 404) {
      refs_ = json::object();
      // A repository with other tags than a fomo push leaves before its refs
      // (commit-ID, version tags) is someone else's.
      const HttpResponse tags = http_.Send({"GET", base_ + "/tags/list"});
      const json list = tags.status == 200 ? json::parse(tags.body, nullptr, false) : json();
      if (list.is_object() && list.contains("tags") && list["tags"].is_array()) {
        for (const auto& tag : list["tags"]) {
          const std::string name = tag.is_string() ? tag.get<std::string>() : "";
          std::string as_version = name;
          std::replace(as_version.begin(), as_version.end(), '_', '+');
          if (name.rfind("commit-", 0) == 0 || IsVersionTag(as_version)) continue;
          throw Error(fmt::format("{} is not a fomo repository: it has the tag '{}' and no {}", url_, name, kRefsTag));
        }
      }
      refs_loaded_ = true;
      return;
    }
    if (r.status != 200) throw Error(fmt::format("{}: cannot read its refs: {}", url_, RegistryErrorText(r)));
    const json manifest = json::parse(r.body, nullptr, false);
    refs_ = GetConfigBlob(manifest, "its refs");
    refs_loaded_ = true;
  }

  json GetManifest(const std::string& reference) {
    const HttpResponse r = http_.Send({"GET", ManifestUrl(reference), {std::string("Accept: ") + kManifestType}});
    if (r.status == 404) throw Error(fmt::format("{} has no version {}", url_, reference));
    if (r.status != 200) throw Error(fmt::format("{}: cannot read {}: {}", url_, reference, RegistryErrorText(r)));
    json manifest = json::parse(r.body, nullptr, false);
    if (!manifest.is_object()) throw CorruptError(fmt::format("{}: the manifest {} is not JSON", url_, reference));
    return manifest;
  }

  json GetConfig(const json& manifest, const CommitId& id) {
    json config = GetConfigBlob(manifest, "version " + id);
    if (config.value("commit", "") != id) {
      throw CorruptError(fmt::format("{}: the manifest of version {} holds another version", url_, id));
    }
    return config;
  }

  json GetConfigBlob(const json& manifest, const std::string& what) {
    if (!manifest.is_object() || !manifest.contains("config")) {
      throw CorruptError(fmt::format("{}: the manifest of {} has no config", url_, what));
    }
    const auto digest = ParseDigest(manifest["config"].value("digest", ""));
    if (!digest) throw CorruptError(fmt::format("{}: the manifest of {} has a bad config digest", url_, what));
    const HttpResponse r = http_.Send({"GET", BlobUrl(*digest)});
    if (r.status != 200) throw Error(fmt::format("{}: cannot read {}: {}", url_, what, RegistryErrorText(r)));
    if (Sha256::Of(r.body.data(), r.body.size()) != *digest) {
      throw CorruptError(fmt::format("{}: the config of {} does not match its digest", url_, what));
    }
    json config = json::parse(r.body, nullptr, false);
    if (!config.is_object()) throw CorruptError(fmt::format("{}: the config of {} is not JSON", url_, what));
    return config;
  }

  void PutVersionManifest(const CommitId& id, const json& config, const json& layers,
                          const std::vector<std::string>& tags) {
    const std::string text = config.dump();
    const ObjectId digest = Sha256::Of(text.data(), text.size());
    UploadBlob(digest, reinterpret_cast<const uint8_t*>(text.data()), text.size());
    json annotations = {{"org.fomo.commit", id}};
    auto version = config["files"].find("version.json");
    if (version != config["files"].end()) {
      const json v = json::parse(version->get<std::string>(), nullptr, false);
      if (v.is_object() && v.contains("version")) annotations["org.opencontainers.image.version"] = v["version"];
    }
    const json manifest = {{"schemaVersion", 2},
                           {"mediaType", kManifestType},
                           {"artifactType", kVersionType},
                           {"config", {{"mediaType", kVersionType}, {"digest", DigestText(digest)}, {"size", text.size()}}},
                           {"layers", layers},
                           {"annotations", annotations}};
    const std::string body = manifest.dump();
    if (body.size() > kMaxManifestBytes) {
      throw Error(fmt::format("the manifest of version {} would be {} bytes, over the registries' limit of {}",
                              ShortId(id), body.size(), kMaxManifestBytes));
    }
    for (const auto& tag : tags) PutManifest(tag, body);
  }

  void PutManifest(const std::string& tag, const std::string& body) {
    const HttpResponse r =
        http_.Send({"PUT", ManifestUrl(tag), {std::string("Content-Type: ") + kManifestType},
                    reinterpret_cast<const uint8_t*>(body.data()), body.size()});
    if (r.status != 201 && r.status != 200) {
      throw Error(fmt::format("{}: cannot write {}: {}", url_, tag, RegistryErrorText(r)));
    }
  }

  // The upload session's next address, absolute.
  std::string Location(const HttpResponse& r, const std::string& what) const {
    auto location = r.Header("location");
    if (!location) throw Error(fmt::format("{}: {} gave no upload location", url_, what));
    if (location->rfind("http://", 0) == 0 || location->rfind("https://", 0) == 0) return *location;
    return base_.substr(0, base_.find("/v2/")) + *location;
  }

  void UploadBlob(const ObjectId& digest, const uint8_t* data, uint64_t size) {
    const HttpResponse head = http_.Send({"HEAD", BlobUrl(digest)});
    if (head.status == 200) return;
    const HttpResponse start = http_.Send({"POST", base_ + "/blobs/uploads/", {}, nullptr, 0});
    if (start.status != 202) throw Error(fmt::format("{}: cannot start an upload: {}", url_, RegistryErrorText(start)));
    std::string location = Location(start, "the upload");
    uint64_t sent = 0;
    if (size > kChunkBytes) {
      // Chunked: PATCH each piece, then PUT the digest.
      while (sent < size) {
        const uint64_t n = std::min(kChunkBytes, size - sent);
        const HttpResponse r = http_.Send({"PATCH", location,
                                           {"Content-Type: application/octet-stream",
                                            fmt::format("Content-Range: {}-{}", sent, sent + n - 1)},
                                           data + sent, n});
        if (r.status != 202) throw Error(fmt::format("{}: an upload chunk failed: {}", url_, RegistryErrorText(r)));
        location = Location(r, "a chunk");
        sent += n;
      }
    }
    const std::string sep = location.find('?') == std::string::npos ? "?" : "&";
    const HttpResponse done = http_.Send({"PUT", location + sep + "digest=" + DigestText(digest),
                                          {"Content-Type: application/octet-stream"}, data + sent, size - sent});
    if (done.status != 201) {
      throw Error(fmt::format("{}: cannot upload {}: {}", url_, DigestText(digest), RegistryErrorText(done)));
    }
  }

  std::string url_, host_, name_, base_;
  HttpClient http_;
  std::map<ObjectId, ObjectBlob> blobs_;  // what each object travels as, from manifests read and blobs sent
  json refs_;
  bool refs_loaded_ = false;
  std::optional<std::string> pending_config_;
};

}  // namespace

std::unique_ptr<Remote> OpenRegistryRemote(const std::string& url, bool insecure) {
  const std::string rest = url.substr(6);  // after oci://
  const size_t slash = rest.find('/');
  if (slash == std::string::npos || slash == 0 || slash + 1 >= rest.size()) {
    throw UsageError(fmt::format("'{}' names no repository: oci://HOST[:PORT]/NAME", url));
  }
  std::string name = rest.substr(slash + 1);
  while (!name.empty() && name.back() == '/') name.pop_back();
  for (char c : name) {
    if (!(std::islower(static_cast<unsigned char>(c)) || std::isdigit(static_cast<unsigned char>(c)) || c == '/' ||
          c == '.' || c == '_' || c == '-')) {
      throw UsageError(fmt::format("'{}': a registry repository name is lower-case letters, digits and ._-/", url));
    }
  }
  const std::string host = rest.substr(0, slash);
  // FOMO_INSECURE_REGISTRIES: hosts spoken to over plain http, as docker's
  // insecure-registries setting.
  if (const char* list = std::getenv("FOMO_INSECURE_REGISTRIES")) {
    const std::string hosts = std::string(",") + list + ",";
    insecure = insecure || hosts.find("," + host + ",") != std::string::npos;
  }
  return std::make_unique<OciRemote>(url, insecure ? "http" : "https", host, name);
}

}  // namespace fomo
