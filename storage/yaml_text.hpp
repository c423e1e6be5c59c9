// YAML documents from files users write (fomo.yaml, merge recipes): parse errors
// as one line naming the file, line and column.
#pragma once

#include <string>

#include <yaml-cpp/yaml.h>

namespace fomo {

// Throws fomo::Error "ORIGIN: line L, column C: what" (yaml-cpp bounds nesting at
// 2000 levels; deeper documents get that said instead of its "bad file").
YAML::Node LoadYamlText(const std::string& text, const std::string& origin);

// Runs read, which takes values out of a document from origin, turning yaml-cpp's
// own errors (a sequence where a string belongs: "bad conversion") into that line.
[[noreturn]] void FailYaml(const std::string& origin, const YAML::Exception& e);
template <typename Read>
auto WithYamlOrigin(const std::string& origin, Read&& read) -> decltype(read()) {
  try {
    return read();
  } catch (const YAML::Exception& e) {
    FailYaml(origin, e);
  }
}

}  // namespace fomo
