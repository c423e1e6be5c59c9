// The --require expression language.
#include "catch.hpp"
#include "core/gate.hpp"
#include "storage/error.hpp"

using namespace fomo;
using namespace fomo::core;

namespace {

nlohmann::json Metrics(double adaptation, double retention, double fmnist59) {
  return {{"datasets", {{"fmnist:5-9", {{"top1", fmnist59}, {"top5", 99.0}}}, {"fmnist:0-4", {{"top1", retention}}}}},
          {"summary", {{"adaptation", adaptation}, {"retention", retention}, {"gm", 0.0}}}};
}

bool Passes(const std::string& text, const GateInputs& in) { return Gate::Parse(text).Evaluate(in).passed; }

}  // namespace

TEST_CASE("gates compare a version's metrics with its parent's", "[core][gate]") {
  GateInputs in{Metrics(60, 70, 60), Metrics(20, 72, 20), Metrics(10, 75, 10)};
  CHECK(Passes("retention >= parent.retention - 5 && adaptation > parent.adaptation", in));
  CHECK_FALSE(Passes("retention >= parent.retention - 1 && adaptation > parent.adaptation", in));
  CHECK(Passes("retention >= parent.retention - 1 || adaptation > parent.adaptation", in));
  CHECK(Passes("fmnist:5-9 >= 50", in));
  CHECK(Passes("fmnist:5-9.top5 == 99", in));
  CHECK(Passes("fmnist:5-9-10 == 50", in) == false);  // a class range, not a subtraction
  CHECK(Passes("(retention - base.retention) * 2 >= -10", in));
  CHECK(Passes("!(adaptation < 50)", in));
  CHECK(Passes("-retention < 0", in));
  CHECK(Passes("1.5e1 / 3 == 5", in));
}

TEST_CASE("a gate over unmeasured metrics fails and says what is missing", "[core][gate]") {
  GateInputs in{Metrics(60, 70, 60), nlohmann::json::object(), nlohmann::json::object()};
  GateResult r = Gate::Parse("adaptation > parent.adaptation").Evaluate(in);
  CHECK_FALSE(r.passed);
  CHECK_THAT(r.explanation, HasSubstr("parent.adaptation"));
  CHECK_FALSE(Passes("cifar10 > 1", in));
}

TEST_CASE("gate syntax errors name the column", "[core][gate]") {
  CHECK_THROWS_AS(Gate::Parse("retention >="), UsageError);
  CHECK_THROWS_AS(Gate::Parse("(retention > 1"), UsageError);
  CHECK_THROWS_AS(Gate::Parse("retention > 1 $"), UsageError);
  try {
    Gate::Parse("retention >> 1");
    FAIL("no error");
  } catch (const UsageError& e) {
    CHECK_THAT(std::string(e.what()), HasSubstr("column"));
  }
}

TEST_CASE("deep nesting is refused with a clear error, not a crashed stack", "[core][gate][hardening]") {
  // Each of these overflowed the stack (SIGSEGV) before the parser had bounds.
  // The token bound stops them before any recursion; within it, the nesting bound.
  CHECK_THROWS_WITH(Gate::Parse(std::string(30000, '(') + "1" + std::string(30000, ')')),
                    HasSubstr("at most 4095 are allowed"));
  CHECK_THROWS_WITH(Gate::Parse(std::string(100000, '!') + "1"), HasSubstr("at most 4095 are allowed"));
  CHECK_THROWS_WITH(Gate::Parse(std::string(100000, '-') + "1"), HasSubstr("at most 4095 are allowed"));
  CHECK_THROWS_WITH(Gate::Parse(std::string(1000, '(') + "1" + std::string(1000, ')')),
                    HasSubstr("nesting deeper than 256 levels"));
  CHECK_THROWS_WITH(Gate::Parse(std::string(3000, '!') + "1"), HasSubstr("nesting deeper than 256 levels"));
  CHECK_THROWS_WITH(Gate::Parse(std::string(3000, '-') + "1"), HasSubstr("nesting deeper than 256 levels"));
  // A long flat chain would recurse as deep when evaluated and destroyed.
  std::string chain = "1";
  for (int i = 0; i < 50000; ++i) chain += "+1";
  CHECK_THROWS_WITH(Gate::Parse(chain), HasSubstr("at most 4095 are allowed"));
  // Within the bounds, deep gates still work.
  CHECK(Passes(std::string(200, '(') + "1" + std::string(200, ')'), {}));
  std::string sum = "0";
  for (int i = 0; i < 1000; ++i) sum += "+1";
  CHECK(Passes(sum + " == 1000", {}));
}

TEST_CASE("an empty gate is a usage error, as a blank one is", "[core][gate][hardening]") {
  CHECK_THROWS_WITH(Gate::Parse(""), HasSubstr("the expression is empty"));
  CHECK_THROWS_WITH(Gate::Parse("  \t"), HasSubstr("the expression is empty"));
}

TEST_CASE("a gate's names are checked against what the evaluation will measure", "[core][gate]") {
  const std::vector<std::string> keys = {"fmnist", "fmnist:5-9#200", "pairs@val"};
  auto unknown = [&](const std::string& text) { return Gate::Parse(text).UnmeasurableNames(keys); };
  REQUIRE(unknown("adaptation >= parent.adaptation && base.gm < 1 && retention > 0").empty());
  REQUIRE(unknown("fmnist > 1 && fmnist:5-9#200.top5 > parent.fmnist.top1 && pairs@val.recall@5 > 0").empty());
  REQUIRE(unknown("bogus >= 1 || fmnist.top9 > 0 || bogus < 2 || parent.fmnist:5-9 > 0") ==
          std::vector<std::string>{"bogus", "fmnist.top9", "parent.fmnist:5-9"});
}
