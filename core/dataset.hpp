// Datasets named in fomo.yaml and the selectors that pick from them
// ("fmnist:5-9", "fmnist:sandal,sneaker@train#1000"), loaded as decoded 8-bit
// images with labels. The built-in `fmnist` reads Debian's dataset-fashion-mnist.
#pragma once

#include <cstdint>
#include <filesystem>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include <yaml-cpp/yaml.h>

#include "core/image_decode.hpp"

namespace fomo::core {

namespace fs = std::filesystem;

struct DatasetSpec {
  std::string name;
  std::string kind;  // idx, folder, csv, tsv, wds
  // For csv, tsv and wds a "{split}" in the path is replaced by the split; or
  // `splits` names each split's file (or folder, for folder and wds datasets).
  // Without either, one file serves both splits: fine for a dataset only
  // evaluated on, refused (evaluation.hpp) where a version trained on it.
  fs::path path;
  std::vector<std::string> classes;    // folder: the sub-folder names by default
  std::vector<std::string> templates;  // "a photo of a {}."
  std::string path_column = "filepath";  // csv/tsv, as OpenCLIP names them
  std::string caption_column = "title";
  std::string label_column = "label";  // csv/tsv with classes: a class name or index per row
  // csv/tsv: a column of years or dates ("2014", "2014-05-03"), read per sample by a
  // stream's time-incremental ordering; by default a column named year or time.
  std::optional<std::string> time_column = {};
  double max_bad_share = 0.05;  // undecodable images tolerated before failing
  uint64_t max_image_bytes = 64ull << 20;  // larger image files are refused, naming the file
  std::map<std::string, fs::path> splits = {};  // "train" / "test" -> path (see path)
  std::optional<int> year = {};  // when the data was collected: a stream's time-incremental ordering

  // Tables and WebDataset shards with `classes` are classification data (a label
  // column, a .cls member per sample); without, caption data (a caption column, .txt).
  bool has_captions() const { return (kind == "csv" || kind == "tsv" || kind == "wds") && classes.empty(); }
};

// fmnist and whatever fomo.yaml's `datasets` section adds or overrides.
class DatasetRegistry {
 public:
  static DatasetRegistry FromYaml(const YAML::Node& document, const std::string& origin);
  const DatasetSpec& Get(const std::string& name) const;
  std::vector<std::string> Names() const;

 private:
  std::map<std::string, DatasetSpec> specs_;
};

DatasetSpec BuiltinFashionMnist();

// "a photo of a {}." with the class name in place of the braces.
std::string FillTemplate(const std::string& tmpl, const std::string& class_name);

// NAME[:CLASSES][@SPLIT][#CAP]: CLASSES are indices and ranges ("0-4,7") or class
// names ("sandal,sneaker"); SPLIT is train or test (default test); CAP takes at most
// that many samples, class-balanced, with a seeded draw.
struct Selector {
  std::string dataset;
  std::vector<int> classes;  // empty: all
  std::vector<std::string> class_names;  // their names, when the selector gave names
  std::string split = "test";
  int64_t cap = 0;
  std::string text;  // as written, for messages and database keys

  static Selector Parse(const std::string& text, const DatasetRegistry& registry);
  // The canonical spelling, e.g. "fmnist:5-9@test#100".
  std::string Canonical() const;
  // The same without the split: "fmnist:5-9#100".
  std::string WithoutSplit() const;
};

struct ImageSet {
  std::vector<Image> images;
  std::vector<int> labels;            // indices into the classes (class datasets)
  std::vector<std::string> captions;  // one per image (caption datasets)
  int64_t skipped = 0;                // undecodable images left out
  static constexpr size_t kSkippedExamples = 3;
  std::vector<std::string> skipped_examples;  // the first few, with what is wrong with each

  // "2 undecodable images skipped: cannot decode JPEG 'a.jpg': ..., ..."
  std::string SkippedNote() const;

  int64_t count() const { return static_cast<int64_t>(images.size()); }
};

ImageSet LoadImages(const DatasetSpec& spec, const Selector& selector, uint64_t seed);

// What a selection's samples say, without decoding a pixel: labels (class datasets),
// captions (caption datasets) and years (tables with a year or time column; empty
// otherwise). The cap draws as LoadImages does; images that would not decode are
// still counted here.
struct SampleTexts {
  std::vector<int> labels;
  std::vector<std::string> captions;
  std::vector<int> years;
};
SampleTexts ReadSampleTexts(const DatasetSpec& spec, const Selector& selector, uint64_t seed);

// The file or folder a split of a dataset reads, made absolute: two selectors whose
// sources are the same path read the same images.
fs::path SourceOf(const DatasetSpec& spec, const std::string& split);

// Reads an IDX file (MNIST format), gzipped or not.
struct IdxArray {
  std::vector<int64_t> dims;
  std::vector<uint8_t> data;
};
IdxArray ReadIdx(const fs::path& path);

}  // namespace fomo::core
