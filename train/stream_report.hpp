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
  // Signed distance from the base-to-joint line in the (A_KA, A_ZS) plane,
  // positive above it (more retention than the trade-off line at that A_KA).
  std::optional<double> distance;
  bool collapsed = false;  // A_ZS at chance: the contrastive training collapsed
  Budget budget;
};

struct StreamReport {
  std::string name;  // the stream's; empty for a line of versions
  std::vector<std::string> accumulation_suite, retention_suite;
  std::vector<StreamPoint> points;  // the base, then a point per task done
  std::optional<StreamPoint> joint;  // the joint-training reference (task -1), when trained
  // A_ZS of a model that guesses: the retention suite's mean chance top-1
  // (unset when the suite holds caption datasets). A point within
  // kCollapseFactor of it is flagged collapsed.
  std::optional<double> retention_chance;
  static constexpr double kCollapseFactor = 1.25;
  std::optional<double> mean_accumulation, mean_retention, mean_distance;  // over the tasks
  std::vector<std::string> notes;

  nlohmann::json ToJson() const;
};

// The signed distance of (px, py) from the line through (bx, by) and (jx, jy),
// positive where py is above the line; 0 when the two points coincide.
double SignedDistance(double bx, double by, double jx, double jy, double px, double py);

// A line of versions (the first its base) and an optional joint reference,
// measured the same way: A_KA over the data every later version was trained on
// (test split), A_ZS over the retention suite. What is not stored is evaluated.
StreamReport ReportVersions(Repository& repo, const std::vector<CommitId>& line, const std::optional<CommitId>& joint,
                            Reporter& reporter);

// Measures what is not stored yet (no lock: evaluations are rows of their own)
// and reads the rest from fomo.sqlite. Throws when the stream has no task done.
StreamReport ReportStream(Repository& repo, const std::string& name, Reporter& reporter);

}  // namespace fomo::train
