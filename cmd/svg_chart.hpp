// A line chart written as SVG (fomo plot): axes with rounded ticks, one polyline
// per series with its own colour and marker (Okabe and Ito's colour-blind-safe
// palette; the markers tell series apart in grey print too), labelled points
// placed where they overlap nothing, dashed reference lines, and a legend.
// No dependencies: the output is plain SVG 1.1 text.
#pragma once

#include <optional>
#include <string>
#include <vector>

namespace fomo::cmd {

struct ChartPoint {
  double x = 0, y = 0;
  std::string label;  // empty: none
};

struct ChartSeries {
  std::string name;  // in the legend
  std::vector<ChartPoint> points;
};

// A dashed grey segment (the base-to-joint trade-off line), its end labelled.
struct ChartReference {
  std::string name;
  ChartPoint from, to;
};

struct Chart {
  std::string title;
  std::string x_title, y_title;
  std::vector<ChartSeries> series;
  std::vector<ChartReference> references;
  // Categorical x: tick k at x = k carries this text (versions, tasks); empty:
  // numeric ticks.
  std::vector<std::string> x_categories;
};

// Rounded tick values (steps of 1, 2 or 5 times a power of ten) covering [lo, hi],
// about `target` of them.
std::vector<double> NiceTicks(double lo, double hi, int target = 6);

std::string RenderSvg(const Chart& chart);

}  // namespace fomo::cmd
