#include "storage/yaml_text.hpp"

#include <fmt/format.h>
#include <yaml-cpp/depthguard.h>

#include "storage/error.hpp"

namespace fomo {

void FailYaml(const std::string& origin, const YAML::Exception& e) {
  const std::string what = e.msg == "bad conversion" ? "a value of the wrong kind" : e.msg;
  throw Error(fmt::format("{}: line {}, column {}: {}", origin, e.mark.line + 1, e.mark.column + 1, what));
}

YAML::Node LoadYamlText(const std::string& text, const std::string& origin) {
  try {
    return YAML::Load(text);
  } catch (const YAML::DeepRecursion& e) {
    throw Error(fmt::format("{}: line {}, column {}: nesting deeper than {} levels", origin, e.mark.line + 1,
                            e.mark.column + 1, e.depth()));
  } catch (const YAML::Exception& e) {
    FailYaml(origin, e);
  }
}

}  // namespace fomo
