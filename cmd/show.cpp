// fomo show [REV]: one version: parents, recipe, budget, metrics, storage.
#include <iostream>

#include <fmt/format.h>

#include "cmd/command.hpp"
#include "cmd/output.hpp"
#include "cmd/version_view.hpp"
#include "core/evaluation.hpp"
#include "storage/versions.hpp"

namespace fomo::cmd {

namespace {

struct ShowOptions {
  std::string rev = "HEAD";
  bool tensors = false;
  bool current_suite = false;
};

int RunShow(Context& ctx, const ShowOptions& o) {
  Repository& repo = ctx.repo();
  CommitId commit = ResolveRevision(repo, o.rev);
  StoredVersion v = LoadVersion(repo.graph(), commit);
  RefNames refs = RefNames::Collect(repo.graph());
  nlohmann::json j = VersionJson(
      v, refs, o.current_suite ? core::MetricsOf(repo, commit, core::Suites::ForRepository(repo)) : core::MetricsOf(repo, commit));
  if (ctx.global.json) {
    if (o.tensors) j["manifest"] = nlohmann::json::parse(v.manifest.ToJson())["tensors"];
    PrintJson(j);
    return 0;
  }
  std::string deco = Decorations(commit, refs);
  std::cout << Colour(fmt::format("version {}", v.version.ToString()), "33")
            << (deco.empty() ? "" : " " + Colour(deco, "36")) << "\n";
  std::cout << "commit   " << commit << "\n";
  for (const auto& p : v.commit.parents) {
    const StoredVersion parent = LoadVersion(repo.graph(), p);
    const bool finetuned = parent.kind == "finetuned";  // a merge-based update's unmerged weights
    std::cout << "parent   " << p << " (" << parent.version.Tag() << (finetuned ? ", finetuned weights" : "") << ")\n";
  }
  std::cout << "author   " << v.commit.author << "\n";
  std::cout << "date     " << FormatTime(v.commit.time) << "\n";
  std::cout << "kind     " << v.kind << "\n";
  if (v.recipe.contains("method_options")) {
    const auto& m = v.recipe["method_options"];
    std::vector<std::string> options;
    for (const auto& [key, value] : m.items()) {
      if (key != "name" && !(key == "tune_temperature" && !value.get<bool>())) options.push_back(key + " " + PlainValue(value));
    }
    std::cout << fmt::format("method   {}{}, trained {} values\n", m.value("name", "?"),
                             options.empty() ? "" : fmt::format(" ({})", fmt::join(options, ", ")),
                             v.recipe.value("trained_parameters", int64_t{0}));
  }
  std::cout << "\n" << MessageBody(v.commit.message, "    ") << "\n\n";
  std::cout << "recipe\n";
  for (const auto& [key, value] : v.recipe.items()) {
    std::cout << fmt::format("  {:<14} {}\n", key, MessageLine(PlainValue(value)));
  }
  std::string budget = BudgetLine(v.budget);
  std::cout << "budget   " << (budget.empty() ? "none (not trained by fomo)" : budget) << "\n";
  const auto& metrics = j["metrics"];
  if (metrics.empty()) {
    std::cout << "metrics  none measured\n";
  } else {
    std::cout << "metrics\n";
    for (const auto& [dataset, values] : metrics.items()) {
      for (const auto& [metric, value] : values.items()) {
        std::cout << fmt::format("  {:<24} {:<10} {}\n", dataset, metric,
                                 value.is_number() ? fmt::format("{:.2f}", value.get<double>()) : PlainValue(value));
      }
    }
  }
  std::cout << fmt::format("storage  {} tensors, {} raw, {} added to the store\n", v.manifest.tensors.size(),
                           FormatBytes(v.raw_bytes), FormatBytes(v.stored_bytes));
  for (const auto& [encoding, count] : j["storage"]["encodings"].items()) {
    std::cout << fmt::format("  {:<8} {} tensors\n", encoding, count.get<int>());
  }
  if (o.tensors) {
    std::cout << "tensors\n";
    PrintTensorTable(v.manifest);
  }
  return 0;
}

}  // namespace

Runner SetupShow(CommandLine& cli) {
  auto o = std::make_shared<ShowOptions>();
  cli.Option("revision", &o->rev, "version to show (default HEAD)", "REV");
  cli.Flag("--tensors", &o->tensors, "list every tensor with its object and encoding");
  cli.Flag("--current-suite", &o->current_suite,
           "summarise over today's suite, not the suite as it stood when the version was made");
  return [o](Context& ctx) { return RunShow(ctx, *o); };
}

}  // namespace fomo::cmd
