#include "merge/merge_recipe.hpp"

#include <fnmatch.h>

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

MergeRecipe MergeRecipe::Parse(const std::string& text, const std::string& origin) {
  return WithYamlOrigin(origin, [&] {
    const YAML::Node doc = LoadYamlText(text, origin);
    if (!doc.IsMap()) throw Error(fmt::format("{}: a merge recipe is a mapping (method, models, ...)", origin));
    MergeRecipe recipe;
    YAML::Node overrides;
    bool any_weight = false;
    for (const auto& item : doc) {
      const std::string key = item.first.as<std::string>();
      const YAML::Node& value = item.second;
      if (key == "method") {
        recipe.method = ParseMergeMethod(value.as<std::string>());
      } else if (key == "base") {
        recipe.base = value.as<std::string>();
      } else if (key == "models") {
        if (!value.IsSequence() || value.size() == 0) Fail(origin, value, "'models' must be a non-empty list");
        if (value.size() > kMaxMergeModels) {
          Fail(origin, value, fmt::format("{} models; a merge takes at most {}", value.size(), kMaxMergeModels));
        }
        for (const auto& model : value) {
          if (model.IsScalar()) {
            recipe.models.push_back(model.as<std::string>());
            recipe.params.weights.push_back(1.0);
            continue;
          }
          if (!model.IsMap() || !model["model"]) Fail(origin, model, "each model is a revision or {model: REV, weight: W}");
          for (const auto& field : model) {
            const std::string name = field.first.as<std::string>();
            if (name != "model" && name != "weight") Fail(origin, field.first, fmt::format("unknown model key '{}' (model, weight)", name));
          }
          recipe.models.push_back(model["model"].as<std::string>());
          double weight = 1.0;
          if (model["weight"]) {
            try {
              weight = model["weight"].as<double>();
            } catch (const YAML::Exception&) {
              Fail(origin, model["weight"], "a weight must be a number");
            }
            any_weight = true;
          }
          recipe.params.weights.push_back(weight);
        }
      } else if (key == "parameters") {
        ApplyParameters(value, recipe.params, origin);
      } else if (key == "overrides") {
        overrides = value;
      } else {
        Fail(origin, item.first, fmt::format("unknown key '{}' (method, base, models, parameters, overrides)", key));
      }
    }
    if (recipe.models.empty()) throw Error(fmt::format("{}: the recipe names no models", origin));
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
