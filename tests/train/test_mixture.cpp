// The per-batch data mixture (section 6): shares, the empty-source rule, slots,
// and draws that depend only on (seed, step).
#include <algorithm>
#include <set>

#include "catch.hpp"
#include "storage/error.hpp"
#include "train/mixture.hpp"

using namespace fomo;
using namespace fomo::train;

namespace {

TrainCorpus Corpus(const std::vector<core::Image>& images, std::array<int, kSourceCount> sizes) {
  TrainCorpus corpus;
  for (int s = 0; s < kSourceCount; ++s) {
    for (int i = 0; i < sizes[s]; ++i) {
      TrainSample sample;
      sample.image = &images[0];
      sample.captions = {corpus.Caption("a photo of " + std::to_string(s)), corpus.Caption("caption " + std::to_string(i))};
      corpus.sources[s].push_back(sample);
    }
  }
  return corpus;
}

}  // namespace

TEST_CASE("replay shares parse, normalise and refuse nonsense", "[train][mixture]") {
  MixtureShares m = MixtureShares::Parse("0.33/0.34/0.33");
  CHECK(m.pretrain == Approx(0.33));
  CHECK(m.update == Approx(0.34));
  MixtureShares n = MixtureShares::Parse("1/2/1");
  CHECK(n.update == Approx(0.5));
  CHECK_THROWS_AS(MixtureShares::Parse("0.5/0.5"), UsageError);
  CHECK_THROWS_AS(MixtureShares::Parse("0.5/-0.1/0.6"), UsageError);
  CHECK_THROWS_AS(MixtureShares::Parse("0.5/0/0.5"), UsageError);
  CHECK_THROWS_AS(MixtureShares::Parse("a/b/c"), UsageError);
}

TEST_CASE("an empty buffer's share is split between replay and update", "[train][mixture]") {
  MixtureShares m = MixtureShares::Parse("0.33/0.34/0.33").Resolved({true, true, false});
  CHECK(m.pretrain == Approx(0.495));
  CHECK(m.update == Approx(0.505));
  CHECK(m.buffer == 0);
  MixtureShares only = MixtureShares::Parse("0.33/0.34/0.33").Resolved({false, true, false});
  CHECK(only.update == Approx(1.0));
  auto slots = m.Slots(64);
  CHECK(slots[0] + slots[1] + slots[2] == 64);
  CHECK(slots[2] == 0);
  auto full = MixtureShares::Parse("0.33/0.34/0.33").Slots(512);
  CHECK(full[0] + full[1] + full[2] == 512);
  CHECK(full[1] >= full[0]);
}

TEST_CASE("batches are a function of seed and step, and epochs cover every sample", "[train][mixture]") {
  std::vector<core::Image> images(1);
  TrainCorpus corpus = Corpus(images, {10, 7, 5});
  MixtureShares shares = MixtureShares::Parse("0.25/0.5/0.25");
  MixturePlanner a(corpus, shares, 8, 42);
  MixturePlanner b(corpus, shares, 8, 42);
  MixturePlanner other(corpus, shares, 8, 43);
  bool differs = false;
  for (int64_t step : {0, 1, 5, 100}) {
    auto pa = a.Plan(step), pb = b.Plan(step), po = other.Plan(step);
    REQUIRE(pa.slots.size() == 8);
    for (size_t i = 0; i < pa.slots.size(); ++i) {
      REQUIRE(pa.slots[i].sample == pb.slots[i].sample);
      REQUIRE(pa.slots[i].caption == pb.slots[i].caption);
      REQUIRE(pa.slots[i].augment_seed == pb.slots[i].augment_seed);
      differs = differs || pa.slots[i].sample != po.slots[i].sample || pa.slots[i].caption != po.slots[i].caption;
    }
  }
  CHECK(differs);
  // The update source has 4 slots a step and 7 samples: steps 0..6 draw 28 = 4
  // epochs, each epoch a permutation of all 7.
  std::vector<int64_t> drawn;
  for (int64_t step = 0; step < 7; ++step) {
    for (const auto& slot : a.Plan(step).slots) {
      if (slot.source == kUpdate) drawn.push_back(slot.sample);
    }
  }
  for (int epoch = 0; epoch < 4; ++epoch) {
    std::set<int64_t> seen(drawn.begin() + epoch * 7, drawn.begin() + epoch * 7 + 7);
    CHECK(seen.size() == 7);
  }
  CHECK_THROWS_AS(MixturePlanner(Corpus(images, {0, 3, 0}), shares, 8, 1), Error);
}

TEST_CASE("equal captions share one id", "[train][mixture]") {
  TrainCorpus corpus;
  CHECK(corpus.Caption("a photo of a sandal.") == 0);
  CHECK(corpus.Caption("a photo of a boot.") == 1);
  CHECK(corpus.Caption("a photo of a sandal.") == 0);
  CHECK(corpus.captions.size() == 2);
}

TEST_CASE("a reservoir buffer keeps at most its size, uniformly, the same for the same seed", "[train][mixture]") {
  // Fewer samples than room: every one, in order.
  CHECK(ReservoirSample(5, 10, 1) == std::vector<int64_t>{0, 1, 2, 3, 4});
  CHECK(ReservoirSample(5, 0, 1).empty());
  const std::vector<int64_t> kept = ReservoirSample(10000, 100, 7);
  REQUIRE(kept.size() == 100);
  CHECK(std::is_sorted(kept.begin(), kept.end()));
  CHECK(std::adjacent_find(kept.begin(), kept.end()) == kept.end());  // no sample twice
  CHECK(kept.front() >= 0);
  CHECK(kept.back() < 10000);
  CHECK(ReservoirSample(10000, 100, 7) == kept);  // reproducible
  CHECK(ReservoirSample(10000, 100, 8) != kept);
  // Online: the reservoir over two tasks holds, from the first task, only what the
  // reservoir over the first task alone held (a stream's buffers grow task by task).
  const std::vector<int64_t> first = ReservoirSample(6000, 100, 7);
  for (int64_t i : kept) {
    if (i < 6000) CHECK(std::binary_search(first.begin(), first.end(), i));
  }
  // Each sample is kept with chance capacity/total: over 2,000 seeds, the first and
  // the last tenth of the stream are each kept about 2,000 * 100 / 10 times.
  int64_t early = 0, late = 0;
  for (uint64_t seed = 0; seed < 2000; ++seed) {
    for (int64_t i : ReservoirSample(1000, 100, seed)) {
      if (i < 100) ++early;
      if (i >= 900) ++late;
    }
  }
  CHECK(early == Approx(20000).epsilon(0.05));
  CHECK(late == Approx(20000).epsilon(0.05));
}
