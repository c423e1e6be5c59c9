#include "cmd/version_view.hpp"

#include <iostream>

#include <fmt/format.h>

#include "cmd/output.hpp"

namespace fomo::cmd {

using nlohmann::json;

RefNames RefNames::Collect(const Graph& graph) {
  RefNames refs;
  for (const auto& [tag, commit] : graph.Tags()) refs.tags[commit].push_back(tag);
  for (const auto& branch : graph.Branches()) {
    if (auto target = graph.BranchTarget(branch)) refs.branches[*target].push_back(branch);
  }
  HeadState head = graph.Head();
  refs.head_branch = head.branch;
  refs.head = head.commit;
  return refs;
}

json VersionJson(const StoredVersion& v, const RefNames& refs, const json& measured) {
  auto opt = [](const auto& value) -> json { return value ? json(*value) : json(nullptr); };
  json summary = {{"adaptation", nullptr}, {"retention", nullptr}, {"gm", nullptr}};
  json metrics = json::object();
  for (const json* source : {&v.metrics, &measured}) {
    if (source->contains("datasets")) metrics.update((*source)["datasets"]);
    if (source->contains("summary")) {
      for (const auto& [key, value] : (*source)["summary"].items()) {
        if (!value.is_null()) summary[key] = value;
      }
    }
  }
  std::map<std::string, int> encodings;
  for (const auto& e : v.manifest.tensors) ++encodings[std::string(EncodingName(e.encoding))];
  auto tags = refs.tags.count(v.commit.id) ? refs.tags.at(v.commit.id) : std::vector<std::string>{};
  auto branches =
      refs.branches.count(v.commit.id) ? refs.branches.at(v.commit.id) : std::vector<std::string>{};
  return {
      {"version", v.version.ToString()},
      {"commit", v.commit.id},
      {"parents", v.commit.parents},
      {"message", v.commit.message},
      {"author", v.commit.author},
      {"time", v.commit.time},
      {"kind", v.kind},
      {"tags", tags},
      {"branches", branches},
      {"head", refs.head == v.commit.id},
      {"recipe", v.recipe},
      {"budget",
       {{"steps", opt(v.budget.steps)},
        {"samples", opt(v.budget.samples)},
        {"flops", opt(v.budget.flops)},
        {"maf", opt(v.budget.maf)},
        {"seconds", opt(v.budget.seconds)}}},
      {"metrics", metrics},
      {"summary", summary},
      {"storage",
       {{"raw_bytes", v.raw_bytes},
        {"stored_bytes", v.stored_bytes},
        {"tensors", v.manifest.tensors.size()},
        {"encodings", encodings},
        {"method_state", nlohmann::json::parse(v.method_state.ToJson())["tensors"]}}},
  };
}

std::string Decorations(const CommitId& commit, const RefNames& refs) {
  std::vector<std::string> parts;
  std::string head_branch = refs.head_branch.value_or("");
  if (refs.head == commit && !refs.head_branch) parts.push_back("HEAD");
  if (auto it = refs.branches.find(commit); it != refs.branches.end()) {
    for (const auto& b : it->second) {
      parts.push_back(b == head_branch ? "HEAD -> " + b : b);
    }
  }
  if (auto it = refs.tags.find(commit); it != refs.tags.end()) {
    for (const auto& t : it->second) parts.push_back("tag: " + t);
  }
  if (parts.empty()) return "";
  return fmt::format("({})", fmt::join(parts, ", "));
}

void PrintTensorTable(const Manifest& manifest) {
  for (const auto& e : manifest.tensors) {
    std::cout << fmt::format("  {:<52} {:<5} {:<16} {:<6} {:>10}  {}\n", e.name, DtypeName(e.dtype),
                             ShapeString(e.shape), EncodingName(e.encoding), FormatBytes(e.stored_bytes),
                             e.id.Hex().substr(0, 12));
  }
}

std::string VersionLine(const StoredVersion& v, const std::string& branch, const std::string& details) {
  return fmt::format("{} {} {}{}: {}{} stored for {} raw", v.version.Tag(), ShortId(v.commit.id), MessageLine(v.commit.message),
                     branch.empty() ? "" : " (on " + branch + ")", details.empty() ? "" : details + ", ",
                     FormatBytes(v.stored_bytes), FormatBytes(v.raw_bytes));
}

std::string BudgetLine(const Budget& b) {
  if (!b.steps && !b.samples && !b.flops && !b.seconds) return "";
  std::vector<std::string> parts;
  if (b.steps) parts.push_back(fmt::format("{} steps", *b.steps));
  if (b.samples) parts.push_back(fmt::format("{} samples", *b.samples));
  if (b.flops) parts.push_back(fmt::format("{:.3g} FLOPs", *b.flops));
  if (b.maf) parts.push_back(fmt::format("{:.3g} MAF", *b.maf));
  if (b.seconds) parts.push_back(fmt::format("{:.1f} s", *b.seconds));
  return fmt::format("{}", fmt::join(parts, ", "));
}

}  // namespace fomo::cmd
