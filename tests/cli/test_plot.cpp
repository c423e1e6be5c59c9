// fomo plot: the SVG is well-formed XML, each point sits where its values put it
// on the axes drawn (read back from the grid lines), labels overlap nothing, the
// trade-off line runs from the base to the joint point, rsvg-convert renders it,
// and bad requests are refused in one line.
#include <cmath>
#include <map>
#include <optional>

#include <nlohmann/json.hpp>

#include "catch.hpp"
#include "test_support.hpp"

using namespace fomo::test;
using Catch::Matchers::Contains;
using nlohmann::json;

namespace {

struct Element {
  std::string name;
  std::map<std::string, std::string> attributes;
  std::string text;  // the character data directly inside it
};

bool ValidEntity(const std::string& s, size_t at) {
  for (const char* e : {"&amp;", "&lt;", "&gt;", "&quot;", "&apos;"}) {
    if (s.compare(at, std::char_traits<char>::length(e), e) == 0) return true;
  }
  return s.compare(at, 2, "&#") == 0 && s.find(';', at) != std::string::npos;
}

// A strict reader of the XML subset an SVG writer produces: a declaration,
// elements with quoted attributes, character data with entities; every element
// closed in order and one root. Fails the test on anything else.
std::vector<Element> ParseXml(const std::string& s) {
  std::vector<Element> all;
  std::vector<size_t> open;
  size_t roots = 0, i = 0;
  auto fail = [&](const std::string& why) { FAIL("not well-formed at byte " << i << ": " << why); };
  if (s.compare(0, 5, "<?xml") == 0) i = s.find("?>") + 2;
  while (i < s.size()) {
    if (s[i] != '<') {
      if (s[i] == '&' && !ValidEntity(s, i)) fail("a bare &");
      if (!open.empty()) all[open.back()].text += s[i];
      ++i;
      continue;
    }
    if (s.compare(i, 2, "</") == 0) {
      const size_t end = s.find('>', i);
      if (end == std::string::npos || open.empty()) fail("a stray end tag");
      if (s.substr(i + 2, end - i - 2) != all[open.back()].name) fail("end tag of " + all[open.back()].name + " expected");
      open.pop_back();
      i = end + 1;
      continue;
    }
    Element e;
    ++i;
    while (i < s.size() && (std::isalnum(static_cast<unsigned char>(s[i])) || s[i] == '-' || s[i] == ':')) e.name += s[i++];
    if (e.name.empty()) fail("an element without a name");
    bool empty = false;
    while (true) {
      while (i < s.size() && std::isspace(static_cast<unsigned char>(s[i]))) ++i;
      if (s.compare(i, 2, "/>") == 0) {
        empty = true;
        i += 2;
        break;
      }
      if (s[i] == '>') {
        ++i;
        break;
      }
      std::string key;
      while (i < s.size() && s[i] != '=' && !std::isspace(static_cast<unsigned char>(s[i]))) key += s[i++];
      if (s.compare(i, 2, "=\"") != 0) fail("attribute " + key + " not quoted");
      i += 2;
      const size_t end = s.find('"', i);
      const std::string value = s.substr(i, end - i);
      if (value.find('<') != std::string::npos) fail("< in attribute " + key);
      for (size_t k = value.find('&'); k != std::string::npos; k = value.find('&', k + 1)) {
        if (!ValidEntity(value, k)) fail("a bare & in attribute " + key);
      }
      if (e.attributes.count(key)) fail("attribute " + key + " twice");
      e.attributes[key] = value;
      i = end + 1;
    }
    if (open.empty()) ++roots;
    all.push_back(e);
    if (!empty) open.push_back(all.size() - 1);
  }
  if (!open.empty()) FAIL("element " << all[open.back()].name << " never closed");
  CHECK(roots == 1);
  return all;
}

std::vector<const Element*> WithClass(const std::vector<Element>& all, const std::string& cls) {
  std::vector<const Element*> found;
  for (const auto& e : all) {
    auto it = e.attributes.find("class");
    if (it != e.attributes.end() && it->second == cls) found.push_back(&e);
  }
  return found;
}

double Attr(const Element* e, const std::string& key) { return std::stod(e->attributes.at(key)); }

// Pixel position of a value on an axis, from the first and last grid lines.
struct AxisMap {
  double v0 = 0, p0 = 0, v1 = 1, p1 = 1;
  double operator()(double v) const { return p0 + (v - v0) / (v1 - v0) * (p1 - p0); }
};
AxisMap ReadAxis(const std::vector<Element>& svg, const std::string& grid, const std::string& position) {
  const auto lines = WithClass(svg, grid);
  REQUIRE(lines.size() >= 2);
  return {Attr(lines.front(), "data-value"), Attr(lines.front(), position), Attr(lines.back(), "data-value"),
          Attr(lines.back(), position)};
}

std::pair<double, double> Translation(const Element* e) {
  const std::string t = e->attributes.at("transform");
  const size_t open = t.find('('), comma = t.find(',');
  return {std::stod(t.substr(open + 1, comma - open - 1)), std::stod(t.substr(comma + 1))};
}

// A base above chance on its retention suite, a two-task stream and its joint.
void MakeStream(const fs::path& repo) {
  WriteFile(repo / "fomo.yaml", "suites:\n  adaptation: auto\n  retention: ['fmnist:0-4#100']\n");
  REQUIRE(RunFomo({"init", "--arch", "tiny", "--pretrain", "fmnist:0-4#1000", "--steps", "40", "--batch-size", "32", "-q"},
                  repo)
              .exit_code == 0);
  WriteFile(repo / "s.yaml",
            "name: two\nconcepts: ['fmnist:5-6']\ntasks: 2\n"
            "update: {level: minor, steps: 10, batch_size: 16, replay: 0/1/0, lr: 0.001, merge: ema:0.9}\n");
  RunResult run = RunFomo({"stream", "run", "s.yaml", "--joint", "-q"}, repo);
  INFO(run.err);
  REQUIRE(run.exit_code == 0);
}

}  // namespace

TEST_CASE("fomo plot draws a stream's points where their A_KA and A_ZS put them", "[cli][plot][train]") {
  if (!fs::exists("/usr/share/datasets/fashion-mnist")) {
    FOMO_SKIP("dataset-fashion-mnist is not installed (scripts/setup.sh installs it)");
  }
  TempDir dir;
  const fs::path repo = dir.path();
  MakeStream(repo);
  const json report = json::parse(RunFomo({"stream", "report", "two", "--json"}, repo).out);
  RunResult plotted = RunFomo({"plot", "--stream", "two", "-o", "trade.svg", "--json"}, repo);
  INFO(plotted.err);
  REQUIRE(plotted.exit_code == 0);
  const json summary = json::parse(plotted.out);
  CHECK(summary["series"].size() == 1);
  CHECK(summary["references"].size() == 1);

  const std::vector<Element> svg = ParseXml(ReadFile(repo / "trade.svg"));
  const AxisMap x = ReadAxis(svg, "xgrid", "x1"), y = ReadAxis(svg, "ygrid", "y1");
  // Accuracies: the axes read in rounded steps and cover the points.
  CHECK(std::fmod(std::abs(x.v1 - x.v0), 1.0) == Approx(0).margin(1e-9));
  const auto points = WithClass(svg, "point");
  std::map<std::string, std::pair<double, double>> drawn;
  for (const auto* p : points) drawn[p->attributes.at("data-label")] = Translation(p);
  auto expect_at = [&](const json& point, const std::string& label) {
    INFO(label);
    REQUIRE(drawn.count(label));
    CHECK(drawn[label].first == Approx(x(point["accumulation"].get<double>())).margin(0.02));
    CHECK(drawn[label].second == Approx(y(point["retention"].get<double>())).margin(0.02));
    // Inside the frame.
    const auto* frame = WithClass(svg, "frame").front();
    CHECK(drawn[label].first > Attr(frame, "x"));
    CHECK(drawn[label].first < Attr(frame, "x") + Attr(frame, "width"));
    CHECK(drawn[label].second > Attr(frame, "y"));
    CHECK(drawn[label].second < Attr(frame, "y") + Attr(frame, "height"));
  };
  for (const auto& p : report["points"]) expect_at(p, p["version"].get<std::string>());
  expect_at(report["joint"], "joint " + report["joint"]["version"].get<std::string>());
  // Higher retention is higher up the picture.
  CHECK(y(50) < y(10));
  // The polyline runs through the stream's points in order.
  const auto polylines = WithClass(svg, "line");
  REQUIRE(polylines.size() == 1);
  CHECK(polylines[0]->attributes.at("points").find(" ") != std::string::npos);
  // The dashed trade-off line joins the base to the joint point.
  const auto references = WithClass(svg, "reference");
  REQUIRE(references.size() == 1);
  const std::string base = report["points"][0]["version"];
  CHECK(Attr(references[0], "x1") == Approx(drawn[base].first).margin(0.02));
  CHECK(Attr(references[0], "y1") == Approx(drawn[base].second).margin(0.02));
  CHECK(references[0]->attributes.count("stroke-dasharray"));
  // Every point labelled, no two labels overlapping (at the writer's text metrics).
  const auto labels = WithClass(svg, "label");
  CHECK(labels.size() == report["points"].size() + 1);
  for (size_t a = 0; a < labels.size(); ++a) {
    for (size_t b = a + 1; b < labels.size(); ++b) {
      const double wa = 6.3 * labels[a]->text.size(), wb = 6.3 * labels[b]->text.size();
      const bool apart = Attr(labels[a], "x") + wa <= Attr(labels[b], "x") || Attr(labels[b], "x") + wb <= Attr(labels[a], "x") ||
                         std::abs(Attr(labels[a], "y") - Attr(labels[b], "y")) >= 11;
      CHECK(apart);
    }
  }
  CHECK(!WithClass(svg, "legend-entry").empty());

  // A line of versions by range; --metric draws one dataset's metric over them.
  RunResult metric = RunFomo({"plot", "v1.0.0..stream/two", "--metric", "fmnist:0-4#100:top1", "-o", "m.svg"}, repo);
  INFO(metric.err);
  REQUIRE(metric.exit_code == 0);
  const std::vector<Element> msvg = ParseXml(ReadFile(repo / "m.svg"));
  const AxisMap my = ReadAxis(msvg, "ygrid", "y1");
  const auto categories = WithClass(msvg, "xtick");
  REQUIRE(categories.size() == 3);
  const auto mpoints = WithClass(msvg, "point");
  REQUIRE(mpoints.size() == 3);
  for (size_t k = 0; k < 3; ++k) {
    const std::string version = categories[k]->text;
    const json shown = json::parse(RunFomo({"show", version, "--json"}, repo).out);
    CHECK(version == report["points"][k]["version"]);
    CHECK(Translation(mpoints[k]).first == Approx(Attr(categories[k], "x")).margin(0.02));
    CHECK(Translation(mpoints[k]).second == Approx(my(shown["metrics"]["fmnist:0-4#100"]["top1"].get<double>())).margin(0.02));
  }

  // PNG through rsvg-convert, which also shows the SVG renders.
  if (RunProgram({"/bin/sh", "-c", "command -v rsvg-convert"}, repo).exit_code != 0) {
    FOMO_SKIP("rsvg-convert is not installed (librsvg2-bin; scripts/setup.sh installs it): PNG output untested");
  }
  RunResult png = RunFomo({"plot", "--stream", "two", "-o", "trade.png"}, repo);
  INFO(png.err);
  REQUIRE(png.exit_code == 0);
  const std::string bytes = ReadFile(repo / "trade.png");
  REQUIRE(bytes.size() > 24);
  CHECK(bytes.compare(0, 8, "\x89PNG\r\n\x1a\n") == 0);
  auto be32 = [&](size_t at) {
    return (uint32_t(uint8_t(bytes[at])) << 24) | (uint32_t(uint8_t(bytes[at + 1])) << 16) |
           (uint32_t(uint8_t(bytes[at + 2])) << 8) | uint32_t(uint8_t(bytes[at + 3]));
  };
  CHECK(be32(16) == 1520);  // the SVG's 760 x 520 at twice the size
  CHECK(be32(20) == 1040);
  CHECK(!fs::exists(repo / ".trade.png.svg"));
  CHECK(RunProgram({"/bin/sh", "-c", "rsvg-convert m.svg -o m.png"}, repo).exit_code == 0);
}

TEST_CASE("fomo plot refuses what it cannot draw in one line", "[cli][plot]") {
  TempDir dir;
  REQUIRE(RunFomo({"init", "--arch", "tiny", "-q", "--no-eval"}, dir.path()).exit_code == 0);
  WriteFile(dir.path() / "fomo.yaml", "suites:\n  retention: []\n");
  auto refused = [&](const std::vector<std::string>& args, int code, const std::string& says) {
    RunResult r = RunFomo(args, dir.path());
    INFO(r.err);
    CHECK(r.exit_code == code);
    CHECK_THAT(r.err, Contains(says));
  };
  refused({"plot", "-o", "a.svg"}, 2, "--stream NAME");
  refused({"plot", "HEAD", "-o", "a.pdf"}, 2, ".svg or .png");
  refused({"plot", "--stream", "none", "-o", "a.svg"}, 1, "no stream 'none'");
  refused({"plot", "nothing", "-o", "a.svg"}, 1, "nothing");
  refused({"plot", "HEAD", "--metric", "fmnist", "-o", "a.svg"}, 2, "DATASET:METRIC");
  refused({"plot", "HEAD", "--metric", "absent:top1", "-o", "a.svg"}, 1, "absent");
  // A version with no measurements has nothing to draw; no file is left.
  refused({"plot", "HEAD", "-o", "a.svg"}, 1, "nothing to draw");
  CHECK(!fs::exists(dir.path() / "a.svg"));
}
