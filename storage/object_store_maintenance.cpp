// The object store's housekeeping: listing what it holds, removing objects,
// repacking small ones (gc) and hashing stored bytes without decoding (fsck --quick).
#include "storage/object_store.hpp"

#include <cstring>

#include <fmt/format.h>

#include "storage/atomic_file.hpp"
#include "storage/error.hpp"
#include "storage/object_record.hpp"
#include "storage/pack.hpp"

namespace fomo {

void ObjectStore::MergePacks() const {
  std::set<ObjectId> all;
  {
    std::lock_guard<std::mutex> lock(packs_mutex_);
    LoadPacks();
    for (const auto& pack : packs_) {
      for (size_t i = 0; i < pack->count(); ++i) all.insert(pack->IdAt(i));
    }
  }
  // Repack with everything packed kept; loose objects it also takes are small
  // ones, which belong in a pack anyway.
  Repack(all);
}

std::map<ObjectId, uint64_t> ObjectStore::ListSizes() const {
  std::map<ObjectId, uint64_t> sizes;
  {
    std::lock_guard<std::mutex> lock(pending_mutex_);
    for (const auto& [id, bytes] : pending_) sizes.emplace(id, bytes->size());
  }
  {
    std::lock_guard<std::mutex> lock(packs_mutex_);
    LoadPacks();
    for (const auto& pack : packs_) {
      for (size_t i = 0; i < pack->count(); ++i) sizes.emplace(pack->IdAt(i), pack->RecordAt(i).size);
    }
  }
  for (const auto& [id, size] : LooseSizes()) sizes.emplace(id, size);
  return sizes;
}

std::map<ObjectId, uint64_t> ObjectStore::LooseSizes() const {
  std::map<ObjectId, uint64_t> sizes;
  std::error_code ec;
  if (!fs::is_directory(dir_, ec)) return sizes;
  for (const auto& fan : fs::directory_iterator(dir_)) {
    if (!fan.is_directory()) continue;
    std::string prefix = fan.path().filename().string();
    if (prefix.size() != 2) continue;
    for (const auto& entry : fs::directory_iterator(fan.path())) {
      auto id = ObjectId::FromHex(prefix + entry.path().filename().string());
      if (id && entry.is_regular_file()) sizes.emplace(*id, entry.file_size(ec));
    }
  }
  return sizes;
}

std::vector<ObjectId> ObjectStore::List() const {
  std::vector<ObjectId> ids;
  for (const auto& [id, size] : ListSizes()) ids.push_back(id);
  return ids;
}

void ObjectStore::Remove(const ObjectId& id) const {
  {
    std::lock_guard<std::mutex> lock(pending_mutex_);
    auto it = pending_.find(id);
    if (it != pending_.end()) {
      pending_bytes_ -= it->second->size();
      pending_.erase(it);
    }
  }
  std::error_code ec;
  fs::remove(PathOf(id), ec);
  if (ec) throw Error(fmt::format("cannot remove object {}: {}", id.Hex(), ec.message()));
}

RepackReport ObjectStore::Repack(const std::set<ObjectId>& keep) const {
  RepackReport report;
  std::vector<std::shared_ptr<const PackFile>> old_packs;
  {
    std::lock_guard<std::mutex> lock(packs_mutex_);
    LoadPacks();
    old_packs = packs_;
  }
  report.packs_before = old_packs.size();
  std::map<ObjectId, PackRecord> records;
  for (const auto& pack : old_packs) {
    for (size_t i = 0; i < pack->count(); ++i) {
      const ObjectId id = pack->IdAt(i);
      if (keep.count(id)) {
        records.emplace(id, pack->RecordAt(i));
      } else if (!records.count(id)) {
        ++report.objects_dropped;
        report.bytes_dropped += pack->RecordAt(i).size;
      }
    }
  }
  std::vector<std::shared_ptr<MappedFile>> loose_files;
  std::vector<ObjectId> loose_packed;  // loose files whose object the new pack holds
  for (const auto& [id, size] : LooseSizes()) {
    if (size >= kPackThreshold || !keep.count(id)) continue;
    if (records.count(id)) {  // packed already (a repack killed before it removed the file)
      loose_packed.push_back(id);
      continue;
    }
    std::shared_ptr<MappedFile> file;
    try {
      file = std::make_shared<MappedFile>(PathOf(id));
      ObjectHeader h;
      ParseHeader(file->data(), file->size(), id.Hex(), &h);
    } catch (const Error&) {
      continue;  // a damaged file stays loose, for fsck to name
    }
    records.emplace(id, PackRecord{file->data(), file->size()});
    loose_packed.push_back(id);
    loose_files.push_back(std::move(file));
  }
  report.loose_packed = loose_packed.size();
  report.objects_packed = records.size();
  fs::path written;
  if (!records.empty()) {
    written = WritePack(PackDir(dir_), std::vector<std::pair<ObjectId, PackRecord>>(records.begin(), records.end()));
  }
  CrashPoint("repack-written");
  if (format_ < kStoreFormat) {
    WriteStoreFormat(dir_, kStoreFormat);
    format_ = kStoreFormat;
  }
  // Every kept object is now in the new pack: the old copies can go.
  std::error_code ec;
  for (const auto& pack : old_packs) {
    if (pack->path() != written) fs::remove(pack->path(), ec);
    CrashPoint("repack-pack-removed");
  }
  for (const auto& id : loose_packed) {
    fs::remove(PathOf(id), ec);
    CrashPoint("repack-loose-removed");
  }
  if (!old_packs.empty() || !loose_packed.empty()) FsyncDirectory(PackDir(dir_));
  std::lock_guard<std::mutex> lock(packs_mutex_);
  LoadPacks();
  return report;
}

QuickCheck ObjectStore::CheckStoredBytes() const {
  QuickCheck check;
  for (const auto& path : PackPaths()) {
    ++check.packs;
    try {
      auto pack = PackFile::Open(path);
      check.bytes_hashed += pack->size();
      if (pack->Verify()) continue;
      // Name the objects the damage is in: they are small, decoding them is cheap.
      std::vector<std::string> damaged;
      for (size_t i = 0; i < pack->count(); ++i) {
        const ObjectId id = pack->IdAt(i);
        try {
          ObjectHeader h;
          const PackRecord r = pack->RecordAt(i);
          ParseHeader(r.data, r.size, id.Hex(), &h);
          ByteBuffer buffer(h.raw_size);
          ReadLinks(id, buffer.data(), h.raw_size, 0);
        } catch (const Error& e) {
          damaged.push_back(id.Hex());
        }
      }
      check.errors.push_back(
          damaged.empty()
              ? fmt::format("pack {} is corrupt: its checksum does not match (every object in it still decodes)",
                            path.filename().string())
              : fmt::format("pack {} is corrupt: its checksum does not match; damaged object{}: {}",
                            path.filename().string(), damaged.size() == 1 ? "" : "s", fmt::join(damaged, ", ")));
    } catch (const Error& e) {
      check.errors.push_back(e.what());
    }
  }
  std::error_code ec;
  for (fs::recursive_directory_iterator it(dir_, ec), end; !ec && it != end; it.increment(ec)) {
    if (it->path().parent_path().filename() == "pack" || !it->is_regular_file()) continue;
    const std::string fan = it->path().parent_path().filename().string();
    auto id = ObjectId::FromHex(fan + it->path().filename().string());
    if (!id) continue;
    ++check.loose;
    try {
      MappedFile file(it->path());
      ObjectHeader h;
      ParseHeader(file.data(), file.size(), id->Hex(), &h);
      if (!h.checksummed) {
        ++check.unchecked_old_loose;
        continue;
      }
      check.bytes_hashed += file.size();
      Sha256 sum;
      sum.Update(file.data(), file.size() - kChecksumSize);
      if (std::memcmp(sum.Finish().bytes.data(), file.data() + file.size() - kChecksumSize, kChecksumSize) != 0) {
        check.errors.push_back(fmt::format("object {} is corrupt: its stored bytes do not match their checksum", id->Hex()));
      }
    } catch (const Error& e) {
      check.errors.push_back(e.what());
    }
  }
  return check;
}

size_t ObjectStore::RemoveTemporaryFiles() const {
  size_t removed = 0;
  std::error_code ec;
  if (!fs::is_directory(dir_, ec)) return 0;
  for (const auto& entry : fs::recursive_directory_iterator(dir_)) {
    if (entry.is_regular_file() && entry.path().filename().string().rfind(".tmp-", 0) == 0) {
      fs::remove(entry.path(), ec);
      if (!ec) ++removed;
    }
  }
  return removed;
}

}  // namespace fomo
