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
// Every read decodes the chain and verifies the hash of every link.
#pragma once

#include <cstdint>
#include <filesystem>
#include <optional>
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

struct StoreOptions {
  int zstd_level = 3;
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
  uint64_t stored_size = 0;  // bytes of the object file
};

struct PutResult {
  Encoding encoding = Encoding::kFull;
  uint64_t stored_size = 0;
  bool written = false;  // false: the object was already there
};

class ObjectStore {
 public:
  ObjectStore(fs::path dir, StoreOptions options);

  const StoreOptions& options() const { return options_; }
  const fs::path& dir() const { return dir_; }
  fs::path PathOf(const ObjectId& id) const;

  bool Contains(const ObjectId& id) const;
  ObjectInfo Stat(const ObjectId& id) const;

  // Stores tensor under id (its TensorId, computed by the caller), as a delta
  // against parent when that is smaller and the chain allows it. Safe to call
  // concurrently for different ids.
  // With low_rank (a 2-D F32 tensor that is parent plus those factors), the
  // factors are stored instead whenever that is smaller.
  PutResult Put(const ObjectId& id, const TensorView& tensor, const std::optional<ObjectId>& parent,
                const LowRankFactors* low_rank = nullptr) const;

  // Decodes the object into dst (exactly raw_size bytes), verifying every hash.
  void ReadInto(const ObjectId& id, uint8_t* dst, uint64_t size) const;
  // The same for a manifest entry: the object's own header must give that dtype
  // and shape, or the manifest is refused as damaged.
  void ReadAs(const ObjectId& id, Dtype dtype, const Shape& shape, uint8_t* dst) const;
  Tensor Read(const ObjectId& id) const;

  std::vector<ObjectId> List() const;
  void Remove(const ObjectId& id) const;
  // Removes temporary files left by an interrupted write; returns how many.
  size_t RemoveTemporaryFiles() const;

 private:
  std::vector<uint8_t> EncodeLowRank(uint8_t* base_then_residual, const TensorView& tensor,
                                     const LowRankFactors& factors) const;
  void DecodeLowRank(const uint8_t* payload, uint64_t payload_size, const Shape& shape, uint8_t* dst,
                     uint64_t size) const;

  void ReadLinks(const ObjectId& id, uint8_t* dst, uint64_t size, int links) const;

  fs::path dir_;
  StoreOptions options_;
};

}  // namespace fomo
