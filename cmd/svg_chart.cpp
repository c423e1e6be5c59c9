#include "cmd/svg_chart.hpp"

#include <algorithm>
#include <cmath>
#include <limits>

#include <fmt/format.h>

namespace fomo::cmd {

namespace {

// Okabe and Ito, "Color Universal Design" (2008): distinct for the colour-blind
// and in print; yellow left out, it does not read on white.
constexpr const char* kColours[] = {"#0072B2", "#D55E00", "#009E73", "#CC79A7", "#E69F00", "#56B4E9", "#000000"};
constexpr size_t kColourCount = sizeof(kColours) / sizeof(kColours[0]);
constexpr const char* kFont = "DejaVu Sans, Helvetica, Arial, sans-serif";

constexpr double kWidth = 760, kHeight = 520;
constexpr double kLeft = 76, kRight = kWidth - 200, kTop = 48, kBottom = kHeight - 64;
constexpr double kLabelSize = 10.5, kCharWidth = 0.6 * kLabelSize, kLabelHeight = kLabelSize + 1;

std::string Escape(const std::string& text) {
  std::string out;
  for (char c : text) {
    switch (c) {
      case '&': out += "&amp;"; break;
      case '<': out += "&lt;"; break;
      case '>': out += "&gt;"; break;
      case '"': out += "&quot;"; break;
      default: out += c;
    }
  }
  return out;
}

std::string Num(double v) { return fmt::format("{:.2f}", v); }

// The legend has kWidth - kRight pixels: a longer name ends in an ellipsis (its
// full text stays in the points' tooltips).
std::string LegendText(const std::string& name) {
  constexpr size_t kMost = 22;
  return name.size() <= kMost ? name : name.substr(0, kMost - 1) + "\u2026";
}

// A marker centred on the origin: shape k of a series, so series differ without colour.
std::string MarkerPath(size_t k) {
  switch (k % 5) {
    case 0: return "M -4.2 0 A 4.2 4.2 0 1 0 4.2 0 A 4.2 4.2 0 1 0 -4.2 0 Z";  // circle
    case 1: return "M -3.8 -3.8 H 3.8 V 3.8 H -3.8 Z";                         // square
    case 2: return "M 0 -5 L 4.5 3.5 H -4.5 Z";                                // triangle
    case 3: return "M 0 -5.2 L 5.2 0 L 0 5.2 L -5.2 0 Z";                      // diamond
    default: return "M 0 5 L 4.5 -3.5 H -4.5 Z";                               // triangle down
  }
}

struct Box {
  double x0, y0, x1, y1;
  bool Meets(const Box& o) const { return x0 < o.x1 && o.x0 < x1 && y0 < o.y1 && o.y0 < y1; }
};

struct Axis {
  double lo = 0, hi = 1;  // the domain drawn
  std::vector<double> ticks;
  double step = 1;
};

Axis MakeAxis(double lo, double hi) {
  if (!(hi > lo)) {
    lo -= 1;
    hi += 1;
  }
  Axis axis;
  axis.ticks = NiceTicks(lo, hi);
  axis.step = axis.ticks.size() > 1 ? axis.ticks[1] - axis.ticks[0] : 1;
  axis.lo = axis.ticks.front();
  axis.hi = axis.ticks.back();
  return axis;
}

std::string TickText(double value, double step) {
  const int decimals = step >= 1 ? 0 : static_cast<int>(std::ceil(-std::log10(step) - 1e-9));
  return fmt::format("{:.{}f}", value + 0.0, decimals);
}

class Canvas {
 public:
  Canvas(const Axis& x, const Axis& y) : x_(x), y_(y) {}
  double X(double v) const { return kLeft + (v - x_.lo) / (x_.hi - x_.lo) * (kRight - kLeft); }
  double Y(double v) const { return kBottom - (v - y_.lo) / (y_.hi - y_.lo) * (kBottom - kTop); }

 private:
  const Axis& x_;
  const Axis& y_;
};

// Places labels next to their points where they meet no marker, no line and no
// other label, trying positions around the point at growing distance; a label
// with no free place is left out (its marker keeps it as a tooltip).
class LabelPlacer {
 public:
  void Occupy(const Box& box) { taken_.push_back(box); }
  void OccupySegment(double x0, double y0, double x1, double y1) {
    const double length = std::hypot(x1 - x0, y1 - y0);
    const int n = std::max(1, static_cast<int>(length / 3));
    for (int i = 0; i <= n; ++i) {
      const double t = static_cast<double>(i) / n;
      const double x = x0 + t * (x1 - x0), y = y0 + t * (y1 - y0);
      taken_.push_back({x - 1.5, y - 1.5, x + 1.5, y + 1.5});
    }
  }
  // The text's anchor (left, baseline) for a label of `text` at the point, or none.
  std::optional<std::pair<double, double>> Place(double px, double py, const std::string& text) {
    const double w = kCharWidth * static_cast<double>(text.size()), h = kLabelHeight;
    for (double d : {7.0, 13.0, 20.0, 28.0}) {
      // right, left, above, below, then the diagonals
      const std::pair<double, double> offsets[] = {{d, -h / 2},     {-d - w, -h / 2}, {-w / 2, -d - h}, {-w / 2, d},
                                                   {d * 0.7, -d * 0.7 - h}, {-d * 0.7 - w, -d * 0.7 - h},
                                                   {d * 0.7, d * 0.7},      {-d * 0.7 - w, d * 0.7}};
      for (const auto& [dx, dy] : offsets) {
        const Box box{px + dx, py + dy, px + dx + w, py + dy + h};
        if (box.x0 < kLeft + 2 || box.x1 > kRight - 2 || box.y0 < kTop + 2 || box.y1 > kBottom - 2) continue;
        if (std::any_of(taken_.begin(), taken_.end(), [&](const Box& t) { return t.Meets(box); })) continue;
        taken_.push_back(box);
        return std::make_pair(box.x0, box.y1 - 2.5);
      }
    }
    return std::nullopt;
  }

 private:
  std::vector<Box> taken_;
};

}  // namespace

std::vector<double> NiceTicks(double lo, double hi, int target) {
  if (!(hi > lo)) return {lo};
  const double raw = (hi - lo) / std::max(1, target - 1);
  const double magnitude = std::pow(10.0, std::floor(std::log10(raw)));
  double step = 10 * magnitude;
  for (double m : {1.0, 2.0, 5.0}) {
    if (m * magnitude >= raw * 0.999) {
      step = m * magnitude;
      break;
    }
  }
  const double first = std::floor(lo / step + 1e-9), last = std::ceil(hi / step - 1e-9);
  std::vector<double> ticks;
  for (double k = first; k <= last + 0.5; k += 1) ticks.push_back(k * step);
  if (ticks.size() < 2) ticks.push_back(ticks.back() + step);
  return ticks;
}

std::string RenderSvg(const Chart& chart) {
  double x_lo = std::numeric_limits<double>::infinity(), x_hi = -x_lo, y_lo = x_lo, y_hi = -x_lo;
  auto extend = [&](const ChartPoint& p) {
    x_lo = std::min(x_lo, p.x);
    x_hi = std::max(x_hi, p.x);
    y_lo = std::min(y_lo, p.y);
    y_hi = std::max(y_hi, p.y);
  };
  for (const auto& s : chart.series) std::for_each(s.points.begin(), s.points.end(), extend);
  for (const auto& r : chart.references) {
    extend(r.from);
    extend(r.to);
  }
  if (x_lo > x_hi) x_lo = x_hi = y_lo = y_hi = 0;
  const bool categorical = !chart.x_categories.empty();
  Axis x_axis, y_axis;
  if (categorical) {
    x_axis.lo = -0.5;
    x_axis.hi = static_cast<double>(chart.x_categories.size()) - 0.5;
    for (size_t k = 0; k < chart.x_categories.size(); ++k) x_axis.ticks.push_back(static_cast<double>(k));
  } else {
    // A margin of 4 % so no point sits on the frame.
    const double pad = 0.04 * std::max(x_hi - x_lo, 1e-9);
    x_axis = MakeAxis(x_lo - pad, x_hi + pad);
  }
  const double y_pad = 0.04 * std::max(y_hi - y_lo, 1e-9);
  y_axis = MakeAxis(y_lo - y_pad, y_hi + y_pad);
  const Canvas canvas(x_axis, y_axis);

  std::string svg;
  auto add = [&](const std::string& s) { svg += s + "\n"; };
  add(fmt::format(R"svg(<?xml version="1.0" encoding="UTF-8"?>)svg"));
  add(fmt::format(R"svg(<svg xmlns="http://www.w3.org/2000/svg" version="1.1" width="{}" height="{}" viewBox="0 0 {} {}" font-family="{}">)svg",
                  kWidth, kHeight, kWidth, kHeight, kFont));
  add(fmt::format(R"svg(<rect width="{}" height="{}" fill="#ffffff"/>)svg", kWidth, kHeight));
  add(fmt::format(R"svg(<text class="title" x="{}" y="28" font-size="15" font-weight="bold" text-anchor="middle">{}</text>)svg",
                  Num((kLeft + kRight) / 2), Escape(chart.title)));

  // Grid, frame, ticks and axis titles.
  add(R"svg(<g class="grid" stroke="#e3e3e3" stroke-width="1">)svg");
  for (double t : x_axis.ticks) {
    add(fmt::format(R"svg(<line class="xgrid" data-value="{3}" x1="{0}" y1="{1}" x2="{0}" y2="{2}"/>)svg", Num(canvas.X(t)),
                    kTop, kBottom, t));
  }
  for (double t : y_axis.ticks) {
    add(fmt::format(R"svg(<line class="ygrid" data-value="{3}" x1="{1}" y1="{0}" x2="{2}" y2="{0}"/>)svg", Num(canvas.Y(t)),
                    kLeft, kRight, t));
  }
  add("</g>");
  add(fmt::format(R"svg(<rect class="frame" x="{}" y="{}" width="{}" height="{}" fill="none" stroke="#333333" stroke-width="1"/>)svg",
                  kLeft, kTop, kRight - kLeft, kBottom - kTop));
  add(R"svg(<g font-size="11" fill="#333333">)svg");
  for (size_t k = 0; k < x_axis.ticks.size(); ++k) {
    const double t = x_axis.ticks[k];
    const std::string text = categorical ? chart.x_categories[k] : TickText(t, x_axis.step);
    add(fmt::format(R"svg(<line x1="{0}" y1="{1}" x2="{0}" y2="{2}" stroke="#333333"/>)svg", Num(canvas.X(t)), kBottom, kBottom + 4));
    add(fmt::format(R"svg(<text class="xtick" data-value="{}" x="{}" y="{}" text-anchor="middle">{}</text>)svg", t,
                    Num(canvas.X(t)), kBottom + 17, Escape(text)));
  }
  for (double t : y_axis.ticks) {
    add(fmt::format(R"svg(<line x1="{1}" y1="{0}" x2="{2}" y2="{0}" stroke="#333333"/>)svg", Num(canvas.Y(t)), kLeft - 4, kLeft));
    add(fmt::format(R"svg(<text class="ytick" data-value="{}" x="{}" y="{}" text-anchor="end">{}</text>)svg", t, kLeft - 7,
                    Num(canvas.Y(t) + 4), TickText(t, y_axis.step)));
  }
  add("</g>");
  add(fmt::format(R"svg(<text class="xtitle" x="{}" y="{}" font-size="13" text-anchor="middle">{}</text>)svg",
                  Num((kLeft + kRight) / 2), kHeight - 22, Escape(chart.x_title)));
  add(fmt::format(R"svg(<text class="ytitle" x="{0}" y="{1}" font-size="13" text-anchor="middle" transform="rotate(-90 {0} {1})">{2}</text>)svg",
                  22, Num((kTop + kBottom) / 2), Escape(chart.y_title)));

  // Lines first, markers over them, labels last where nothing is.
  LabelPlacer placer;
  for (const auto& r : chart.references) {
    const double x0 = canvas.X(r.from.x), y0 = canvas.Y(r.from.y), x1 = canvas.X(r.to.x), y1 = canvas.Y(r.to.y);
    add(fmt::format(R"svg(<line class="reference" x1="{}" y1="{}" x2="{}" y2="{}" stroke="#7a7a7a" stroke-width="1.5" stroke-dasharray="6 4"/>)svg",
                    Num(x0), Num(y0), Num(x1), Num(y1)));
    placer.OccupySegment(x0, y0, x1, y1);
  }
  for (size_t s = 0; s < chart.series.size(); ++s) {
    const auto& series = chart.series[s];
    std::string points;
    for (const auto& p : series.points) points += Num(canvas.X(p.x)) + "," + Num(canvas.Y(p.y)) + " ";
    if (series.points.size() > 1) {
      add(fmt::format(R"svg(<polyline class="line" data-series="{}" points="{}" fill="none" stroke="{}" stroke-width="2" stroke-linejoin="round"/>)svg",
                      Escape(series.name), points, kColours[s % kColourCount]));
    }
    for (size_t k = 1; k < series.points.size(); ++k) {
      placer.OccupySegment(canvas.X(series.points[k - 1].x), canvas.Y(series.points[k - 1].y),
                           canvas.X(series.points[k].x), canvas.Y(series.points[k].y));
    }
  }
  struct Placed {
    double x, y;
    std::string text;
  };
  std::vector<Placed> wanted;
  auto marker = [&](const ChartPoint& p, const std::string& series, size_t shape, const std::string& fill,
                    const std::string& stroke) {
    const double x = canvas.X(p.x), y = canvas.Y(p.y);
    add(fmt::format(R"svg(<g class="point" data-series="{}" data-label="{}" transform="translate({},{})"><title>{}</title><path d="{}" fill="{}" stroke="{}" stroke-width="1.3"/></g>)svg",
                    Escape(series), Escape(p.label), Num(x), Num(y),
                    Escape(fmt::format("{}{}: ({:.2f}, {:.2f})", p.label.empty() ? "" : p.label + ", ", series, p.x, p.y)),
                    MarkerPath(shape), fill, stroke));
    placer.Occupy({x - 6, y - 6, x + 6, y + 6});
    const bool duplicate = std::any_of(wanted.begin(), wanted.end(), [&](const Placed& w) {
      return w.text == p.label && std::abs(w.x - x) < 0.5 && std::abs(w.y - y) < 0.5;
    });
    if (!p.label.empty() && !duplicate) wanted.push_back({x, y, p.label});
  };
  for (const auto& r : chart.references) marker(r.to, r.name, 3, "#ffffff", "#555555");
  for (size_t s = 0; s < chart.series.size(); ++s) {
    for (const auto& p : chart.series[s].points) marker(p, chart.series[s].name, s, kColours[s % kColourCount], "#ffffff");
  }
  add(fmt::format(R"svg(<g class="labels" font-size="{}" fill="#222222">)svg", kLabelSize));
  for (const auto& w : wanted) {
    if (const auto at = placer.Place(w.x, w.y, w.text)) {
      add(fmt::format(R"svg(<text class="label" x="{}" y="{}">{}</text>)svg", Num(at->first), Num(at->second), Escape(w.text)));
    }
  }
  add("</g>");

  // The legend, right of the plot.
  double ly = kTop + 10;
  add(R"svg(<g class="legend" font-size="11.5" fill="#222222">)svg");
  for (size_t s = 0; s < chart.series.size(); ++s) {
    const double lx = kRight + 16;
    add(fmt::format(R"svg(<line x1="{}" y1="{}" x2="{}" y2="{}" stroke="{}" stroke-width="2"/>)svg", lx, Num(ly), lx + 26, Num(ly),
                    kColours[s % kColourCount]));
    add(fmt::format(R"svg(<g transform="translate({},{})"><path d="{}" fill="{}" stroke="#ffffff" stroke-width="1.3"/></g>)svg",
                    lx + 13, Num(ly), MarkerPath(s), kColours[s % kColourCount]));
    add(fmt::format(R"svg(<text class="legend-entry" x="{}" y="{}">{}</text>)svg", lx + 34, Num(ly + 4), Escape(LegendText(chart.series[s].name))));
    ly += 20;
  }
  for (const auto& r : chart.references) {
    const double lx = kRight + 16;
    add(fmt::format(R"svg(<line x1="{}" y1="{}" x2="{}" y2="{}" stroke="#7a7a7a" stroke-width="1.5" stroke-dasharray="6 4"/>)svg", lx,
                    Num(ly), lx + 26, Num(ly)));
    add(fmt::format(R"svg(<text class="legend-entry" x="{}" y="{}">{}</text>)svg", lx + 34, Num(ly + 4), Escape(LegendText(r.name))));
    ly += 20;
  }
  add("</g>");
  add("</svg>");
  return svg;
}

}  // namespace fomo::cmd
