// fomo.yaml: storage settings, datasets, suites, eval settings and the training
// defaults of each update level.
#include "core/dataset.hpp"
#include "core/evaluation.hpp"
#include "fuzz_target.hpp"
#include "storage/repo_config.hpp"
#include "train/update_options.hpp"

FOMO_FUZZ_TARGET(fomo_yaml) {
  auto config = fomo::RepoConfig::Parse(input, "fomo.yaml");
  fomo::core::DatasetRegistry::FromYaml(config.document, "fomo.yaml");
  fomo::core::Suites::FromYaml(config.document, "fomo.yaml");
  fomo::core::EvalSettings::FromYaml(config.document, "fomo.yaml");
  for (const char* level : {"patch", "minor", "major"}) {
    fomo::train::UpdateOptions::Defaults(level, config.document, "fomo.yaml");
  }
}
