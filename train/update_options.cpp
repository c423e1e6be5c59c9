#include "train/update_options.hpp"

#include <fmt/format.h>

#include "storage/error.hpp"
#include "storage/yaml_text.hpp"

namespace fomo::train {

namespace {

// Tuned for the built-in setting (tiny on Fashion-MNIST, CPU); ViT-B scale models
// want lr 1e-5 and batch 512 (continual-pretraining.md section 3): set them in
// fomo.yaml.
UpdateOptions BuiltinDefaults(const std::string& level) {
  UpdateOptions o;
  o.schedule.kind = schedules::ScheduleKind::kCosine;
  o.schedule.peak_lr = 1e-4;
  if (level == "pretrain") {
    o.schedule.peak_lr = 1e-3;
    o.budget.steps = 300;
    o.replay = MixtureShares{0, 1, 0};
  } else if (level == "patch") {
    o.budget.steps = 30;
  } else if (level == "minor") {
    o.budget.steps = 100;
  } else {
    o.budget.steps = 300;
  }
  return o;
}

void ApplyKey(UpdateOptions& o, const std::string& key, const YAML::Node& value) {
  if (key == "method") {
    o.method.method = ParseMethod(value.as<std::string>());
  } else if (o.method.ApplyYaml(key, value)) {
    // a method option: rank, targets, freeze, ...
  } else if (key == "schedule") {
    o.schedule.kind = schedules::ParseScheduleKind(value.as<std::string>());
  } else if (key == "lr") {
    o.schedule.peak_lr = value.as<double>();
  } else if (key == "warmup") {
    o.schedule.warmup = value.as<double>();
  } else if (key == "cooldown") {
    o.schedule.cooldown = value.as<double>();
  } else if (key == "steps") {
    o.budget = BudgetRequest{value.as<int64_t>(), std::nullopt, std::nullopt};
  } else if (key == "samples") {
    o.budget = BudgetRequest{std::nullopt, value.as<int64_t>(), std::nullopt};
  } else if (key == "budget") {
    o.budget = BudgetRequest{std::nullopt, std::nullopt, ParseFlops(value.as<std::string>())};
  } else if (key == "replay") {
    o.replay = MixtureShares::Parse(value.as<std::string>());
  } else if (key == "batch_size") {
    o.batch_size = value.as<int64_t>();
    if (o.batch_size <= 0) throw Error("must be positive");
  } else if (key == "seed") {
    o.seed = value.as<uint64_t>();
  } else if (key == "weight_decay") {
    o.weight_decay = value.as<double>();
  } else if (key == "clip_norm") {
    o.clip_norm = value.as<double>();
  } else if (key == "temperature") {
    o.temperature = value.as<double>();
  } else if (key == "device") {
    o.device = value.as<std::string>();
  } else if (key == "merge") {
    if (!value.IsNull()) o.merge = MergeUpdate::Parse(value.as<std::string>());
  } else if (key == "data") {
    o.data = value.IsSequence() ? value.as<std::vector<std::string>>() : std::vector<std::string>{value.as<std::string>()};
  } else {
    throw Error("unknown key");
  }
}

}  // namespace

void UpdateOptions::Apply(const std::string& key, const YAML::Node& value) { ApplyKey(*this, key, value); }

UpdateOptions UpdateOptions::Defaults(const std::string& level, const YAML::Node& document, const std::string& origin) {
  return WithYamlOrigin(origin, [&] {
    UpdateOptions o = BuiltinDefaults(level);
    const YAML::Node section = document.IsMap() ? document["defaults"] : YAML::Node();
    if (!section || section.IsNull()) return o;
    if (!section.IsMap()) throw Error(fmt::format("{}: 'defaults' must be a mapping of levels", origin));
    for (const auto& entry : section) {
      const std::string name = entry.first.as<std::string>();
      if (name != "patch" && name != "minor" && name != "major" && name != "pretrain") {
        throw Error(fmt::format("{}: line {}: unknown level 'defaults.{}' (patch, minor, major, pretrain)", origin,
                                entry.first.Mark().line + 1, name));
      }
      if (!entry.second.IsMap() && !entry.second.IsNull()) {
        throw Error(fmt::format("{}: line {}: 'defaults.{}' must be a mapping", origin, entry.first.Mark().line + 1, name));
      }
    }
    const YAML::Node node = section[level];
    if (!node || node.IsNull()) return o;
    for (const auto& item : node) {
      const std::string key = item.first.as<std::string>();
      try {
        ApplyKey(o, key, item.second);
      } catch (const YAML::Exception&) {
        throw Error(fmt::format("{}: line {}: defaults.{}.{} has a value of the wrong kind", origin,
                                item.second.Mark().line + 1, level, key));
      } catch (const Error& e) {
        throw Error(fmt::format("{}: line {}: defaults.{}.{}: {}", origin, item.first.Mark().line + 1, level, key,
                                e.what()));
      }
    }
    return o;
  });
}

nlohmann::json UpdateOptions::ToJson() const {
  nlohmann::json j;
  j["data"] = data;
  j["method"] = method.ToJson();
  j["schedule"] = {{"name", schedules::ScheduleName(schedule.kind)},
                   {"lr", schedule.peak_lr},
                   {"warmup", schedule.warmup},
                   {"cooldown", schedule.cooldown},
                   {"min_lr_ratio", schedule.min_lr_ratio}};
  nlohmann::json b = nlohmann::json::object();
  if (budget.steps) b["steps"] = *budget.steps;
  if (budget.samples) b["samples"] = *budget.samples;
  if (budget.maf) b["maf"] = *budget.maf;
  j["budget_request"] = b;
  j["replay"] = replay.ToString();
  j["batch_size"] = batch_size;
  j["seed"] = seed;
  j["weight_decay"] = weight_decay;
  j["clip_norm"] = clip_norm;
  j["temperature"] = temperature ? nlohmann::json(*temperature) : nlohmann::json(nullptr);
  j["device"] = device;
  j["merge"] = merge ? nlohmann::json(merge->ToString()) : nlohmann::json(nullptr);
  if (buffer_reservoir) j["buffer_reservoir"] = *buffer_reservoir;
  return j;
}

UpdateOptions UpdateOptions::FromJson(const nlohmann::json& j) {
  UpdateOptions o;
  try {
    o.data = j.at("data").get<std::vector<std::string>>();
    o.method = MethodOptions::FromJson(j.at("method"));
    const auto& s = j.at("schedule");
    o.schedule.kind = schedules::ParseScheduleKind(s.at("name").get<std::string>());
    o.schedule.peak_lr = s.at("lr").get<double>();
    o.schedule.warmup = s.at("warmup").get<double>();
    o.schedule.cooldown = s.at("cooldown").get<double>();
    o.schedule.min_lr_ratio = s.at("min_lr_ratio").get<double>();
    const auto& b = j.at("budget_request");
    if (b.contains("steps")) o.budget.steps = b["steps"].get<int64_t>();
    if (b.contains("samples")) o.budget.samples = b["samples"].get<int64_t>();
    if (b.contains("maf")) o.budget.maf = b["maf"].get<double>();
    o.replay = MixtureShares::Parse(j.at("replay").get<std::string>());
    o.batch_size = j.at("batch_size").get<int64_t>();
    o.seed = j.at("seed").get<uint64_t>();
    o.weight_decay = j.at("weight_decay").get<double>();
    o.clip_norm = j.at("clip_norm").get<double>();
    if (!j.at("temperature").is_null()) o.temperature = j["temperature"].get<double>();
    o.device = j.at("device").get<std::string>();
    if (j.contains("merge") && !j["merge"].is_null()) o.merge = MergeUpdate::Parse(j["merge"].get<std::string>());
    if (j.contains("buffer_reservoir")) o.buffer_reservoir = j["buffer_reservoir"].get<int64_t>();
  } catch (const nlohmann::json::exception& e) {
    throw Error(fmt::format("unreadable training options: {}", e.what()));
  }
  return o;
}

}  // namespace fomo::train
