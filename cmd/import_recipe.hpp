// The recipe recorded for versions whose weights came from a file (init, commit).
#pragma once

#include <string>

#include <nlohmann/json.hpp>

#include "core/checkpoint.hpp"

namespace fomo::cmd {

nlohmann::json ImportRecipe(const std::string& command, const core::Checkpoint& checkpoint,
                            const std::string& message);

}  // namespace fomo::cmd
