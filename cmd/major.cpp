// fomo major: train from HEAD on new data and commit the next major version (update.cpp).
#include "cmd/update.hpp"

namespace fomo::cmd {

Runner SetupMajor(CommandLine& cli) { return SetupUpdate(cli, BumpLevel::kMajor); }

}  // namespace fomo::cmd
