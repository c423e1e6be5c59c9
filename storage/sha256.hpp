// SHA-256 (OpenSSL) and the content address of a tensor object.
#pragma once

#include <array>
#include <cstring>
#include <functional>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "storage/tensor.hpp"

namespace fomo {

struct ObjectId {
  std::array<uint8_t, 32> bytes{};

  std::string Hex() const;
  static std::optional<ObjectId> FromHex(std::string_view hex);
  bool IsZero() const;
  bool operator==(const ObjectId& other) const { return bytes == other.bytes; }
  bool operator!=(const ObjectId& other) const { return bytes != other.bytes; }
  bool operator<(const ObjectId& other) const { return bytes < other.bytes; }
};

class Sha256 {
 public:
  Sha256();
  ~Sha256();
  Sha256(const Sha256&) = delete;
  Sha256& operator=(const Sha256&) = delete;
  void Update(const void* data, size_t size);
  ObjectId Finish();
  // The digest of one buffer.
  static ObjectId Of(const void* data, size_t size) {
    Sha256 sum;
    sum.Update(data, size);
    return sum.Finish();
  }

 private:
  struct Context;
  Context* context_;
};

// The object id of a tensor: SHA-256 over a domain tag, the dtype name, the shape
// and the raw little-endian bytes. Identical tensors share one id whatever their
// name or version.
ObjectId TensorId(const TensorView& tensor);

// FNV-1a of a name: a cheap, stable seed per tensor name (DARE's masks, adapters'
// initial values), independent of the order tensors are visited in.
inline uint64_t NameSeed(const std::string& name) {
  uint64_t h = 1469598103934665603ULL;
  for (unsigned char c : name) h = (h ^ c) * 1099511628211ULL;
  return h;
}

}  // namespace fomo

template <>
struct std::hash<fomo::ObjectId> {
  size_t operator()(const fomo::ObjectId& id) const {
    size_t value;
    static_assert(sizeof(value) <= sizeof(id.bytes));
    std::memcpy(&value, id.bytes.data(), sizeof(value));
    return value;
  }
};
