// Can a delta be stored smaller than fomo's byte planes + zstd -3? On the XOR
// deltas between two checkpoints (and on the first checkpoint itself), compares
// fomo's codec with the same planes at other zstd levels, with a sparse coding of
// mostly-zero planes (a bitmap of the nonzero bytes plus those bytes) and of
// mostly-unchanged elements (a bitmap of changed elements plus their planes), and
// reports each as raw/stored and MB/s, next to the order-0 entropy of the planes.
//
//   fomo-codec-bench BASE.safetensors UPDATE.safetensors
#include <zstd.h>

#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <functional>
#include <string>
#include <vector>

#include "core/safetensors.hpp"
#include "storage/codec.hpp"
#include "storage/dtype.hpp"
#include "storage/error.hpp"

using namespace fomo;

namespace {

using Bytes = std::vector<uint8_t>;

size_t Zstd(const uint8_t* data, size_t size, int level) {
  Bytes out(ZSTD_compressBound(size));
  const size_t n = ZSTD_compress(out.data(), out.size(), data, size, level);
  if (ZSTD_isError(n)) throw Error("zstd failed");
  return std::min(n, size);  // a plane that does not shrink is stored raw
}

Bytes Planes(const uint8_t* data, uint64_t size, size_t element) {
  Bytes planes(size);
  codec::SplitPlanes(data, size / element, element, planes.data());
  return planes;
}

// Bytes an ideal coder of independent bytes needs for the data (its byte
// histogram's entropy).
double EntropyBytes(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  double counts[256] = {};
  for (size_t i = 0; i < size; ++i) counts[data[i]] += 1;
  double bits = 0;
  for (double c : counts) {
    if (c > 0) bits -= c * std::log2(c / static_cast<double>(size));
  }
  return bits / 8;
}

// A plane as a bitmap of its nonzero bytes and those bytes, each zstd'd; the
// smaller of that and the plane as it is.
size_t SparsePlane(const uint8_t* plane, size_t count, int level) {
  Bytes bitmap((count + 7) / 8, 0), nonzero;
  for (size_t i = 0; i < count; ++i) {
    if (plane[i]) {
      bitmap[i / 8] |= static_cast<uint8_t>(1u << (i % 8));
      nonzero.push_back(plane[i]);
    }
  }
  const size_t sparse = Zstd(bitmap.data(), bitmap.size(), level) + Zstd(nonzero.data(), nonzero.size(), level) + 16;
  return std::min(sparse, Zstd(plane, count, level));
}

// Elements as a bitmap of the changed ones (any byte nonzero) plus the planes of
// those elements only.
size_t SparseElements(const uint8_t* data, uint64_t size, size_t element, int level) {
  const uint64_t count = size / element;
  Bytes bitmap((count + 7) / 8, 0), changed;
  for (uint64_t i = 0; i < count; ++i) {
    bool any = false;
    for (size_t b = 0; b < element; ++b) any |= data[i * element + b] != 0;
    if (any) {
      bitmap[i / 8] |= static_cast<uint8_t>(1u << (i % 8));
      changed.insert(changed.end(), data + i * element, data + (i + 1) * element);
    }
  }
  size_t total = Zstd(bitmap.data(), bitmap.size(), level) + 16;
  if (!changed.empty()) {
    Bytes planes = Planes(changed.data(), changed.size(), element);
    const size_t n = changed.size() / element;
    for (size_t p = 0; p < element; ++p) total += Zstd(planes.data() + p * n, n, level);
  }
  return total;
}

struct Strategy {
  std::string name;
  std::function<size_t(const uint8_t*, uint64_t, size_t)> encode;
  uint64_t bytes = 0;
  double seconds = 0;
};

void Report(const char* title, const std::vector<std::pair<const uint8_t*, std::pair<uint64_t, size_t>>>& inputs) {
  uint64_t raw = 0;
  double entropy = 0;
  for (const auto& [data, info] : inputs) {
    raw += info.first;
    Bytes planes = Planes(data, info.first, info.second);
    const uint64_t n = info.first / info.second;
    for (size_t p = 0; p < info.second; ++p) entropy += EntropyBytes(planes.data() + p * n, n);
  }
  auto planes_at = [](int level) {
    return [level](const uint8_t* d, uint64_t size, size_t element) {
      Bytes planes = Planes(d, size, element);
      const uint64_t n = size / element;
      size_t total = 1 + 9 * element;
      for (size_t p = 0; p < element; ++p) total += Zstd(planes.data() + p * n, n, level);
      return total;
    };
  };
  std::vector<Strategy> strategies = {
      {"fomo (planes, zstd -3, probe)", [](const uint8_t* d, uint64_t s, size_t e) { return codec::EncodePlanes(d, s, e, 3).size(); }},
      {"fomo at zstd -1", [](const uint8_t* d, uint64_t s, size_t e) { return codec::EncodePlanes(d, s, e, 1).size(); }},
      {"fomo format 3 (sparse planes), -1",
       [](const uint8_t* d, uint64_t s, size_t e) { return codec::EncodePlanes(d, s, e, 1, true).size(); }},
      {"fomo format 3 (sparse planes), -3",
       [](const uint8_t* d, uint64_t s, size_t e) { return codec::EncodePlanes(d, s, e, 3, true).size(); }},
      {"planes, zstd -1, no probe", planes_at(1)},
      {"planes, zstd -3, no probe", planes_at(3)},
      {"planes, zstd -9, no probe", planes_at(9)},
      {"planes, sparse where smaller, -3",
       [](const uint8_t* d, uint64_t s, size_t e) {
         Bytes planes = Planes(d, s, e);
         const uint64_t n = s / e;
         size_t total = 1 + 9 * e;
         for (size_t p = 0; p < e; ++p) total += SparsePlane(planes.data() + p * n, n, 3);
         return total;
       }},
      {"changed elements + bitmap, -3", [](const uint8_t* d, uint64_t s, size_t e) { return SparseElements(d, s, e, 3); }},
      {"whole tensor, zstd -3 (no planes)", [](const uint8_t* d, uint64_t s, size_t) { return Zstd(d, s, 3); }},
  };
  for (auto& strategy : strategies) {
    const auto start = std::chrono::steady_clock::now();
    for (const auto& [data, info] : inputs) strategy.bytes += strategy.encode(data, info.first, info.second);
    strategy.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  }
  std::printf("%s: %.1f MB raw, order-0 entropy of the planes %.2fx\n", title, raw / 1e6, raw / entropy);
  std::printf("  %-36s %14s %10s %10s\n", "encoding", "bytes", "raw/stored", "MB/s");
  for (const auto& s : strategies) {
    std::printf("  %-36s %14llu %9.2fx %10.0f\n", s.name.c_str(), static_cast<unsigned long long>(s.bytes),
                static_cast<double>(raw) / s.bytes, raw / 1e6 / s.seconds);
  }
  std::printf("\n");
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 3) {
    std::fprintf(stderr, "usage: fomo-codec-bench BASE.safetensors UPDATE.safetensors\n");
    return 2;
  }
  try {
    auto base = core::SafetensorsFile::Open(argv[1]);
    auto update = core::SafetensorsFile::Open(argv[2]);
    std::vector<Bytes> deltas;
    std::vector<std::pair<const uint8_t*, std::pair<uint64_t, size_t>>> full, delta;
    uint64_t elements = 0, unchanged = 0;
    for (const auto& t : base.tensors()) {
      const NamedTensor* u = update.Find(t.name);
      if (!u || u->view.size != t.view.size || u->view.dtype != t.view.dtype) continue;
      const size_t element = DtypeSize(t.view.dtype);
      full.push_back({t.view.data, {t.view.size, element}});
      Bytes x(t.view.size);
      codec::XorBytes(t.view.data, u->view.data, x.data(), x.size());
      for (uint64_t i = 0; i < x.size() / element; ++i) {
        bool same = true;
        for (size_t b = 0; b < element; ++b) same &= x[i * element + b] == 0;
        unchanged += same;
      }
      elements += x.size() / element;
      deltas.push_back(std::move(x));
      delta.push_back({deltas.back().data(), {t.view.size, element}});
    }
    std::printf("%llu elements, %.1f %% unchanged by the update\n\n", static_cast<unsigned long long>(elements),
                100.0 * static_cast<double>(unchanged) / static_cast<double>(elements));
    Report("base", full);
    Report("XOR delta", delta);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "fomo-codec-bench: %s\n", e.what());
    return 1;
  }
  return 0;
}
