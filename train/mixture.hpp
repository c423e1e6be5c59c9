// What each training batch is made of (continual-pretraining.md section 6): slots
// for pretraining replay, the update's data and a buffer of earlier updates' data,
// and which sample fills each slot at each step. Every draw is a pure function of
// (seed, step), so a resumed run sees exactly the batches an uninterrupted one would.
// No LibTorch here.
#pragma once

#include <array>
#include <cstdint>
#include <string>
#include <unordered_map>
#include <vector>

#include "core/image_decode.hpp"

namespace fomo::train {

enum Source : int { kPretrain = 0, kUpdate = 1, kBuffer = 2 };
inline constexpr int kSourceCount = 3;
const char* SourceName(int source);

struct MixtureShares {
  double pretrain = 0.33;
  double update = 0.34;
  double buffer = 0.33;

  // "P/D/B", e.g. "0.33/0.34/0.33" (shares are normalised to sum to one).
  static MixtureShares Parse(const std::string& text);
  std::string ToString() const;  // "0.33/0.34/0.33"
  // The shares of empty sources go to the others: an empty buffer's share is split
  // evenly between replay and update data (section 6), likewise missing replay data.
  MixtureShares Resolved(const std::array<bool, kSourceCount>& available) const;
  // Slots per source in a batch (largest remainder; every non-zero share gets at
  // least one slot when the batch allows).
  std::array<int64_t, kSourceCount> Slots(int64_t batch_size) const;
};

// One training sample: an image and the captions it may be paired with (ids into
// the corpus's caption table; class datasets offer one caption per template).
struct TrainSample {
  const core::Image* image = nullptr;
  std::vector<int32_t> captions;
};

// Everything a run trains on. Captions are deduplicated, so equal caption ids mean
// equal text: the contrastive loss treats those pairs as positives.
struct TrainCorpus {
  std::vector<std::string> captions;
  std::array<std::vector<TrainSample>, kSourceCount> sources;
  std::array<std::string, kSourceCount> descriptions;  // the selectors, for messages
  std::unordered_map<std::string, int32_t> caption_index;

  // Adds a caption if new; returns its id.
  int32_t Caption(const std::string& text);
};

// One batch: which sample of which source fills each slot, and the caption drawn.
struct BatchPlan {
  struct Slot {
    int source = 0;
    int64_t sample = 0;
    int32_t caption = 0;
    uint64_t augment_seed = 0;  // seeds the random crop of this slot
  };
  std::vector<Slot> slots;
};

// Each source is read in epochs: a seeded shuffle per (source, epoch), so every
// sample is seen once per epoch; the draw for step n starts at n * slots.
class MixturePlanner {
 public:
  MixturePlanner(const TrainCorpus& corpus, const MixtureShares& resolved, int64_t batch_size, uint64_t seed);
  BatchPlan Plan(int64_t step) const;
  const std::array<int64_t, kSourceCount>& slots() const { return slots_; }

 private:
  int64_t SampleAt(int source, int64_t draw) const;

  const TrainCorpus& corpus_;
  std::array<int64_t, kSourceCount> slots_{};
  uint64_t seed_;
};

// SplitMix64: the one hash fomo derives all its training randomness from.
uint64_t MixSeed(uint64_t a, uint64_t b);

// A bounded replay buffer (continual-pretraining.md section 6): reservoir
// sampling (Vitter's algorithm R) over `total` samples seen in order, keeping at
// most `capacity`, each with the same chance capacity/total. Draw i of the pass
// comes from MixSeed(seed, i), so the kept set is a pure function of (total,
// capacity, seed): the buffer of a stream's task is rebuilt from the earlier
// tasks' data in their order. Ascending sample indices.
std::vector<int64_t> ReservoirSample(int64_t total, int64_t capacity, uint64_t seed);

}  // namespace fomo::train
