// Training batches assembled ahead of the trainer on worker threads: each slot's
// image goes through the train transform (RandomResizedCrop with the slot's own
// seed), captions become token rows. The trainer takes batches in step order and
// waits only when the workers fall behind. Include only in LibTorch files.
#pragma once

#include <torch/torch.h>

#include <condition_variable>
#include <exception>
#include <map>
#include <mutex>
#include <thread>
#include <vector>

#include "train/mixture.hpp"

namespace fomo::train {

struct Batch {
  torch::Tensor images;       // [B, 3, size, size] float, normalised
  torch::Tensor tokens;       // [B, context] int64
  torch::Tensor caption_ids;  // [B] int64
};

// One batch, on the calling thread.
Batch AssembleBatch(const TrainCorpus& corpus, const BatchPlan& plan, const torch::Tensor& caption_tokens,
                    int64_t image_size);

class BatchLoader {
 public:
  // Steps [first_step, end_step); caption_tokens: [captions, context] int64.
  BatchLoader(const TrainCorpus& corpus, const MixturePlanner& planner, torch::Tensor caption_tokens,
              int64_t image_size, int64_t first_step, int64_t end_step, int threads, int depth);
  ~BatchLoader();
  BatchLoader(const BatchLoader&) = delete;
  BatchLoader& operator=(const BatchLoader&) = delete;

  // The next step's batch; rethrows a worker's error.
  Batch Next();

 private:
  void Work(int64_t first);

  const TrainCorpus& corpus_;
  const MixturePlanner& planner_;
  torch::Tensor caption_tokens_;
  int64_t image_size_;
  int64_t end_step_;
  int threads_;
  int depth_;

  std::mutex mutex_;
  std::condition_variable changed_;
  std::map<int64_t, Batch> ready_;
  int64_t next_;
  bool stopping_ = false;
  std::exception_ptr error_;
  std::vector<std::thread> workers_;
};

}  // namespace fomo::train
