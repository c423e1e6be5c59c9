#include "merge/merge_recipe.hpp"

#include <fnmatch.h>

#include <algorithm>
#include <iterator>

#include <fmt/format.h>
#include <yaml-cpp/yaml.h>

#include "storage/error.hpp"
#include "storage/yaml_text.hpp"

namespace fomo::merge {

namespace {

[[noreturn]] void Fail(const std::string& origin, const YAML::Node& node, const std::string& what) {
  throw Error(fmt::format("{}: line {}: {}", origin, node.Mark().line + 1, what));
}

void ApplyParameters(const YAML::Node& node, MergeParams& p, const std::string& origin) {
  if (!node.IsMap()) Fail(origin, node, "'parameters' must be a mapping");
  for (const auto& item : node) {
    const std::string key = item.first.as<std::string>();
    try {
      if (key == "lambda") p.lambda = item.second.as<double>();
      else if (key == "density") p.density = item.second.as<double>();
      else if (key == "drop") p.drop = item.second.as<double>();
      else if (key == "seed") p.seed = item.second.as<uint64_t>();
      else if (key == "t") p.t = item.second.as<double>();
      else if (key == "dare_ties") p.dare_ties = item.second.as<bool>();
      else Fail(origin, item.first, fmt::format("unknown parameter '{}' (lambda, density, drop, seed, t, dare_ties)", key));
    } catch (const YAML::Exception&) {
      Fail(origin, item.second, fmt::format("parameter '{}' has a value of the wrong kind", key));
    }
  }
}

std::vector<double> Weights(const YAML::Node& node, size_t models, const std::string& origin) {
  if (!node.IsSequence()) Fail(origin, node, "'weights' must be a list of numbers");
  std::vector<double> weights;
  try {
    for (const auto& item : node) weights.push_back(item.as<double>());
  } catch (const YAML::Exception&) {
    Fail(origin, node, "'weights' must be a list of numbers");
  }
  if (weights.size() != models) Fail(origin, node, fmt::format("{} weights for {} models", weights.size(), models));
  return weights;
}

}  // namespace

namespace {

// mergekit's merge_method names, and what fomo calls them.
struct MergekitMethod {
  const char* name;
  MergeMethod method;
  bool dare_ties;
};
constexpr MergekitMethod kMergekitMethods[] = {
    {"linear", MergeMethod::kLinear, false},         {"task_arithmetic", MergeMethod::kTaskArithmetic, false},
    {"ties", MergeMethod::kTies, false},             {"dare_ties", MergeMethod::kDare, true},
    {"dare_linear", MergeMethod::kDare, false},      {"slerp", MergeMethod::kSlerp, false},
    {"model_stock", MergeMethod::kModelStock, false},
};

double Number(const YAML::Node& node, const std::string& what, const std::string& origin) {
  if (node.IsSequence() || node.IsMap()) {
    Fail(origin, node, fmt::format("{}: mergekit's gradients and filters (a list of values) are not supported; give "
                                   "one number, and fomo's 'overrides' (pattern, weights, parameters) for tensor groups",
                                   what));
  }
  try {
    return node.as<double>();
  } catch (const YAML::Exception&) {
    Fail(origin, node, fmt::format("{} must be a number", what));
  }
}

// mergekit keys that have no meaning for fomo's whole-version CLIP merges.
void RefuseUnsupported(const std::string& key, const YAML::Node& at, const std::string& origin) {
  if (key == "slices") {
    Fail(origin, at, "mergekit's 'slices' (layer ranges taken from several models) is not supported: fomo merges whole "
                     "versions; list them under 'models'");
  }
  if (key == "tokenizer_source" || key == "tokenizer") {
    Fail(origin, at, "mergekit's tokenizer merging is not supported: every fomo version has the CLIP tokenizer");
  }
  if (key == "chat_template" || key == "out_dtype") {
    Fail(origin, at, fmt::format("mergekit's '{}' is not supported", key));
  }
}

struct ModelEntry {
  std::string revision;
  std::optional<double> weight;
  std::optional<double> density;
};

ModelEntry ParseModel(const YAML::Node& model, const std::string& origin) {
  if (model.IsScalar()) return {model.as<std::string>(), std::nullopt, std::nullopt};
  if (!model.IsMap() || !model["model"]) Fail(origin, model, "each model is a revision or {model: REV, weight: W}");
  ModelEntry entry{model["model"].as<std::string>(), std::nullopt, std::nullopt};
  for (const auto& field : model) {
    const std::string name = field.first.as<std::string>();
    if (name == "model") continue;
    if (name == "weight") {
      entry.weight = Number(field.second, "a weight", origin);
    } else if (name == "parameters") {  // mergekit: {weight, density}
      if (field.second.IsNull()) continue;
      if (!field.second.IsMap()) Fail(origin, field.second, "a model's 'parameters' must be a mapping");
      for (const auto& p : field.second) {
        const std::string pname = p.first.as<std::string>();
        if (pname == "weight") entry.weight = Number(p.second, "weight", origin);
        else if (pname == "density") entry.density = Number(p.second, "density", origin);
        else Fail(origin, p.first, fmt::format("unknown model parameter '{}' (weight, density)", pname));
      }
    } else {
      Fail(origin, field.first, fmt::format("unknown model key '{}' (model, weight, parameters)", name));
    }
  }
  return entry;
}

}  // namespace

MergeRecipe MergeRecipe::Parse(const std::string& text, const std::string& origin) {
  return WithYamlOrigin(origin, [&] {
    const YAML::Node doc = LoadYamlText(text, origin);
    if (!doc.IsMap()) throw Error(fmt::format("{}: a merge recipe is a mapping (method, models, ...)", origin));
    MergeRecipe recipe;
    YAML::Node overrides;
    std::optional<YAML::Node> method_node, base_node;
    std::vector<ModelEntry> models;
    bool mergekit = false;  // merge_method / base_model: mergekit's meaning of the models list
    std::optional<double> top_weight;
    for (const auto& item : doc) {
      const std::string key = item.first.as<std::string>();
      const YAML::Node& value = item.second;
      RefuseUnsupported(key, item.first, origin);
      if (key == "method" || key == "merge_method") {
        if (method_node) Fail(origin, item.first, "give the method once (method or merge_method)");
        method_node = value;
        mergekit = mergekit || key == "merge_method";
      } else if (key == "base" || key == "base_model") {
        if (base_node) Fail(origin, item.first, "give the base once (base or base_model)");
        base_node = value;
        mergekit = mergekit || key == "base_model";
      } else if (key == "models") {
        if (!value.IsSequence() || value.size() == 0) Fail(origin, value, "'models' must be a non-empty list");
        if (value.size() > kMaxMergeModels) {
          Fail(origin, value, fmt::format("{} models; a merge takes at most {}", value.size(), kMaxMergeModels));
        }
        for (const auto& model : value) models.push_back(ParseModel(model, origin));
      } else if (key == "parameters") {
        if (!value.IsMap()) Fail(origin, value, "'parameters' must be a mapping");
        YAML::Node own(YAML::NodeType::Map);
        for (const auto& p : value) {
          const std::string name = p.first.as<std::string>();
          if (p.second.IsSequence() || p.second.IsMap()) Number(p.second, name, origin);  // says what is unsupported
          if (name == "weight") {
            top_weight = Number(p.second, "weight", origin);  // mergekit: the default of every model
          } else if (name == "normalize") {
            // fomo's weighted merges always normalise the weights, as mergekit does by default.
            if (!p.second.as<bool>(true)) Fail(origin, p.first, "'normalize: false' is not supported: fomo normalises merge weights");
          } else if (name == "int8_mask") {
            // A memory saving of mergekit's; fomo merges one tensor at a time anyway.
          } else {
            own[name] = p.second;
          }
        }
        ApplyParameters(own, recipe.params, origin);
      } else if (key == "dtype") {
        // mergekit's computation dtype: fomo computes in float with double
        // accumulation and keeps the versions' dtype, which any of these allows.
        const std::string dtype = value.as<std::string>();
        static const char* const kKnown[] = {"float32", "float16", "bfloat16", "fp32", "fp16", "bf16"};
        if (std::find(std::begin(kKnown), std::end(kKnown), dtype) == std::end(kKnown)) {
          Fail(origin, value, fmt::format("unknown dtype '{}' (float32, float16, bfloat16)", dtype));
        }
      } else if (key == "overrides") {
        overrides = value;
      } else {
        Fail(origin, item.first,
             fmt::format("unknown key '{}' (method, base, models, parameters, overrides; mergekit's merge_method, "
                         "base_model, dtype)",
                         key));
      }
    }
    if (method_node) {
      const std::string name = method_node->as<std::string>();
      bool found = false;
      for (const auto& m : kMergekitMethods) {
        if (name == m.name) {
          recipe.method = m.method;
          recipe.params.dare_ties = recipe.params.dare_ties || m.dare_ties;
          found = true;
        }
      }
      if (!found) {
        try {
          recipe.method = ParseMergeMethod(name);
        } catch (const Error& e) {
          Fail(origin, *method_node, e.what());
        }
      }
    }
    if (base_node) recipe.base = base_node->as<std::string>();
    if (models.empty()) throw Error(fmt::format("{}: the recipe names no models", origin));

    if (mergekit && recipe.base) {
      // mergekit lists the base among the models (without parameters) and takes
      // the task vectors of the others; its slerp goes from the base (t = 0) to
      // the other model.
      std::vector<ModelEntry> others;
      for (const auto& m : models) {
        if (m.revision != *recipe.base) others.push_back(m);
      }
      if (recipe.method == MergeMethod::kSlerp) {
        others.insert(others.begin(), ModelEntry{*recipe.base, std::nullopt, std::nullopt});
        recipe.base.reset();
      } else if (recipe.method == MergeMethod::kLinear) {
        recipe.base.reset();  // mergekit's linear ignores base_model
        others = models;
      }
      models = others;
      if (models.empty()) throw Error(fmt::format("{}: the recipe names no models besides its base", origin));
    }
    bool any_weight = false;
    std::optional<double> density;
    for (const auto& m : models) {
      recipe.models.push_back(m.revision);
      recipe.params.weights.push_back(m.weight.value_or(top_weight.value_or(1.0)));
      any_weight = any_weight || m.weight || top_weight;
      if (m.density) {
        if (density && *density != *m.density) {
          throw Error(fmt::format("{}: per-model densities ({} and {}) are not supported: fomo keeps one density for "
                                  "every model (parameters: {{density: D}})",
                                  origin, *density, *m.density));
        }
        density = m.density;
      }
    }
    if (density) {
      // mergekit's density is the share kept; DARE's drop rate is the rest.
      if (recipe.method == MergeMethod::kDare) {
        recipe.params.drop = 1.0 - *density;
      } else {
        recipe.params.density = *density;
      }
    }
    if (!any_weight) recipe.params.weights.clear();
    if (overrides && !overrides.IsNull()) {
      if (!overrides.IsSequence()) Fail(origin, overrides, "'overrides' must be a list");
      for (const auto& entry : overrides) {
        if (!entry.IsMap() || !entry["pattern"]) Fail(origin, entry, "each override needs a 'pattern'");
        Override o{entry["pattern"].as<std::string>(), recipe.params};
        for (const auto& field : entry) {
          const std::string name = field.first.as<std::string>();
          if (name == "pattern") continue;
          if (name == "weights") o.params.weights = Weights(field.second, recipe.models.size(), origin);
          else if (name == "parameters") ApplyParameters(field.second, o.params, origin);
          else Fail(origin, field.first, fmt::format("unknown override key '{}' (pattern, weights, parameters)", name));
        }
        recipe.overrides.push_back(std::move(o));
      }
    }
    return recipe;
  });
}

const MergeParams& MergeRecipe::ParamsFor(const std::string& tensor_name) const {
  for (const auto& o : overrides) {
    if (::fnmatch(o.pattern.c_str(), tensor_name.c_str(), 0) == 0) return o.params;
  }
  return params;
}

}  // namespace fomo::merge
