#include "core/dataset.hpp"

#include <zlib.h>

#include <algorithm>
#include <numeric>
#include <random>
#include <set>

#include <fmt/format.h>

#include "storage/error.hpp"

namespace fomo::core {

namespace {

std::string ReadMaybeGzip(const fs::path& path) {
  gzFile file = gzopen(path.c_str(), "rb");  // reads plain files too
  if (!file) throw Error(fmt::format("cannot read '{}'", path.string()));
  std::string out;
  char buf[1 << 16];
  int n;
  while ((n = gzread(file, buf, sizeof(buf))) > 0) out.append(buf, static_cast<size_t>(n));
  bool failed = n < 0;
  gzclose(file);
  if (failed) throw Error(fmt::format("cannot read '{}': corrupt gzip data", path.string()));
  return out;
}

fs::path FindIdx(const fs::path& dir, const std::string& split, const std::string& what) {
  std::string prefix = split == "test" ? "t10k" : "train";
  for (const char* suffix : {"", ".gz"}) {
    for (const char* kind : {"idx3", "idx1"}) {
      fs::path p = dir / fmt::format("{}-{}-{}-ubyte{}", prefix, what, kind, suffix);
      if (fs::exists(p)) return p;
    }
  }
  throw Error(fmt::format("dataset directory '{}' has no {} {} file ({}-{}-idx?-ubyte[.gz])", dir.string(),
                          split, what, prefix, what));
}

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
      if (key == "kind") {
        spec.kind = field.second.as<std::string>();
        if (spec.kind != "idx") {
          throw Error(fmt::format("{}: line {}: dataset '{}': kind '{}' is not supported yet (idx)", origin,
                                  field.second.Mark().line + 1, name, spec.kind));
        }
      } else if (key == "path") {
        spec.path = field.second.as<std::string>();
      } else if (key == "classes") {
        spec.classes = StringList(field.second, "datasets." + name + ".classes", origin);
      } else if (key == "templates") {
        spec.templates = StringList(field.second, "datasets." + name + ".templates", origin);
      } else {
        throw Error(fmt::format("{}: line {}: unknown key 'datasets.{}.{}'", origin, field.first.Mark().line + 1,
                                name, key));
      }
    }
    if (spec.path.empty()) throw Error(fmt::format("{}: dataset '{}' needs a path", origin, name));
    if (spec.classes.empty()) throw Error(fmt::format("{}: dataset '{}' needs its class names", origin, name));
    for (const auto& t : spec.templates) {
      if (t.find("{}") == std::string::npos) {
        throw Error(fmt::format("{}: dataset '{}': template '{}' has no {{}}", origin, name, t));
      }
    }
    registry.specs_[name] = spec;
  }
  return registry;
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
  const int n = static_cast<int>(spec.classes.size());
  std::set<int> picked;
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
      }
    }
  }
  s.classes.assign(picked.begin(), picked.end());
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
  if (!classes.empty()) {
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

IdxArray ReadIdx(const fs::path& path) {
  std::string bytes = ReadMaybeGzip(path);
  if (bytes.size() < 4 || bytes[0] != 0 || bytes[1] != 0) {
    throw Error(fmt::format("'{}' is not an IDX file (bad magic)", path.string()));
  }
  if (static_cast<uint8_t>(bytes[2]) != 0x08) {
    throw Error(fmt::format("'{}': only unsigned-byte IDX files are supported", path.string()));
  }
  int ndim = static_cast<uint8_t>(bytes[3]);
  if (bytes.size() < 4 + 4 * static_cast<size_t>(ndim)) throw Error(fmt::format("'{}': truncated IDX header", path.string()));
  IdxArray array;
  uint64_t total = 1;
  for (int d = 0; d < ndim; ++d) {
    const auto* p = reinterpret_cast<const uint8_t*>(bytes.data()) + 4 + 4 * d;
    int64_t dim = static_cast<int64_t>(uint32_t(p[0]) << 24 | uint32_t(p[1]) << 16 | uint32_t(p[2]) << 8 | p[3]);
    array.dims.push_back(dim);
    total *= static_cast<uint64_t>(dim);
  }
  size_t header = 4 + 4 * static_cast<size_t>(ndim);
  if (bytes.size() - header != total) {
    throw Error(fmt::format("'{}': IDX header promises {} bytes, the file has {}", path.string(), total,
                            bytes.size() - header));
  }
  array.data.assign(bytes.begin() + static_cast<std::ptrdiff_t>(header), bytes.end());
  return array;
}

ImageSet LoadImages(const DatasetSpec& spec, const Selector& selector, uint64_t seed) {
  if (spec.kind != "idx") throw Error(fmt::format("dataset kind '{}' is not supported yet", spec.kind));
  if (!fs::is_directory(spec.path)) {
    throw Error(fmt::format("dataset '{}': directory '{}' is missing{}", spec.name, spec.path.string(),
                            spec.name == "fmnist" ? " (install Debian's dataset-fashion-mnist)" : ""));
  }
  IdxArray images = ReadIdx(FindIdx(spec.path, selector.split, "images"));
  IdxArray labels = ReadIdx(FindIdx(spec.path, selector.split, "labels"));
  if (images.dims.size() != 3 || labels.dims.size() != 1 || images.dims[0] != labels.dims[0]) {
    throw Error(fmt::format("dataset '{}': images and labels do not match", spec.name));
  }
  const int64_t h = images.dims[1], w = images.dims[2];
  std::set<int> wanted(selector.classes.begin(), selector.classes.end());
  std::map<int, std::vector<int64_t>> by_class;
  for (int64_t i = 0; i < labels.dims[0]; ++i) {
    int label = labels.data[i];
    if (label >= static_cast<int>(spec.classes.size())) {
      throw Error(fmt::format("dataset '{}': label {} has no class name", spec.name, label));
    }
    if (wanted.empty() || wanted.count(label)) by_class[label].push_back(i);
  }
  std::vector<int64_t> chosen;
  if (selector.cap > 0) {
    // Class-balanced: the same share from every class, a seeded draw within each.
    std::mt19937_64 rng(seed);
    const size_t per_class = std::max<size_t>(1, static_cast<size_t>(selector.cap) / std::max<size_t>(1, by_class.size()));
    for (auto& [label, indices] : by_class) {
      std::shuffle(indices.begin(), indices.end(), rng);
      indices.resize(std::min(indices.size(), per_class));
      std::sort(indices.begin(), indices.end());
    }
  }
  for (const auto& [label, indices] : by_class) chosen.insert(chosen.end(), indices.begin(), indices.end());
  std::sort(chosen.begin(), chosen.end());
  ImageSet set;
  set.count = static_cast<int64_t>(chosen.size());
  set.height = h;
  set.width = w;
  set.channels = 1;
  set.pixels.resize(static_cast<size_t>(set.count * h * w));
  for (size_t k = 0; k < chosen.size(); ++k) {
    std::copy_n(images.data.begin() + chosen[k] * h * w, h * w, set.pixels.begin() + static_cast<std::ptrdiff_t>(k * h * w));
    set.labels.push_back(labels.data[chosen[k]]);
  }
  return set;
}

}  // namespace fomo::core
