// --require expressions, parsed and evaluated over a version's metrics.
#include <nlohmann/json.hpp>

#include "core/gate.hpp"
#include "fuzz_target.hpp"

FOMO_FUZZ_TARGET(gate) {
  auto gate = fomo::core::Gate::Parse(input);
  static const nlohmann::json metrics = nlohmann::json::parse(R"({
    "datasets": {"fmnist": {"top1": 0.8, "top5": 0.97}, "fmnist:5-9": {"top1": 0.6},
                 "pairs": {"recall@1": 0.2, "recall@5": 0.5}},
    "summary": {"adaptation": 0.6, "retention": 0.8, "gm": 0.69}})");
  fomo::core::GateInputs inputs{metrics, metrics, nlohmann::json::object()};
  gate.Evaluate(inputs);
}
