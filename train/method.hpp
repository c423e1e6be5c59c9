// Continual-learning methods (continual-pretraining.md section 3): which method an
// update uses, its options, and which of CLIP's tensors it trains. No LibTorch
// here: the trainer (train/trainer.cpp, train/adapters.cpp) and the budget
// (train/budget.cpp) both read these rules.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>
#include <yaml-cpp/yaml.h>

#include "core/clip_config.hpp"

namespace fomo::train {

enum class Method {
  kFull,
  kLockedImage,  // the vision tower frozen
  kLockedText,   // the text tower and logit_scale frozen
  kFreeze,       // tensors matching --freeze patterns frozen
  kLora,
  kDora,
  kVera,
  kIa3,
  kBitfit,  // biases only
  kLnfit,   // LayerNorm weights and biases only
  kGalore,  // full finetuning, GaLore's low-rank projected Adam
  kEwc,     // full finetuning plus the online EWC penalty
  kSi,      // full finetuning plus the synaptic-intelligence penalty
};

Method ParseMethod(const std::string& name);  // throws fomo::UsageError
std::string MethodName(Method method);
// The factor on the level's learning rate a method trains with when --lr is not
// given: adapters (LoRA, DoRA, VeRA, IA3) and the selective methods that train a
// few vectors (BitFit, LNFit) start at zero or at one and move far less per step
// than full weights do, so they take 10x (the common practice for PEFT of CLIP;
// continual-pretraining.md names no value). 1 for every other method.
double MethodLrScale(Method method);
const std::vector<std::string>& AdapterTargetNames();  // q k v out mlp-in mlp-out
// "q, v,mlp-in" -> {"q", "v", "mlp-in"}: the lists --targets and --freeze take.
std::vector<std::string> ParseNameList(const std::string& text);

struct MethodOptions {
  Method method = Method::kFull;
  // lora, dora, vera: rank, scale s of the update s B A, and the adapted maps.
  int64_t rank = 4;
  double scale = 1.0;
  std::vector<std::string> targets = AdapterTargetNames();
  // freeze: patterns (see FreezeMatches).
  std::vector<std::string> freeze;
  // galore.
  int64_t galore_rank = 128;
  int64_t galore_gap = 200;
  double galore_scale = 0.25;
  // ewc (online).
  double ewc_lambda = 1.0;
  double ewc_gamma = 1.0;
  int64_t fisher_samples = 50000;
  // si.
  double si_c = 0.5;
  double si_xi = 1.0;
  // PEFT and selective methods keep logit_scale fixed unless asked.
  bool tune_temperature = false;

  // The defaults of the method of that name; throws fomo::UsageError.
  static MethodOptions Named(const std::string& name);

  bool IsAdapter() const;    // lora, dora, vera, ia3: only the adapters train
  bool TrainsTemperature() const;
  // Throws fomo::UsageError naming a bad value (rank, target, pattern, ...).
  void Validate() const;

  // Applies one key of fomo.yaml's defaults (rank, targets, freeze, ...); false
  // when the key is not a method option.
  bool ApplyYaml(const std::string& key, const YAML::Node& value);
  nlohmann::json ToJson() const;
  static MethodOptions FromJson(const nlohmann::json& json);
};

// Whether a freeze pattern covers a tensor. Patterns:
//   vision, text                    a whole tower
//   vision:0-5, text:3              residual blocks of a tower, by index range
//   attention, mlp, embeddings, norms, projections
//                                   module kinds, in both towers or, as
//                                   vision.attention, in one
//   temperature                     logit_scale
//   anything with * ? [ or a tensor name: a glob over canonical tensor names
bool FreezeMatches(const std::string& pattern, const std::string& tensor);
// Throws fomo::UsageError for a pattern that matches none of the model's tensors.
void CheckFreezePatterns(const core::ClipConfig& config, const MethodOptions& options);

// Whether the method gives this tensor a gradient and optimizer state itself
// (adapter methods train their adapters, not the model's tensors).
bool TrainsTensor(const MethodOptions& options, const std::string& tensor);

// The linear maps an adapter method wraps: the weight tensor, the rows of it the
// target covers (in_proj_weight stacks q, k and v), and the target name.
struct AdapterSite {
  std::string weight;  // e.g. visual.transformer.resblocks.0.attn.in_proj_weight
  std::string target;  // q, k, v, out, mlp-in, mlp-out
  int64_t row_begin = 0, row_end = 0;  // rows of weight the target covers
  int64_t in_features = 0;
};
std::vector<AdapterSite> AdapterSites(const core::ClipConfig& config, const MethodOptions& options);

// How many values an update with these options trains (adapters counted as
// their own parameters).
int64_t TrainedParameterCount(const core::ClipConfig& config, const MethodOptions& options);

}  // namespace fomo::train
