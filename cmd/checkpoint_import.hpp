// Importing checkpoints (init --from, commit): the options that say how to read
// one, what the import reports, and the recipe recorded for such versions.
#pragma once

#include <optional>
#include <string>

#include <nlohmann/json.hpp>

#include "cmd/cli.hpp"
#include "core/checkpoint.hpp"

namespace fomo::cmd {

struct CheckpointOptions {
  std::string config;      // --config FILE
  std::string heads;       // --heads N | V,T
  std::string activation;  // --activation quick_gelu|gelu
};

void AddCheckpointOptions(CommandLine& cli, CheckpointOptions* options, const std::string& config_help);
// Throws UsageError for a malformed --heads or --activation.
core::ConfigSource ConfigSourceOf(const CheckpointOptions& options, const std::optional<core::ClipConfig>& known);

// What was read and how the config was resolved, for people: the format, the
// config, where each part of it came from, and the notes.
void PrintImportReport(const core::Checkpoint& checkpoint);
// The same for scripts.
nlohmann::json ImportReportJson(const core::Checkpoint& checkpoint);

nlohmann::json ImportRecipe(const std::string& command, const core::Checkpoint& checkpoint,
                            const std::string& message);

}  // namespace fomo::cmd
