#include "core/checkpoint.hpp"

#include <algorithm>
#include <cstring>
#include <set>

#include <fmt/format.h>

#include "core/checkpoint_source.hpp"
#include "core/torch_api.hpp"
#include "core/weight_dtype.hpp"
#include "storage/atomic_file.hpp"
#include "storage/error.hpp"
#include "storage/parallel.hpp"

namespace fomo::core {

namespace {

const std::string kModulePrefix = "module.";

std::string StripModulePrefix(const std::string& name) {
  return name.rfind(kModulePrefix, 0) == 0 ? name.substr(kModulePrefix.size()) : name;
}

int CountLayers(const std::map<std::string, const NamedTensor*>& by_name, const std::string& prefix) {
  int layers = 0;
  while (by_name.count(fmt::format("{}{}.layer_norm1.weight", prefix, layers))) ++layers;
  return layers;
}

// Canonical shapes of a Hugging Face state dict, for inferring its config.
std::map<std::string, Shape> CanonicalShapesOfHf(const std::map<std::string, const NamedTensor*>& hf) {
  ClipConfig layers_only;
  layers_only.vision.layers = CountLayers(hf, "vision_model.encoder.layers.");
  layers_only.text.layers = CountLayers(hf, "text_model.encoder.layers.");
  std::map<std::string, Shape> shapes;
  for (const auto& m : HuggingFaceMappings(layers_only)) {
    auto it = hf.find(m.hf[0]);
    if (it == hf.end()) continue;
    Shape shape = it->second->view.shape;
    if (m.transform == HfTransform::kTranspose && shape.size() == 2) std::swap(shape[0], shape[1]);
    if (m.transform == HfTransform::kSplitRows && !shape.empty()) shape[0] *= 3;
    shapes[m.canonical] = shape;
  }
  return shapes;
}

const NamedTensor& Need(const std::map<std::string, const NamedTensor*>& by_name,
                        const std::string& name, const fs::path& path) {
  auto it = by_name.find(name);
  if (it == by_name.end()) {
    throw Error(fmt::format("cannot import '{}': tensor '{}' is missing", path.string(), name));
  }
  return *it->second;
}

// Drops a source view's mapped pages once a produced tensor has read it.
void ReleaseIn(const std::vector<std::shared_ptr<SafetensorsFile>>& files, const TensorView& view) {
  for (const auto& file : files) {
    if (file->Release(view)) return;
  }
}

// The canonical tensors of a Hugging Face state dict: renamed views where the
// layouts agree, producers where a tensor is transposed or joined from q, k and v.
std::vector<NamedTensor> FromHuggingFace(const std::map<std::string, const NamedTensor*>& by_name,
                                         const ClipConfig& config, const fs::path& path,
                                         const std::vector<std::shared_ptr<SafetensorsFile>>& files,
                                         std::vector<std::function<void(uint8_t*)>>* producers) {
  std::vector<NamedTensor> out;
  std::set<std::string> used;
  for (const auto& m : HuggingFaceMappings(config)) {
    std::vector<const NamedTensor*> parts;
    for (const auto& name : m.hf) {
      parts.push_back(&Need(by_name, name, path));
      used.insert(name);
    }
    const TensorView first = parts[0]->view;
    if (m.transform == HfTransform::kCopy) {
      out.push_back({m.canonical, first});
      producers->emplace_back();
    } else if (m.transform == HfTransform::kTranspose) {
      if (first.shape.size() != 2) {
        throw Error(fmt::format("cannot import '{}': tensor '{}' is not 2-D", path.string(), m.hf[0]));
      }
      out.push_back({m.canonical, {first.dtype, {first.shape[1], first.shape[0]}, nullptr, first.size}});
      producers->push_back([first, files](uint8_t* dst) {
        Transpose2D(first.data, dst, first.shape[0], first.shape[1], DtypeSize(first.dtype));
        ReleaseIn(files, first);
      });
    } else {
      for (const NamedTensor* p : parts) {
        if (p->view.dtype != first.dtype || p->view.shape != first.shape || first.shape.empty()) {
          throw Error(fmt::format("cannot import '{}': '{}' does not match '{}'", path.string(),
                                  p->name, parts[0]->name));
        }
      }
      std::vector<TensorView> rows;
      for (const NamedTensor* p : parts) rows.push_back(p->view);
      Shape shape = first.shape;
      shape[0] *= 3;
      out.push_back({m.canonical, {first.dtype, shape, nullptr, 3 * first.size}});
      producers->push_back([rows, files](uint8_t* dst) {
        for (const TensorView& part : rows) {
          std::memcpy(dst, part.data, part.size);
          dst += part.size;
          ReleaseIn(files, part);
        }
      });
    }
  }
  for (const auto& [name, tensor] : by_name) {
    if (!used.count(name) && !IsIgnoredHuggingFaceTensor(name)) {
      throw Error(fmt::format("cannot import '{}': unexpected tensor '{}' for this model config",
                              path.string(), name));
    }
  }
  return out;
}

// One tensor of an exported file: which canonical tensor it comes from and how.
struct ExportPiece {
  SafetensorsEntry entry;
  size_t source;  // index into the manifest
  HfTransform transform;
  int part;  // which third, for kSplitRows
};

std::vector<ExportPiece> PlanExport(const Manifest& manifest, const ClipConfig& config, Layout layout) {
  std::map<std::string, size_t> index;
  for (size_t i = 0; i < manifest.tensors.size(); ++i) index[manifest.tensors[i].name] = i;
  auto source = [&](const std::string& name) {
    auto it = index.find(name);
    if (it == index.end()) throw CorruptError(fmt::format("stored version lacks tensor '{}'", name));
    return it->second;
  };
  std::vector<ExportPiece> pieces;
  if (layout == Layout::kOpenAI) {
    for (size_t i = 0; i < manifest.tensors.size(); ++i) {
      const auto& e = manifest.tensors[i];
      pieces.push_back({{e.name, e.dtype, e.shape}, i, HfTransform::kCopy, 0});
    }
  } else {
    for (const auto& m : HuggingFaceMappings(config)) {
      size_t s = source(m.canonical);
      const auto& e = manifest.tensors[s];
      for (size_t k = 0; k < m.hf.size(); ++k) {
        Shape shape = e.shape;
        if (m.transform == HfTransform::kTranspose) std::swap(shape[0], shape[1]);
        if (m.transform == HfTransform::kSplitRows) shape[0] /= 3;
        pieces.push_back({{m.hf[k], e.dtype, shape}, s, m.transform, static_cast<int>(k)});
      }
    }
  }
  // Name order, as the reference safetensors writer lays files out.
  std::sort(pieces.begin(), pieces.end(),
            [](const ExportPiece& a, const ExportPiece& b) { return a.entry.name < b.entry.name; });
  return pieces;
}

}  // namespace

void CheckTensorsMatch(const std::vector<NamedTensor>& tensors, const ClipConfig& config,
                       const std::string& origin) {
  std::map<std::string, const NamedTensor*> by_name;
  for (const auto& t : tensors) by_name[t.name] = &t;
  auto expected = config.ExpectedTensors();
  std::set<std::string> expected_names;
  for (const auto& [name, shape] : expected) {
    expected_names.insert(name);
    auto it = by_name.find(name);
    if (it == by_name.end()) {
      throw Error(fmt::format("{}: tensor '{}' is missing for this model config", origin, name));
    }
    const TensorView& v = it->second->view;
    if (v.shape != shape) {
      throw Error(fmt::format("{}: tensor '{}' has shape {}, the model needs {}", origin, name,
                              ShapeString(v.shape), ShapeString(shape)));
    }
    if (!IsFloatingPoint(v.dtype)) {
      throw Error(fmt::format("{}: tensor '{}' has dtype {}, not a floating-point type", origin,
                              name, DtypeName(v.dtype)));
    }
  }
  for (const auto& t : tensors) {
    if (!expected_names.count(t.name)) {
      throw Error(fmt::format("{}: unexpected tensor '{}' for this model config", origin, t.name));
    }
  }
}

namespace {

// Every weight file's tensors (views into maps or owned buffers) and metadata.
void ReadWeightFiles(const CheckpointSource& source, Checkpoint* ckpt,
                     std::vector<NamedTensor>* tensors, ConfigEvidence* evidence) {
  for (size_t i = 0; i < source.weight_files.size(); ++i) {
    const fs::path& file = source.weight_files[i];
    switch (source.formats[i]) {
      case WeightFormat::kSafetensors: {
        auto st = std::make_shared<SafetensorsFile>(SafetensorsFile::Open(file, MapAccess::kStreamed));
        ckpt->files.push_back(st);
        for (const auto& t : st->tensors()) tensors->push_back(t);
        for (const auto& [k, v] : st->metadata()) evidence->metadata.emplace(k, v);
        break;
      }
      case WeightFormat::kPytorchZip: {
        PytorchFile pt = Torch().read_pytorch(file.string());
        if (!pt.entry.empty()) ckpt->notes.push_back(fmt::format("read the state dict from the '{}' entry", pt.entry));
        if (!pt.skipped.empty()) {
          ckpt->notes.push_back(fmt::format("skipped {} entries that are not tensors ({})", pt.skipped.size(),
                                            fmt::join(pt.skipped, ", ")));
        }
        for (size_t k = 0; k < pt.tensors.size(); ++k) {
          auto owned = std::make_shared<Tensor>(std::move(pt.tensors[k]));
          ckpt->owned_tensors.push_back(owned);
          tensors->push_back({pt.names[k], owned->view()});
        }
        evidence->attributes.insert(pt.attributes.begin(), pt.attributes.end());
        if (pt.torchscript) ckpt->kind = "TorchScript archive";
        break;
      }
      case WeightFormat::kLegacyPickle:
        throw Error(fmt::format("cannot import '{}': a legacy torch.save file (PyTorch before 1.6), which LibTorch "
                                "cannot read; re-save it with a current PyTorch (torch.save(torch.load(f), f)) or as "
                                "safetensors",
                                file.string()));
    }
  }
}

}  // namespace

void Checkpoint::Release(const TensorView& view) const { ReleaseIn(files, view); }

void Checkpoint::Produce(size_t index, uint8_t* out) const {
  if (OnDemand(index)) {
    producers[index](out);
  } else if (tensors[index].view.size) {
    std::memcpy(out, tensors[index].view.data, tensors[index].view.size);
  }
}

void Checkpoint::Materialize() {
  for (size_t i = 0; i < tensors.size(); ++i) {
    if (!OnDemand(i)) continue;
    auto buffer = std::make_shared<ByteBuffer>(tensors[i].view.size);
    producers[i](buffer->data());
    tensors[i].view.data = buffer->data();
    owned.push_back(std::move(buffer));
    producers[i] = nullptr;
  }
}

void ConvertOnDemand(Checkpoint& ckpt, Dtype to) {
  if (!IsFloatingPoint(to)) throw Error("weights convert only to a floating-point dtype");
  ckpt.producers.resize(ckpt.tensors.size());
  for (size_t i = 0; i < ckpt.tensors.size(); ++i) {
    TensorView& view = ckpt.tensors[i].view;
    if (view.dtype == to || !IsFloatingPoint(view.dtype)) continue;
    const TensorView source = view;
    const uint64_t count = NumElements(source.shape);
    view = TensorView{to, source.shape, nullptr, ByteSize(to, source.shape)};
    ckpt.producers[i] = [source, count, to, inner = std::move(ckpt.producers[i]), files = ckpt.files](uint8_t* out) {
      if (inner) {  // a layout conversion first
        ByteBuffer staged(source.size);
        inner(staged.data());
        ConvertFloats(staged.data(), source.dtype, out, to, count);
      } else {
        ConvertFloats(source.data, source.dtype, out, to, count);
        ReleaseIn(files, source);
      }
    };
  }
}

Checkpoint LoadCheckpoint(const fs::path& path, const ConfigSource& source, bool on_demand) {
  Checkpoint ckpt;
  ckpt.path = path;
  CheckpointSource located = LocateCheckpoint(path);
  ckpt.kind = located.kind;
  ConfigEvidence evidence;
  evidence.origin = path.string();
  evidence.beside = located.config_file;
  std::vector<NamedTensor> raw;
  ReadWeightFiles(located, &ckpt, &raw, &evidence);

  // DistributedDataParallel saves parameters as module.NAME.
  std::vector<NamedTensor> renamed;
  renamed.reserve(raw.size());
  size_t stripped = 0;
  for (const auto& t : raw) {
    std::string name = StripModulePrefix(t.name);
    stripped += name.size() != t.name.size();
    renamed.push_back({std::move(name), t.view});
  }
  if (stripped) ckpt.notes.push_back(fmt::format("stripped the 'module.' prefix (DistributedDataParallel) from {} tensors", stripped));

  std::map<std::string, const NamedTensor*> by_name;
  std::vector<std::string> names;
  for (const auto& t : renamed) {
    if (!by_name.emplace(t.name, &t).second) {
      throw Error(fmt::format("cannot import '{}': tensor '{}' appears twice", path.string(), t.name));
    }
    names.push_back(t.name);
  }
  try {
    ckpt.layout = DetectLayout(names);
  } catch (const Error& e) {
    throw Error(fmt::format("cannot import '{}': {}", path.string(), e.what()));
  }
  evidence.layout = ckpt.layout;
  if (ckpt.layout == Layout::kHuggingFace) {
    evidence.canonical_shapes = CanonicalShapesOfHf(by_name);
  } else {
    for (const auto& t : renamed) evidence.canonical_shapes[t.name] = t.view.shape;
  }
  ResolvedConfig resolved = ResolveConfig(evidence, source);
  ckpt.config = resolved.config;
  ckpt.provenance = resolved.provenance;
  ckpt.config_source = resolved.summary;
  ckpt.notes.insert(ckpt.notes.end(), resolved.notes.begin(), resolved.notes.end());

  if (ckpt.layout == Layout::kHuggingFace) {
    ckpt.tensors = FromHuggingFace(by_name, ckpt.config, path, ckpt.files, &ckpt.producers);
    CheckTensorsMatch(ckpt.tensors, ckpt.config, fmt::format("cannot import '{}'", path.string()));
  } else {
    // Already canonical: check the set against the config (missing, unexpected,
    // shapes), then keep the config's order.
    std::vector<NamedTensor> weights;
    std::map<std::string, const NamedTensor*> canonical;
    for (const auto& t : renamed) {
      if (IsIgnoredOpenAITensor(t.name)) continue;
      weights.push_back(t);
      canonical[t.name] = &t;
    }
    CheckTensorsMatch(weights, ckpt.config, fmt::format("cannot import '{}'", path.string()));
    for (const auto& [name, shape] : ckpt.config.ExpectedTensors()) ckpt.tensors.push_back(*canonical.at(name));
  }
  if (!on_demand) ckpt.Materialize();
  return ckpt;
}

std::vector<std::string> ManifestProblems(const Manifest& manifest, const ClipConfig& config) {
  std::vector<std::string> problems;
  std::map<std::string, Shape> expected;
  for (auto& [name, shape] : config.ExpectedTensors()) expected.emplace(name, shape);
  for (const auto& e : manifest.tensors) {
    auto it = expected.find(e.name);
    if (it == expected.end()) {
      problems.push_back(fmt::format("the manifest names tensor '{}', which the model config does not have", e.name));
    } else if (e.shape != it->second) {
      problems.push_back(fmt::format("tensor '{}' has shape {} in the manifest, the model config needs {}", e.name,
                                     ShapeString(e.shape), ShapeString(it->second)));
    } else if (!IsFloatingPoint(e.dtype)) {
      problems.push_back(fmt::format("tensor '{}' has dtype {} in the manifest, not a floating-point type", e.name,
                                     DtypeName(e.dtype)));
    }
  }
  for (const auto& [name, shape] : expected) {
    if (!manifest.Find(name)) problems.push_back(fmt::format("the manifest lacks tensor '{}' of the model config", name));
  }
  return problems;
}

void CheckManifest(const Manifest& manifest, const ClipConfig& config, const std::string& version) {
  auto problems = ManifestProblems(manifest, config);
  if (!problems.empty()) {
    throw CorruptError(fmt::format("version {} is damaged: {} ('fomo fsck' lists every problem)", version, problems.front()));
  }
}

StoredWeights ReadWeights(const ObjectStore& store, const Manifest& manifest, size_t threads) {
  StoredWeights weights;
  weights.tensors.resize(manifest.tensors.size());
  ParallelFor(manifest.tensors.size(), threads, [&](size_t i) {
    const ManifestEntry& e = manifest.tensors[i];
    Tensor t{e.dtype, e.shape, ByteBuffer(e.raw_bytes())};
    store.ReadAs(e.id, e.dtype, e.shape, t.bytes.data());
    weights.tensors[i] = std::move(t);
  });
  for (size_t i = 0; i < manifest.tensors.size(); ++i) {
    weights.named.push_back({manifest.tensors[i].name, weights.tensors[i].view()});
  }
  return weights;
}

void ExportCheckpoint(const ObjectStore& store, const Manifest& manifest, const ClipConfig& config,
                      const fs::path& out, const ExportOptions& options) {
  std::vector<ExportPiece> pieces = PlanExport(manifest, config, options.layout);
  std::map<std::string, std::string> metadata = options.metadata;
  metadata["format"] = "pt";
  metadata["fomo.config"] = config.ToJson();
  metadata["fomo.layout"] = std::string(LayoutName(options.layout));

  auto out_dtype = [&](Dtype stored) {
    return options.dtype && IsFloatingPoint(stored) ? *options.dtype : stored;
  };
  std::vector<SafetensorsEntry> entries;
  for (const auto& p : pieces) {
    entries.push_back(p.entry);
    entries.back().dtype = out_dtype(p.entry.dtype);
  }
  SafetensorsWriter writer(out, std::move(entries), metadata);

  // Work per stored tensor, largest first: decode once, write every piece it feeds.
  std::vector<std::vector<size_t>> pieces_of(manifest.tensors.size());
  for (size_t i = 0; i < pieces.size(); ++i) pieces_of[pieces[i].source].push_back(i);
  std::vector<size_t> order(manifest.tensors.size());
  for (size_t i = 0; i < order.size(); ++i) order[i] = i;
  std::sort(order.begin(), order.end(), [&](size_t a, size_t b) {
    return manifest.tensors[a].raw_bytes() > manifest.tensors[b].raw_bytes();
  });
  ParallelFor(order.size(), options.threads, [&](size_t k) {
    const ManifestEntry& e = manifest.tensors[order[k]];
    struct StoredSlot;
    struct DecodedSlot;
    struct TransposedSlot;
    const Dtype dtype = out_dtype(e.dtype);
    const uint64_t count = NumElements(e.shape);
    const uint64_t size = ByteSize(dtype, e.shape);
    uint8_t* decoded = ThreadScratch<DecodedSlot>(size);
    if (dtype == e.dtype) {
      store.ReadAs(e.id, e.dtype, e.shape, decoded);
    } else {
      uint8_t* stored = ThreadScratch<StoredSlot>(e.raw_bytes());
      store.ReadAs(e.id, e.dtype, e.shape, stored);
      ConvertFloats(stored, e.dtype, decoded, dtype, count);
    }
    const size_t element = DtypeSize(dtype);
    for (size_t i : pieces_of[order[k]]) {
      const ExportPiece& p = pieces[i];
      if (p.transform == HfTransform::kCopy) {
        writer.Write(i, decoded, size);
      } else if (p.transform == HfTransform::kTranspose) {
        uint8_t* transposed = ThreadScratch<TransposedSlot>(size);
        Transpose2D(decoded, transposed, e.shape[0], e.shape[1], element);
        writer.Write(i, transposed, size);
      } else {
        uint64_t third = size / 3;
        writer.Write(i, decoded + p.part * third, third);
      }
    }
  });
  writer.Commit();
}

}  // namespace fomo::core
