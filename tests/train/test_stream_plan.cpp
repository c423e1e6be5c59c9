#include <cmath>

#include "catch.hpp"
#include "storage/error.hpp"
#include "train/stream_plan.hpp"
#include "train/stream_report.hpp"

using namespace fomo;

TEST_CASE("concepts are cut into contiguous tasks, the first taking the remainder", "[stream]") {
  using Tasks = std::vector<std::vector<size_t>>;
  CHECK(train::CutIntoTasks(5, 2) == Tasks{{0, 1, 2}, {3, 4}});
  CHECK(train::CutIntoTasks(10, 4) == Tasks{{0, 1, 2}, {3, 4, 5}, {6, 7}, {8, 9}});
  CHECK(train::CutIntoTasks(3, 3) == Tasks{{0}, {1}, {2}});
  CHECK(train::CutIntoTasks(4, 1) == Tasks{{0, 1, 2, 3}});
  for (size_t concepts = 1; concepts <= 30; ++concepts) {
    for (size_t tasks = 1; tasks <= concepts; ++tasks) {
      const Tasks cut = train::CutIntoTasks(concepts, tasks);
      REQUIRE(cut.size() == tasks);
      size_t next = 0;
      for (size_t t = 0; t < tasks; ++t) {
        // Sizes differ by at most one, larger first; indices run on without gaps.
        REQUIRE(cut[t].size() == concepts / tasks + (t < concepts % tasks ? 1 : 0));
        for (size_t i : cut[t]) REQUIRE(i == next++);
      }
      REQUIRE(next == concepts);
    }
  }
  CHECK_THROWS_AS(train::CutIntoTasks(2, 3), Error);
  CHECK_THROWS_AS(train::CutIntoTasks(2, 0), Error);
}

TEST_CASE("the signed distance from the base-to-joint line is positive above it", "[stream]") {
  // The line from (10, 80) to (70, 20): y = 90 - x.
  CHECK(train::SignedDistance(10, 80, 70, 20, 40, 50) == Approx(0).margin(1e-12));   // on it
  CHECK(train::SignedDistance(10, 80, 70, 20, 40, 60) == Approx(10 / std::sqrt(2)));  // above
  CHECK(train::SignedDistance(10, 80, 70, 20, 40, 40) == Approx(-10 / std::sqrt(2)));
  // The same line given the other way round: still positive above.
  CHECK(train::SignedDistance(70, 20, 10, 80, 40, 60) == Approx(10 / std::sqrt(2)));
  // A joint with more retention than the base, a flat line: the vertical offset.
  CHECK(train::SignedDistance(0, 50, 100, 50, 30, 57) == Approx(7));
  CHECK(train::SignedDistance(5, 5, 5, 5, 9, 9) == 0);  // no line
  CHECK(!std::signbit(train::SignedDistance(0, 0, 10, 0, 3, 0)));
}

TEST_CASE("class names are counted in captions as whole words, ignoring case", "[stream]") {
  CHECK(train::CountMentions("a photo of a Sandal.", "sandal") == 1);
  CHECK(train::CountMentions("sandal next to a sandal", "Sandal") == 2);
  CHECK(train::CountMentions("a T-shirt/top", "shirt") == 1);  // '-' and '/' end words
  CHECK(train::CountMentions("two shirts", "shirt") == 0);
  CHECK(train::CountMentions("an overshirt", "shirt") == 0);
  CHECK(train::CountMentions("an ankle boot and a boot", "ankle boot") == 1);
  CHECK(train::CountMentions("bagbag bag", "bag") == 1);
  CHECK(train::CountMentions("anything", "") == 0);
}

TEST_CASE("the similarity path walks to the nearest unvisited concept", "[stream]") {
  // Unit vectors on a circle at 0, 10, 50, 100 and 300 degrees.
  std::vector<std::vector<float>> unit;
  for (double degrees : {0.0, 10.0, 50.0, 100.0, 300.0}) {
    const double r = degrees * M_PI / 180;
    unit.push_back({static_cast<float>(std::cos(r)), static_cast<float>(std::sin(r))});
  }
  std::vector<double> similarity;
  // From 0: 10 (10 away), then 50, then 100, then 300 (the only one left).
  CHECK(train::SimilarityPath(unit, 0, &similarity) == std::vector<size_t>{0, 1, 2, 3, 4});
  CHECK(similarity[0] == 1.0);
  CHECK(similarity[1] == Approx(std::cos(10 * M_PI / 180)));
  CHECK(similarity[4] == Approx(std::cos(200 * M_PI / 180)).margin(1e-6));
  // From 100: 50, then 10, then 0, then 300 (60 from 0).
  CHECK(train::SimilarityPath(unit, 3, nullptr) == std::vector<size_t>{3, 2, 1, 0, 4});
  // From 300: 0 (60 away) beats 100 (160 away).
  CHECK(train::SimilarityPath(unit, 4, nullptr) == std::vector<size_t>{4, 0, 1, 2, 3});
  // A tie goes to the lower index.
  CHECK(train::SimilarityPath({{1, 0}, {0, 1}, {0, -1}}, 0, nullptr) == std::vector<size_t>{0, 1, 2});
  CHECK(train::SimilarityPath({{1, 0}}, 0, nullptr) == std::vector<size_t>{0});
  CHECK_THROWS_AS(train::SimilarityPath(unit, 5, nullptr), Error);
}
