#include "train/method.hpp"

#include <fnmatch.h>

#include <algorithm>
#include <cmath>
#include <cstdlib>

#include <fmt/format.h>

#include "storage/error.hpp"

namespace fomo::train {

namespace {

struct MethodEntry {
  Method method;
  const char* name;
};
constexpr MethodEntry kMethods[] = {
    {Method::kFull, "full"},     {Method::kLockedImage, "locked-image"}, {Method::kLockedText, "locked-text"},
    {Method::kFreeze, "freeze"}, {Method::kLora, "lora"},                {Method::kDora, "dora"},
    {Method::kVera, "vera"},     {Method::kIa3, "ia3"},                  {Method::kBitfit, "bitfit"},
    {Method::kLnfit, "lnfit"},   {Method::kGalore, "galore"},            {Method::kEwc, "ewc"},
    {Method::kSi, "si"},
};

bool StartsWith(const std::string& s, const std::string& prefix) { return s.rfind(prefix, 0) == 0; }
bool EndsWith(const std::string& s, const std::string& suffix) {
  return s.size() >= suffix.size() && s.compare(s.size() - suffix.size(), suffix.size(), suffix) == 0;
}

// Where a canonical tensor sits: tower, residual block, module kind.
struct TensorPlace {
  std::string tower;  // vision, text, or "" (logit_scale)
  int block = -1;
  std::string kind;   // attention, mlp, embeddings, norms, projections, temperature
};

TensorPlace PlaceOf(const std::string& name) {
  TensorPlace p;
  if (name == "logit_scale") {
    p.kind = "temperature";
    return p;
  }
  p.tower = StartsWith(name, "visual.") ? "vision" : "text";
  const std::string blocks = p.tower == "vision" ? "visual.transformer.resblocks." : "transformer.resblocks.";
  if (StartsWith(name, blocks)) {
    p.block = std::atoi(name.c_str() + blocks.size());
    if (name.find(".attn.") != std::string::npos) {
      p.kind = "attention";
    } else if (name.find(".mlp.") != std::string::npos) {
      p.kind = "mlp";
    } else {
      p.kind = "norms";
    }
    return p;
  }
  if (name.find("ln_") != std::string::npos) {
    p.kind = "norms";
  } else if (name == "visual.proj" || name == "text_projection") {
    p.kind = "projections";
  } else {
    p.kind = "embeddings";  // class, positional and token embeddings, the patch embedding
  }
  return p;
}

bool IsBias(const std::string& name) { return EndsWith(name, ".bias") || EndsWith(name, "in_proj_bias"); }
bool IsNorm(const std::string& name) { return PlaceOf(name).kind == "norms"; }

const std::vector<std::string> kKinds = {"attention", "mlp", "embeddings", "norms", "projections"};

// "3" or "0-5" -> [first, last]; false when it is neither.
bool ParseRange(const std::string& text, int* first, int* last) {
  const size_t dash = text.find('-');
  auto number = [](const std::string& s, int* out) {
    if (s.empty() || s.find_first_not_of("0123456789") != std::string::npos) return false;
    *out = std::atoi(s.c_str());
    return true;
  };
  if (dash == std::string::npos) return number(text, first) && number(text, last);
  return number(text.substr(0, dash), first) && number(text.substr(dash + 1), last) && *first <= *last;
}

// vision, text, temperature, a kind, vision:0-5, vision.attention; anything else
// is a glob over tensor names.
bool IsKeyword(const std::string& pattern) {
  if (pattern == "vision" || pattern == "text" || pattern == "temperature") return true;
  if (std::find(kKinds.begin(), kKinds.end(), pattern) != kKinds.end()) return true;
  for (const std::string t : {"vision", "text"}) {
    int a, b;
    if (StartsWith(pattern, t + ":") && ParseRange(pattern.substr(t.size() + 1), &a, &b)) return true;
    if (StartsWith(pattern, t + ".") &&
        std::find(kKinds.begin(), kKinds.end(), pattern.substr(t.size() + 1)) != kKinds.end()) {
      return true;
    }
  }
  return false;
}

std::vector<std::string> SplitList(const YAML::Node& value) {
  return value.IsSequence() ? value.as<std::vector<std::string>>() : ParseNameList(value.as<std::string>());
}

}  // namespace

std::vector<std::string> ParseNameList(const std::string& text) {
  std::vector<std::string> out;
  std::string part;
  for (char c : text + ",") {
    if (c == ',') {
      if (!part.empty()) out.push_back(part);
      part.clear();
    } else if (c != ' ') {
      part += c;
    }
  }
  return out;
}

Method ParseMethod(const std::string& name) {
  for (const auto& m : kMethods) {
    if (name == m.name) return m.method;
  }
  std::vector<std::string> names;
  for (const auto& m : kMethods) names.push_back(m.name);
  throw UsageError(fmt::format("unknown --method '{}' ({})", name, fmt::join(names, ", ")));
}

double MethodLrScale(Method method) {
  switch (method) {
    case Method::kLora:
    case Method::kDora:
    case Method::kVera:
    case Method::kIa3:
    case Method::kBitfit:
    case Method::kLnfit:
      return 10.0;
    default:
      return 1.0;
  }
}

std::string MethodName(Method method) {
  for (const auto& m : kMethods) {
    if (m.method == method) return m.name;
  }
  return "?";
}

const std::vector<std::string>& AdapterTargetNames() {
  static const std::vector<std::string> names = {"q", "k", "v", "out", "mlp-in", "mlp-out"};
  return names;
}

MethodOptions MethodOptions::Named(const std::string& name) {
  MethodOptions o;
  o.method = ParseMethod(name);
  return o;
}

bool MethodOptions::IsAdapter() const {
  return method == Method::kLora || method == Method::kDora || method == Method::kVera || method == Method::kIa3;
}

bool MethodOptions::TrainsTemperature() const {
  switch (method) {
    case Method::kFull:
    case Method::kLockedImage:
    case Method::kGalore:
    case Method::kEwc:
    case Method::kSi:
      return true;
    case Method::kLockedText:
      return false;
    default:
      return tune_temperature;
  }
}

void MethodOptions::Validate() const {
  if (rank <= 0) throw UsageError(fmt::format("--rank must be positive, not {}", rank));
  if (!(scale > 0) || !std::isfinite(scale)) throw UsageError("--adapter-scale must be a positive number");
  if (targets.empty()) throw UsageError("--targets names no target (q, k, v, out, mlp-in, mlp-out)");
  for (const auto& t : targets) {
    const auto& known = AdapterTargetNames();
    if (std::find(known.begin(), known.end(), t) == known.end()) {
      throw UsageError(fmt::format("unknown adapter target '{}' (q, k, v, out, mlp-in, mlp-out)", t));
    }
  }
  if (method == Method::kFreeze && freeze.empty()) {
    throw UsageError("--method freeze needs --freeze PATTERN (e.g. vision:0-5, attention, embeddings)");
  }
  if (method != Method::kFreeze && !freeze.empty()) throw UsageError("--freeze goes with --method freeze");
  if (galore_rank <= 0 || galore_gap <= 0) throw UsageError("--galore-rank and --galore-gap must be positive");
  if (!(galore_scale > 0)) throw UsageError("--galore-scale must be positive");
  if (!(ewc_lambda >= 0) || !(ewc_gamma >= 0)) throw UsageError("--ewc-lambda and --ewc-gamma must be >= 0");
  if (fisher_samples <= 0) throw UsageError("--fisher-samples must be positive");
  if (!(si_c >= 0) || !(si_xi > 0)) throw UsageError("--si-c must be >= 0 and --si-xi positive");
}

bool MethodOptions::ApplyYaml(const std::string& key, const YAML::Node& value) {
  if (key == "rank") {
    rank = value.as<int64_t>();
  } else if (key == "adapter_scale") {
    scale = value.as<double>();
  } else if (key == "targets") {
    targets = SplitList(value);
  } else if (key == "freeze") {
    freeze = SplitList(value);
  } else if (key == "galore_rank") {
    galore_rank = value.as<int64_t>();
  } else if (key == "galore_gap") {
    galore_gap = value.as<int64_t>();
  } else if (key == "galore_scale") {
    galore_scale = value.as<double>();
  } else if (key == "ewc_lambda") {
    ewc_lambda = value.as<double>();
  } else if (key == "ewc_gamma") {
    ewc_gamma = value.as<double>();
  } else if (key == "fisher_samples") {
    fisher_samples = value.as<int64_t>();
  } else if (key == "si_c") {
    si_c = value.as<double>();
  } else if (key == "si_xi") {
    si_xi = value.as<double>();
  } else if (key == "tune_temperature") {
    tune_temperature = value.as<bool>();
  } else {
    return false;
  }
  return true;
}

nlohmann::json MethodOptions::ToJson() const {
  nlohmann::json j = {{"name", MethodName(method)}, {"tune_temperature", tune_temperature}};
  if (IsAdapter() && method != Method::kIa3) {
    j["rank"] = rank;
    j["scale"] = scale;
    j["targets"] = targets;
  }
  if (method == Method::kFreeze) j["freeze"] = freeze;
  if (method == Method::kGalore) j["galore"] = {{"rank", galore_rank}, {"gap", galore_gap}, {"scale", galore_scale}};
  if (method == Method::kEwc) j["ewc"] = {{"lambda", ewc_lambda}, {"gamma", ewc_gamma}, {"fisher_samples", fisher_samples}};
  if (method == Method::kSi) j["si"] = {{"c", si_c}, {"xi", si_xi}};
  return j;
}

MethodOptions MethodOptions::FromJson(const nlohmann::json& j) {
  MethodOptions o;
  if (j.is_string()) {  // recipes written before methods had options
    o.method = ParseMethod(j.get<std::string>());
    return o;
  }
  o.method = ParseMethod(j.at("name").get<std::string>());
  o.tune_temperature = j.value("tune_temperature", false);
  if (j.contains("rank")) o.rank = j["rank"].get<int64_t>();
  if (j.contains("scale")) o.scale = j["scale"].get<double>();
  if (j.contains("targets")) o.targets = j["targets"].get<std::vector<std::string>>();
  if (j.contains("freeze")) o.freeze = j["freeze"].get<std::vector<std::string>>();
  if (j.contains("galore")) {
    o.galore_rank = j["galore"].at("rank").get<int64_t>();
    o.galore_gap = j["galore"].at("gap").get<int64_t>();
    o.galore_scale = j["galore"].at("scale").get<double>();
  }
  if (j.contains("ewc")) {
    o.ewc_lambda = j["ewc"].at("lambda").get<double>();
    o.ewc_gamma = j["ewc"].at("gamma").get<double>();
    o.fisher_samples = j["ewc"].at("fisher_samples").get<int64_t>();
  }
  if (j.contains("si")) {
    o.si_c = j["si"].at("c").get<double>();
    o.si_xi = j["si"].at("xi").get<double>();
  }
  return o;
}

bool FreezeMatches(const std::string& pattern, const std::string& tensor) {
  if (!IsKeyword(pattern)) return fnmatch(pattern.c_str(), tensor.c_str(), 0) == 0;
  const TensorPlace place = PlaceOf(tensor);
  if (pattern == "temperature") return place.kind == "temperature";
  if (pattern == "vision" || pattern == "text") return place.tower == pattern;
  if (std::find(kKinds.begin(), kKinds.end(), pattern) != kKinds.end()) return place.kind == pattern;
  const size_t colon = pattern.find(':');
  if (colon != std::string::npos) {
    int first = 0, last = -1;
    ParseRange(pattern.substr(colon + 1), &first, &last);
    return place.tower == pattern.substr(0, colon) && place.block >= first && place.block <= last;
  }
  const size_t dot = pattern.find('.');
  if (dot != std::string::npos) return place.tower == pattern.substr(0, dot) && place.kind == pattern.substr(dot + 1);
  return false;
}

void CheckFreezePatterns(const core::ClipConfig& config, const MethodOptions& o) {
  const auto tensors = config.ExpectedTensors();
  for (const auto& p : o.freeze) {
    const bool matches = std::any_of(tensors.begin(), tensors.end(), [&](const auto& t) { return FreezeMatches(p, t.first); });
    if (!matches) {
      throw UsageError(fmt::format("--freeze '{}' matches no tensor of this model (vision, text, vision:0-5, text:3, "
                                   "attention, mlp, embeddings, norms, projections, temperature, or a glob over "
                                   "tensor names such as 'visual.transformer.resblocks.*.mlp.*')",
                                   p));
    }
  }
}

bool TrainsTensor(const MethodOptions& o, const std::string& tensor) {
  if (tensor == "logit_scale") {
    if (!o.TrainsTemperature()) return false;
    if (o.method == Method::kFreeze) {
      for (const auto& p : o.freeze) {
        if (FreezeMatches(p, tensor)) return false;
      }
    }
    return true;
  }
  switch (o.method) {
    case Method::kFull:
    case Method::kGalore:
    case Method::kEwc:
    case Method::kSi:
      return true;
    case Method::kLockedImage:
      return !StartsWith(tensor, "visual.");
    case Method::kLockedText:
      return StartsWith(tensor, "visual.");
    case Method::kFreeze:
      for (const auto& p : o.freeze) {
        if (FreezeMatches(p, tensor)) return false;
      }
      return true;
    case Method::kBitfit:
      return IsBias(tensor);
    case Method::kLnfit:
      return IsNorm(tensor);
    case Method::kLora:
    case Method::kDora:
    case Method::kVera:
    case Method::kIa3:
      return false;
  }
  return false;
}

std::vector<AdapterSite> AdapterSites(const core::ClipConfig& config, const MethodOptions& o) {
  std::vector<AdapterSite> sites;
  if (!o.IsAdapter()) return sites;
  auto wants = [&](const char* target) {
    if (o.method == Method::kIa3) return std::string(target) == "k" || std::string(target) == "v";
    return std::find(o.targets.begin(), o.targets.end(), target) != o.targets.end();
  };
  auto tower = [&](const std::string& prefix, const core::TowerConfig& t) {
    const int64_t w = t.width, m = t.mlp_dim;
    for (int i = 0; i < t.layers; ++i) {
      const std::string p = fmt::format("{}{}.", prefix, i);
      const char* parts[] = {"q", "k", "v"};
      for (int k = 0; k < 3; ++k) {
        if (wants(parts[k])) sites.push_back({p + "attn.in_proj_weight", parts[k], k * w, (k + 1) * w, w});
      }
      if (o.method == Method::kIa3) {
        // The MLP's inner activations: columns of c_proj, as rows of its transpose.
        sites.push_back({p + "mlp.c_proj.weight", "mlp-inner", 0, m, w});
        continue;
      }
      if (wants("out")) sites.push_back({p + "attn.out_proj.weight", "out", 0, w, w});
      if (wants("mlp-in")) sites.push_back({p + "mlp.c_fc.weight", "mlp-in", 0, m, w});
      if (wants("mlp-out")) sites.push_back({p + "mlp.c_proj.weight", "mlp-out", 0, w, m});
    }
  };
  tower("visual.transformer.resblocks.", config.vision);
  tower("transformer.resblocks.", config.text);
  return sites;
}

int64_t TrainedParameterCount(const core::ClipConfig& config, const MethodOptions& o) {
  int64_t count = 0;
  for (const auto& [name, shape] : config.ExpectedTensors()) {
    if (TrainsTensor(o, name)) count += static_cast<int64_t>(NumElements(shape));
  }
  for (const auto& site : AdapterSites(config, o)) {
    const int64_t rows = site.row_end - site.row_begin;
    switch (o.method) {
      case Method::kLora: count += o.rank * (rows + site.in_features); break;
      case Method::kDora: count += o.rank * (rows + site.in_features) + rows; break;
      case Method::kVera: count += rows + o.rank; break;
      case Method::kIa3: count += rows; break;
      default: break;
    }
  }
  return count;
}

}  // namespace fomo::train
