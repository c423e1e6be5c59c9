#include "train/batch_loader.hpp"

#include <random>

#include "core/preprocess.hpp"

namespace fomo::train {

Batch AssembleBatch(const TrainCorpus& corpus, const BatchPlan& plan, const torch::Tensor& caption_tokens,
                    int64_t image_size) {
  const int64_t n = static_cast<int64_t>(plan.slots.size());
  Batch batch;
  batch.images = torch::empty({n, 3, image_size, image_size}, torch::kFloat32);
  std::vector<int64_t> ids(static_cast<size_t>(n));
  for (int64_t i = 0; i < n; ++i) {
    const auto& slot = plan.slots[static_cast<size_t>(i)];
    const TrainSample& sample = corpus.sources[slot.source][static_cast<size_t>(slot.sample)];
    std::mt19937_64 rng(slot.augment_seed);
    batch.images[i].copy_(core::TrainTransform(*sample.image, image_size, rng)[0]);
    ids[static_cast<size_t>(i)] = slot.caption;
  }
  batch.caption_ids = torch::tensor(ids, torch::kInt64);
  batch.tokens = caption_tokens.index_select(0, batch.caption_ids);
  return batch;
}

BatchLoader::BatchLoader(const TrainCorpus& corpus, const MixturePlanner& planner, torch::Tensor caption_tokens,
                         int64_t image_size, int64_t first_step, int64_t end_step, int threads, int depth)
    : corpus_(corpus),
      planner_(planner),
      caption_tokens_(std::move(caption_tokens)),
      image_size_(image_size),
      end_step_(end_step),
      threads_(std::max(1, threads)),
      depth_(std::max(depth, threads_)),
      next_(first_step) {
  for (int w = 0; w < threads_; ++w) workers_.emplace_back([this, first_step, w] { Work(first_step + w); });
}

BatchLoader::~BatchLoader() {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    stopping_ = true;
  }
  changed_.notify_all();
  for (auto& worker : workers_) worker.join();
}

void BatchLoader::Work(int64_t step) {
  // Worker w assembles steps first + w, first + w + threads, ...
  for (; step < end_step_; step += threads_) {
    {
      std::unique_lock<std::mutex> lock(mutex_);
      changed_.wait(lock, [&] { return stopping_ || step < next_ + depth_; });
      if (stopping_) return;
    }
    try {
      Batch batch = AssembleBatch(corpus_, planner_.Plan(step), caption_tokens_, image_size_);
      std::lock_guard<std::mutex> lock(mutex_);
      ready_.emplace(step, std::move(batch));
    } catch (...) {
      std::lock_guard<std::mutex> lock(mutex_);
      if (!error_) error_ = std::current_exception();
    }
    changed_.notify_all();
  }
}

Batch BatchLoader::Next() {
  std::unique_lock<std::mutex> lock(mutex_);
  changed_.wait(lock, [&] { return error_ || ready_.count(next_) > 0; });
  if (error_) std::rethrow_exception(error_);
  auto node = ready_.extract(next_);
  ++next_;
  lock.unlock();
  changed_.notify_all();
  return std::move(node.mapped());
}

}  // namespace fomo::train
