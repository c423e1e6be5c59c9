// Option values given as text (patch, minor, major, init --pretrain): a finite
// number, or a positive whole number; a bad one is a usage error naming the option.
#pragma once

#include <cstdint>
#include <string>

namespace fomo::cmd {

double ParseOptionNumber(const std::string& option, const std::string& text);
int64_t ParseOptionCount(const std::string& option, const std::string& text);

}  // namespace fomo::cmd
