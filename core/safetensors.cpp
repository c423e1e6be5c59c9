#include "core/safetensors.hpp"

#include <algorithm>
#include <set>
#include <unordered_map>
#include <unordered_set>

#include <fmt/format.h>

#include <nlohmann/json.hpp>

#include "storage/error.hpp"

namespace fomo::core {

namespace {

using nlohmann::json;

[[noreturn]] void Fail(const fs::path& path, const std::string& problem) {
  throw Error(fmt::format("cannot read '{}': {}", path.string(), problem));
}

// Finds a tensor name the header gives twice (nlohmann would keep the last one
// silently) in one SAX pass. nlohmann's parser callback would do it too, but it
// rescans the object at every key: quadratic in the tensor count.
struct DuplicateKeys : json::json_sax_t {
  int depth = 0;
  size_t keys = 0;
  std::unordered_set<std::string> seen;
  std::string duplicate;

  bool key(string_t& name) override {
    if (depth == 1) {
      ++keys;
      if (!seen.insert(name).second && duplicate.empty()) duplicate = name;
    }
    return true;
  }
  bool start_object(std::size_t) override { return ++depth, true; }
  bool end_object() override { return --depth, true; }
  bool start_array(std::size_t) override { return ++depth, true; }
  bool end_array() override { return --depth, true; }
  bool null() override { return true; }
  bool boolean(bool) override { return true; }
  bool number_integer(number_integer_t) override { return true; }
  bool number_unsigned(number_unsigned_t) override { return true; }
  bool number_float(number_float_t, const string_t&) override { return true; }
  bool string(string_t&) override { return true; }
  bool binary(binary_t&) override { return true; }
  bool parse_error(std::size_t, const std::string&, const nlohmann::detail::exception&) override { return false; }
};

json ParseHeader(const fs::path& path, const char* text, size_t size) {
  json header;
  try {
    header = json::parse(text, text + size);
  } catch (const json::exception& e) {
    Fail(path, fmt::format("header is not valid JSON ({})", e.what()));
  }
  if (!header.is_object()) Fail(path, "header is not a JSON object");
  DuplicateKeys keys;
  json::sax_parse(text, text + size, &keys);
  if (!keys.duplicate.empty()) Fail(path, fmt::format("header names tensor '{}' twice", keys.duplicate));
  const size_t tensors = header.size() - header.count("__metadata__");
  if (tensors > kMaxSafetensorsTensors) {
    Fail(path, fmt::format("header names {} tensors, more than the limit of {}", tensors, kMaxSafetensorsTensors));
  }
  return header;
}

}  // namespace

SafetensorsFile SafetensorsFile::Open(const fs::path& path, MapAccess access) {
  SafetensorsFile file;
  if (!fs::exists(path)) throw Error(fmt::format("cannot read '{}': no such file", path.string()));
  file.map_ = std::make_unique<MappedFile>(path, access);
  const uint8_t* data = file.map_->data();
  const uint64_t size = file.map_->size();
  if (size < 8) Fail(path, fmt::format("file is {} bytes, too short for a header", size));
  uint64_t header_size = 0;
  for (int i = 0; i < 8; ++i) header_size |= static_cast<uint64_t>(data[i]) << (8 * i);
  if (header_size > size - 8) {
    Fail(path, fmt::format("header length {} exceeds the file size {}", header_size, size));
  }
  if (header_size > kMaxSafetensorsHeader) {
    Fail(path, fmt::format("header length {} exceeds the limit of {}", header_size,
                           kMaxSafetensorsHeader));
  }
  json header = ParseHeader(path, reinterpret_cast<const char*>(data + 8), header_size);
  const uint8_t* area = data + 8 + header_size;
  const uint64_t area_size = size - 8 - header_size;

  struct Range {
    uint64_t begin, end;
    std::string name;
  };
  std::vector<Range> ranges;
  for (auto& [name, entry] : header.items()) {
    if (name == "__metadata__") {
      if (!entry.is_object()) Fail(path, "__metadata__ is not an object");
      for (auto& [key, value] : entry.items()) {
        if (!value.is_string()) Fail(path, fmt::format("__metadata__ value '{}' is not a string", key));
        file.metadata_[key] = value.get<std::string>();
      }
      continue;
    }
    if (!entry.is_object()) Fail(path, fmt::format("entry '{}' is not an object", name));
    auto dtype_field = entry.find("dtype");
    auto shape_field = entry.find("shape");
    auto offsets_field = entry.find("data_offsets");
    if (dtype_field == entry.end() || !dtype_field->is_string()) {
      Fail(path, fmt::format("tensor '{}' has no dtype", name));
    }
    auto dtype = ParseDtype(dtype_field->get<std::string>());
    if (!dtype) {
      Fail(path, fmt::format("tensor '{}' has unsupported dtype '{}'", name,
                             dtype_field->get<std::string>()));
    }
    if (shape_field == entry.end() || !shape_field->is_array()) {
      Fail(path, fmt::format("tensor '{}' has no shape", name));
    }
    Shape shape;
    for (const auto& dim : *shape_field) {
      if (!dim.is_number_unsigned()) Fail(path, fmt::format("tensor '{}' has a bad shape", name));
      if (dim.get<uint64_t>() > static_cast<uint64_t>(INT64_MAX)) {
        Fail(path, fmt::format("tensor '{}' has a bad shape", name));
      }
      shape.push_back(dim.get<int64_t>());
    }
    if (offsets_field == entry.end() || !offsets_field->is_array() || offsets_field->size() != 2 ||
        !(*offsets_field)[0].is_number_unsigned() || !(*offsets_field)[1].is_number_unsigned()) {
      Fail(path, fmt::format("tensor '{}' has bad data_offsets", name));
    }
    uint64_t begin = (*offsets_field)[0].get<uint64_t>();
    uint64_t end = (*offsets_field)[1].get<uint64_t>();
    if (begin > end || end > area_size) {
      Fail(path, fmt::format("tensor '{}' has offsets [{}, {}] outside the data area of {} bytes",
                             name, begin, end, area_size));
    }
    uint64_t expected = 0;
    try {
      expected = ByteSize(*dtype, shape);
    } catch (const Error&) {
      Fail(path, fmt::format("tensor '{}' has a shape that overflows", name));
    }
    if (end - begin != expected) {
      Fail(path, fmt::format("tensor '{}' holds {} bytes but {} {} needs {}", name, end - begin,
                             DtypeName(*dtype), ShapeString(shape), expected));
    }
    ranges.push_back(Range{begin, end, name});
    file.tensors_.push_back(NamedTensor{name, TensorView{*dtype, shape, area + begin, expected}});
  }
  std::vector<size_t> order(ranges.size());
  for (size_t i = 0; i < order.size(); ++i) order[i] = i;
  std::sort(order.begin(), order.end(), [&](size_t a, size_t b) {
    return ranges[a].begin != ranges[b].begin ? ranges[a].begin < ranges[b].begin
                                              : ranges[a].end < ranges[b].end;
  });
  uint64_t covered = 0;
  for (size_t i : order) {
    if (ranges[i].begin < covered) {
      Fail(path, fmt::format("tensor '{}' overlaps another tensor", ranges[i].name));
    }
    if (ranges[i].begin > covered) {
      Fail(path, fmt::format("data area has a gap before tensor '{}'", ranges[i].name));
    }
    covered = ranges[i].end;
  }
  if (covered != area_size) {
    Fail(path, fmt::format("data area has {} bytes no tensor uses", area_size - covered));
  }
  std::vector<NamedTensor> sorted;
  for (size_t i : order) sorted.push_back(std::move(file.tensors_[i]));
  file.tensors_ = std::move(sorted);
  for (size_t i = 0; i < file.tensors_.size(); ++i) file.index_.emplace(file.tensors_[i].name, i);
  return file;
}

const NamedTensor* SafetensorsFile::Find(const std::string& name) const {
  auto it = index_.find(name);
  return it == index_.end() ? nullptr : &tensors_[it->second];
}

SafetensorsWriter::SafetensorsWriter(fs::path path, std::vector<SafetensorsEntry> entries,
                                     std::map<std::string, std::string> metadata, bool durable)
    : entries_(std::move(entries)), file_(std::move(path), durable) {
  json header = json::object();
  if (!metadata.empty()) header["__metadata__"] = metadata;
  uint64_t offset = 0;
  for (const auto& e : entries_) {
    uint64_t bytes = ByteSize(e.dtype, e.shape);
    header[e.name] = {{"dtype", std::string(DtypeName(e.dtype))},
                      {"shape", e.shape},
                      {"data_offsets", {offset, offset + bytes}}};
    offsets_.push_back(offset);
    offset += bytes;
  }
  data_size_ = offset;
  std::string text = header.dump();
  // Pad with spaces so the data area starts 8-byte aligned, as the reference writer does.
  while ((8 + text.size()) % 8 != 0) text.push_back(' ');
  uint8_t length[8];
  for (int i = 0; i < 8; ++i) length[i] = static_cast<uint8_t>(static_cast<uint64_t>(text.size()) >> (8 * i));
  data_start_ = 8 + text.size();
  file_.PWrite(0, length, 8);
  file_.PWrite(8, text.data(), text.size());
}

bool SafetensorsFile::Release(const TensorView& view) const {
  if (!map_->Contains(view.data)) return false;
  map_->Release(view.data, view.size);
  return true;
}

void SafetensorsWriter::Write(size_t index, const uint8_t* data, uint64_t size) {
  if (size != ByteSize(entries_[index].dtype, entries_[index].shape)) {
    throw Error(fmt::format("tensor '{}': wrong byte count for its shape", entries_[index].name));
  }
  file_.PWrite(DataOffset(index), data, size);
}

void SafetensorsWriter::Commit() { file_.Commit(); }

void WriteSafetensors(const fs::path& path, const std::vector<NamedTensor>& tensors,
                      const std::map<std::string, std::string>& metadata) {
  std::vector<SafetensorsEntry> entries;
  for (const auto& t : tensors) entries.push_back({t.name, t.view.dtype, t.view.shape});
  SafetensorsWriter writer(path, std::move(entries), metadata);
  for (size_t i = 0; i < tensors.size(); ++i) writer.Write(i, tensors[i].view.data, tensors[i].view.size);
  writer.Commit();
}

}  // namespace fomo::core
