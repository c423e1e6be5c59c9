#include "storage/sha256.hpp"

#include <openssl/evp.h>

#include "storage/error.hpp"

namespace fomo {

namespace {
constexpr char kHexDigits[] = "0123456789abcdef";
constexpr char kTensorDomain[] = "fomo-tensor-v1";

int HexValue(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}
}  // namespace

std::string ObjectId::Hex() const {
  std::string out(64, '0');
  for (size_t i = 0; i < bytes.size(); ++i) {
    out[2 * i] = kHexDigits[bytes[i] >> 4];
    out[2 * i + 1] = kHexDigits[bytes[i] & 15];
  }
  return out;
}

std::optional<ObjectId> ObjectId::FromHex(std::string_view hex) {
  if (hex.size() != 64) return std::nullopt;
  ObjectId id;
  for (size_t i = 0; i < 32; ++i) {
    int hi = HexValue(hex[2 * i]);
    int lo = HexValue(hex[2 * i + 1]);
    if (hi < 0 || lo < 0) return std::nullopt;
    id.bytes[i] = static_cast<uint8_t>(hi << 4 | lo);
  }
  return id;
}

bool ObjectId::IsZero() const {
  for (uint8_t b : bytes) {
    if (b) return false;
  }
  return true;
}

struct Sha256::Context {
  EVP_MD_CTX* ctx;
};

Sha256::Sha256() : context_(new Context{EVP_MD_CTX_new()}) {
  if (!context_->ctx || EVP_DigestInit_ex(context_->ctx, EVP_sha256(), nullptr) != 1) {
    throw Error("cannot initialise SHA-256");
  }
}

Sha256::~Sha256() {
  EVP_MD_CTX_free(context_->ctx);
  delete context_;
}

void Sha256::Update(const void* data, size_t size) {
  if (size && EVP_DigestUpdate(context_->ctx, data, size) != 1) throw Error("SHA-256 update failed");
}

ObjectId Sha256::Finish() {
  ObjectId id;
  unsigned int length = 0;
  if (EVP_DigestFinal_ex(context_->ctx, id.bytes.data(), &length) != 1 || length != 32) {
    throw Error("SHA-256 finish failed");
  }
  return id;
}

ObjectId TensorId(const TensorView& tensor) {
  Sha256 sha;
  sha.Update(kTensorDomain, sizeof(kTensorDomain));
  std::string_view dtype = DtypeName(tensor.dtype);
  sha.Update(dtype.data(), dtype.size());
  uint8_t ndim = static_cast<uint8_t>(tensor.shape.size());
  sha.Update(&ndim, 1);
  for (int64_t dim : tensor.shape) {
    uint8_t le[8];
    for (int i = 0; i < 8; ++i) le[i] = static_cast<uint8_t>(static_cast<uint64_t>(dim) >> (8 * i));
    sha.Update(le, 8);
  }
  sha.Update(tensor.data, tensor.size);
  return sha.Finish();
}

}  // namespace fomo
