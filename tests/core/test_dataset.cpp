#include <zlib.h>

#include "catch.hpp"
#include "core/dataset.hpp"
#include "storage/error.hpp"
#include "test_support.hpp"

using namespace fomo;
using fomo::test::TempDir;
namespace fs = std::filesystem;

namespace {

// Writes an IDX file of unsigned bytes (gzipped when the name ends in .gz).
void WriteIdx(const fs::path& path, const std::vector<int64_t>& dims, const std::vector<uint8_t>& data) {
  std::string bytes = {0, 0, 8, static_cast<char>(dims.size())};
  for (int64_t d : dims) {
    for (int s = 24; s >= 0; s -= 8) bytes.push_back(static_cast<char>((d >> s) & 0xff));
  }
  bytes.append(data.begin(), data.end());
  if (path.extension() == ".gz") {
    gzFile f = gzopen(path.c_str(), "wb");
    gzwrite(f, bytes.data(), static_cast<unsigned>(bytes.size()));
    gzclose(f);
  } else {
    fomo::test::WriteFile(path, bytes);
  }
}

// A 3-class dataset of 2x2 images whose pixels hold the sample index.
core::DatasetRegistry SmallRegistry(const TempDir& dir) {
  std::vector<uint8_t> images, labels;
  for (int i = 0; i < 30; ++i) {
    for (int p = 0; p < 4; ++p) images.push_back(static_cast<uint8_t>(i));
    labels.push_back(static_cast<uint8_t>(i % 3));
  }
  WriteIdx(dir / "t10k-images-idx3-ubyte.gz", {30, 2, 2}, images);
  WriteIdx(dir / "t10k-labels-idx1-ubyte", {30}, labels);
  YAML::Node doc = YAML::Load("datasets:\n  small:\n    path: " + dir.path().string() +
                              "\n    classes: [red, green, blue]\n");
  return core::DatasetRegistry::FromYaml(doc, "fomo.yaml");
}

}  // namespace

TEST_CASE("selectors pick classes by index, range or name, a split and a cap", "[data]") {
  auto registry = core::DatasetRegistry::FromYaml(YAML::Node(), "fomo.yaml");
  auto s = core::Selector::Parse("fmnist:5-9", registry);
  REQUIRE(s.classes == std::vector<int>{5, 6, 7, 8, 9});
  REQUIRE(s.split == "test");
  REQUIRE(s.Canonical() == "fmnist:5-9@test");
  s = core::Selector::Parse("fmnist:sandal,sneaker@train#100", registry);
  REQUIRE(s.classes == std::vector<int>{5, 7});
  REQUIRE(s.split == "train");
  REQUIRE(s.cap == 100);
  // Shown as written: names stay names, in class order.
  REQUIRE(s.Canonical() == "fmnist:sandal,sneaker@train#100");
  REQUIRE(s.WithoutSplit() == "fmnist:sandal,sneaker#100");
  REQUIRE(core::Selector::Parse("fmnist:sneaker,sandal", registry).WithoutSplit() == "fmnist:sandal,sneaker");
  REQUIRE(core::Selector::Parse("fmnist:5,sneaker", registry).WithoutSplit() == "fmnist:5,7");
  REQUIRE(core::Selector::Parse("fmnist:0-2,4", registry).Canonical() == "fmnist:0-2,4@test");
  REQUIRE_THROWS_WITH(core::Selector::Parse("fmnist:3-12", registry), HasSubstr("outside 0-9"));
  REQUIRE_THROWS_WITH(core::Selector::Parse("fmnist:boots", registry), HasSubstr("no class 'boots'"));
  REQUIRE_THROWS_WITH(core::Selector::Parse("fmnist@val", registry), HasSubstr("train or test"));
  REQUIRE_THROWS_WITH(core::Selector::Parse("mnist", registry), HasSubstr("unknown dataset 'mnist'"));
  REQUIRE_THROWS_WITH(core::Selector::Parse("fmnist#0", registry), HasSubstr("bad sample cap"));
}

TEST_CASE("IDX datasets load with class selection and a balanced, seeded cap", "[data]") {
  TempDir dir;
  auto registry = SmallRegistry(dir);
  const auto& spec = registry.Get("small");
  auto all = core::LoadImages(spec, core::Selector::Parse("small", registry), 0);
  REQUIRE(all.count() == 30);
  REQUIRE(all.images[7].height == 2);
  REQUIRE(all.images[7].pixels[0] == 7);
  auto blue = core::LoadImages(spec, core::Selector::Parse("small:blue", registry), 0);
  REQUIRE(blue.count() == 10);
  for (int label : blue.labels) REQUIRE(label == 2);
  auto capped = core::LoadImages(spec, core::Selector::Parse("small#6", registry), 1);
  REQUIRE(capped.count() == 6);
  std::vector<int> per_class(3);
  for (int label : capped.labels) ++per_class[label];
  REQUIRE(per_class == std::vector<int>{2, 2, 2});
  auto again = core::LoadImages(spec, core::Selector::Parse("small#6", registry), 1);
  for (int64_t i = 0; i < 6; ++i) REQUIRE(again.images[i].pixels == capped.images[i].pixels);
  REQUIRE_THROWS_WITH(core::LoadImages(spec, core::Selector::Parse("small@train", registry), 0),
                      HasSubstr("no train images file"));
}

TEST_CASE("corrupt IDX files and bad dataset entries are refused", "[data]") {
  TempDir dir;
  fomo::test::WriteFile(dir / "bad.idx", std::string("\x01\x02\x08\x01", 4));
  REQUIRE_THROWS_WITH(core::ReadIdx(dir / "bad.idx"), HasSubstr("bad magic"));
  WriteIdx(dir / "short.idx", {10}, {1, 2, 3});
  REQUIRE_THROWS_WITH(core::ReadIdx(dir / "short.idx"), HasSubstr("promises 10 bytes"));
  REQUIRE_THROWS_WITH(core::DatasetRegistry::FromYaml(YAML::Load("datasets:\n  x:\n    classes: [a]\n"), "fomo.yaml"),
                      HasSubstr("needs a path"));
  REQUIRE_THROWS_WITH(
      core::DatasetRegistry::FromYaml(YAML::Load("datasets:\n  x:\n    path: /tmp\n    classes: [a]\n    shots: 3\n"),
                                      "fomo.yaml"),
      HasSubstr("unknown key 'datasets.x.shots'"));
  REQUIRE_THROWS_WITH(
      core::DatasetRegistry::FromYaml(
          YAML::Load("datasets:\n  x:\n    path: /tmp\n    classes: [a]\n    templates: [no slot]\n"), "fomo.yaml"),
      HasSubstr("has no {}"));
}

TEST_CASE("IDX sizes computed from a header cannot wrap around", "[data][hostile]") {
  TempDir dir;
  WriteIdx(dir / "wrap.idx", {4, int64_t{1} << 31, int64_t{1} << 31}, {1, 2, 3});
  REQUIRE_THROWS_WITH(core::ReadIdx(dir / "wrap.idx"), HasSubstr("overflow"));
  WriteIdx(dir / "huge.idx", {int64_t{0xffffffff}, int64_t{0xffffffff}}, {1});
  REQUIRE_THROWS_WITH(core::ReadIdx(dir / "huge.idx"), HasSubstr("promises"));
}
