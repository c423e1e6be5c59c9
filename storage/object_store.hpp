// The content-addressed tensor store under .fomo/objects. An object's id is the
// SHA-256 of its tensor (dtype, shape, bytes), so identical tensors are stored once
// across all versions and branches. An object is encoded one of three ways:
//   full   - byte planes of the tensor, zstd per plane;
//   delta  - byte planes of the XOR against a base object (the same tensor in the
//            parent version), zstd per plane: lossless, unlike float subtraction;
//   lowrank- factors B, A (and DoRA's magnitude) against a base object plus the
//            byte planes of the XOR between the tensor and the weight the
//            factors make (storage/low_rank.hpp): an adapter update in its
//            natural size, still lossless.
// Delta chains are bounded: past max_chain links the writer stores a full frame.
// A read decodes the chain and verifies the hash of the tensor it rebuilt, which
// proves every link it was built from; fsck verifies each link on its own.
//
// Where objects live (the store's format, in objects/FORMAT; absent means 1):
//   1 - one file per object (objects/ab/cdef...), as fomo wrote before packs.
//       Stores of format 1 keep being written that way, so an older fomo still
//       reads them, until `fomo gc` upgrades them.
//   2 - objects that encode to less than kPackThreshold go into pack files
//       (storage/pack.hpp), one per Flush; larger ones stay one file each and end
//       in the SHA-256 of their bytes, so `fsck --quick` checks them undecoded.
#pragma once

#include <cstdint>
#include <filesystem>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "storage/low_rank.hpp"
#include "storage/sha256.hpp"
#include "storage/tensor.hpp"

namespace fomo {

namespace fs = std::filesystem;

// Values are persisted in object headers: never renumber.
enum class Encoding : uint8_t { kFull = 1, kDelta = 2, kLowRank = 3 };
std::string_view EncodingName(Encoding encoding);

// Longer delta chains than any repository makes (storage.max_chain is at most 64)
// are refused as corrupt: a forged chain could loop.
inline constexpr int kMaxDeltaLinks = 256;

// Store formats: 1 writes every object as a file; 2 packs small objects and
// checksums records; 3 may code sparse byte planes (storage/codec.hpp). A store
// keeps writing its own format until `fomo gc` (Repack) upgrades it, so a fomo
// that reads only an older format is never handed objects it cannot decode.
inline constexpr int kStoreFormat = 3;
inline constexpr int kSparsePlanesFormat = 3;
inline constexpr uint64_t kPackThreshold = 64 * 1024;
// Flushes past this many packs merge them all into one, as git's gc --auto does.
inline constexpr size_t kMaxPacks = 32;

class PackFile;

struct StoreOptions {
  int zstd_level = 1;  // see fomo.yaml's template (storage/repo_config.cpp)
  int max_chain = 8;   // delta links before a full frame
  size_t threads = 0;  // 0: one per hardware thread
};

struct ObjectInfo {
  Encoding encoding = Encoding::kFull;
  Dtype dtype = Dtype::kF32;
  Shape shape;
  uint64_t raw_size = 0;
  int depth = 0;  // delta links down to the full frame
  std::optional<ObjectId> base;
  uint64_t stored_size = 0;  // bytes of the object file or its pack record
  bool packed = false;
};

struct RepackReport {
  size_t packs_before = 0;
  size_t loose_packed = 0;     // small loose objects moved into the pack
  size_t objects_dropped = 0;  // packed objects not kept
  uint64_t bytes_dropped = 0;
  size_t objects_packed = 0;   // in the pack written
};

struct QuickCheck {
  std::vector<std::string> errors;
  size_t packs = 0, loose = 0;
  size_t unchecked_old_loose = 0;  // format-1 objects carry no checksum of their bytes
  uint64_t bytes_hashed = 0;
};

struct PutResult {
  Encoding encoding = Encoding::kFull;
  uint64_t stored_size = 0;
  bool written = false;  // false: the object was already there
};

class ObjectStore {
 public:
  // Reads the store's format from dir/FORMAT; refuses formats newer than this fomo's.
  ObjectStore(fs::path dir, StoreOptions options);
  ~ObjectStore();
  // Makes dir a store of the current format.
  static void Initialize(const fs::path& dir);

  const StoreOptions& options() const { return options_; }
  const fs::path& dir() const { return dir_; }
  int format() const { return format_; }
  bool SparsePlanes() const { return format_ >= kSparsePlanesFormat; }
  // Where the object's file is when it is stored loose.
  fs::path PathOf(const ObjectId& id) const;

  bool Contains(const ObjectId& id) const;
  // Appended to "object X is missing" (a shallow clone says why and what to run).
  void set_missing_hint(std::string hint) { missing_hint_ = std::move(hint); }
  ObjectInfo Stat(const ObjectId& id) const;

  // Stores tensor under id (its TensorId, computed by the caller), as a delta
  // against parent when that is smaller and the chain allows it. Safe to call
  // concurrently for different ids. A small object waits in memory for Flush.
  // With low_rank (a 2-D F32 tensor that is parent plus those factors), the
  // factors are stored instead whenever that is smaller. input_done, when given,
  // is called whenever Put has finished reading the tensor's bytes for a while
  // (perhaps more than once; a mapped input drops its pages there), and last
  // before it returns.
  PutResult Put(const ObjectId& id, const TensorView& tensor, const std::optional<ObjectId>& parent,
                const LowRankFactors* low_rank = nullptr, const std::function<void()>& input_done = {}) const;

  // Writes the small objects Put since the last Flush as one pack (and merges the
  // packs when there are more than kMaxPacks). Every object a commit names must
  // be flushed before the commit is written.
  void Flush() const;
  size_t PendingCount() const;

  // Decodes the object into dst (exactly raw_size bytes), verifying its hash.
  void ReadInto(const ObjectId& id, uint8_t* dst, uint64_t size) const;
  // The same for a manifest entry: the object's own header must give that dtype
  // and shape, or the manifest is refused as damaged.
  void ReadAs(const ObjectId& id, Dtype dtype, const Shape& shape, uint8_t* dst) const;
  Tensor Read(const ObjectId& id) const;
  // Decodes only the object's own link: onto its base's content (base_content,
  // ignored for a full object) into dst; no hash is checked. fsck verifies chains
  // bottom-up with it, decoding each object once.
  void DecodeLink(const ObjectId& id, const uint8_t* base_content, uint8_t* dst, uint64_t size) const;

  // The object as it travels between repositories: its plain record (header and
  // payload, no checksum trailer), the same bytes whether it is packed or loose.
  std::vector<uint8_t> ReadRecord(const ObjectId& id) const;
  // Stores a record that came from elsewhere, as Put would (packed when small), once
  // it is proven: the record parses, its base (for a delta or low-rank object) is
  // here already, and the tensor it decodes to hashes to id. Throws CorruptError
  // naming the object otherwise, and stores nothing. base_content, when given, is
  // the base's decoded bytes (a caller walking a chain saves decoding it again);
  // decoded, when given, receives this object's content.
  PutResult PutRecord(const ObjectId& id, const std::vector<uint8_t>& record,
                      const std::vector<uint8_t>* base_content = nullptr, std::vector<uint8_t>* decoded = nullptr) const;

  std::vector<ObjectId> List() const;
  // Every object with its stored size (loose, packed and waiting for Flush).
  std::map<ObjectId, uint64_t> ListSizes() const;
  // Removes a loose or unflushed object; a packed one leaves at the next Repack.
  void Remove(const ObjectId& id) const;
  // Writes every kept object below kPackThreshold (packed or loose) into one new
  // pack, then removes the old packs and the loose files it holds, and upgrades a
  // format-1 store. Any crash leaves every kept object readable.
  RepackReport Repack(const std::set<ObjectId>& keep) const;
  // Hashes the stored bytes (packs, and loose objects that carry a checksum)
  // without decoding any tensor.
  QuickCheck CheckStoredBytes() const;
  std::vector<fs::path> PackPaths() const;
  // Objects held in packs, from their indexes.
  size_t PackedCount() const;
  // Removes temporary files left by an interrupted write; returns how many.
  size_t RemoveTemporaryFiles() const;

 private:
  std::vector<uint8_t> EncodeLowRank(uint8_t* base_then_residual, const TensorView& tensor,
                                     const LowRankFactors& factors) const;
  void DecodeLowRank(const uint8_t* payload, uint64_t payload_size, const Shape& shape, uint8_t* dst,
                     uint64_t size) const;

  struct Located;
  // header_only: a loose object's data is only its first bytes (enough for its
  // header), size still the file's.
  std::optional<Located> Locate(const ObjectId& id, bool header_only = false) const;
  // Stat of an object that may be absent: one lookup where Contains then Stat took two.
  std::optional<ObjectInfo> FindInfo(const ObjectId& id) const;
  Located Require(const ObjectId& id, bool header_only = false) const;
  void LoadPacks() const;
  std::map<ObjectId, uint64_t> LooseSizes() const;
  void WriteLoose(const ObjectId& id, const std::vector<uint8_t>& bytes) const;
  // Stores an encoded record (header then payload, plain): pending when small in a
  // packing store, else a loose file with its checksum.
  uint64_t StoreRecord(const ObjectId& id, std::vector<uint8_t> record) const;
  void MergePacks() const;
  void ReadLinks(const ObjectId& id, uint8_t* dst, uint64_t size, int links) const;

  fs::path dir_;
  StoreOptions options_;
  std::string missing_hint_;
  mutable int format_ = 1;  // Repack upgrades it
  // Packs are immutable; the list is reloaded when an object is not found (a
  // concurrent repack may have replaced the packs this process mapped).
  mutable std::mutex packs_mutex_;
  mutable std::vector<std::shared_ptr<const PackFile>> packs_;
  mutable std::set<std::string> pack_names_;
  mutable std::mutex pending_mutex_;
  mutable std::map<ObjectId, std::shared_ptr<const std::vector<uint8_t>>> pending_;
  mutable uint64_t pending_bytes_ = 0;
};

}  // namespace fomo
