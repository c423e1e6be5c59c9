// Reading torch.save and TorchScript archives with LibTorch's readers (part of
// libfomo_torch.so).
#include "core/pytorch_file.hpp"

#include <cstring>
#include <optional>

#include <caffe2/serialize/inline_container.h>
#include <fmt/format.h>
#include <torch/csrc/jit/serialization/import.h>
#include <torch/csrc/jit/serialization/unpickler.h>
#include <torch/script.h>

#include "core/pickle_filter.hpp"
#include "storage/error.hpp"

namespace fomo::core {

namespace {

// Thrown from the unpickler's type resolver, which LibTorch calls for every global
// it does not know itself; carries the global's name through LibTorch's frames.
struct ForeignGlobal {
  std::string name;
};

std::optional<Dtype> DtypeOf(at::ScalarType type) {
  switch (type) {
    case at::kFloat: return Dtype::kF32;
    case at::kHalf: return Dtype::kF16;
    case at::kBFloat16: return Dtype::kBF16;
    case at::kDouble: return Dtype::kF64;
    case at::kLong: return Dtype::kI64;
    case at::kInt: return Dtype::kI32;
    case at::kShort: return Dtype::kI16;
    case at::kChar: return Dtype::kI8;
    case at::kByte: return Dtype::kU8;
    case at::kBool: return Dtype::kBool;
    default: return std::nullopt;
  }
}

Tensor ToRaw(const at::Tensor& value, const std::string& name, const std::string& path) {
  auto dtype = DtypeOf(value.scalar_type());
  if (!dtype) {
    throw Error(fmt::format("cannot import '{}': tensor '{}' has dtype {}, which fomo does not store", path, name,
                            c10::toString(value.scalar_type())));
  }
  if (value.is_sparse() || value.is_quantized()) {
    throw Error(fmt::format("cannot import '{}': tensor '{}' is sparse or quantized", path, name));
  }
  at::Tensor dense = value.detach().to(at::kCPU).contiguous();
  Shape shape(dense.sizes().begin(), dense.sizes().end());
  Tensor t{*dtype, shape, ByteBuffer(ByteSize(*dtype, shape))};
  if (t.bytes.size()) std::memcpy(t.bytes.data(), dense.data_ptr(), t.bytes.size());
  return t;
}

bool HoldsTensors(const c10::impl::GenericDict& dict) {
  for (const auto& item : dict) {
    if (item.value().isTensor()) return true;
  }
  return false;
}

// The dict of tensors inside what torch.save stored: the root, or the first of
// state_dict / model / module that leads to one (OpenCLIP and most training loops
// save {"epoch": .., "state_dict": .., "optimizer": ..}).
std::optional<c10::impl::GenericDict> FindStateDict(const c10::IValue& value, std::string* entry, int depth = 0) {
  if (!value.isGenericDict() || depth > 4) return std::nullopt;
  c10::impl::GenericDict dict = value.toGenericDict();
  if (HoldsTensors(dict)) return dict;
  for (const char* key : {"state_dict", "model", "module", "model_state_dict"}) {
    for (const auto& item : dict) {
      if (!item.key().isString() || item.key().toStringRef() != key) continue;
      std::string inner;
      if (auto found = FindStateDict(item.value(), &inner, depth + 1)) {
        *entry = inner.empty() ? key : fmt::format("{}.{}", key, inner);
        return found;
      }
    }
  }
  return std::nullopt;
}

void ReadTorchScript(const std::string& path, PytorchFile* out) {
  torch::jit::Module module;
  try {
    module = torch::jit::load(path, torch::kCPU);
  } catch (const c10::Error& e) {
    throw Error(fmt::format("cannot read TorchScript archive '{}': {}", path, e.what_without_backtrace()));
  }
  out->torchscript = true;
  for (const auto& p : module.named_parameters(/*recurse=*/true)) {
    out->names.push_back(p.name);
    out->tensors.push_back(ToRaw(p.value, p.name, path));
  }
  for (const auto& b : module.named_buffers(/*recurse=*/true)) {
    out->names.push_back(b.name);
    out->tensors.push_back(ToRaw(b.value, b.name, path));
  }
  for (const char* key : {"input_resolution", "context_length", "vocab_size"}) {
    if (!module.hasattr(key)) continue;
    c10::IValue v = module.attr(key);
    if (v.isInt()) out->attributes[key] = std::to_string(v.toInt());
  }
}

void ReadTorchSave(caffe2::serialize::PyTorchStreamReader& reader, const std::string& path, PytorchFile* out) {
  c10::IValue root;
  try {
    at::DataPtr data;
    size_t size = 0;
    std::tie(data, size) = reader.getRecord("data.pkl");
    std::string pickle;
    try {
      pickle = FilterTorchPickle(std::string(static_cast<const char*>(data.get()), size));
    } catch (const Error& e) {
      throw Error(fmt::format("refusing '{}': {}", path, e.what()));
    }
    size_t offset = 0;
    auto read = [&](char* buffer, size_t n) {
      n = std::min(n, pickle.size() - offset);
      std::memcpy(buffer, pickle.data() + offset, n);
      offset += n;
      return n;
    };
    auto read_record = [&](const std::string& name) { return std::get<0>(reader.getRecord("data/" + name)); };
    // Every global the filter let through is one LibTorch rebuilds itself; the
    // resolver is a second guard.
    torch::jit::TypeResolver refuse = [](const c10::QualifiedName& name) -> c10::StrongTypePtr {
      throw ForeignGlobal{name.qualifiedName()};
    };
    torch::jit::Unpickler unpickler(read, refuse, nullptr, read_record, at::Device(at::kCPU));
    unpickler.set_version(reader.version());
    root = unpickler.parse_ivalue();
  } catch (const ForeignGlobal& g) {
    throw Error(fmt::format("refusing '{}': its pickle names the global '{}', which is not a tensor or a plain "
                            "container (nothing was executed)",
                            path, g.name));
  } catch (const c10::Error& e) {
    std::string what = e.what_without_backtrace();
    throw Error(fmt::format("cannot read PyTorch file '{}': {}", path, what.substr(0, what.find('\n'))));
  }
  auto dict = FindStateDict(root, &out->entry);
  if (!dict) {
    throw Error(fmt::format("cannot import '{}': it holds no dict of tensors (looked at the root and at "
                            "'state_dict', 'model' and 'module' entries)",
                            path));
  }
  for (const auto& item : *dict) {
    if (!item.key().isString()) continue;
    const std::string& name = item.key().toStringRef();
    if (IsFilterAttributesKey(name)) continue;
    if (!item.value().isTensor()) {
      out->skipped.push_back(name);
      continue;
    }
    out->names.push_back(name);
    out->tensors.push_back(ToRaw(item.value().toTensor(), name, path));
  }
}

}  // namespace

PytorchFile ReadPytorchFile(const std::string& path) {
  std::unique_ptr<caffe2::serialize::PyTorchStreamReader> reader;
  try {
    reader = std::make_unique<caffe2::serialize::PyTorchStreamReader>(path);
  } catch (const c10::Error& e) {
    std::string what = e.what_without_backtrace();
    throw Error(fmt::format("cannot read PyTorch file '{}': {}", path, what.substr(0, what.find('\n'))));
  }
  PytorchFile out;
  if (reader->hasRecord("constants.pkl") || reader->hasRecord("code/__torch__.py")) {
    reader.reset();
    ReadTorchScript(path, &out);
  } else if (reader->hasRecord("data.pkl")) {
    ReadTorchSave(*reader, path, &out);
  } else {
    throw Error(fmt::format("cannot import '{}': a zip archive, but neither a torch.save file nor a TorchScript "
                            "archive (no data.pkl, no constants.pkl)",
                            path));
  }
  return out;
}

}  // namespace fomo::core
