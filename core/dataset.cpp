// Datasets by name (fmnist and fomo.yaml's), and the selectors that pick from
// them. Loading their images is in image_sets.cpp.
#include "core/dataset.hpp"

#include <algorithm>
#include <set>

#include <fmt/format.h>

#include "core/dataset_paths.hpp"
#include "storage/error.hpp"
#include "storage/yaml_text.hpp"

namespace fomo::core {

namespace {

std::vector<std::string> StringList(const YAML::Node& node, const std::string& what, const std::string& origin) {
  if (!node.IsSequence()) throw Error(fmt::format("{}: line {}: {} must be a list", origin, node.Mark().line + 1, what));
  std::vector<std::string> out;
  for (const auto& item : node) out.push_back(item.as<std::string>());
  return out;
}

std::vector<std::string> Split(const std::string& s, char sep) {
  std::vector<std::string> out;
  size_t start = 0;
  for (;;) {
    size_t end = s.find(sep, start);
    out.push_back(s.substr(start, end == std::string::npos ? std::string::npos : end - start));
    if (end == std::string::npos) return out;
    start = end + 1;
  }
}

bool AllDigits(const std::string& s) {
  return !s.empty() && std::all_of(s.begin(), s.end(), [](char c) { return c >= '0' && c <= '9'; });
}

}  // namespace

std::string FillTemplate(const std::string& tmpl, const std::string& class_name) {
  std::string out = tmpl;
  size_t at = out.find("{}");
  if (at != std::string::npos) out.replace(at, 2, class_name);
  return out;
}

DatasetSpec BuiltinFashionMnist() {
  return DatasetSpec{
      "fmnist",
      "idx",
      "/usr/share/datasets/fashion-mnist",
      {"t-shirt/top", "trouser", "pullover", "dress", "coat", "sandal", "shirt", "sneaker", "bag", "ankle boot"},
      {"a photo of a {}.", "a photo of the {}, a type of clothing.", "a black and white photo of a {}.",
       "a low resolution photo of a {}."},
  };
}

DatasetRegistry DatasetRegistry::FromYaml(const YAML::Node& document, const std::string& origin) {
  return WithYamlOrigin(origin, [&] {
    DatasetRegistry registry;
    registry.specs_["fmnist"] = BuiltinFashionMnist();
    const YAML::Node datasets = document.IsMap() ? document["datasets"] : YAML::Node();
    if (!datasets || datasets.IsNull()) return registry;
    if (!datasets.IsMap()) throw Error(fmt::format("{}: 'datasets' must be a mapping", origin));
    for (const auto& item : datasets) {
      std::string name = item.first.as<std::string>();
      const YAML::Node& node = item.second;
      DatasetSpec spec = name == "fmnist" ? BuiltinFashionMnist() : DatasetSpec{name, "idx", "", {}, {"a photo of a {}."}};
      if (!node.IsMap()) throw Error(fmt::format("{}: line {}: dataset '{}' must be a mapping", origin, node.Mark().line + 1, name));
      for (const auto& field : node) {
        std::string key = field.first.as<std::string>();
        try {
          if (key == "kind") {
            spec.kind = field.second.as<std::string>();
            static const std::set<std::string> kKinds = {"idx", "folder", "csv", "tsv", "wds"};
            if (!kKinds.count(spec.kind)) {
              throw Error(fmt::format("{}: line {}: dataset '{}': unknown kind '{}' (idx, folder, csv, tsv, wds)",
                                      origin, field.second.Mark().line + 1, name, spec.kind));
            }
          } else if (key == "path_column") {
            spec.path_column = field.second.as<std::string>();
          } else if (key == "caption_column") {
            spec.caption_column = field.second.as<std::string>();
          } else if (key == "label_column") {
            spec.label_column = field.second.as<std::string>();
          } else if (key == "time_column") {
            spec.time_column = field.second.as<std::string>();
          } else if (key == "max_bad_share") {
            spec.max_bad_share = field.second.as<double>();
            if (!(spec.max_bad_share >= 0 && spec.max_bad_share <= 1)) throw YAML::Exception(field.second.Mark(), "range");
          } else if (key == "max_image_bytes") {
            spec.max_image_bytes = field.second.as<uint64_t>();
            if (spec.max_image_bytes == 0) throw YAML::Exception(field.second.Mark(), "range");
          } else if (key == "path") {
            spec.path = field.second.as<std::string>();
          } else if (key == "classes") {
            spec.classes = StringList(field.second, "datasets." + name + ".classes", origin);
          } else if (key == "splits") {
            if (!field.second.IsMap()) throw YAML::Exception(field.second.Mark(), "splits");
            for (const auto& s : field.second) {
              const std::string split = s.first.as<std::string>();
              if (split != "train" && split != "test") {
                throw Error(fmt::format("{}: line {}: dataset '{}': splits are train and test, not '{}'", origin,
                                        s.first.Mark().line + 1, name, split));
              }
              spec.splits[split] = s.second.as<std::string>();
            }
          } else if (key == "year") {
            spec.year = field.second.as<int>();
          } else if (key == "templates") {
            spec.templates = StringList(field.second, "datasets." + name + ".templates", origin);
          } else {
            throw Error(fmt::format("{}: line {}: unknown key 'datasets.{}.{}'", origin, field.first.Mark().line + 1,
                                    name, key));
          }
        } catch (const YAML::Exception&) {
          const char* expected = key == "max_image_bytes" ? " (a positive byte count)"
                                 : key == "year"          ? " (a whole number)"
                                 : key == "max_bad_share" ? " (a share from 0 to 1)"
                                 : key == "splits"        ? " (a mapping: train: PATH, test: PATH)"
                                                          : "";
          throw Error(fmt::format("{}: line {}: 'datasets.{}.{}' has a value of the wrong kind or range{}", origin,
                                  field.second.Mark().line + 1, name, key, expected));
        }
      }
      if ((node["label_column"] || node["time_column"]) && spec.kind != "csv" && spec.kind != "tsv") {
        throw Error(fmt::format("{}: dataset '{}': label_column and time_column are columns of csv and tsv tables",
                                origin, name));
      }
      if (spec.path.empty() && spec.splits.empty()) {
        throw Error(fmt::format("{}: dataset '{}' needs a path (or splits)", origin, name));
      }
      if (!spec.splits.empty() && spec.kind == "idx") {
        throw Error(fmt::format("{}: dataset '{}': idx datasets find their splits themselves; 'splits' is for csv, "
                                "tsv, wds and folder",
                                origin, name));
      }
      if (spec.path.empty()) spec.path = spec.splits.begin()->second.parent_path();
      if (spec.classes.empty() && spec.kind == "folder") {
        fs::path root = IsDirectory(spec.path / "test") ? spec.path / "test" : spec.path;
        std::error_code ec;
        for (const auto& entry : fs::directory_iterator(root, ec)) {
          if (entry.is_directory()) spec.classes.push_back(entry.path().filename().string());
        }
        std::sort(spec.classes.begin(), spec.classes.end());
      }
      if (spec.classes.empty() && spec.kind == "idx") {
        throw Error(fmt::format("{}: dataset '{}' needs its class names", origin, name));
      }
      for (const auto& t : spec.templates) {
        if (t.find("{}") == std::string::npos) {
          throw Error(fmt::format("{}: dataset '{}': template '{}' has no {{}}", origin, name, t));
        }
      }
      registry.specs_[name] = spec;
    }
    return registry;
  });
}

const DatasetSpec& DatasetRegistry::Get(const std::string& name) const {
  auto it = specs_.find(name);
  if (it == specs_.end()) {
    std::vector<std::string> names = Names();
    throw Error(fmt::format("unknown dataset '{}' (known: {})", name, fmt::join(names, ", ")));
  }
  return it->second;
}

std::vector<std::string> DatasetRegistry::Names() const {
  std::vector<std::string> names;
  for (const auto& [name, spec] : specs_) names.push_back(name);
  return names;
}

Selector Selector::Parse(const std::string& text, const DatasetRegistry& registry) {
  Selector s;
  s.text = text;
  std::string rest = text;
  if (size_t hash = rest.find('#'); hash != std::string::npos) {
    std::string cap = rest.substr(hash + 1);
    if (!AllDigits(cap) || std::stoll(cap) <= 0) throw UsageError(fmt::format("selector '{}': bad sample cap '{}'", text, cap));
    s.cap = std::stoll(cap);
    rest = rest.substr(0, hash);
  }
  if (size_t at = rest.find('@'); at != std::string::npos) {
    s.split = rest.substr(at + 1);
    if (s.split != "train" && s.split != "test") {
      throw UsageError(fmt::format("selector '{}': split must be train or test, not '{}'", text, s.split));
    }
    rest = rest.substr(0, at);
  }
  std::string classes;
  if (size_t colon = rest.find(':'); colon != std::string::npos) {
    classes = rest.substr(colon + 1);
    rest = rest.substr(0, colon);
  }
  s.dataset = rest;
  const DatasetSpec& spec = registry.Get(s.dataset);
  if (!classes.empty() && spec.has_captions()) {
    throw UsageError(fmt::format("selector '{}': '{}' is a caption dataset and has no classes", text, s.dataset));
  }
  const int n = static_cast<int>(spec.classes.size());
  std::set<int> picked;
  bool by_name = !classes.empty();
  if (!classes.empty()) {
    for (const std::string& part : Split(classes, ',')) {
      size_t dash = part.find('-');
      if (dash != std::string::npos && AllDigits(part.substr(0, dash)) && AllDigits(part.substr(dash + 1))) {
        int lo = std::stoi(part.substr(0, dash)), hi = std::stoi(part.substr(dash + 1));
        if (lo > hi || hi >= n) throw UsageError(fmt::format("selector '{}': class range {} is outside 0-{}", text, part, n - 1));
        for (int c = lo; c <= hi; ++c) picked.insert(c);
      } else if (AllDigits(part)) {
        int c = std::stoi(part);
        if (c >= n) throw UsageError(fmt::format("selector '{}': class {} is outside 0-{}", text, c, n - 1));
        picked.insert(c);
      } else {
        auto it = std::find(spec.classes.begin(), spec.classes.end(), part);
        if (it == spec.classes.end()) {
          throw UsageError(fmt::format("selector '{}': '{}' has no class '{}'", text, s.dataset, part));
        }
        picked.insert(static_cast<int>(it - spec.classes.begin()));
        continue;
      }
      by_name = false;
    }
  }
  s.classes.assign(picked.begin(), picked.end());
  // Written with names, shown with names ("shapes:red,blue", not "shapes:0,2").
  if (by_name) {
    for (int c : s.classes) s.class_names.push_back(spec.classes[static_cast<size_t>(c)]);
  }
  return s;
}

std::string Selector::Canonical() const {
  std::string out = WithoutSplit();
  size_t cap_at = out.find('#');
  out.insert(cap_at == std::string::npos ? out.size() : cap_at, "@" + split);
  return out;
}

std::string Selector::WithoutSplit() const {
  std::string out = dataset;
  if (!class_names.empty()) {
    out += ":" + fmt::format("{}", fmt::join(class_names, ","));
  } else if (!classes.empty()) {
    std::vector<std::string> parts;
    for (size_t i = 0; i < classes.size();) {
      size_t j = i;
      while (j + 1 < classes.size() && classes[j + 1] == classes[j] + 1) ++j;
      parts.push_back(j == i ? std::to_string(classes[i]) : fmt::format("{}-{}", classes[i], classes[j]));
      i = j + 1;
    }
    out += ":" + fmt::format("{}", fmt::join(parts, ","));
  }
  if (cap) out += "#" + std::to_string(cap);
  return out;
}

}  // namespace fomo::core
