// Raw tensors: bytes plus dtype and shape. Views borrow (from a memory map, a
// buffer); Tensor owns.
#pragma once

#include <cstdint>
#include <memory>
#include <string>

#include "storage/dtype.hpp"

namespace fomo {

// An owning byte buffer that is not zero-filled on allocation: tensors are
// overwritten right after allocation, and clearing hundreds of MB costs time.
class ByteBuffer {
 public:
  ByteBuffer() = default;
  explicit ByteBuffer(size_t size) : data_(size ? new uint8_t[size] : nullptr), size_(size) {}
  uint8_t* data() { return data_.get(); }
  const uint8_t* data() const { return data_.get(); }
  size_t size() const { return size_; }

 private:
  std::unique_ptr<uint8_t[]> data_;
  size_t size_ = 0;
};

// A per-thread buffer reused across calls, so hot loops over hundreds of tensors do
// not map and fault in fresh pages for every one. Each call site owns its own slot
// (a distinct Tag type); the returned pointer is valid until that slot's next call.
template <typename Tag>
uint8_t* ThreadScratch(size_t size) {
  thread_local std::unique_ptr<uint8_t[]> buffer;
  thread_local size_t capacity = 0;
  if (size > capacity) {
    buffer.reset(new uint8_t[size]);
    capacity = size;
  }
  return buffer.get();
}

struct TensorView {
  Dtype dtype = Dtype::kF32;
  Shape shape;
  const uint8_t* data = nullptr;
  uint64_t size = 0;  // bytes
};

struct Tensor {
  Dtype dtype = Dtype::kF32;
  Shape shape;
  ByteBuffer bytes;

  TensorView view() const { return TensorView{dtype, shape, bytes.data(), bytes.size()}; }
};

struct NamedTensor {
  std::string name;
  TensorView view;
};

}  // namespace fomo
