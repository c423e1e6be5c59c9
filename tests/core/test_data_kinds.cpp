// Every dataset kind on small files the test writes, including a broken JPEG.
#include <sys/stat.h>

#include "catch.hpp"
#include "core/dataset.hpp"
#include "core/image_decode.hpp"
#include "storage/error.hpp"
#include "test_support.hpp"

using namespace fomo;
using namespace fomo::test;

namespace {
core::DatasetRegistry Registry(const std::string& yaml) {
  return core::DatasetRegistry::FromYaml(YAML::Load(yaml), "fomo.yaml");
}
}  // namespace

TEST_CASE("PNG and JPEG files decode; anything else is refused", "[data][image]") {
  TempDir dir;
  WritePng(dir / "g.png", 5, 3, 1, 200);
  WritePng(dir / "c.png", 4, 6, 3, 10);
  WriteJpeg(dir / "j.jpg", 8, 8, 120);
  auto grey = core::DecodeImage(ReadFile(dir / "g.png"), "g.png");
  REQUIRE((grey.width == 5 && grey.height == 3 && grey.channels == 1));
  REQUIRE(grey.pixels[7] == 200);
  auto colour = core::DecodeImage(ReadFile(dir / "c.png"), "c.png");
  REQUIRE((colour.width == 4 && colour.height == 6 && colour.channels == 3));
  auto jpeg = core::DecodeImage(ReadFile(dir / "j.jpg"), "j.jpg");
  REQUIRE((jpeg.width == 8 && jpeg.channels == 3));
  REQUIRE(std::abs(int(jpeg.pixels[10]) - 120) <= 2);
  REQUIRE_THROWS_WITH(core::DecodeImage("GIF89a....", "x.gif"), HasSubstr("neither JPEG nor PNG"));
  REQUIRE_THROWS_WITH(core::DecodeImage(std::string("\xFF\xD8\xFF\xE0garbage", 11), "bad.jpg"),
                      HasSubstr("cannot decode JPEG 'bad.jpg'"));
}

TEST_CASE("class folders load, broken images are skipped and counted", "[data]") {
  TempDir dir;
  for (const char* cls : {"cat", "dog"}) {
    fs::create_directories(dir / "test" / cls);
    for (int i = 0; i < 3; ++i) WritePng(dir / "test" / cls / (std::to_string(i) + ".png"), 10, 12, 3, 50);
  }
  WriteFile(dir / "test" / "dog" / "broken.jpg", std::string("\xFF\xD8\xFF\xE0 not really a jpeg", 22));
  WriteFile(dir / "test" / "dog" / "notes.txt", "ignored");
  std::string yaml = "datasets:\n  pets:\n    kind: folder\n    path: " + dir.path().string();
  auto lenient = Registry(yaml + "\n    max_bad_share: 0.5\n");
  REQUIRE(lenient.Get("pets").classes == std::vector<std::string>{"cat", "dog"});
  auto set = core::LoadImages(lenient.Get("pets"), core::Selector::Parse("pets", lenient), 0);
  REQUIRE(set.count() == 6);
  REQUIRE(set.skipped == 1);
  // The skipped image is named, with what is wrong with it.
  REQUIRE_THAT(set.SkippedNote(), HasSubstr("1 undecodable image skipped: cannot decode JPEG '") &&
                                      HasSubstr("broken.jpg'"));
  REQUIRE(set.labels == std::vector<int>{0, 0, 0, 1, 1, 1});
  auto dogs = core::LoadImages(lenient.Get("pets"), core::Selector::Parse("pets:dog", lenient), 0);
  REQUIRE(dogs.count() == 3);
  // One broken image in seven is more than the default 5 % share: the load fails.
  auto strict = Registry(yaml + "\n");
  REQUIRE_THROWS_WITH(core::LoadImages(strict.Get("pets"), core::Selector::Parse("pets", strict), 0),
                      HasSubstr("1 of 7 images do not decode") && HasSubstr("first: cannot decode JPEG") &&
                          HasSubstr("broken.jpg"));
}

TEST_CASE("csv and tsv caption tables load; missing files and columns are named", "[data]") {
  TempDir dir;
  WritePng(dir / "a.png", 6, 6, 3, 10);
  WriteJpeg(dir / "b.jpg", 6, 6, 90);
  WriteFile(dir / "pairs.csv", "filepath,title\na.png,\"a red, square thing\"\nb.jpg,a grey square\n");
  WriteFile(dir / "pairs.tsv", "image\tcaption\na.png\ta red square\n");
  auto registry = Registry("datasets:\n  pairs:\n    kind: csv\n    path: " + (dir / "pairs.csv").string() +
                           "\n  tabs:\n    kind: tsv\n    path: " + (dir / "pairs.tsv").string() +
                           "\n    path_column: image\n    caption_column: caption\n");
  auto set = core::LoadImages(registry.Get("pairs"), core::Selector::Parse("pairs", registry), 0);
  REQUIRE(set.count() == 2);
  REQUIRE(set.captions == std::vector<std::string>{"a red, square thing", "a grey square"});
  REQUIRE(core::LoadImages(registry.Get("tabs"), core::Selector::Parse("tabs", registry), 0).count() == 1);
  REQUIRE_THROWS_WITH(core::Selector::Parse("pairs:0", registry), HasSubstr("caption dataset"));
  WriteFile(dir / "pairs.csv", "filepath,caption\na.png,x\n");
  REQUIRE_THROWS_WITH(core::LoadImages(registry.Get("pairs"), core::Selector::Parse("pairs", registry), 0),
                      HasSubstr("no column 'title'"));
  WriteFile(dir / "pairs.csv", "filepath,title\nmissing.png,x\n");
  REQUIRE_THROWS_WITH(core::LoadImages(registry.Get("pairs"), core::Selector::Parse("pairs", registry), 0),
                      HasSubstr("missing.png") && HasSubstr("line 2"));
}

TEST_CASE("tables with classes are classification data, with a year per sample where they have one", "[data]") {
  TempDir dir;
  WritePng(dir / "a.png", 6, 6, 3, 10);
  WriteJpeg(dir / "b.jpg", 6, 6, 90);
  // Labels by name or index; the year column by its default name, dates read by their year.
  WriteFile(dir / "cars.csv",
            "filepath,label,year\na.png,sedan,2004\nb.jpg,1,2011-03-02\na.png,truck,2019-12-31T23:00:00Z\n"
            "b.jpg,sedan,2005\n");
  WriteFile(dir / "cars.tsv", "path\tkind\twhen\na.png\t0\t1999\n");
  auto registry = Registry("datasets:\n  cars:\n    kind: csv\n    classes: [sedan, truck]\n    path: " +
                           (dir / "cars.csv").string() + "\n  old:\n    kind: tsv\n    classes: [sedan, truck]\n    path: " +
                           (dir / "cars.tsv").string() + "\n    path_column: path\n    label_column: kind\n    time_column: when\n");
  REQUIRE_FALSE(registry.Get("cars").has_captions());
  auto set = core::LoadImages(registry.Get("cars"), core::Selector::Parse("cars", registry), 0);
  CHECK(set.count() == 4);
  CHECK(set.labels == std::vector<int>{0, 1, 1, 0});
  CHECK(set.captions.empty());
  auto trucks = core::LoadImages(registry.Get("cars"), core::Selector::Parse("cars:truck", registry), 0);
  CHECK(trucks.labels == std::vector<int>{1, 1});

  // What the samples say, without their pixels.
  core::SampleTexts texts = core::ReadSampleTexts(registry.Get("cars"), core::Selector::Parse("cars", registry), 0);
  CHECK(texts.labels == std::vector<int>{0, 1, 1, 0});
  CHECK(texts.years == std::vector<int>{2004, 2011, 2019, 2005});
  core::SampleTexts sedans = core::ReadSampleTexts(registry.Get("cars"), core::Selector::Parse("cars:0", registry), 0);
  CHECK(sedans.years == std::vector<int>{2004, 2005});
  CHECK(core::ReadSampleTexts(registry.Get("old"), core::Selector::Parse("old", registry), 0).years ==
        std::vector<int>{1999});
  // A cap keeps the samples LoadImages keeps.
  auto capped = core::LoadImages(registry.Get("cars"), core::Selector::Parse("cars#2", registry), 3);
  CHECK(core::ReadSampleTexts(registry.Get("cars"), core::Selector::Parse("cars#2", registry), 3).labels == capped.labels);
  // Idx datasets read their labels file alone.
  auto fmnist = core::DatasetRegistry::FromYaml(YAML::Load("{}"), "fomo.yaml");
  if (fs::exists("/usr/share/datasets/fashion-mnist")) {
    auto labels = core::ReadSampleTexts(fmnist.Get("fmnist"), core::Selector::Parse("fmnist:3-4@train", fmnist), 0).labels;
    CHECK(labels.size() == 12000);
    CHECK(labels == core::LoadImages(fmnist.Get("fmnist"), core::Selector::Parse("fmnist:3-4@train", fmnist), 0).labels);
  }

  // What is wrong is named with its line.
  WriteFile(dir / "cars.csv", "filepath,label,year\na.png,bus,2004\n");
  CHECK_THROWS_WITH(core::LoadImages(registry.Get("cars"), core::Selector::Parse("cars", registry), 0),
                    HasSubstr("line 2: label 'bus' is neither a class name nor an index below 2"));
  WriteFile(dir / "cars.csv", "filepath,label,year\na.png,0,last spring\n");
  CHECK_THROWS_WITH(core::ReadSampleTexts(registry.Get("cars"), core::Selector::Parse("cars", registry), 0),
                    HasSubstr("line 2: 'last spring' in column 'year' is not a year or a date"));
  WriteFile(dir / "cars.csv", "filepath,title\na.png,x\n");
  CHECK_THROWS_WITH(core::LoadImages(registry.Get("cars"), core::Selector::Parse("cars", registry), 0),
                    HasSubstr("no column 'label'"));
  CHECK_THROWS_WITH(Registry("datasets:\n  x:\n    path: /tmp/x\n    classes: [a]\n    time_column: t\n"),
                    HasSubstr("columns of csv and tsv tables"));
}

TEST_CASE("WebDataset tar shards load image and caption pairs", "[data]") {
  TempDir dir;
  WritePng(dir / "x.png", 4, 4, 1, 30);
  WriteJpeg(dir / "y.jpg", 4, 4, 60);
  fs::create_directories(dir / "shards");
  WriteTar(dir / "shards" / "000000.tar", {{"s1.png", ReadFile(dir / "x.png")},
                                           {"s1.txt", "a dark tile\n"},
                                           {"s2.jpg", ReadFile(dir / "y.jpg")},
                                           {"s2.txt", "a lighter tile"},
                                           {"s3.txt", "a caption without an image"}});
  auto registry = Registry("datasets:\n  tiles:\n    kind: wds\n    path: " + (dir / "shards").string() + "\n");
  auto set = core::LoadImages(registry.Get("tiles"), core::Selector::Parse("tiles", registry), 0);
  REQUIRE(set.count() == 2);
  REQUIRE(set.captions == std::vector<std::string>{"a dark tile", "a lighter tile"});
  WriteFile(dir / "shards" / "000000.tar", ReadFile(dir / "shards" / "000000.tar").substr(0, 700));
  REQUIRE_THROWS_WITH(core::LoadImages(registry.Get("tiles"), core::Selector::Parse("tiles", registry), 0),
                      HasSubstr("truncated"));
}

TEST_CASE("image files are read only when regular and within max_image_bytes", "[data][hostile]") {
  TempDir dir;
  WritePng(dir / "a.png", 6, 6, 3, 10);
  auto registry = Registry("datasets:\n  pairs:\n    kind: csv\n    path: " + (dir / "pairs.csv").string() +
                           "\n  small:\n    kind: csv\n    max_image_bytes: 16\n    path: " +
                           (dir / "pairs.csv").string() + "\n");
  auto load = [&](const std::string& name) {
    return core::LoadImages(registry.Get(name), core::Selector::Parse(name, registry), 0);
  };
  // /dev/zero would be read until memory runs out, a FIFO would block for ever.
  WriteFile(dir / "pairs.csv", "filepath,title\n/dev/zero,zeros\n");
  REQUIRE_THROWS_WITH(load("pairs"), HasSubstr("'/dev/zero': not a regular file"));
  REQUIRE(::mkfifo((dir / "fifo.png").c_str(), 0644) == 0);
  WriteFile(dir / "pairs.csv", "filepath,title\nfifo.png,a pipe\n");
  REQUIRE_THROWS_WITH(load("pairs"), HasSubstr("fifo.png': not a regular file"));
  WriteFile(dir / "pairs.csv", "filepath,title\na.png,a square\n");
  REQUIRE(load("pairs").count() == 1);
  REQUIRE_THROWS_WITH(load("small"), HasSubstr("more than the dataset's max_image_bytes allows (16)"));
  REQUIRE_THROWS_WITH(Registry("datasets:\n  x:\n    kind: csv\n    path: /tmp/x.csv\n    max_image_bytes: -3\n"),
                      HasSubstr("max_image_bytes"));
}

TEST_CASE("splits name each split's file; WebDataset shards with classes are classification data", "[data]") {
  TempDir dir;
  WritePng(dir / "a.png", 6, 6, 3, 10);
  WriteJpeg(dir / "b.jpg", 6, 6, 90);
  WriteFile(dir / "train.csv", "filepath,title\na.png,a red square\n");
  WriteFile(dir / "held-out.csv", "filepath,title\nb.jpg,a grey square\nb.jpg,the same grey square\n");
  auto registry = Registry("datasets:\n  pairs:\n    kind: csv\n    splits:\n      train: " + (dir / "train.csv").string() +
                           "\n      test: " + (dir / "held-out.csv").string() + "\n  half:\n    kind: csv\n    splits: {train: " +
                           (dir / "train.csv").string() + "}\n");
  CHECK(core::LoadImages(registry.Get("pairs"), core::Selector::Parse("pairs@train", registry), 0).count() == 1);
  CHECK(core::LoadImages(registry.Get("pairs"), core::Selector::Parse("pairs", registry), 0).count() == 2);
  CHECK(core::SourceOf(registry.Get("pairs"), "train") != core::SourceOf(registry.Get("pairs"), "test"));
  CHECK_THROWS_WITH(core::LoadImages(registry.Get("half"), core::Selector::Parse("half", registry), 0),
                    HasSubstr("dataset 'half' has no test split"));
  CHECK_THROWS_WITH(Registry("datasets:\n  x:\n    kind: csv\n    splits: {validation: /tmp/v.csv}\n"),
                    HasSubstr("splits are train and test, not 'validation'"));
  CHECK_THROWS_WITH(Registry("datasets:\n  x:\n    kind: csv\n    splits: [a, b]\n"), HasSubstr("splits"));
  // One file and no splits: both splits read it, which SourceOf makes visible.
  auto single = Registry("datasets:\n  one:\n    kind: csv\n    path: " + (dir / "train.csv").string() + "\n");
  CHECK(core::SourceOf(single.Get("one"), "train") == core::SourceOf(single.Get("one"), "test"));

  // WebDataset with classes: .cls members are class indices.
  WritePng(dir / "x.png", 4, 4, 1, 30);
  fs::create_directories(dir / "shards");
  const std::string png = ReadFile(dir / "x.png");
  WriteTar(dir / "shards" / "000000.tar", {{"s1.png", png}, {"s1.cls", "0"}, {"s2.png", png}, {"s2.cls", "1\n"},
                                           {"s3.png", png}, {"s3.cls", "1"}});
  auto shards = Registry("datasets:\n  tiles:\n    kind: wds\n    path: " + (dir / "shards").string() +
                         "\n    classes: [dark, light]\n");
  CHECK_FALSE(shards.Get("tiles").has_captions());
  auto set = core::LoadImages(shards.Get("tiles"), core::Selector::Parse("tiles", shards), 0);
  CHECK(set.labels == std::vector<int>{0, 1, 1});
  CHECK(set.captions.empty());
  CHECK(core::LoadImages(shards.Get("tiles"), core::Selector::Parse("tiles:light", shards), 0).count() == 2);
  WriteTar(dir / "shards" / "000000.tar", {{"s1.png", png}, {"s1.cls", "7"}});
  CHECK_THROWS_WITH(core::LoadImages(shards.Get("tiles"), core::Selector::Parse("tiles", shards), 0),
                    HasSubstr("has class '7', not an index below 2"));
  WriteTar(dir / "shards" / "000000.tar", {{"s1.png", png}, {"s1.txt", "a caption"}});
  CHECK_THROWS_WITH(core::LoadImages(shards.Get("tiles"), core::Selector::Parse("tiles", shards), 0),
                    HasSubstr("has no .cls member"));
}
