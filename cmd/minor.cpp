// fomo minor: train from HEAD on new data and commit the next minor version (update.cpp).
#include "cmd/update.hpp"

namespace fomo::cmd {

Runner SetupMinor(CommandLine& cli) { return SetupUpdate(cli, BumpLevel::kMinor); }

}  // namespace fomo::cmd
