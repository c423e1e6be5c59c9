// The --require gate: a small expression language over a new version's metrics and
// its parent's, e.g. `retention >= parent.retention - 1 && adaptation > parent.adaptation`.
//
//   expr    := or
//   or      := and ('||' and)*
//   and     := compare ('&&' compare)*
//   compare := sum (('>=' | '<=' | '>' | '<' | '==' | '!=') sum)?
//   sum     := product (('+' | '-') product)*
//   product := unary (('*' | '/') unary)*
//   unary   := ('-' | '!') unary | NUMBER | NAME | '(' expr ')'
//
// NAME is `adaptation`, `retention` or `gm` (the suite summaries), or a dataset key
// as `fomo show` prints it (`fmnist`, `fmnist:5-9`), optionally followed by
// `.METRIC` (top1 by default, recall@5 for caption datasets), optionally prefixed
// by `parent.` (the version trained from) or `base.` (the root of the line).
#pragma once

#include <memory>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

namespace fomo::core {

struct GateInputs {
  nlohmann::json version;  // MetricsOf() objects: {"datasets": ..., "summary": ...}
  nlohmann::json parent;
  nlohmann::json base;
};

struct GateResult {
  bool passed = false;
  std::string explanation;  // the comparisons with their values, or what was missing
};

class Gate {
 public:
  // Throws fomo::UsageError naming the position of a syntax error.
  static Gate Parse(const std::string& text);
  GateResult Evaluate(const GateInputs& inputs) const;
  // The names the expression uses that no evaluation over these dataset keys (as
  // MetricsOf writes them: "fmnist", "fmnist:5-9#200", "pairs@val") would give: a
  // gate that can only fail is refused before any training.
  std::vector<std::string> UnmeasurableNames(const std::vector<std::string>& dataset_keys) const;
  const std::string& text() const { return text_; }

  struct Node;
  ~Gate();
  Gate(Gate&&) noexcept;
  Gate& operator=(Gate&&) noexcept;

 private:
  Gate() = default;
  std::string text_;
  std::unique_ptr<Node> root_;
};

}  // namespace fomo::core
