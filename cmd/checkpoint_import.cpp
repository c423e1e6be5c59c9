#include "cmd/checkpoint_import.hpp"

#include <pwd.h>
#include <unistd.h>

#include <cstdlib>
#include <ctime>
#include <iostream>

#include <fmt/format.h>

namespace fomo::cmd {

void AddCheckpointOptions(CommandLine& cli, CheckpointOptions* o, const std::string& config_help) {
  cli.Option("--config", &o->config, config_help, "FILE");
  cli.Option("--heads", &o->heads, "attention heads, when neither a config nor the layout tells them: N, or VISION,TEXT", "N");
  cli.Option("--activation", &o->activation, "quick_gelu or gelu, when no config tells it (default: the layout's, QuickGELU)", "NAME");
}

core::ConfigSource ConfigSourceOf(const CheckpointOptions& o, const std::optional<core::ClipConfig>& known) {
  core::ConfigSource source;
  if (!o.config.empty()) source.file = fs::path(o.config);
  source.known = known;
  if (!o.heads.empty()) source.heads = core::ParseHeadCounts(o.heads);
  if (!o.activation.empty()) source.quick_gelu = core::ParseActivation(o.activation);
  return source;
}

void PrintImportReport(const core::Checkpoint& c) {
  std::cout << fmt::format("read {} ({}, {} layout)\n", c.path.string(), c.kind, core::LayoutName(c.layout));
  std::cout << fmt::format("model config: {}\n", core::DescribeConfig(c.config));
  std::cout << fmt::format("  sizes from {}\n  heads from {}\n  activation from {}\n", c.provenance.dimensions,
                           c.provenance.heads, c.provenance.activation);
  for (const auto& note : c.notes) std::cout << "note: " << note << "\n";
}

namespace {

nlohmann::json ProvenanceJson(const core::ConfigProvenance& p) {
  return {{"sizes", p.dimensions}, {"heads", p.heads}, {"activation", p.activation}};
}

}  // namespace

nlohmann::json ImportReportJson(const core::Checkpoint& c) {
  return {{"path", c.path.string()},
          {"format", c.kind},
          {"layout", std::string(core::LayoutName(c.layout))},
          {"config", nlohmann::json::parse(c.config.ModelJson())},
          {"config_from", ProvenanceJson(c.provenance)},
          {"notes", c.notes}};
}

nlohmann::json ImportRecipe(const std::string& command, const core::Checkpoint& checkpoint,
                            const std::string& message) {
  const char* user = std::getenv("USER");
  if (!user || !*user) {
    const passwd* entry = ::getpwuid(::getuid());
    user = entry ? entry->pw_name : "";
  }
  char host[256] = {};
  ::gethostname(host, sizeof(host) - 1);
  std::error_code ec;
  fs::path source = fs::weakly_canonical(fs::absolute(checkpoint.path), ec);
  return {
      {"command", command},
      {"source", "imported from " + (ec ? checkpoint.path : source).string()},
      {"file", (ec ? checkpoint.path : source).string()},
      {"layout", std::string(core::LayoutName(checkpoint.layout))},
      {"config_source", checkpoint.config_source},
      {"format", checkpoint.kind},
      {"config_from", ProvenanceJson(checkpoint.provenance)},
      {"import_notes", checkpoint.notes},
      {"user", user},
      {"host", host},
      {"time", static_cast<int64_t>(std::time(nullptr))},
      {"message", message},
      {"fomo_version", FOMO_VERSION},
  };
}

}  // namespace fomo::cmd
