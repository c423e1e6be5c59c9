#include "cmd/import_recipe.hpp"

#include <pwd.h>
#include <unistd.h>

#include <cstdlib>
#include <ctime>

namespace fomo::cmd {

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
      {"user", user},
      {"host", host},
      {"time", static_cast<int64_t>(std::time(nullptr))},
      {"message", message},
      {"fomo_version", FOMO_VERSION},
  };
}

}  // namespace fomo::cmd
