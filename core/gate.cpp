#include "core/gate.hpp"

#include <cctype>
#include <cmath>
#include <cstdlib>
#include <optional>
#include <set>

#include <fmt/format.h>

#include "storage/error.hpp"

namespace fomo::core {

struct Gate::Node {
  enum class Kind { kNumber, kName, kUnary, kBinary } kind = Kind::kNumber;
  double number = 0;
  std::string name;  // kName
  std::string op;    // kUnary, kBinary
  std::unique_ptr<Node> left, right;
};

namespace {

using Node = Gate::Node;

struct Token {
  enum class Kind { kNumber, kName, kOp, kEnd } kind;
  std::string text;
  size_t position;
};

bool NameChar(char c, bool after_colon) {
  return std::isalnum(static_cast<unsigned char>(c)) || c == '_' || c == '.' || c == '@' || c == '#' || c == ':' ||
         (after_colon && (c == ',' || c == '-'));
}

std::vector<Token> Lex(const std::string& text) {
  std::vector<Token> tokens;
  size_t i = 0;
  while (i < text.size()) {
    char c = text[i];
    if (std::isspace(static_cast<unsigned char>(c))) {
      ++i;
      continue;
    }
    if (std::isdigit(static_cast<unsigned char>(c)) || (c == '.' && i + 1 < text.size() && std::isdigit(static_cast<unsigned char>(text[i + 1])))) {
      char* end = nullptr;
      std::strtod(text.c_str() + i, &end);
      size_t length = static_cast<size_t>(end - (text.c_str() + i));
      tokens.push_back({Token::Kind::kNumber, text.substr(i, length), i});
      i += length;
      continue;
    }
    if (std::isalpha(static_cast<unsigned char>(c)) || c == '_') {
      size_t start = i;
      bool after_colon = false;
      while (i < text.size() && NameChar(text[i], after_colon)) {
        if (text[i] == ':') after_colon = true;
        ++i;
      }
      tokens.push_back({Token::Kind::kName, text.substr(start, i - start), start});
      continue;
    }
    static const char* kTwo[] = {">=", "<=", "==", "!=", "&&", "||"};
    bool matched = false;
    for (const char* op : kTwo) {
      if (text.compare(i, 2, op) == 0) {
        tokens.push_back({Token::Kind::kOp, op, i});
        i += 2;
        matched = true;
        break;
      }
    }
    if (matched) continue;
    if (std::string("<>+-*/()!").find(c) != std::string::npos) {
      tokens.push_back({Token::Kind::kOp, std::string(1, c), i});
      ++i;
      continue;
    }
    throw UsageError(fmt::format("--require: unexpected '{}' at column {}", c, i + 1));
  }
  tokens.push_back({Token::Kind::kEnd, "", text.size()});
  return tokens;
}

// Bounds that keep the recursive descent (and the evaluation and destruction of
// the tree it builds) far from the stack's end: a gate is a line of a command.
constexpr size_t kMaxTokens = 4096;
constexpr int kMaxNesting = 256;

class Parser {
 public:
  explicit Parser(std::vector<Token> tokens) : tokens_(std::move(tokens)) {
    if (tokens_.size() > kMaxTokens) {
      throw UsageError(fmt::format("--require: the expression has {} tokens; at most {} are allowed",
                                   tokens_.size() - 1, kMaxTokens - 1));
    }
  }

  std::unique_ptr<Node> Parse() {
    auto node = Or();
    if (Peek().kind != Token::Kind::kEnd) Fail("unexpected '" + Peek().text + "'");
    return node;
  }

 private:
  const Token& Peek() const { return tokens_[at_]; }
  bool Accept(const char* op) {
    if (Peek().kind == Token::Kind::kOp && Peek().text == op) {
      ++at_;
      return true;
    }
    return false;
  }
  [[noreturn]] void Fail(const std::string& what) const {
    throw UsageError(fmt::format("--require: {} at column {}", what, Peek().position + 1));
  }
  static std::unique_ptr<Node> Binary(std::string op, std::unique_ptr<Node> l, std::unique_ptr<Node> r) {
    auto n = std::make_unique<Node>();
    n->kind = Node::Kind::kBinary;
    n->op = std::move(op);
    n->left = std::move(l);
    n->right = std::move(r);
    return n;
  }
  std::unique_ptr<Node> Or() {
    auto node = And();
    while (Accept("||")) node = Binary("||", std::move(node), And());
    return node;
  }
  std::unique_ptr<Node> And() {
    auto node = Compare();
    while (Accept("&&")) node = Binary("&&", std::move(node), Compare());
    return node;
  }
  std::unique_ptr<Node> Compare() {
    auto node = Sum();
    for (const char* op : {">=", "<=", "==", "!=", ">", "<"}) {
      if (Accept(op)) return Binary(op, std::move(node), Sum());
    }
    return node;
  }
  std::unique_ptr<Node> Sum() {
    auto node = Product();
    while (true) {
      if (Accept("+")) node = Binary("+", std::move(node), Product());
      else if (Accept("-")) node = Binary("-", std::move(node), Product());
      else return node;
    }
  }
  std::unique_ptr<Node> Product() {
    auto node = Unary();
    while (true) {
      if (Accept("*")) node = Binary("*", std::move(node), Unary());
      else if (Accept("/")) node = Binary("/", std::move(node), Unary());
      else return node;
    }
  }
  // Unary operators and parentheses are the only recursion that does not consume
  // a binary operator; each level counts.
  struct Nested {
    explicit Nested(Parser* p) : parser(p) {
      if (++parser->depth_ > kMaxNesting) parser->Fail(fmt::format("nesting deeper than {} levels", kMaxNesting));
    }
    ~Nested() { --parser->depth_; }
    Parser* parser;
  };

  std::unique_ptr<Node> Unary() {
    Nested nested(this);
    for (const char* op : {"-", "!"}) {
      if (Accept(op)) {
        auto n = std::make_unique<Node>();
        n->kind = Node::Kind::kUnary;
        n->op = op;
        n->left = Unary();
        return n;
      }
    }
    if (Accept("(")) {
      auto node = Or();
      if (!Accept(")")) Fail("missing ')'");
      return node;
    }
    const Token& t = Peek();
    auto n = std::make_unique<Node>();
    if (t.kind == Token::Kind::kNumber) {
      n->kind = Node::Kind::kNumber;
      n->number = std::strtod(t.text.c_str(), nullptr);
    } else if (t.kind == Token::Kind::kName) {
      n->kind = Node::Kind::kName;
      n->name = t.text;
    } else {
      Fail(t.kind == Token::Kind::kEnd ? "expression ends too early" : "unexpected '" + t.text + "'");
    }
    ++at_;
    return n;
  }

  std::vector<Token> tokens_;
  size_t at_ = 0;
  int depth_ = 0;
};

struct Evaluator {
  const GateInputs& inputs;
  std::vector<std::string> missing;
  std::vector<std::string> shown;

  std::optional<double> Lookup(const std::string& full) {
    std::string name = full;
    const nlohmann::json* side = &inputs.version;
    if (name.rfind("parent.", 0) == 0) {
      side = &inputs.parent;
      name = name.substr(7);
    } else if (name.rfind("base.", 0) == 0) {
      side = &inputs.base;
      name = name.substr(5);
    }
    if (name == "adaptation" || name == "retention" || name == "gm") {
      if (side->contains("summary") && (*side)["summary"].contains(name) && (*side)["summary"][name].is_number()) {
        return (*side)["summary"][name].get<double>();
      }
      return std::nullopt;
    }
    if (!side->contains("datasets")) return std::nullopt;
    const auto& datasets = (*side)["datasets"];
    auto value_of = [](const nlohmann::json& metrics, const std::string& metric) -> std::optional<double> {
      if (metrics.contains(metric) && metrics[metric].is_number()) return metrics[metric].get<double>();
      return std::nullopt;
    };
    if (datasets.contains(name)) {
      if (auto v = value_of(datasets[name], "top1")) return v;
      return value_of(datasets[name], "recall@5");
    }
    size_t dot = name.rfind('.');
    if (dot != std::string::npos && datasets.contains(name.substr(0, dot))) {
      return value_of(datasets[name.substr(0, dot)], name.substr(dot + 1));
    }
    return std::nullopt;
  }

  double Eval(const Node& n) {
    switch (n.kind) {
      case Node::Kind::kNumber:
        return n.number;
      case Node::Kind::kName: {
        auto v = Lookup(n.name);
        if (!v) {
          missing.push_back(n.name);
          return std::nan("");
        }
        shown.push_back(fmt::format("{} = {:.2f}", n.name, *v));
        return *v;
      }
      case Node::Kind::kUnary: {
        double v = Eval(*n.left);
        return n.op == "-" ? -v : (v == 0 ? 1.0 : 0.0);
      }
      case Node::Kind::kBinary:
        break;
    }
    double l = Eval(*n.left);
    double r = Eval(*n.right);
    const std::string& op = n.op;
    if (op == "+") return l + r;
    if (op == "-") return l - r;
    if (op == "*") return l * r;
    if (op == "/") return l / r;
    if (op == "&&") return (l != 0 && r != 0) ? 1.0 : 0.0;
    if (op == "||") return (l != 0 || r != 0) ? 1.0 : 0.0;
    if (op == ">=") return l >= r ? 1.0 : 0.0;
    if (op == "<=") return l <= r ? 1.0 : 0.0;
    if (op == ">") return l > r ? 1.0 : 0.0;
    if (op == "<") return l < r ? 1.0 : 0.0;
    if (op == "==") return l == r ? 1.0 : 0.0;
    return l != r ? 1.0 : 0.0;
  }
};

}  // namespace

Gate::~Gate() = default;
Gate::Gate(Gate&&) noexcept = default;
Gate& Gate::operator=(Gate&&) noexcept = default;

Gate Gate::Parse(const std::string& text) {
  if (text.find_first_not_of(" \t\r\n") == std::string::npos) {
    throw UsageError("--require: the expression is empty");
  }
  Gate gate;
  gate.text_ = text;
  gate.root_ = Parser(Lex(text)).Parse();
  return gate;
}

namespace {
void CollectNames(const Gate::Node& n, std::vector<std::string>* names) {
  if (n.kind == Gate::Node::Kind::kName) names->push_back(n.name);
  if (n.left) CollectNames(*n.left, names);
  if (n.right) CollectNames(*n.right, names);
}
}  // namespace

std::vector<std::string> Gate::UnmeasurableNames(const std::vector<std::string>& dataset_keys) const {
  static const std::set<std::string> kSummaries = {"adaptation", "retention", "gm"};
  static const std::set<std::string> kMetrics = {"top1", "top5", "recall@5"};
  const std::set<std::string> keys(dataset_keys.begin(), dataset_keys.end());
  std::vector<std::string> names, unknown;
  CollectNames(*root_, &names);
  for (const auto& full : names) {
    std::string name = full;
    for (const char* prefix : {"parent.", "base."}) {
      if (name.rfind(prefix, 0) == 0) name = name.substr(std::string(prefix).size());
    }
    if (kSummaries.count(name) || keys.count(name)) continue;
    const size_t dot = name.rfind('.');
    if (dot != std::string::npos && keys.count(name.substr(0, dot)) && kMetrics.count(name.substr(dot + 1))) continue;
    if (std::find(unknown.begin(), unknown.end(), full) == unknown.end()) unknown.push_back(full);
  }
  return unknown;
}

GateResult Gate::Evaluate(const GateInputs& inputs) const {
  Evaluator evaluator{inputs, {}, {}};
  double value = evaluator.Eval(*root_);
  GateResult result;
  if (!evaluator.missing.empty()) {
    result.passed = false;
    result.explanation = fmt::format("not measured: {}", fmt::join(evaluator.missing, ", "));
    return result;
  }
  result.passed = value != 0 && !std::isnan(value);
  result.explanation = fmt::format("{}", fmt::join(evaluator.shown, ", "));
  return result;
}

}  // namespace fomo::core
