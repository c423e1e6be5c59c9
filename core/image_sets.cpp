// Loading a selector's images: IDX files, class folders, CSV/TSV caption tables
// and WebDataset shards, decoded in parallel, capped with a class-balanced draw.
// The datasets themselves and the selectors are in dataset.cpp.
#include "core/dataset.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <sstream>

#include <algorithm>
#include <numeric>
#include <random>
#include <set>

#include <fmt/format.h>

#include "core/dataset_paths.hpp"
#include "core/gzip_file.hpp"
#include "storage/dtype.hpp"
#include "storage/error.hpp"
#include "storage/parallel.hpp"

namespace fomo::core {

namespace {

fs::path FindIdx(const fs::path& dir, const std::string& split, const std::string& what) {
  std::string prefix = split == "test" ? "t10k" : "train";
  for (const char* suffix : {"", ".gz"}) {
    for (const char* kind : {"idx3", "idx1"}) {
      fs::path p = dir / fmt::format("{}-{}-{}-ubyte{}", prefix, what, kind, suffix);
      if (PathExists(p)) return p;
    }
  }
  throw Error(fmt::format("dataset directory '{}' has no {} {} file ({}-{}-idx?-ubyte[.gz])", dir.string(),
                          split, what, prefix, what));
}

}  // namespace

IdxArray ReadIdx(const fs::path& path) {
  std::string bytes = ReadMaybeGzipped(path);
  if (bytes.size() < 4 || bytes[0] != 0 || bytes[1] != 0) {
    throw Error(fmt::format("'{}' is not an IDX file (bad magic)", path.string()));
  }
  if (static_cast<uint8_t>(bytes[2]) != 0x08) {
    throw Error(fmt::format("'{}': only unsigned-byte IDX files are supported", path.string()));
  }
  int ndim = static_cast<uint8_t>(bytes[3]);
  if (bytes.size() < 4 + 4 * static_cast<size_t>(ndim)) throw Error(fmt::format("'{}': truncated IDX header", path.string()));
  IdxArray array;
  for (int d = 0; d < ndim; ++d) {
    const auto* p = reinterpret_cast<const uint8_t*>(bytes.data()) + 4 + 4 * d;
    int64_t dim = static_cast<int64_t>(uint32_t(p[0]) << 24 | uint32_t(p[1]) << 16 | uint32_t(p[2]) << 8 | p[3]);
    array.dims.push_back(dim);
  }
  // The product of the header's dimensions, overflow-checked: 4 x 2^31 x 2^31 must
  // not wrap around to the file's size.
  uint64_t total = 0;
  try {
    total = fomo::NumElements(array.dims);
  } catch (const Error&) {
    throw Error(fmt::format("'{}': IDX header dimensions {} overflow", path.string(), fomo::ShapeString(array.dims)));
  }
  size_t header = 4 + 4 * static_cast<size_t>(ndim);
  if (bytes.size() - header != total) {
    throw Error(fmt::format("'{}': IDX header promises {} bytes, the file has {}", path.string(), total,
                            bytes.size() - header));
  }
  array.data.assign(bytes.begin() + static_cast<std::ptrdiff_t>(header), bytes.end());
  return array;
}

namespace {

// Reads a data file whole, refusing what is not a regular file (a device such as
// /dev/zero would be read until memory runs out, a FIFO would block) and what is
// larger than the limit the dataset allows.
std::string ReadWholeFile(const fs::path& path, uint64_t max_bytes, const char* limit) {
  int fd = ::open(path.c_str(), O_RDONLY | O_NONBLOCK | O_CLOEXEC);
  if (fd < 0) throw Error(fmt::format("cannot read '{}': {}", path.string(), std::strerror(errno)));
  struct stat st {};
  if (::fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
    ::close(fd);
    throw Error(fmt::format("cannot read '{}': not a regular file", path.string()));
  }
  const uint64_t size = static_cast<uint64_t>(st.st_size);
  if (size > max_bytes) {
    ::close(fd);
    throw Error(fmt::format("cannot read '{}': it has {} bytes, more than {} allows ({})", path.string(), size, limit,
                            max_bytes));
  }
  std::string bytes(size, '\0');
  size_t done = 0;
  while (done < size) {
    ssize_t n = ::read(fd, bytes.data() + done, size - done);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      const int err = n < 0 ? errno : 0;
      ::close(fd);
      throw Error(fmt::format("cannot read '{}': {}", path.string(), err ? std::strerror(err) : "it shrank while read"));
    }
    done += static_cast<size_t>(n);
  }
  ::close(fd);
  return bytes;
}

// Index files (CSV, TSV) and tar shards: large, but not without bound.
constexpr uint64_t kMaxIndexBytes = 4ull << 30;

fs::path SplitPath(const DatasetSpec& spec, const std::string& split) {
  if (!spec.splits.empty()) {
    auto it = spec.splits.find(split);
    if (it == spec.splits.end()) {
      throw Error(fmt::format("dataset '{}' has no {} split (its splits: {})", spec.name, split,
                              spec.splits.begin()->first));
    }
    return it->second;
  }
  std::string path = spec.path.string();
  size_t at = path.find("{split}");
  if (at != std::string::npos) path.replace(at, 7, split);
  return path;
}

bool IsImageName(const std::string& name) {
  std::string ext = fs::path(name).extension().string();
  for (char& c : ext) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return ext == ".jpg" || ext == ".jpeg" || ext == ".png";
}

// A sample found and not yet decoded: its image as bytes in hand (tar members) or
// a file to read, and what the index says of it.
struct PendingImage {
  fs::path file;
  std::string bytes;
  std::string origin;
  int label = -1;
  std::optional<std::string> caption;
  std::optional<int> year;  // tables with a year or time column
};

// Whether the image bytes are wanted: reading only what the samples say (their
// labels, captions, years) leaves tar members where they are.
enum class Pixels { kKeep, kSkip };

// Reads and decodes on worker threads (one per core), keeping the order;
// undecodable images are counted and left out.
void DecodeAll(std::vector<PendingImage>& pending, const DatasetSpec& spec, ImageSet* set) {
  std::vector<std::optional<Image>> decoded(pending.size());
  std::vector<std::string> problems(pending.size());
  ParallelFor(pending.size(), 0, [&](size_t i) {
    PendingImage& p = pending[i];
    if (!p.file.empty()) p.bytes = ReadWholeFile(p.file, spec.max_image_bytes, "the dataset's max_image_bytes");
    try {
      decoded[i] = DecodeImage(p.bytes, p.origin);
    } catch (const Error& e) {
      problems[i] = e.what();
    }
    std::string().swap(p.bytes);
  });
  for (size_t i = 0; i < pending.size(); ++i) {
    if (!decoded[i]) {
      ++set->skipped;
      if (set->skipped_examples.size() < ImageSet::kSkippedExamples) set->skipped_examples.push_back(problems[i]);
      continue;
    }
    set->images.push_back(std::move(*decoded[i]));
    if (pending[i].label >= 0) set->labels.push_back(pending[i].label);
    if (pending[i].caption) set->captions.push_back(*pending[i].caption);
  }
}

void CheckBadShare(const DatasetSpec& spec, const ImageSet& set) {
  const int64_t total = set.count() + set.skipped;
  if (total == 0) throw Error(fmt::format("dataset '{}' has no images for this selection", spec.name));
  if (set.skipped > 0 && static_cast<double>(set.skipped) / total > spec.max_bad_share) {
    throw Error(fmt::format("dataset '{}': {} of {} images do not decode (more than the {:.0f}% max_bad_share; first: {})",
                            spec.name, set.skipped, total, 100 * spec.max_bad_share, set.skipped_examples.front()));
  }
}

std::vector<std::string> ParseDelimitedLine(const std::string& line, char delimiter) {
  std::vector<std::string> fields(1);
  bool quoted = false;
  for (size_t i = 0; i < line.size(); ++i) {
    char c = line[i];
    if (quoted) {
      if (c == '"' && i + 1 < line.size() && line[i + 1] == '"') {
        fields.back() += '"';
        ++i;
      } else if (c == '"') {
        quoted = false;
      } else {
        fields.back() += c;
      }
    } else if (c == '"' && fields.back().empty()) {
      quoted = true;
    } else if (c == delimiter) {
      fields.emplace_back();
    } else if (c != '\r') {
      fields.back() += c;
    }
  }
  return fields;
}

// "2014", "2014-05-03", "2014-05-03T10:00:00Z": the year a time column's value
// begins with.
std::optional<int> LeadingYear(const std::string& text) {
  size_t at = 0;
  while (at < text.size() && text[at] == ' ') ++at;
  size_t digits = 0;
  while (at + digits < text.size() && std::isdigit(static_cast<unsigned char>(text[at + digits]))) ++digits;
  if (digits != 4) return std::nullopt;
  const char next = at + digits < text.size() ? text[at + digits] : '\0';
  if (next != '\0' && next != '-' && next != 'T' && next != ' ' && next != '/' && next != '.') return std::nullopt;
  return std::stoi(text.substr(at, 4));
}

// A class table's label: a class index or a class name.
int TableLabel(const DatasetSpec& spec, const fs::path& file, int64_t row, const std::string& text) {
  if (!text.empty() && std::all_of(text.begin(), text.end(), [](unsigned char c) { return std::isdigit(c); }) &&
      text.size() < 10) {
    const int index = std::stoi(text);
    if (index < static_cast<int>(spec.classes.size())) return index;
  } else {
    auto it = std::find(spec.classes.begin(), spec.classes.end(), text);
    if (it != spec.classes.end()) return static_cast<int>(it - spec.classes.begin());
  }
  throw Error(fmt::format("dataset '{}': '{}' line {}: label '{}' is neither a class name nor an index below {}",
                          spec.name, file.string(), row, text, spec.classes.size()));
}

std::vector<PendingImage> ListTable(const DatasetSpec& spec, const Selector& selector) {
  fs::path file = SplitPath(spec, selector.split);
  if (!PathExists(file)) throw Error(fmt::format("dataset '{}': table '{}' is missing", spec.name, file.string()));
  const char delimiter = spec.kind == "tsv" ? '\t' : ',';
  std::istringstream lines(ReadWholeFile(file, kMaxIndexBytes, "an index file"));
  std::string line;
  if (!std::getline(lines, line)) throw Error(fmt::format("dataset '{}': '{}' is empty", spec.name, file.string()));
  std::vector<std::string> header = ParseDelimitedLine(line, delimiter);
  auto find = [&](const std::string& name) -> std::optional<size_t> {
    auto it = std::find(header.begin(), header.end(), name);
    if (it == header.end()) return std::nullopt;
    return static_cast<size_t>(it - header.begin());
  };
  auto column = [&](const std::string& name) {
    auto at = find(name);
    if (!at) throw Error(fmt::format("dataset '{}': '{}' has no column '{}'", spec.name, file.string(), name));
    return *at;
  };
  const bool classes = !spec.has_captions();
  const size_t path_col = column(spec.path_column);
  const size_t text_col = classes ? column(spec.label_column) : column(spec.caption_column);
  std::optional<size_t> time_col;
  if (spec.time_column) {
    time_col = column(*spec.time_column);
  } else if (!(time_col = find("year"))) {
    time_col = find("time");
  }
  const size_t needed = std::max({path_col, text_col, time_col.value_or(0)});
  const std::set<int> wanted(selector.classes.begin(), selector.classes.end());
  std::vector<PendingImage> pending;
  int64_t row = 1;
  while (std::getline(lines, line)) {
    ++row;
    if (line.empty() || line == "\r") continue;
    auto fields = ParseDelimitedLine(line, delimiter);
    if (fields.size() <= needed) {
      throw Error(fmt::format("dataset '{}': '{}' line {} has {} fields", spec.name, file.string(), row, fields.size()));
    }
    PendingImage sample;
    if (classes) {
      sample.label = TableLabel(spec, file, row, fields[text_col]);
      if (!wanted.empty() && !wanted.count(sample.label)) continue;
    } else {
      sample.caption = fields[text_col];
    }
    if (time_col) {
      sample.year = LeadingYear(fields[*time_col]);
      if (!sample.year) {
        throw Error(fmt::format("dataset '{}': '{}' line {}: '{}' in column '{}' is not a year or a date", spec.name,
                                file.string(), row, fields[*time_col], header[*time_col]));
      }
    }
    fs::path image = fields[path_col];
    if (image.is_relative()) image = file.parent_path() / image;
    if (!PathExists(image)) {
      throw Error(fmt::format("dataset '{}': image '{}' (line {}) is missing", spec.name, image.string(), row));
    }
    sample.file = image;
    sample.origin = image.string();
    pending.push_back(std::move(sample));
  }
  return pending;
}

fs::path FolderRoot(const DatasetSpec& spec, const std::string& split) {
  if (!spec.splits.empty()) return SplitPath(spec, split);
  return IsDirectory(spec.path / split) ? spec.path / split : spec.path;
}

std::vector<PendingImage> ListFolder(const DatasetSpec& spec, const Selector& selector) {
  const fs::path root = FolderRoot(spec, selector.split);
  if (!IsDirectory(root)) throw Error(fmt::format("dataset '{}': directory '{}' is missing", spec.name, root.string()));
  std::set<int> wanted(selector.classes.begin(), selector.classes.end());
  std::vector<PendingImage> pending;
  for (size_t c = 0; c < spec.classes.size(); ++c) {
    if (!wanted.empty() && !wanted.count(static_cast<int>(c))) continue;
    fs::path dir = root / spec.classes[c];
    if (!IsDirectory(dir)) {
      throw Error(fmt::format("dataset '{}': class folder '{}' is missing", spec.name, dir.string()));
    }
    std::vector<fs::path> files;
    for (const auto& entry : fs::directory_iterator(dir)) {
      if (entry.is_regular_file() && IsImageName(entry.path().filename().string())) files.push_back(entry.path());
    }
    std::sort(files.begin(), files.end());
    for (const auto& f : files) pending.push_back({f, "", f.string(), static_cast<int>(c), std::nullopt, std::nullopt});
  }
  return pending;
}

// WebDataset shards: tar members grouped by key (the name up to its first dot);
// an image member (jpg, jpeg, png) and a caption (txt) or class index (cls).
std::vector<PendingImage> ListShards(const DatasetSpec& spec, const Selector& selector, Pixels pixels) {
  fs::path location = SplitPath(spec, selector.split);
  const std::set<int> wanted(selector.classes.begin(), selector.classes.end());
  std::vector<fs::path> shards;
  if (IsDirectory(location)) {
    for (const auto& entry : fs::directory_iterator(location)) {
      if (entry.path().extension() == ".tar") shards.push_back(entry.path());
    }
    std::sort(shards.begin(), shards.end());
  } else if (PathExists(location)) {
    shards.push_back(location);
  }
  if (shards.empty()) throw Error(fmt::format("dataset '{}': no .tar shards at '{}'", spec.name, location.string()));
  std::vector<PendingImage> pending;
  for (const auto& shard : shards) {
    std::string tar = ReadWholeFile(shard, kMaxIndexBytes, "a shard");
    std::map<std::string, std::map<std::string, std::string>> samples;  // key -> extension -> bytes
    std::vector<std::string> order;
    size_t at = 0;
    bool ended = false;
    while (at + 512 <= tar.size()) {
      const char* header = tar.data() + at;
      if (header[0] == '\0') {
        ended = true;
        break;
      }
      std::string name(header, strnlen(header, 100));
      std::string prefix(header + 345, strnlen(header + 345, 155));
      if (!prefix.empty()) name = prefix + "/" + name;
      uint64_t size = std::strtoull(std::string(header + 124, 12).c_str(), nullptr, 8);
      const char type = header[156];
      if (size > tar.size() - at - 512) throw Error(fmt::format("shard '{}' is truncated", shard.string()));
      if (type == '0' || type == '\0') {
        std::string base = fs::path(name).filename().string();
        size_t dot = base.find('.');
        if (dot != std::string::npos) {
          std::string key = fs::path(name).parent_path().string() + "/" + base.substr(0, dot);
          if (!samples.count(key)) order.push_back(key);
          samples[key][base.substr(dot + 1)] = tar.substr(at + 512, size);
        }
      }
      at += 512 + ((size + 511) / 512) * 512;
    }
    if (!ended && at != tar.size()) throw Error(fmt::format("shard '{}' is truncated", shard.string()));
    for (const auto& key : order) {
      const auto& members = samples[key];
      const std::string* image = nullptr;
      for (const char* ext : {"jpg", "jpeg", "png"}) {
        if (members.count(ext)) image = &members.at(ext);
      }
      if (!image) continue;
      if (!spec.has_captions()) {
        // Classification shards: the class index in .cls, a class of `classes`.
        if (!members.count("cls")) {
          throw Error(fmt::format("dataset '{}': sample '{}' in '{}' has no .cls member (a dataset with classes reads "
                                  "class indices)",
                                  spec.name, key, shard.string()));
        }
        const std::string text = members.at("cls");
        char* end = nullptr;
        const long label = std::strtol(text.c_str(), &end, 10);
        while (end && (*end == '\n' || *end == '\r' || *end == ' ')) ++end;
        if (text.empty() || !end || *end != '\0' || label < 0 || label >= static_cast<long>(spec.classes.size())) {
          throw Error(fmt::format("dataset '{}': sample '{}' in '{}' has class '{}', not an index below {}", spec.name,
                                  key, shard.string(), text, spec.classes.size()));
        }
        if (!wanted.empty() && !wanted.count(static_cast<int>(label))) continue;
        pending.push_back({"", pixels == Pixels::kKeep ? *image : "", shard.string() + ":" + key,
                           static_cast<int>(label), std::nullopt, std::nullopt});
        continue;
      }
      if (members.count("txt")) {
        std::string caption = members.at("txt");
        while (!caption.empty() && (caption.back() == '\n' || caption.back() == '\r')) caption.pop_back();
        pending.push_back({"", pixels == Pixels::kKeep ? *image : "", shard.string() + ":" + key, -1, caption, std::nullopt});
      }
    }
  }
  return pending;
}

void CheckIdxDirectory(const DatasetSpec& spec) {
  if (!IsDirectory(spec.path)) {
    throw Error(fmt::format("dataset '{}': directory '{}' is missing{}", spec.name, spec.path.string(),
                            spec.name == "fmnist" ? " (install Debian's dataset-fashion-mnist)" : ""));
  }
}

int IdxLabel(const DatasetSpec& spec, uint8_t label) {
  if (label >= spec.classes.size()) throw Error(fmt::format("dataset '{}': label {} has no class name", spec.name, label));
  return label;
}

ImageSet LoadIdx(const DatasetSpec& spec, const Selector& selector) {
  CheckIdxDirectory(spec);
  IdxArray images = ReadIdx(FindIdx(spec.path, selector.split, "images"));
  IdxArray labels = ReadIdx(FindIdx(spec.path, selector.split, "labels"));
  if (images.dims.size() != 3 || labels.dims.size() != 1 || images.dims[0] != labels.dims[0]) {
    throw Error(fmt::format("dataset '{}': images and labels do not match", spec.name));
  }
  const int64_t h = images.dims[1], w = images.dims[2];
  std::set<int> wanted(selector.classes.begin(), selector.classes.end());
  ImageSet set;
  for (int64_t i = 0; i < labels.dims[0]; ++i) {
    const int label = IdxLabel(spec, labels.data[i]);
    if (!wanted.empty() && !wanted.count(label)) continue;
    Image image{h, w, 1, std::vector<uint8_t>(images.data.begin() + i * h * w, images.data.begin() + (i + 1) * h * w)};
    set.images.push_back(std::move(image));
    set.labels.push_back(label);
  }
  return set;
}

// The samples a cap keeps, in their original order: the same number from every
// class (or a plain draw for caption datasets), seeded.
std::vector<size_t> CapIndices(size_t count, const std::vector<int>& labels, int64_t cap, uint64_t seed) {
  std::vector<size_t> keep;
  std::mt19937_64 rng(seed);
  if (!labels.empty()) {
    std::map<int, std::vector<size_t>> by_class;
    for (size_t i = 0; i < labels.size(); ++i) by_class[labels[i]].push_back(i);
    const size_t per_class = std::max<size_t>(1, static_cast<size_t>(cap) / by_class.size());
    for (auto& [label, indices] : by_class) {
      std::shuffle(indices.begin(), indices.end(), rng);
      indices.resize(std::min(indices.size(), per_class));
      keep.insert(keep.end(), indices.begin(), indices.end());
    }
  } else {
    keep.resize(count);
    std::iota(keep.begin(), keep.end(), 0);
    std::shuffle(keep.begin(), keep.end(), rng);
    keep.resize(static_cast<size_t>(cap));
  }
  std::sort(keep.begin(), keep.end());
  return keep;
}

void ApplyCap(ImageSet* set, int64_t cap, uint64_t seed) {
  if (cap <= 0 || set->count() <= cap) return;
  ImageSet out;
  out.skipped = set->skipped;
  for (size_t i : CapIndices(set->images.size(), set->labels, cap, seed)) {
    out.images.push_back(std::move(set->images[i]));
    if (!set->labels.empty()) out.labels.push_back(set->labels[i]);
    if (!set->captions.empty()) out.captions.push_back(std::move(set->captions[i]));
  }
  *set = std::move(out);
}

std::vector<PendingImage> ListSamples(const DatasetSpec& spec, const Selector& selector, Pixels pixels) {
  if (spec.kind == "folder") return ListFolder(spec, selector);
  if (spec.kind == "csv" || spec.kind == "tsv") return ListTable(spec, selector);
  if (spec.kind == "wds") return ListShards(spec, selector, pixels);
  throw Error(fmt::format("dataset '{}': unknown kind '{}'", spec.name, spec.kind));
}

}  // namespace

std::string ImageSet::SkippedNote() const {
  std::string note = fmt::format("{} undecodable image{} skipped: {}", skipped, skipped == 1 ? "" : "s",
                                 fmt::join(skipped_examples, "; "));
  if (static_cast<size_t>(skipped) > skipped_examples.size()) note += "; ...";
  return note;
}

fs::path SourceOf(const DatasetSpec& spec, const std::string& split) {
  fs::path source;
  if (spec.kind == "idx") {
    try {
      source = FindIdx(spec.path, split, "images");
    } catch (const Error&) {
      source = spec.path / split;  // missing: loading says so
    }
  } else if (spec.kind == "folder") {
    source = FolderRoot(spec, split);
  } else {
    source = SplitPath(spec, split);
  }
  std::error_code ec;
  fs::path absolute = fs::weakly_canonical(source, ec);
  return ec ? fs::absolute(source) : absolute;
}

ImageSet LoadImages(const DatasetSpec& spec, const Selector& selector, uint64_t seed) {
  ImageSet set;
  if (spec.kind == "idx") {
    set = LoadIdx(spec, selector);
  } else {
    std::vector<PendingImage> pending = ListSamples(spec, selector, Pixels::kKeep);
    DecodeAll(pending, spec, &set);
  }
  CheckBadShare(spec, set);
  ApplyCap(&set, selector.cap, seed);
  return set;
}

SampleTexts ReadSampleTexts(const DatasetSpec& spec, const Selector& selector, uint64_t seed) {
  SampleTexts all;
  if (spec.kind == "idx") {
    CheckIdxDirectory(spec);
    const IdxArray labels = ReadIdx(FindIdx(spec.path, selector.split, "labels"));
    if (labels.dims.size() != 1) throw Error(fmt::format("dataset '{}': the labels file is not one-dimensional", spec.name));
    const std::set<int> wanted(selector.classes.begin(), selector.classes.end());
    for (uint8_t byte : labels.data) {
      const int label = IdxLabel(spec, byte);
      if (wanted.empty() || wanted.count(label)) all.labels.push_back(label);
    }
  } else {
    for (auto& sample : ListSamples(spec, selector, Pixels::kSkip)) {
      if (sample.label >= 0) all.labels.push_back(sample.label);
      if (sample.caption) all.captions.push_back(std::move(*sample.caption));
      if (sample.year) all.years.push_back(*sample.year);
    }
  }
  const size_t count = std::max(all.labels.size(), all.captions.size());
  if (selector.cap <= 0 || count <= static_cast<size_t>(selector.cap)) return all;
  SampleTexts kept;
  for (size_t i : CapIndices(count, all.labels, selector.cap, seed)) {
    if (!all.labels.empty()) kept.labels.push_back(all.labels[i]);
    if (!all.captions.empty()) kept.captions.push_back(std::move(all.captions[i]));
    if (!all.years.empty()) kept.years.push_back(all.years[i]);
  }
  return kept;
}

}  // namespace fomo::core
