#include "train/mixture.hpp"

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <numeric>
#include <random>
#include <sstream>

#include <fmt/format.h>

#include "storage/error.hpp"

namespace fomo::train {

const char* SourceName(int source) {
  static const char* kNames[] = {"pretrain", "update", "buffer"};
  return kNames[source];
}

uint64_t MixSeed(uint64_t a, uint64_t b) {
  uint64_t z = a + 0x9e3779b97f4a7c15ULL * (b + 1);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
  return z ^ (z >> 31);
}

MixtureShares MixtureShares::Parse(const std::string& text) {
  std::vector<double> values;
  std::stringstream stream(text);
  std::string part;
  while (std::getline(stream, part, '/')) {
    char* end = nullptr;
    double v = part.empty() ? -1 : std::strtod(part.c_str(), &end);
    if (part.empty() || end != part.c_str() + part.size() || !std::isfinite(v) || v < 0) values.push_back(-1);
    else values.push_back(v);
  }
  if (values.size() != 3 || std::any_of(values.begin(), values.end(), [](double v) { return v < 0; })) {
    throw UsageError(fmt::format("--replay '{}' must be three non-negative shares P/D/B, e.g. 0.33/0.34/0.33", text));
  }
  double sum = values[0] + values[1] + values[2];
  if (!(values[1] > 0)) throw UsageError(fmt::format("--replay '{}': the update data's share D must be positive", text));
  return MixtureShares{values[0] / sum, values[1] / sum, values[2] / sum};
}

std::string MixtureShares::ToString() const { return fmt::format("{:.3g}/{:.3g}/{:.3g}", pretrain, update, buffer); }

MixtureShares MixtureShares::Resolved(const std::array<bool, kSourceCount>& available) const {
  std::array<double, kSourceCount> share = {pretrain, update, buffer};
  for (int s = 0; s < kSourceCount; ++s) {
    if (available[s] || share[s] == 0) continue;
    std::vector<int> others;
    for (int o = 0; o < kSourceCount; ++o) {
      if (o != s && available[o]) others.push_back(o);
    }
    if (others.empty()) throw Error("there is no data to train on");
    for (int o : others) share[o] += share[s] / static_cast<double>(others.size());
    share[s] = 0;
  }
  return MixtureShares{share[0], share[1], share[2]};
}

std::array<int64_t, kSourceCount> MixtureShares::Slots(int64_t batch_size) const {
  const std::array<double, kSourceCount> share = {pretrain, update, buffer};
  std::array<int64_t, kSourceCount> slots{};
  std::array<double, kSourceCount> remainder{};
  int64_t used = 0;
  for (int s = 0; s < kSourceCount; ++s) {
    double exact = share[s] * static_cast<double>(batch_size);
    slots[s] = static_cast<int64_t>(std::floor(exact));
    remainder[s] = exact - static_cast<double>(slots[s]);
    used += slots[s];
  }
  while (used < batch_size) {
    int best = 0;
    for (int s = 1; s < kSourceCount; ++s) {
      if (remainder[s] > remainder[best]) best = s;
    }
    ++slots[best];
    remainder[best] = -1;
    ++used;
  }
  // A share that rounds to nothing still gets a slot, taken from the largest source.
  for (int s = 0; s < kSourceCount; ++s) {
    if (share[s] > 0 && slots[s] == 0) {
      int largest = static_cast<int>(std::max_element(slots.begin(), slots.end()) - slots.begin());
      if (slots[largest] > 1) {
        --slots[largest];
        ++slots[s];
      }
    }
  }
  return slots;
}

int32_t TrainCorpus::Caption(const std::string& text) {
  auto [it, added] = caption_index.emplace(text, static_cast<int32_t>(captions.size()));
  if (added) captions.push_back(text);
  return it->second;
}

MixturePlanner::MixturePlanner(const TrainCorpus& corpus, const MixtureShares& resolved, int64_t batch_size,
                               uint64_t seed)
    : corpus_(corpus), slots_(resolved.Slots(batch_size)), seed_(seed) {
  for (int s = 0; s < kSourceCount; ++s) {
    if (slots_[s] > 0 && corpus.sources[s].empty()) {
      throw Error(fmt::format("the {} data is empty", SourceName(s)));
    }
  }
}

int64_t MixturePlanner::SampleAt(int source, int64_t draw) const {
  const int64_t n = static_cast<int64_t>(corpus_.sources[source].size());
  const int64_t epoch = draw / n;
  const int64_t position = draw % n;
  // The epoch's permutation, drawn with a seeded engine; each loader thread keeps
  // the last one it drew, so the planner stays thread-safe without locks.
  thread_local std::vector<int64_t> order;
  thread_local uint64_t order_key = ~0ULL;
  const uint64_t key = MixSeed(MixSeed(seed_, static_cast<uint64_t>(source)), static_cast<uint64_t>(epoch));
  if (order_key != key || static_cast<int64_t>(order.size()) != n) {
    order.resize(static_cast<size_t>(n));
    std::iota(order.begin(), order.end(), 0);
    std::mt19937_64 rng(key);
    for (int64_t i = n - 1; i > 0; --i) {
      std::swap(order[static_cast<size_t>(i)], order[static_cast<size_t>(rng() % static_cast<uint64_t>(i + 1))]);
    }
    order_key = key;
  }
  return order[static_cast<size_t>(position)];
}

BatchPlan MixturePlanner::Plan(int64_t step) const {
  BatchPlan plan;
  for (int s = 0; s < kSourceCount; ++s) {
    for (int64_t i = 0; i < slots_[s]; ++i) {
      const int64_t draw = step * slots_[s] + i;
      BatchPlan::Slot slot;
      slot.source = s;
      slot.sample = SampleAt(s, draw);
      const uint64_t slot_seed = MixSeed(MixSeed(seed_ ^ 0x5eedULL, static_cast<uint64_t>(s)), static_cast<uint64_t>(draw));
      const auto& options = corpus_.sources[s][static_cast<size_t>(slot.sample)].captions;
      slot.caption = options[slot_seed % options.size()];
      slot.augment_seed = MixSeed(slot_seed, 1);
      plan.slots.push_back(slot);
    }
  }
  return plan;
}

std::vector<int64_t> ReservoirSample(int64_t total, int64_t capacity, uint64_t seed) {
  if (capacity <= 0) return {};
  std::vector<int64_t> kept;
  kept.reserve(static_cast<size_t>(std::min(total, capacity)));
  for (int64_t i = 0; i < total; ++i) {
    if (i < capacity) {
      kept.push_back(i);
      continue;
    }
    // Uniform in [0, i]: a 64-bit draw's modulo bias is below 2^-40 for any real i.
    const auto j = static_cast<int64_t>(MixSeed(seed, static_cast<uint64_t>(i)) % static_cast<uint64_t>(i + 1));
    if (j < capacity) kept[static_cast<size_t>(j)] = i;
  }
  std::sort(kept.begin(), kept.end());
  return kept;
}

}  // namespace fomo::train
