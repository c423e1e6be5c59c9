// How a stream went (fomo stream report): every version on stream/NAME, from its
// base, measured on the same suites, so the trajectory compares like with like:
// A_KA over the test data of every task of the stream, A_ZS over fomo.yaml's
// retention suite, and their geometric mean.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "storage/budget.hpp"
#include "storage/repository.hpp"
#include "train/reporter.hpp"

namespace fomo::train {

struct StreamPoint {
  int task = 0;  // 0: the base
  CommitId commit;
  std::string version;
  std::vector<std::string> concepts;
  std::optional<double> accumulation, retention, gm;  // A_KA, A_ZS, their geometric mean
  Budget budget;
};

struct StreamReport {
  std::string name;
  std::vector<std::string> accumulation_suite, retention_suite;
  std::vector<StreamPoint> points;  // the base, then a point per task done
  std::optional<double> mean_accumulation, mean_retention;  // over the tasks
  std::vector<std::string> notes;

  nlohmann::json ToJson() const;
};

// Measures what is not stored yet (no lock: evaluations are rows of their own)
// and reads the rest from fomo.sqlite. Throws when the stream has no task done.
StreamReport ReportStream(Repository& repo, const std::string& name, Reporter& reporter);

}  // namespace fomo::train
