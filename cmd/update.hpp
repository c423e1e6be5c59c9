// fomo patch / minor / major share one implementation (update.cpp); each has its
// own file that names its level.
#pragma once

#include "cmd/command.hpp"
#include "storage/semver.hpp"

namespace fomo::cmd {

Runner SetupUpdate(CommandLine& cli, BumpLevel level);

}  // namespace fomo::cmd
