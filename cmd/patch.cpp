// fomo patch: train from HEAD on new data and commit the next patch version (update.cpp).
#include "cmd/update.hpp"

namespace fomo::cmd {

Runner SetupPatch(CommandLine& cli) { return SetupUpdate(cli, BumpLevel::kPatch); }

}  // namespace fomo::cmd
